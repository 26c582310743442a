"""Viterbi on the CPU as one compiled loop (numba): max-product forward with
backpointers, then backtracking, per sequence and only up to its length.

Torch or numpy pay a dispatch of microseconds for each of the four small ops a step
takes; at the sizes a tagger decodes (B = 32, C = 18, T = 60) that overhead, not the
B * C * C additions, was most of the time. The float operations are those of
``native._max_scores_torch``, in the same order ((score + transition) + emission, the
first maximum kept on ties), so both paths find the same tags and bitwise the same scores.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True, nogil=True)
def _viterbi(emissions, transitions, start, end, lengths, tags, best):  # pragma: no cover
    """emissions (B, T, C), transitions (C, C), start (C,), end (C,), lengths (B,) ->
    writes tags (B, T) int64 (0 on padding) and best (B,)."""
    B, _, C = emissions.shape
    back = np.zeros((emissions.shape[1], C), dtype=np.int64)  # one sequence's pointers
    score = np.empty(C, dtype=emissions.dtype)
    new = np.empty(C, dtype=emissions.dtype)
    for b in range(B):
        n = lengths[b]
        for j in range(C):
            score[j] = start[j] + emissions[b, 0, j]
        for t in range(1, n):
            # i outer, j inner: the inner loop runs along a row of transitions (contiguous,
            # so it vectorises); i ascending with a strict > keeps the first maximum
            for j in range(C):
                new[j] = score[0] + transitions[0, j]
                back[t, j] = 0
            for i in range(1, C):
                for j in range(C):
                    value = score[i] + transitions[i, j]
                    if value > new[j]:
                        new[j] = value
                        back[t, j] = i
            for j in range(C):
                score[j] = new[j] + emissions[b, t, j]
        top = score[0] + end[0]
        arg = 0
        for j in range(1, C):
            if score[j] + end[j] > top:
                top, arg = score[j] + end[j], j
        best[b] = top
        for t in range(n - 1, -1, -1):
            tags[b, t] = arg
            arg = back[t, arg]


def viterbi(
    emissions: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    lengths: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU tensors: emissions (B, T, C), transitions (C, C), start (C,), end (C,),
    lengths (B,) >= 1 -> (tags (B, T) long, 0 on padding; best scores (B,))."""
    B, T, _ = emissions.shape
    # the chain's tensors share one dtype already; .numpy() of a contiguous one is a view
    em, tr, st, en = (x.detach().contiguous().numpy() for x in (emissions, transitions, start, end))
    tags = np.zeros((B, T), dtype=np.int64)
    best = np.empty(B, dtype=em.dtype)
    _viterbi(em, tr, st, en, lengths.numpy(), tags, best)
    return torch.from_numpy(tags), torch.from_numpy(best)
