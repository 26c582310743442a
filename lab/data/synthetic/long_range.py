"""A tagging task whose answer lies exactly ``lag`` tokens back, across distractors: the
test for vanishing gradients."""

from __future__ import annotations

import numpy as np

from lab.data.sentence import Sentence

QUERY_TOKEN = "?"
NO_TAG = "O"


def long_range_corpus(
    n: int,
    lag: int,
    seed: int = 0,
    num_keys: int = 4,
    num_distractors: int = 20,
    extra_length: int = 4,
) -> list[Sentence]:
    """``n`` sentences in which one key token ``k<i>`` is followed exactly ``lag`` tokens
    later by the query token ``"?"``, whose tag is ``K<i>``; every other position
    (distractors ``d<j>``, the key itself) is tagged ``"O"``.

    A sentence has ``lag + 1 + e`` tokens, e uniform in 0..``extra_length``, with the key
    at a uniform position, so neither the absolute position nor the length gives the
    answer away. The measure is accuracy on the query positions (tag != "O"), where a
    tagger that cannot carry information ``lag`` steps scores 1/``num_keys``.
    """
    for name, value, low in (
        ("n", n, 0),
        ("lag", lag, 1),
        ("num_keys", num_keys, 2),
        ("num_distractors", num_distractors, 1),
        ("extra_length", extra_length, 0),
    ):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n):
        length = lag + 1 + int(rng.integers(extra_length + 1))
        key_at = int(rng.integers(length - lag))
        key = int(rng.integers(num_keys))
        tokens = [f"d{j}" for j in rng.integers(num_distractors, size=length)]
        tags = [NO_TAG] * length
        tokens[key_at] = f"k{key}"
        tokens[key_at + lag] = QUERY_TOKEN
        tags[key_at + lag] = f"K{key}"
        sentences.append(Sentence(tuple(tokens), tuple(tags)))
    return sentences
