"""Toy translation pairs for the encoder-decoder claim.

Source: English-like SVO sentences, ``DET ADJ* NOUN VERB DET ADJ* NOUN [PREP DET ADJ*
NOUN]``. Target: a made-up language with its own words and its own order: verb last
(SOV), adjectives after the noun and the determiner after them, case particles after
subject (``ga``) and object (``wo``), and postpositions instead of prepositions:

    the big dog chases a cat near the old tree
    -> dofe vafo bibo ga debu bufa wo nobe zufo bibo godu rofa
       (dog big the ga cat a wo tree old the near chases)

The mapping is a deterministic function of the source, so exact match is meaningful.
"""

from __future__ import annotations

import numpy as np

DETERMINERS = ("the", "a")
NOUNS = (
    "cat", "dog", "bird", "man", "woman", "child", "teacher", "farmer",
    "king", "horse", "fish", "tree", "house", "river",
)  # fmt: skip
VERBS = ("sees", "likes", "chases", "finds", "helps", "follows", "feeds", "watches")
ADJECTIVES = ("big", "small", "old", "young", "red", "happy", "tired", "quiet")
PREPOSITIONS = ("in", "near", "behind", "under", "with")
SUBJECT_MARK, OBJECT_MARK = "ga", "wo"
MAX_ADJECTIVES = 2  # per noun phrase
MIN_LENGTH = 5  # DET NOUN VERB DET NOUN
MAX_LENGTH = 3 * (2 + MAX_ADJECTIVES) + 2  # three full noun phrases, verb, preposition

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _pseudo_word(i: int) -> str:
    """The i-th two-syllable word CVCV: distinct for distinct i < (14 * 5) ** 2."""
    c1, v1 = divmod(i, len(_VOWELS))
    c1, c2 = divmod(c1, len(_CONSONANTS))
    c2, v2 = divmod(c2, len(_VOWELS))
    return _CONSONANTS[c1 % 14] + _VOWELS[v1] + _CONSONANTS[c2 % 14] + _VOWELS[v2 % 5]


def _build_lexicon() -> dict[str, str]:
    # Spread the indices (stride 37, coprime with 4900) so neighbours do not look alike.
    source = [*DETERMINERS, *NOUNS, *VERBS, *ADJECTIVES, *PREPOSITIONS]
    lexicon = {word: _pseudo_word((17 + 37 * k) % 4900) for k, word in enumerate(source)}
    assert len(set(lexicon.values())) == len(lexicon)
    assert not {SUBJECT_MARK, OBJECT_MARK} & set(lexicon.values())
    return lexicon


LEXICON: dict[str, str] = _build_lexicon()  # source word -> target word, one to one


def translation_pairs(
    n: int, seed: int = 0, min_len: int = MIN_LENGTH, max_len: int = 12
) -> list[tuple[list[str], list[str]]]:
    """``n`` pairs ``(source_tokens, target_tokens)``; source lengths uniform in
    ``min_len..max_len`` (within 5..14); a target is 2 tokens longer (the particles)."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not MIN_LENGTH <= min_len <= max_len <= MAX_LENGTH:
        raise ValueError(
            f"expected {MIN_LENGTH} <= min_len <= max_len <= {MAX_LENGTH}, got "
            f"min_len={min_len}, max_len={max_len}"
        )
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        length = int(rng.integers(min_len, max_len + 1))
        pairs.append(_sample_pair(length, rng))
    return pairs


def _sample_pair(length: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    # Which structures reach this length: without a prepositional phrase 5..9 tokens,
    # with one 8..14; the rest of the length is adjectives.
    options = [
        has_pp
        for has_pp, base, phrases in ((False, 5, 2), (True, 8, 3))
        if base <= length <= base + phrases * MAX_ADJECTIVES
    ]
    has_pp = options[int(rng.integers(len(options)))]
    num_phrases = 3 if has_pp else 2
    adjective_counts = [0] * num_phrases
    for _ in range(length - (8 if has_pp else 5)):
        free = [i for i, c in enumerate(adjective_counts) if c < MAX_ADJECTIVES]
        adjective_counts[free[int(rng.integers(len(free)))]] += 1

    def pick(words: tuple[str, ...]) -> str:
        return words[int(rng.integers(len(words)))]

    phrases = [
        (pick(DETERMINERS), [pick(ADJECTIVES) for _ in range(k)], pick(NOUNS))
        for k in adjective_counts
    ]
    verb = pick(VERBS)
    preposition = pick(PREPOSITIONS) if has_pp else None

    def source_np(phrase) -> list[str]:
        det, adjectives, noun = phrase
        return [det, *adjectives, noun]

    def target_np(phrase) -> list[str]:
        det, adjectives, noun = phrase
        return [LEXICON[noun], *(LEXICON[a] for a in adjectives), LEXICON[det]]

    source = [*source_np(phrases[0]), verb, *source_np(phrases[1])]
    target = [*target_np(phrases[0]), SUBJECT_MARK, *target_np(phrases[1]), OBJECT_MARK]
    if preposition is not None:
        source += [preposition, *source_np(phrases[2])]
        target += [*target_np(phrases[2]), LEXICON[preposition]]
    target.append(LEXICON[verb])
    assert len(source) == length
    return source, target
