"""The fast backend: scaled forward-backward in probability space, a hand-written
backward (the gradient of log Z is the marginals), and a max-product Viterbi.

Per step the forward pass is one (B, C) @ (C, C) matmul and a multiply by the
exponentiated emissions, plus a normalisation every few steps (as often as the
potentials' span requires); the normalisers carry log Z. The backward pass is one
multiply and one matmul per step. Emissions are shifted by their per-token max, and
transitions, start and end by their joint max, before exponentiation, so probability
space is exact unless the potentials span a range wider than the dtype can hold
(``_RANGE_LIMIT``): then (e.g. potentials of +-1e4, or -inf emissions on real tokens),
and whenever a normaliser collapses towards zero, the computation falls back to log
space. Forbidden entries (-inf) are exact zeros in probability space.

On a CPU (float32, float64) the same arithmetic runs as one compiled loop per batch
(``forward_backward_cpu``): log Z, the marginals and the per-sequence edge-marginal sums
in one pass, the backward reading them. ``tensor_ops()`` forces the tensor path there
(the reference the tests and ``lab bench crf`` compare it with); CUDA always takes it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from lab.structured import logspace
from lab.structured.chain import Chain

# Widest span (max - min over finite entries) of one token's emissions plus the joint
# span of transitions, start and end for which exp() of the shifted potentials stays far
# above the smallest normal number: float32 exp(-87) and float64 exp(-708) are the limits.
_RANGE_LIMIT = {torch.float32: 60.0, torch.float64: 600.0}
# Between normalisations the messages may drift by at most exp(+-budget): one step
# shrinks them by at most exp(-span) and grows them by at most C, so normalising every
# k = budget / max(span, log C) steps keeps every value normal (and saves two ops a step).
_DRIFT_BUDGET = {torch.float32: 40.0, torch.float64: 400.0}
# A normaliser below this means the surviving mass came from entries near underflow
# (e.g. tags without allowed successors): recompute in log space.
_TINY_SCALE = {torch.float32: 1e-25, torch.float64: 1e-250}


def _joint_stats(*xs: torch.Tensor) -> torch.Tensor:
    """(2,): the max and the min over the finite entries of all of xs together (-inf
    entries are forbidden ones); (0, 0) where there is none."""
    flat = torch.cat([x.reshape(-1) for x in xs])
    hi = flat.amax()
    lo = flat.masked_fill(torch.isneginf(flat), torch.inf).amin()
    return torch.stack([hi, lo]).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


class _ScaledForward:
    """The scaled forward pass and, on demand, the backward messages.

    Time-major buffers: ``E (T, B, C)`` exp of max-shifted emissions, ``alphas (T, B, C)``
    forward messages divided by ``scales (T, B, 1)`` (ones on the steps that skip
    normalising); ``M (C, C)``, ``e (C,)`` the exponentiated transitions and end.
    ``log_space`` is True (and nothing else is computed) when the potentials span too
    wide a range; ``unreliable`` when a normaliser collapsed: use log space then.
    """

    def __init__(self, chain: Chain):
        emissions, transitions, start, end, mask, lengths = chain
        B, T, C = emissions.shape
        dtype = emissions.dtype
        self.chain = chain
        self.B, self.T, self.C = B, T, C
        em_min, em_max = torch.aminmax(emissions, dim=2, keepdim=True)  # (B, T, 1) each
        # emissions must be finite on real tokens for probability space (-inf: log space)
        em_span = (em_max - em_min).amax()
        # transitions, start and end share one shift (their joint max) and one span
        hi_lo = _joint_stats(transitions, start, end)  # (2,)
        span = em_span + (hi_lo[0] - hi_lo[1])
        # one host sync for every decision below
        stats = torch.stack([hi_lo[0], span, (lengths < T).any().to(span.dtype)])
        shift, span_value, varlen = stats.tolist()
        tr_max = st_max = en_max = shift
        self.varlen = bool(varlen)
        self.log_space = not span_value <= _RANGE_LIMIT[dtype]  # NaN -> log space
        self.unreliable = self.log_space
        if self.log_space:
            return
        budget = _DRIFT_BUDGET[dtype]
        every = max(1, int(budget / max(span_value, math.log(C), 1.0)))

        self.E = torch.exp(emissions - em_max).transpose(0, 1).contiguous()  # (T, B, C)
        self.M = (transitions - tr_max).exp_()  # (C, C)
        self.e = (end - en_max).exp_()  # (C,)
        s = (start - st_max).exp_()  # (C,)

        alphas = emissions.new_empty(T, B, C)
        scales = emissions.new_ones(T, B, 1)
        # per-step views made once: indexing inside the loop costs an op per access
        A, S, E = alphas.unbind(0), scales.unbind(0), self.E.unbind(0)
        torch.mul(s, E[0], out=A[0])  # (B, C)
        torch.sum(A[0], dim=1, keepdim=True, out=S[0])
        A[0].div_(S[0])
        M = self.M
        for t in range(1, T):
            a = A[t]
            torch.mm(A[t - 1], M, out=a)  # (B, C)
            a.mul_(E[t])
            if t % every == 0 or t == T - 1:
                torch.sum(a, dim=1, keepdim=True, out=S[t])  # (B, 1)
                a.div_(S[t])
        self.alphas, self.scales = alphas, scales

        if self.varlen:
            batch = torch.arange(B, device=emissions.device)
            last_alpha = alphas[lengths - 1, batch]  # (B, C)
            log_scales = scales.squeeze(2).t().log().masked_fill_(~mask, 0.0).sum(1)  # (B,)
            em_offset = em_max.squeeze(2).masked_fill(~mask, 0.0).sum(1)  # (B,)
            offsets = em_offset + (lengths - 1).to(dtype) * tr_max + (st_max + en_max)  # (B,)
            # a padded step's normaliser may be anything: it is never read
            checked = scales.squeeze(2).t().masked_fill(~mask, 1.0)  # (B, T)
        else:
            last_alpha = A[T - 1]
            log_scales = scales.log().sum((0, 2))  # (B,)
            offsets = em_max.sum((1, 2)) + (tr_max * (T - 1) + st_max + en_max)  # (B,)
            checked = scales
        self.final = (last_alpha * self.e).sum(1)  # (B,)
        self.log_z = log_scales + self.final.log() + offsets  # (B,)
        # normalisers of real steps, and the final sum, must stay clear of underflow
        smallest = torch.minimum(checked.amin(), self.final.amin())
        self.unreliable = not bool(smallest >= _TINY_SCALE[dtype])

    def backward(self, weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Node marginals ``mu (T, B, C)`` (zero on padding) and the weighted backward
        messages ``W (T, B, C)`` = E_t * beta_t / scale_t, zero on padding, such that
        the edge marginal at (t-1, t) is alphas[t-1][i] * M[i, j] * W[t][j]. With
        ``weight (B,)`` (the incoming gradient) every row comes out multiplied by it."""
        B, T, C = self.B, self.T, self.C
        Es = self.E / self.scales  # (T, B, C)
        row = self.final if weight is None else self.final / weight
        beta_last = self.e / row.unsqueeze(1)  # (B, C)
        M_t = self.M.t()
        betas = self.alphas.new_empty(T, B, C)
        W = self.alphas.new_empty(T, B, C)
        betas[T - 1] = beta_last
        if self.varlen:
            positions = torch.arange(T, device=Es.device).view(T, 1, 1)
            is_last = positions == (self.chain.lengths - 1).view(1, B, 1)  # (T, B, 1)
        Bt, Wt, Est = betas.unbind(0), W.unbind(0), Es.unbind(0)
        for t in range(T - 1, 0, -1):
            if self.varlen:
                torch.where(is_last[t], beta_last, Bt[t], out=Bt[t])  # (B, C)
            torch.mul(Est[t], Bt[t], out=Wt[t])  # (B, C)
            torch.mm(Wt[t], M_t, out=Bt[t - 1])  # (B, C)
        if self.varlen:
            betas[0] = torch.where(is_last[0], beta_last, betas[0])
            mask_t = self.chain.mask.t().unsqueeze(2)  # (T, B, 1)
            W.masked_fill_(~mask_t, 0.0)
            # padded steps' messages are never read, but may be inf/NaN: zero them so
            # that the summed edge marginals (alphas[t-1] x W[t]) stay finite
            self.alphas.masked_fill_(~mask_t, 0.0)
            mu = (self.alphas * betas).masked_fill_(~mask_t, 0.0)  # (T, B, C)
        else:
            mu = self.alphas * betas  # (T, B, C)
        return mu, W

    def edge_marginals(self, W: torch.Tensor) -> torch.Tensor:
        """(B, T-1, C, C) from the backward messages."""
        edges = self.alphas[:-1].unsqueeze(3) * self.M * W[1:].unsqueeze(2)  # (T-1, B, C, C)
        return edges.transpose(0, 1)


