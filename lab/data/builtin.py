"""Built-in synthetic corpora by name, for the CLI and experiment configs.

Names: ``synthetic-hmm`` (the default data), ``synthetic-hmm-flat``, ``long-range-k<LAG>``
(e.g. ``long-range-k10``), ``word-order``, ``translation``. ``builtin_corpus`` returns
``list[Sentence]`` for tagging corpora, ``(tokens, label)`` pairs for ``word-order`` and
``(source, target)`` pairs for ``translation``; ``builtin_kind`` says which.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from lab.data.hmm_corpus import synthetic_hmm
from lab.data.long_range import long_range_corpus
from lab.data.translation import translation_pairs
from lab.data.word_order import word_order_corpus

_LONG_RANGE = re.compile(r"long-range-k([1-9][0-9]*)")
SPLITS = ("train", "dev", "test")

# name -> (kind, generator(n, seed), one-line description)
_FIXED: dict[str, tuple[str, Callable[[int, int], list], str]] = {
    "synthetic-hmm": (
        "tagging",
        lambda n, seed: synthetic_hmm(n, seed=seed)[0],
        "HMM, 8 tags, 200 words, sharp transitions (Dirichlet 0.3), 3 tags per word",
    ),
    "synthetic-hmm-flat": (
        "tagging",
        lambda n, seed: synthetic_hmm(n, seed=seed, concentration=5.0)[0],
        "as synthetic-hmm with near-uniform transitions (Dirichlet 5): context helps little",
    ),
    "word-order": (
        "classification",
        word_order_corpus,
        "'the man ate the hot dog' / 'the hot dog ate the man': who eats (n even)",
    ),
    "translation": (
        "translation",
        translation_pairs,
        "SVO source -> SOV target, adjectives after the noun, own lexicon",
    ),
}


def builtin_names() -> list[str]:
    """The valid names; ``long-range-k<LAG>`` accepts any positive LAG."""
    return [*_FIXED, "long-range-k<LAG>"]


def builtin_descriptions() -> dict[str, str]:
    return {
        **{name: desc for name, (_, _, desc) in _FIXED.items()},
        "long-range-k<LAG>": "the tag of '?' is the key token exactly LAG tokens before it",
    }


def _lookup(name: str) -> tuple[str, Callable[[int, int], list]]:
    if name in _FIXED:
        kind, generate, _ = _FIXED[name]
        return kind, generate
    match = _LONG_RANGE.fullmatch(name)
    if match:
        lag = int(match.group(1))
        return "tagging", lambda n, seed: long_range_corpus(n, lag, seed=seed)
    raise ValueError(
        f"unknown built-in corpus {name!r}; expected one of {builtin_names()} (e.g. long-range-k10)"
    )


def builtin_kind(name: str) -> str:
    """``"tagging"``, ``"classification"`` or ``"translation"``."""
    return _lookup(name)[0]


def builtin_corpus(name: str, n: int, seed: int = 0) -> list:
    """``n`` examples of the built-in corpus ``name``, deterministic for ``seed``."""
    return _lookup(name)[1](n, seed)


def split_seed(seed: int, split: str) -> int:
    """The sample seed of one split: independent streams for train, dev and test."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return int(np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1)[0])


def builtin_splits(name: str, sizes: dict[str, int], seed: int = 0) -> dict[str, list]:
    """``{split: examples}`` for splits among train/dev/test, e.g.
    ``builtin_splits("synthetic-hmm", {"train": 1000, "dev": 500, "test": 500}, seed=0)``.
    Each split has its own sample seed (``split_seed``); for the HMM corpora all splits
    and all seeds share one HMM (its parameter seed is fixed)."""
    return {split: builtin_corpus(name, n, split_seed(seed, split)) for split, n in sizes.items()}
