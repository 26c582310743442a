"""Synthetic corpora: determinism, the structure each claim relies on, bad arguments."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from lab.data import (
    HMMParams,
    Sentence,
    builtin_corpus,
    builtin_kind,
    builtin_names,
    builtin_splits,
    long_range_corpus,
    make_hmm_params,
    sample_hmm,
    synthetic_hmm,
    translation_pairs,
    word_order_corpus,
)
from lab.data.synthetic.translation import LEXICON, OBJECT_MARK, SUBJECT_MARK
from lab.data.synthetic.word_order import FOODS, PEOPLE

# ---- HMM ---------------------------------------------------------------------------


def test_hmm_params_shapes_rows_and_ambiguity():
    p = make_hmm_params(num_tags=6, vocab_size=50, concentration=0.3, ambiguity=2, seed=1)
    assert p.start.shape == (6,) and p.transition.shape == (6, 6) and p.emission.shape == (6, 50)
    for rows in (p.start, p.transition, p.emission):
        assert rows.dtype == np.float64
        np.testing.assert_allclose(rows.sum(-1), 1.0)
    # every word is emitted by exactly `ambiguity` tags; every tag emits some word
    assert ((p.emission > 0).sum(axis=0) == 2).all()
    assert ((p.emission > 0).sum(axis=1) > 0).all()
    assert p.tag_names == tuple(f"T{j}" for j in range(6)) and len(p.word_names) == 50


def test_hmm_concentration_sets_sharpness():
    sharp = make_hmm_params(concentration=0.1, seed=0).transition.max(axis=1).mean()
    flat = make_hmm_params(concentration=10.0, seed=0).transition.max(axis=1).mean()
    assert sharp > 0.5 > 0.3 > flat


def test_hmm_params_deterministic_and_round_trip():
    a, b, c = make_hmm_params(seed=3), make_hmm_params(seed=3), make_hmm_params(seed=4)
    for name in ("start", "transition", "emission"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.transition, c.transition)
    restored = HMMParams.from_dict(a.to_dict())
    np.testing.assert_array_equal(restored.emission, a.emission)
    assert restored.tag_names == a.tag_names and isinstance(restored.tag_names, tuple)
    assert restored.emission.dtype == np.float64


def test_hmm_params_bad_input():
    with pytest.raises(ValueError, match="ambiguity"):
        make_hmm_params(num_tags=4, ambiguity=5)
    with pytest.raises(ValueError, match="vocab_size"):
        make_hmm_params(num_tags=8, vocab_size=5)
    with pytest.raises(ValueError, match="concentration"):
        make_hmm_params(concentration=0)
    p = make_hmm_params(num_tags=3, vocab_size=5)
    with pytest.raises(ValueError, match=r"transition must be an array of shape \(3, 3\)"):
        HMMParams(p.start, p.transition[:2], p.emission, p.tag_names, p.word_names)
    with pytest.raises(ValueError, match="summing to 1"):
        HMMParams(p.start * 2, p.transition, p.emission, p.tag_names, p.word_names)


def test_sample_hmm_matches_its_parameters():
    p = make_hmm_params(num_tags=4, vocab_size=30, concentration=0.5, ambiguity=2, seed=2)
    sentences = sample_hmm(p, 4000, mean_length=10, min_length=3, max_length=25, seed=5)
    index = {t: j for j, t in enumerate(p.tag_names)}
    words = {w: i for i, w in enumerate(p.word_names)}
    first = sentences[0]
    assert p.tag_ids(first.tags).tolist() == [index[t] for t in first.tags]
    assert p.word_ids(first.tokens).tolist() == [words[w] for w in first.tokens]
    with pytest.raises(ValueError, match="'zzz' is not in this HMM's 30 words"):
        p.word_ids(["w1", "zzz"])
    assert all(3 <= len(s) <= 25 for s in sentences)
    assert abs(np.mean([len(s) for s in sentences]) - 10) < 0.2
    starts = np.bincount([index[s.tags[0]] for s in sentences], minlength=4) / len(sentences)
    np.testing.assert_allclose(starts, p.start, atol=0.03)
    counts = np.zeros((4, 4))
    for s in sentences:
        for prev, cur in zip(s.tags, s.tags[1:], strict=False):
            counts[index[prev], index[cur]] += 1
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), p.transition, atol=0.03)
    # no word is ever emitted by a tag whose emission probability for it is zero
    assert all(
        p.emission[index[t], words[w]] > 0
        for s in sentences
        for w, t in zip(s.tokens, s.tags, strict=True)
    )


def test_sample_hmm_deterministic_and_bad_lengths():
    p = make_hmm_params(seed=0)
    assert sample_hmm(p, 50, seed=1) == sample_hmm(p, 50, seed=1)
    assert sample_hmm(p, 50, seed=1) != sample_hmm(p, 50, seed=2)
    with pytest.raises(ValueError, match="min_length <= mean_length <= max_length"):
        sample_hmm(p, 5, mean_length=50, max_length=40)


def test_synthetic_hmm_fixes_the_hmm_across_sizes_and_sample_seeds():
    small, p_small = synthetic_hmm(20, seed=0)
    large, p_large = synthetic_hmm(500, seed=9)
    np.testing.assert_array_equal(p_small.transition, p_large.transition)
    assert synthetic_hmm(20, seed=0)[0] == small
    _, other = synthetic_hmm(20, seed=0, param_seed=1)
    assert not np.array_equal(other.transition, p_small.transition)
    _, custom = synthetic_hmm(5, num_tags=3, vocab_size=10)
    assert custom.emission.shape == (3, 10)


# ---- Word order --------------------------------------------------------------------


def test_word_order_every_bag_has_both_labels_equally():
    corpus = word_order_corpus(400, seed=0)
    assert len(corpus) == 400
    per_bag: dict[tuple[str, ...], Counter] = defaultdict(Counter)
    for tokens, label in corpus:
        per_bag[tuple(sorted(tokens))][label] += 1
    assert all(c["person"] == c["food"] > 0 for c in per_bag.values())
    # so the best order-blind rule (majority label per bag) is at chance
    best_bag_rule = sum(max(c.values()) for c in per_bag.values()) / len(corpus)
    assert best_bag_rule == 0.5
    assert any(tokens[:2] == ["an", "apple"] for tokens, _ in corpus)
    assert not any(["a", "apple"] == tokens[i : i + 2] for tokens, _ in corpus for i in range(6))


def test_word_order_label_is_who_comes_first():
    food_words = {w for food in FOODS for w in food}
    for tokens, label in word_order_corpus(200, seed=1):
        first_person = min(i for i, w in enumerate(tokens) if w in PEOPLE)
        first_food = min(i for i, w in enumerate(tokens) if w in food_words)
        assert label == ("person" if first_person < first_food else "food")


def test_word_order_deterministic_and_bad_n():
    assert word_order_corpus(50 * 2, seed=4) == word_order_corpus(100, seed=4)
    assert word_order_corpus(100, seed=4) != word_order_corpus(100, seed=5)
    with pytest.raises(ValueError, match="even"):
        word_order_corpus(7)


# ---- Long range --------------------------------------------------------------------


@pytest.mark.parametrize("lag", [1, 5, 20])
def test_long_range_tag_depends_on_token_exactly_lag_back(lag):
    corpus = long_range_corpus(300, lag, seed=0, num_keys=3, extra_length=2)
    keys = Counter()
    for s in corpus:
        assert lag + 1 <= len(s) <= lag + 3
        queries = [i for i, t in enumerate(s.tags) if t != "O"]
        assert len(queries) == 1 and s.tokens[queries[0]] == "?"
        q = queries[0]
        assert s.tokens[q - lag].startswith("k") and s.tags[q] == "K" + s.tokens[q - lag][1:]
        assert sum(tok.startswith("k") for tok in s.tokens) == 1  # the only key
        keys[s.tags[q]] += 1
    assert set(keys) == {"K0", "K1", "K2"} and min(keys.values()) > 60  # all keys used


def test_long_range_deterministic_and_bad_lag():
    assert long_range_corpus(30, 4, seed=2) == long_range_corpus(30, 4, seed=2)
    assert long_range_corpus(30, 4, seed=2) != long_range_corpus(30, 4, seed=3)
    with pytest.raises(ValueError, match="lag must be an int >= 1"):
        long_range_corpus(10, 0)


# ---- Translation -------------------------------------------------------------------


def reference_translate(source: list[str]) -> list[str]:
    """An independent parse-and-translate of the source grammar."""
    from lab.data.synthetic.translation import ADJECTIVES, NOUNS, PREPOSITIONS, VERBS

    phrases, verb, preposition, current = [], None, None, []
    for word in source:
        current.append(word)
        if word in NOUNS:
            det, *adjectives, noun = current
            assert all(a in ADJECTIVES for a in adjectives)
            phrases.append([LEXICON[noun], *(LEXICON[a] for a in adjectives), LEXICON[det]])
            current = []
        elif word in VERBS:
            verb, current = word, []
        elif word in PREPOSITIONS:
            preposition, current = word, []
    assert not current and verb is not None
    out = phrases[0] + [SUBJECT_MARK] + phrases[1] + [OBJECT_MARK]
    if preposition:
        out += phrases[2] + [LEXICON[preposition]]
    return out + [LEXICON[verb]]


def test_translation_follows_the_target_grammar():
    pairs = translation_pairs(300, seed=0, min_len=5, max_len=14)
    assert {len(s) for s, _ in pairs} == set(range(5, 15))
    for source, target in pairs:
        assert target == reference_translate(source)
        assert len(target) == len(source) + 2


def test_translation_lexicon_and_determinism():
    assert len(set(LEXICON.values())) == len(LEXICON)
    assert translation_pairs(40, seed=1) == translation_pairs(40, seed=1)
    assert translation_pairs(40, seed=1) != translation_pairs(40, seed=2)
    assert all(6 <= len(s) <= 7 for s, _ in translation_pairs(50, seed=0, min_len=6, max_len=7))
    with pytest.raises(ValueError, match="min_len <= max_len"):
        translation_pairs(5, min_len=9, max_len=8)
    with pytest.raises(ValueError, match="max_len"):
        translation_pairs(5, max_len=30)


# ---- Registry ----------------------------------------------------------------------


def test_builtin_registry():
    for name in ("synthetic-hmm", "synthetic-hmm-flat", "long-range-k10"):
        corpus = builtin_corpus(name, 20, seed=1)
        assert builtin_kind(name) == "tagging" and isinstance(corpus[0], Sentence)
        assert corpus == builtin_corpus(name, 20, seed=1)
    assert all(len(s) >= 11 for s in builtin_corpus("long-range-k10", 20, seed=0))
    assert builtin_kind("word-order") == "classification"
    assert builtin_corpus("word-order", 10, seed=0) == word_order_corpus(10, seed=0)
    assert builtin_kind("translation") == "translation"
    assert "long-range-k<LAG>" in builtin_names()
    with pytest.raises(ValueError, match="expected one of .*synthetic-hmm"):
        builtin_corpus("long-range-k0", 5)


def test_builtin_splits_are_independent_and_reproducible():
    splits = builtin_splits("synthetic-hmm", {"train": 30, "dev": 30, "test": 30}, seed=0)
    assert splits["train"] != splits["dev"] != splits["test"]
    assert builtin_splits("synthetic-hmm", {"dev": 30}, seed=0)["dev"] == splits["dev"]
    assert builtin_splits("synthetic-hmm", {"dev": 30}, seed=1)["dev"] != splits["dev"]
    with pytest.raises(ValueError, match="split must be one of"):
        builtin_splits("synthetic-hmm", {"validation": 3})