_FORCE_TENSOR_OPS = False


@contextlib.contextmanager
def tensor_ops() -> Iterator[None]:
    """Within the block, take the tensor-op path on a CPU too (not the compiled loop)."""
    global _FORCE_TENSOR_OPS
    before, _FORCE_TENSOR_OPS = _FORCE_TENSOR_OPS, True
    try:
        yield
    finally:
        _FORCE_TENSOR_OPS = before


def _compiled(chain: Chain, want_edges: bool = False):
    """The compiled CPU pass (log Z, mu (B, T, C), edge sums (B, C, C), edges or None),
    or None where it does not apply (not a CPU, another dtype, the tensor path forced)
    or probability space is unreliable (then: log space)."""
    emissions = chain.emissions
    if (
        _FORCE_TENSOR_OPS
        or emissions.device.type != "cpu"
        or emissions.dtype not in (torch.float32, torch.float64)
    ):
        return None
    from lab.structured import forward_backward_cpu  # numba's import only when used

    return forward_backward_cpu.forward_backward(
        emissions, chain.transitions, chain.start, chain.end, chain.lengths, want_edges
    )


def _on_cpu(chain: Chain) -> bool:
    """Whether the compiled CPU pass is the path for ``chain`` (not forced off)."""
    return (
        not _FORCE_TENSOR_OPS
        and chain.emissions.device.type == "cpu"
        and chain.emissions.dtype in (torch.float32, torch.float64)
    )


