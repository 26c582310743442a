"""Forward-backward on the CPU as one compiled loop (numba), as ``viterbi_cpu`` is for
Viterbi: log Z, the node marginals (its gradient) and the edge marginals (summed per
sequence, or in full) in one pass over a batch.

At the sizes the lab trains (B = 32, T = 25, C = 17) the tensor path (``native``) pays
a dispatch of microseconds for each of its small ops a step, forward and backward; here
a step is C * C multiply-adds per sequence with nothing around them, the sequences of the
batch in the innermost loop (contiguous, so that it vectorises however small C is). The
arithmetic is the tensor path's, in probability space: emissions shifted by their
per-token max, transitions, start and end by their joint max, then exponentiated; the
forward messages normalised at every step, the normalisers carrying log Z; the backward
messages written by hand (the gradient of log Z is the marginals). Steps past a
sequence's end are computed like the others and never read. Where the potentials span
too wide a range, or a normaliser collapses towards zero, this returns None and the
caller falls back to log space, as the tensor path does.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
import torch

# A normaliser below this: the surviving mass came from entries near underflow; and the
# widest span of one token's emissions plus the transitions' joint span for which exp()
# of the shifted potentials stays far above the smallest normal number (as native's).
TINY = {torch.float32: 1e-25, torch.float64: 1e-250}
RANGE_LIMIT = {torch.float32: 60.0, torch.float64: 600.0}
# Reassociation lets the compiler vectorise the sums; no "no NaN / no inf" assumption
# (forbidden entries are exact zeros, and the checks below must see a NaN).
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
def _forward_backward(
    E, top, tr, st, en, shift, lengths, tiny, alphas, log_z, mu, edge_sum, edges, want_edges
):  # pragma: no cover - compiled; tested through forward_backward
    """Time-major, the batch innermost: E (T, C, B) exp of the emissions shifted by
    ``top`` (T, B), their per-token max; tr (C, C), st (C,), en (C,) the transitions,
    start and end, exponentiated here shifted by ``shift``; lengths (B,) >= 1. Writes log_z
    (B,), mu (T, C, B) (zero past each end), edge_sum (C, C, B) each sequence's edge
    marginals summed over its steps and, when want_edges, edges (T-1, C, C, B).
    ``alphas`` (T, C, B) is a workspace (any content). Returns False if a normaliser of
    a real step collapsed (then: log space)."""
    T, C, B = E.shape
    M, s, e = np.exp(tr - shift), np.exp(st - shift), np.exp(en - shift)
    scales = np.ones((T, B), dtype=E.dtype)
    final = np.empty(B, dtype=E.dtype)
    beta = np.zeros((C, B), dtype=E.dtype)
    w = np.empty((C, B), dtype=E.dtype)
    norm = np.empty(B, dtype=E.dtype)
    # forward: alpha_t = (alpha_{t-1} @ M) * E_t, normalised
    for j in range(C):
        for b in range(B):
            alphas[0, j, b] = s[j] * E[0, j, b]
    for t in range(T):
        if t > 0:
            for j in range(C):
                for b in range(B):
                    alphas[t, j, b] = 0.0
            for i in range(C):
                for j in range(C):
                    m = M[i, j]
                    for b in range(B):
                        alphas[t, j, b] += alphas[t - 1, i, b] * m
            for j in range(C):
                for b in range(B):
                    alphas[t, j, b] *= E[t, j, b]
        for b in range(B):
            norm[b] = 0.0
        for j in range(C):
            for b in range(B):
                norm[b] += alphas[t, j, b]
        for b in range(B):
            if t < lengths[b] and not norm[b] >= tiny:
                return False
            if not norm[b] > 0.0:  # a step past the end: any finite value will do
                norm[b] = 1.0
            scales[t, b] = norm[b]
            norm[b] = 1.0 / norm[b]
        for j in range(C):
            for b in range(B):
                alphas[t, j, b] *= norm[b]
    for b in range(B):
        # the shifts: each real token's emission max, and the joint one once per
        # transition and once each for start and end
        last = lengths[b] - 1
        total = shift * (last + 2)
        for t in range(last + 1):
            total += np.log(scales[t, b]) + top[t, b]
        f = 0.0
        for j in range(C):
            f += alphas[last, j, b] * e[j]
        if not f >= tiny:
            return False
        final[b] = f
        log_z[b] = total + np.log(f)
    # backward: beta_{n-1} = e / final; w_t = E_t * beta_t / scale_t (zero past the
    # end); beta_{t-1} = M @ w_t; edge (t-1, t) = alpha_{t-1}[i] * M[i, j] * w_t[j]
    for t in range(T - 1, -1, -1):
        for b in range(B):
            if t == lengths[b] - 1:
                for j in range(C):
                    beta[j, b] = e[j] / final[b]
        for j in range(C):
            for b in range(B):
                mu[t, j, b] = alphas[t, j, b] * beta[j, b] if t < lengths[b] else 0.0
        if t == 0:
            break
        for b in range(B):
            norm[b] = 1.0 / scales[t, b] if t < lengths[b] else 0.0
        for j in range(C):
            for b in range(B):
                w[j, b] = E[t, j, b] * beta[j, b] * norm[b]
        for i in range(C):
            for b in range(B):
                beta[i, b] = 0.0
            for j in range(C):
                m = M[i, j]
                for b in range(B):
                    x = m * w[j, b]
                    beta[i, b] += x
                    edge_sum[i, j, b] += alphas[t - 1, i, b] * x
                if want_edges:
                    for b in range(B):
                        edges[t - 1, i, j, b] = alphas[t - 1, i, b] * m * w[j, b]
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
def _shifted_time_major(em, out, top):  # pragma: no cover - compiled; tested via callers
    """em (B, T, C) -> out (T, C, B) = em minus its per-token max, top (T, B) that max;
    returns the widest span (max - min) of one token's emissions, inf if any is NaN or
    infinite. One pass, a token's C scores read contiguously (torch's aminmax over the
    middle dimension of the time-major copy cost four times the copy itself)."""
    B, T, C = em.shape
    span = 0.0
    for t in range(T):
        for b in range(B):
            hi = em[b, t, 0]
            lo = hi
            for j in range(1, C):
                v = em[b, t, j]
                hi = max(hi, v)
                lo = min(lo, v)
            top[t, b] = hi
            width = hi - lo
            if not width <= span:  # wider, or NaN
                span = width if width == width else np.inf
            for j in range(C):
                out[t, j, b] = em[b, t, j] - hi
    return span


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _joint_range(tr, st, en):  # pragma: no cover - compiled; tested via forward_backward
    """(max, min) over the finite-or-+inf entries of the transitions, start and end
    (-inf, a forbidden entry, left out; (0, 0) if every entry is one); NaN if any is
    NaN. The three in one call: numpy's ops on such small arrays cost microseconds each."""
    hi, lo, any_kept = -np.inf, np.inf, False
    for x in (tr.ravel(), st, en):
        for v in x:
            if v != v:
                return np.nan, np.nan
            if v == -np.inf:
                continue
            any_kept = True
            hi = max(hi, v)
            lo = min(lo, v)
    return (hi, lo) if any_kept else (0.0, 0.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _gradients(
    mu, edge_sum, g, lengths, d_em, d_trans, d_start, d_end
):  # pragma: no cover - compiled; tested through LinearChainCRF's backward
    """The gradients of sum_b g[b] log Z_b from ``_forward_backward``'s outputs: mu
    (T, C, B), edge_sum (C, C, B), g (B,), lengths (B,) -> writes d_em (B, T, C) =
    g * mu, d_trans (C, C) = sum_b g * edge_sum, d_start (C,) = sum_b g * mu_0 and d_end
    (C,) = sum_b g * mu at each sequence's last step."""
    T, C, B = mu.shape
    # step by step: one step's (C, B) block of mu stays in the first-level cache while it
    # is read transposed (sequence by sequence, the whole of mu would pass through it)
    for t in range(T):
        for b in range(B):
            for j in range(C):
                d_em[b, t, j] = g[b] * mu[t, j, b]
    for b in range(B):
        last = lengths[b] - 1
        for j in range(C):
            d_start[j] += d_em[b, 0, j]
            d_end[j] += d_em[b, last, j]
    for i in range(C):
        for j in range(C):
            acc = 0.0
            for b in range(B):
                acc += g[b] * edge_sum[i, j, b]
            d_trans[i, j] = acc


def gradients(
    mu: torch.Tensor, edge_sum: torch.Tensor, grad: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(d emissions (B, T, C), d transitions (C, C), d start (C,), d end (C,)) of
    sum_b grad[b] log Z_b, from ``forward_backward``'s marginals (B, T, C) and edge sums
    (B, C, C) as it returned them (views of its time-major buffers) and grad (B,)."""
    mu_t = mu.permute(1, 2, 0)  # (T, C, B): the buffer itself, no copy
    es_t = edge_sum.permute(1, 2, 0)  # (C, C, B)
    B, T, C = mu.shape
    dtype = mu.dtype
    d_em = torch.empty(B, T, C, dtype=dtype)
    d_trans = torch.empty(C, C, dtype=dtype)
    d_start, d_end = torch.zeros(C, dtype=dtype), torch.zeros(C, dtype=dtype)
    n = lengths.detach().to("cpu", torch.int64).contiguous().numpy()
    g = grad.detach().to(dtype).contiguous().numpy()
    _gradients(mu_t.numpy(), es_t.numpy(), g, n, d_em.numpy(), d_trans.numpy(),
               d_start.numpy(), d_end.numpy())  # fmt: skip
    return d_em, d_trans, d_start, d_end


_WORKSPACES = threading.local()


def _workspace(size: int, dtype: torch.dtype) -> torch.Tensor:
    """A flat buffer of at least ``size`` elements, this thread's, reused from call to
    call: fresh (T, C, B) buffers of a large batch cost page faults every call (the
    allocator returns them to the system), more than the arithmetic at B = 256."""
    buffers = getattr(_WORKSPACES, "buffers", None)
    if buffers is None:
        buffers = _WORKSPACES.buffers = {}
    buffer = buffers.get(dtype)
    if buffer is None or buffer.numel() < size:
        buffer = buffers[dtype] = torch.empty(size, dtype=dtype)
    return buffer


def forward_backward(
    emissions: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    lengths: torch.Tensor,
    want_edges: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
    """CPU tensors (float32 or float64): emissions (B, T, C) (zero on padding, as a
    ``Chain`` holds them), transitions (C, C), start (C,), end (C,), lengths (B,) >= 1
    -> (log Z (B,), marginals (B, T, C) zero on padding, each sequence's edge marginals
    summed over its steps (B, C, C), and the edge marginals (B, T-1, C, C) if
    ``want_edges`` else None); None when probability space is unreliable here (the
    caller falls back to log space). Forbidden entries are -inf (exact zeros)."""
    dtype = emissions.dtype
    B, T, C = emissions.shape
    # time-major with the batch innermost (reductions over C then run along B), in this
    # thread's workspace: the exponentiated emissions, then the forward messages
    work = _workspace(2 * T * C * B, dtype)
    em = work[: T * C * B].view(T, C, B)
    top = torch.empty(T, B, dtype=dtype)
    em_span = _shifted_time_major(emissions.detach().contiguous().numpy(), em.numpy(), top.numpy())
    tr, st, en = (x.detach().contiguous().numpy() for x in (transitions, start, end))
    shift, low = _joint_range(tr, st, en)
    # -inf emissions on a real token, +inf or NaN anywhere: log space decides
    if not (math.isfinite(shift - low) and em_span + (shift - low) <= RANGE_LIMIT[dtype]):
        return None
    E = em.exp_()  # (T, C, B)
    shift = tr.dtype.type(shift)
    n = lengths.detach().to("cpu", torch.int64).contiguous().numpy()
    log_z = torch.empty(B, dtype=dtype)
    mu = torch.empty(T, C, B, dtype=dtype)
    edge_sum = torch.zeros(C, C, B, dtype=dtype)
    edges = torch.zeros((max(T - 1, 1), C, C, B) if want_edges else (1, 1, 1, 1), dtype=dtype)
    ok = _forward_backward(
        E.numpy(), top.numpy(), tr, st, en, shift, n, TINY[dtype],
        work[T * C * B : 2 * T * C * B].view(T, C, B).numpy(), log_z.numpy(), mu.numpy(),
        edge_sum.numpy(), edges.numpy(), want_edges,
    )  # fmt: skip
    if not ok:
        return None
    return (
        log_z,
        mu.permute(2, 0, 1),
        edge_sum.permute(2, 0, 1),
        edges[: T - 1].permute(3, 0, 1, 2) if want_edges else None,
    )
