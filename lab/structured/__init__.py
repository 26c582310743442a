"""Exact inference on chains: the linear-chain CRF, the HMM, and brute force.

Public API (imported lazily, so that ``lab --help`` need not import torch):
    LinearChainCRF(emissions (B, T, C), transitions (C, C), mask=None, start=None,
                   end=None, allowed=None, backend="native", allowed_start=None,
                   allowed_end=None)
    allowed_transitions(tag_names, scheme="BIO") -> (C, C) bool
    allowed_start(tag_names, scheme="BIO") -> (C,) bool
    HMM(start, transition, emission, log=False); HMM.fit(...); hmm.crf(words, mask)
    bayes_optimal(word_id_seqs, tag_id_seqs, start, transition, emission) -> dict
    brute_force(...) and enumerate_* in ``lab.structured.enumerate``
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "BACKENDS": "lab.structured.crf",
    "LinearChainCRF": "lab.structured.crf",
    "allowed_start": "lab.structured.constraints",
    "allowed_transitions": "lab.structured.constraints",
    "HMM": "lab.structured.hmm",
    "bayes_optimal": "lab.structured.hmm",
}

__all__ = [
    "BACKENDS",
    "HMM",
    "LinearChainCRF",
    "allowed_start",
    "allowed_transitions",
    "bayes_optimal",
]
assert set(__all__) == set(_EXPORTS)

if TYPE_CHECKING:
    from lab.structured.constraints import allowed_start, allowed_transitions
    from lab.structured.crf import BACKENDS, LinearChainCRF
    from lab.structured.hmm import HMM, bayes_optimal


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lab.structured' has no attribute {name!r}")
