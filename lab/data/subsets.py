"""Learning-curve subsets of a training set: nested and reproducible."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from lab.data.sentence import Sentence


def nested_subsets(
    train: Sequence[Sentence], sizes: Iterable[int], seed: int
) -> dict[int, list[Sentence]]:
    """``{n: the first n sentences of one seeded permutation of train}``, each kept in
    corpus order. Sizes count sentences; smaller subsets lie inside larger ones, and the
    same seed gives the same subsets whatever the other sizes asked for. Raises
    ValueError for a size < 1 or larger than ``len(train)``."""
    sizes = list(sizes)
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"subset sizes must be ints, got {type(n).__name__} {n!r}")
        if not 1 <= n <= len(train):
            raise ValueError(
                f"subset size {n} is outside 1..{len(train)} (the training set has "
                f"{len(train)} sentences)"
            )
    order = np.random.default_rng(seed).permutation(len(train))
    return {int(n): [train[i] for i in np.sort(order[:n])] for n in sizes}


def token_count(sentences: Iterable[Sentence]) -> int:
    """The number of tokens in ``sentences``."""
    return sum(len(s) for s in sentences)