def needs_log_space(chain: Chain) -> bool:
    """True when the potentials span too wide a range for probability space."""
    return _ScaledForward(chain).log_space


class _LogPartition(torch.autograd.Function):
    """log Z (B,) with the hand-written backward: d log Z / d emissions = marginals,
    d / d transitions = summed edge marginals, d / d start (end) = first (last)
    marginals. Falls back to log space where probability space is unreliable."""

    @staticmethod
    def forward(ctx, emissions, transitions, start, end, mask, lengths):
        chain = Chain(emissions, transitions, start, end, mask, lengths)
        ctx.save_for_backward(emissions, transitions, start, end, mask, lengths)
        ctx.compiled = None
        if _on_cpu(chain):
            out = _compiled(chain)
            if out is not None:
                log_z, mu, edge_sum, _ = out
                ctx.compiled, ctx.fwd = (mu, edge_sum), None
                return log_z
            ctx.fwd = None  # unreliable in probability space: log space
            return logspace.log_partition(chain)
        fwd = _ScaledForward(chain)
        if fwd.unreliable:
            fwd = None
            log_z = logspace.log_partition(chain)
        else:
            log_z = fwd.log_z
        ctx.fwd = fwd
        return log_z

    @staticmethod
    def backward(ctx, grad):
        chain = Chain(*ctx.saved_tensors)
        if ctx.compiled is not None:  # the marginals are the gradient, times grad
            from lab.structured import forward_backward_cpu

            mu, edge_sum = ctx.compiled  # (B, T, C), (B, C, C)
            grads = forward_backward_cpu.gradients(mu, edge_sum, grad, chain.lengths)
            return (*grads, None, None)
        fwd = ctx.fwd  # kept on ctx: backward may run again with retain_graph=True
        if fwd is not None:
            # the incoming gradient rides on the backward messages: mu, W come out scaled
            mu, W = fwd.backward(grad)  # (T, B, C) each
            C, T = fwd.C, fwd.T
            d_trans = torch.mm(fwd.alphas[:-1].reshape(-1, C).t(), W[1:].reshape(-1, C))
            d_trans.mul_(fwd.M)  # (C, C)
            d_start = mu[0].sum(0)  # (C,)
            if fwd.varlen:
                batch = torch.arange(fwd.B, device=mu.device)
                d_end = mu[chain.lengths - 1, batch].sum(0)  # (C,)
            else:
                d_end = mu[T - 1].sum(0)  # (C,)
            return mu.transpose(0, 1), d_trans, d_start, d_end, None, None
        with torch.no_grad():
            g = grad.view(-1, 1)  # (B, 1)
            mu = logspace.marginals(chain)[1] * g.unsqueeze(2)  # (B, T, C)
            d_trans = (logspace.edge_marginals(chain) * g.view(-1, 1, 1, 1)).sum((0, 1))
        batch = torch.arange(mu.shape[0], device=mu.device)
        d_end = mu[batch, chain.lengths - 1].sum(0)  # (C,)
        return mu, d_trans, mu[:, 0].sum(0), d_end, None, None


def log_partition(chain: Chain) -> torch.Tensor:
    """log Z (B,); backward by the hand-written forward-backward."""
    return _LogPartition.apply(*chain)


