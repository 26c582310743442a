"""Brute force over all C^T tag sequences: the ground truth the tests hold every
backend to, and the exponential baseline of the enumeration experiment.

Independent of the dynamic programs on purpose: scores are summed per sequence from
the definition, in float64. Same arguments as ``LinearChainCRF``.
"""

from __future__ import annotations

import itertools

import torch

MAX_SEQUENCES = 2_000_000


def _all_sequences(C: int, L: int, device: torch.device) -> torch.Tensor:
    """Every tag sequence of length L (C**L, L) long, lexicographic."""
    if C**L > MAX_SEQUENCES:
        raise ValueError(
            f"enumeration: expected at most {MAX_SEQUENCES} sequences per row, got "
            f"C**T = {C}**{L} = {C**L}; use LinearChainCRF instead"
        )
    return torch.tensor(list(itertools.product(range(C), repeat=L)), device=device).view(-1, L)


def brute_force(
    emissions: torch.Tensor,
    transitions: torch.Tensor,
    mask: torch.Tensor | None = None,
    start: torch.Tensor | None = None,
    end: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
    allowed_start: torch.Tensor | None = None,
    allowed_end: torch.Tensor | None = None,
    k: int = 1,
) -> dict[str, torch.Tensor]:
    """Everything by enumeration, in float64:

    log_partition (B,), marginals (B, T, C), edge_marginals (B, T-1, C, C),
    argmax (B, T) and argmax_score (B,), topk (k, B, T) and topk_scores (k, B) (-inf
    beyond the number of allowed sequences), entropy (B,).
    Raises ValueError when a row has more than ``MAX_SEQUENCES`` sequences.
    """
    B, T, C = emissions.shape
    f64 = torch.float64
    em = emissions.detach().to(f64)
    tr = transitions.detach().to(f64)
    st = torch.zeros(C, dtype=f64) if start is None else start.detach().to(f64)
    en = torch.zeros(C, dtype=f64) if end is None else end.detach().to(f64)
    if allowed is not None:
        tr = tr.masked_fill(~allowed, -torch.inf)
    if allowed_start is not None:
        st = st.masked_fill(~allowed_start, -torch.inf)
    if allowed_end is not None:
        en = en.masked_fill(~allowed_end, -torch.inf)
    lengths = [T] * B if mask is None else [int(n) for n in mask.sum(1)]

    out = {
        "log_partition": torch.empty(B, dtype=f64),
        "marginals": torch.zeros(B, T, C, dtype=f64),
        "edge_marginals": torch.zeros(B, max(T - 1, 0), C, C, dtype=f64),
        "argmax": torch.zeros(B, T, dtype=torch.long),
        "argmax_score": torch.empty(B, dtype=f64),
        "topk": torch.zeros(k, B, T, dtype=torch.long),
        "topk_scores": torch.full((k, B), -torch.inf, dtype=f64),
        "entropy": torch.empty(B, dtype=f64),
    }
    for b, L in enumerate(lengths):
        seqs = _all_sequences(C, L, torch.device("cpu"))  # (N, L)
        pos = torch.arange(L)
        score = st[seqs[:, 0]] + en[seqs[:, -1]] + em[b, pos, seqs].sum(1)  # (N,)
        if L > 1:
            score = score + tr[seqs[:, :-1], seqs[:, 1:]].sum(1)
        log_z = torch.logsumexp(score, 0)
        out["log_partition"][b] = log_z
        order = torch.argsort(score, descending=True, stable=True)
        out["argmax"][b, :L] = seqs[order[0]]
        out["argmax_score"][b] = score[order[0]]
        kk = min(k, len(order))
        out["topk"][:kk, b, :L] = seqs[order[:kk]]
        out["topk_scores"][:kk, b] = score[order[:kk]]
        if not torch.isfinite(log_z):
            out["entropy"][b] = 0.0
            continue
        p = torch.exp(score - log_z)  # (N,)
        out["entropy"][b] = -(p[p > 0] * torch.log(p[p > 0])).sum()
        for t in range(L):
            out["marginals"][b, t].index_add_(0, seqs[:, t], p)
            if t > 0:
                flat = seqs[:, t - 1] * C + seqs[:, t]
                out["edge_marginals"][b, t - 1].view(-1).index_add_(0, flat, p)
    return out


def enumerate_log_partition(emissions, transitions, mask=None, start=None, end=None, allowed=None):
    """log Z (B,) float64 by enumeration."""
    return brute_force(emissions, transitions, mask, start, end, allowed)["log_partition"]
