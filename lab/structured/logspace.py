"""Forward-backward in log space with plain torch ops.

The fallback of the native backend when potentials span too wide a range for
probability space, and the differentiable path (autograd through every step) used when
marginals themselves must carry gradients. Slower than ``native``, never underflows.
"""

from __future__ import annotations

import torch

from lab.structured.chain import Chain, safe_logsumexp


def log_alpha(chain: Chain) -> torch.Tensor:
    """Forward log-messages (B, T, C): log sum over y_{<t} of exp(score up to and
    including emissions[t]); beyond a sequence's end the last real value is repeated."""
    emissions, transitions, start, _, mask, _ = chain
    B, T, C = emissions.shape
    alpha = start.unsqueeze(0) + emissions[:, 0]  # (B, C)
    out = [alpha]
    for t in range(1, T):
        step = safe_logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]  # (B, C)
        alpha = torch.where(mask[:, t : t + 1], step, alpha)  # (B, C)
        out.append(alpha)
    return torch.stack(out, dim=1)  # (B, T, C)


def log_beta(chain: Chain) -> torch.Tensor:
    """Backward log-messages (B, T, C): log sum over y_{>t} of exp(score after t),
    including end[y_last]; positions beyond a sequence's end hold ``end``."""
    emissions, transitions, _, end, mask, _ = chain
    B, T, C = emissions.shape
    beta = end.unsqueeze(0).expand(B, C)  # (B, C)
    out = [beta]
    for t in range(T - 1, 0, -1):
        # beta_{t-1}[i] = lse_j(transitions[i, j] + emissions[t, j] + beta_t[j])
        step = safe_logsumexp(
            transitions.unsqueeze(0) + (emissions[:, t] + beta).unsqueeze(1), dim=2
        )  # (B, C)
        beta = torch.where(mask[:, t : t + 1], step, end.unsqueeze(0).expand(B, C))  # (B, C)
        out.append(beta)
    out.reverse()
    return torch.stack(out, dim=1)  # (B, T, C)


def log_partition_from_alpha(chain: Chain, alpha: torch.Tensor) -> torch.Tensor:
    """log Z (B,) from forward messages (B, T, C)."""
    last = alpha[torch.arange(alpha.shape[0], device=alpha.device), chain.lengths - 1]  # (B, C)
    return safe_logsumexp(last + chain.end, dim=1)  # (B,)


def log_partition(chain: Chain) -> torch.Tensor:
    """log Z (B,), differentiable by autograd."""
    return log_partition_from_alpha(chain, log_alpha(chain))


def _normalised_exp(x: torch.Tensor, log_z: torch.Tensor) -> torch.Tensor:
    """exp(x - log Z) with 0 (not NaN) where log Z is -inf (no allowed sequence)."""
    finite = torch.isfinite(log_z)
    safe_z = torch.where(finite, log_z, torch.zeros_like(log_z))
    shape = (-1,) + (1,) * (x.dim() - 1)
    p = torch.exp(x - safe_z.view(shape))
    return torch.where(finite.view(shape), p, torch.zeros_like(p))


def marginals(chain: Chain) -> tuple[torch.Tensor, torch.Tensor]:
    """(log Z (B,), marginals (B, T, C)), zero on padding; differentiable by autograd."""
    alpha, beta = log_alpha(chain), log_beta(chain)
    log_z = log_partition_from_alpha(chain, alpha)
    # padding is masked before exp: its messages are not bounded by log Z
    x = (alpha + beta).masked_fill(~chain.mask.unsqueeze(2), -torch.inf)  # (B, T, C)
    return log_z, _normalised_exp(x, log_z)


def edge_marginals(chain: Chain) -> torch.Tensor:
    """p(y_{t-1}=i, y_t=j | x) (B, T-1, C, C), zero where t is padding."""
    emissions, transitions, _, _, mask, _ = chain
    alpha, beta = log_alpha(chain), log_beta(chain)
    log_z = log_partition_from_alpha(chain, alpha)
    x = (
        alpha[:, :-1].unsqueeze(3) + transitions + (emissions[:, 1:] + beta[:, 1:]).unsqueeze(2)
    ).masked_fill(~mask[:, 1:, None, None], -torch.inf)  # (B, T-1, C, C)
    return _normalised_exp(x, log_z)