def marginals(chain: Chain) -> tuple[torch.Tensor, torch.Tensor]:
    """(log Z (B,), marginals (B, T, C)), no autograd graph."""
    with torch.no_grad():
        if _on_cpu(chain):
            out = _compiled(chain)
            return (out[0], out[1]) if out is not None else logspace.marginals(chain)
        fwd = _ScaledForward(chain)
        if not fwd.unreliable:
            mu, _ = fwd.backward()
            return fwd.log_z, mu.transpose(0, 1)
        return logspace.marginals(chain)


def edge_marginals(chain: Chain) -> torch.Tensor:
    """p(y_{t-1}=i, y_t=j | x) (B, T-1, C, C), no autograd graph."""
    with torch.no_grad():
        if _on_cpu(chain):
            out = _compiled(chain, want_edges=True)
            return out[3] if out is not None else logspace.edge_marginals(chain)
        fwd = _ScaledForward(chain)
        if not fwd.unreliable:
            _, W = fwd.backward()
            return fwd.edge_marginals(W)
        return logspace.edge_marginals(chain)


def viterbi(chain: Chain) -> tuple[torch.Tensor, torch.Tensor]:
    """MAP tags (B, T) long (0 on padding) and their scores (B,), by max-product.

    On a CPU one compiled loop (``viterbi_cpu``). Elsewhere, tensor ops: the candidates
    are laid out (C_prev, B, C_next) so that the max over C_prev runs over the outer
    dimension, an elementwise maximum of contiguous slabs (a max with indices over an
    inner dimension is several times slower). Backpointers are not stored: backtracking
    recomputes, for the chosen tag only, the argmax over the previous step's scores,
    which are bitwise the values the forward max saw.
    """
    emissions, transitions, start, end, _, lengths = chain
    with torch.no_grad():
        if emissions.device.type == "cpu":
            from lab.structured import viterbi_cpu  # numba's import (0.3 s) only when used

            return viterbi_cpu.viterbi(emissions, transitions, start, end, lengths)
        return _viterbi_tensor_ops(chain)


def _viterbi_tensor_ops(chain: Chain) -> tuple[torch.Tensor, torch.Tensor]:
    """``viterbi`` by tensor ops, on any device (the tests run it on a CPU too)."""
    emissions, transitions, _, end, mask, lengths = chain
    B, T, _ = emissions.shape
    padded = mask if bool((lengths < T).any()) else None
    scores = _max_scores_torch(chain)  # (T, B, C)
    # each sequence ends at its own last step; the steps past it are never read
    if padded is not None:
        final = scores[lengths - 1, torch.arange(B, device=scores.device)]  # (B, C)
    else:
        final = scores[T - 1]
    best_score, last = (final + end).max(dim=1)  # (B,), (B,)
    return _backtrack_torch(scores, transitions, last, padded), best_score


def _max_scores_torch(chain: Chain) -> torch.Tensor:
    """(T, B, C): the best score of a path ending in each tag at each step. Steps past a
    sequence's end are computed like the others (cheaper than masking each step) and
    mean nothing: ``viterbi`` reads each sequence up to its length only."""
    emissions, transitions, start, _, _, _ = chain
    B, T, C = emissions.shape
    em = emissions.transpose(0, 1).unbind(0)  # T x (B, C)
    scores = emissions.new_empty(T, B, C)
    S = scores.unbind(0)
    torch.add(start, em[0], out=S[0])
    cand = emissions.new_empty(C, B, C)
    into = transitions.unsqueeze(1)  # (C_prev, 1, C_next)
    for t in range(1, T):
        torch.add(S[t - 1].t().unsqueeze(2), into, out=cand)  # (C_prev, B, C_next)
        torch.amax(cand, dim=0, out=S[t])  # (B, C)
        S[t].add_(em[t])
    return scores


def _backtrack_torch(
    scores: torch.Tensor, transitions: torch.Tensor, last: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Tags (B, T) from the max-scores (T, B, C) and the best last tags (B,): step back
    to a tag attaining the max into the chosen one. ``mask`` (B, T) when padded."""
    T = scores.shape[0]
    back = transitions.t()  # [j, i] = transitions[i, j]
    cur, path = last, [last]
    for t in range(T - 1, 0, -1):
        prev = (scores[t - 1] + back[cur]).argmax(dim=1)  # (B,)
        if mask is not None:  # past a sequence's end the tag stays put
            prev = torch.where(mask[:, t], prev, cur)
        path.append(prev)
        cur = prev
    path.reverse()
    tags = torch.stack(path, dim=1)  # (B, T)
    return tags if mask is None else tags.masked_fill(~mask, 0)
