"""Exact samples: forward filtering, then backward sampling with the Gumbel-max trick."""

from __future__ import annotations

import torch

from lab.structured import logspace
from lab.structured.chain import Chain


def _gumbel_argmax(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One categorical draw per row of logits (..., C) -> (...) long."""
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    return (logits - torch.log(-torch.log(u))).argmax(-1)


def sample(chain: Chain, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n exact samples (n, B, T) long, 0 on padding: y_last ~ alpha_last * exp(end), then
    y_{t} ~ alpha_t(i) * exp(transitions[i, y_{t+1}]) going backwards."""
    emissions, transitions, _, end, mask, lengths = chain
    B, T, C = emissions.shape
    with torch.no_grad():
        alpha = logspace.log_alpha(chain)  # (B, T, C)
        batch = torch.arange(B, device=emissions.device)
        last_logits = (alpha[batch, lengths - 1] + end).expand(n, B, C)  # (n, B, C)
        y_last = _gumbel_argmax(last_logits, generator)  # (n, B)
        tags = torch.zeros(n, B, T, dtype=torch.long, device=emissions.device)
        into = transitions.t()  # [j, i] = transitions[i, j]
        nxt = y_last
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                logits = alpha[:, t].unsqueeze(0) + into[nxt]  # (n, B, C)
                drawn = _gumbel_argmax(logits, generator)  # (n, B)
            else:
                drawn = y_last
            cur = torch.where(lengths - 1 == t, y_last, drawn)  # (n, B)
            tags[:, :, t] = cur
            nxt = cur
        return tags.masked_fill(~mask, 0)
