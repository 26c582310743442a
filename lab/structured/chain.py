"""The validated potentials every backend consumes.

``Chain`` is the internal form of a linear-chain CRF: computation dtype (float32 for
half/bfloat16 inputs), forbidden transitions and start/end tags folded in as ``-inf``,
emissions zeroed on padding so that padded steps can never produce NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Chain(NamedTuple):
    """emissions (B, T, C), transitions (C, C) [i, j] = theta(y_{t-1}=i, y_t=j),
    start (C,), end (C,), mask (B, T) bool prefix, lengths (B,) long >= 1."""

    emissions: torch.Tensor
    transitions: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor

    @property
    def shape(self) -> tuple[int, int, int]:
        """(B, T, C)."""
        B, T, C = self.emissions.shape
        return B, T, C


def safe_logsumexp(x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """``logsumexp`` that returns -inf (not NaN) for all -inf slices, with zero (not NaN)
    gradients into them, so forbidden transitions never poison autograd."""
    m = x.detach().amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = torch.exp(x - m).sum(dim=dim, keepdim=True)
    positive = s > 0
    # log of a safe denominator: the -inf branch must not send inf * 0 back.
    out = torch.where(
        positive, m + torch.log(torch.where(positive, s, torch.ones_like(s))), -torch.inf
    )
    return out if keepdim else out.squeeze(dim)


def score_tags(chain: Chain, tags: torch.Tensor) -> torch.Tensor:
    """score(y) (B,) of tag sequences ``tags (B, T)`` (padding ignored): start[y_0] +
    sum_t emissions[t, y_t] + sum_{t>=1} transitions[y_{t-1}, y_t] + end[y_last]."""
    emissions, transitions, start, end, mask, lengths = chain
    B, T, C = emissions.shape
    emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
    emit = torch.where(mask, emit, torch.zeros_like(emit)).sum(1)  # (B,)
    score = start[tags[:, 0]] + emit  # (B,)
    if T > 1:
        trans = transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        trans = torch.where(mask[:, 1:], trans, torch.zeros_like(trans)).sum(1)  # (B,)
        score = score + trans
    last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (B,)
    return score + end[last]
