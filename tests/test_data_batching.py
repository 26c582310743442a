"""Collate, the length-bucketed sampler, make_batches and learning-curve subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.data import (
    BucketBatchSampler,
    Sentence,
    Vocabs,
    collate,
    make_batches,
    nested_subsets,
    token_count,
)

TRAIN = [
    Sentence(("the", "dog", "ran"), ("DET", "NOUN", "VERB")),
    Sentence(("cats",), ("NOUN",)),
    Sentence(("a", "hippopotamus"), ("DET", "NOUN")),
]


@pytest.fixture
def vocabs():
    return Vocabs.build(TRAIN)


def test_collate_pads_words_tags_chars_and_mask(vocabs):
    batch = collate(TRAIN, vocabs, max_word_len=5)
    assert batch.words.shape == (3, 3) and batch.words.dtype == torch.long
    assert batch.lengths.tolist() == [3, 1, 2]
    assert batch.mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert batch.words[1, 1:].tolist() == [0, 0]  # <pad>
    assert vocabs.words.decode(batch.words[0].tolist()) == ["the", "dog", "ran"]
    assert vocabs.tags.decode(batch.tags[2, :2].tolist()) == ["DET", "NOUN"]
    assert batch.tags[1, 1:].tolist() == [0, 0]
    # chars (B, T, L): L capped at 5, so "hippopotamus" is cut to "hippo"
    assert batch.chars.shape == (3, 3, 5)
    assert "".join(vocabs.chars.decode(batch.chars[2, 1].tolist())) == "hippo"
    assert vocabs.chars.decode(batch.chars[0, 1].tolist()) == ["d", "o", "g", "<pad>", "<pad>"]
    assert batch.chars[1, 1:].eq(0).all()
    assert batch.tokens == [["the", "dog", "ran"], ["cats"], ["a", "hippopotamus"]]
    assert batch.num_tokens == 6 and batch.size == 3


def test_collate_untagged_and_without_chars():
    vocabs = Vocabs.build(TRAIN, chars=False)
    batch = collate([Sentence(("the", "zebra"))], vocabs)
    assert batch.tags is None and batch.chars is None
    assert batch.words.tolist() == [[vocabs.words.stoi["the"], 1]]


def test_collate_bad_input(vocabs):
    with pytest.raises(ValueError, match="at least one sentence"):
        collate([], vocabs)
    with pytest.raises(ValueError, match="no tokens"):
        collate([TRAIN[0], Sentence(())], vocabs)
    with pytest.raises(ValueError, match="mixes tagged and untagged"):
        collate([TRAIN[0], Sentence(("dog",))], vocabs)
    with pytest.raises(ValueError, match="'ADJ' was not seen"):
        collate([Sentence(("red",), ("ADJ",))], vocabs)


def test_sentence_validation():
    assert Sentence(["a", "b"], ["X", "Y"]) == Sentence(("a", "b"), ("X", "Y"))
    with pytest.raises(ValueError, match="one tag per token"):
        Sentence(("a", "b"), ("X",))
    with pytest.raises(TypeError, match="sequence of strings"):
        Sentence("ab", ("X", "Y"))


LENGTHS = [5, 1, 9, 3, 5, 2, 8, 8, 1, 4, 7, 6, 2, 3, 9, 5, 6, 1, 4, 2, 7, 3]


def test_bucket_sampler_covers_every_index_once_with_similar_lengths():
    sampler = BucketBatchSampler(LENGTHS, batch_size=4, shuffle=True, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 6
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    # buckets are contiguous in the length order: length spread within a bucket is small
    for b in batches:
        spread = max(LENGTHS[i] for i in b) - min(LENGTHS[i] for i in b)
        assert spread <= 2, (b, [LENGTHS[i] for i in b])


def test_bucket_sampler_deterministic_per_seed_and_epoch():
    def run(seed, epoch):
        sampler = BucketBatchSampler(LENGTHS, batch_size=4, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert run(0, 0) == run(0, 0) == list(BucketBatchSampler(LENGTHS, 4, seed=0, epoch=0))
    assert run(0, 1) == run(0, 1)
    assert run(0, 0) != run(0, 1)  # a new epoch, a new order
    assert run(0, 0) != run(1, 0)


def test_bucket_sampler_unshuffled_is_length_sorted():
    batches = list(BucketBatchSampler(LENGTHS, batch_size=5, shuffle=False))
    flat = [i for b in batches for i in b]
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS)
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler(LENGTHS, batch_size=0)


def test_make_batches_orders(vocabs):
    sentences = TRAIN * 5
    in_order = make_batches(sentences, vocabs, batch_size=4)
    assert [t for b in in_order for t in b.tokens] == [list(s.tokens) for s in sentences]
    shuffled = make_batches(sentences, vocabs, batch_size=4, shuffle=True, seed=1, epoch=2)
    again = make_batches(sentences, vocabs, batch_size=4, shuffle=True, seed=1, epoch=2)
    assert [b.tokens for b in shuffled] == [b.tokens for b in again]
    assert sorted(map(tuple, (t for b in shuffled for t in b.tokens))) == sorted(
        s.tokens for s in sentences
    )
    assert sum(b.num_tokens for b in shuffled) == token_count(sentences)


def test_nested_subsets_are_nested_and_reproducible():
    train = [Sentence((f"w{i}",) * (i % 4 + 1), ("X",) * (i % 4 + 1)) for i in range(50)]
    subsets = nested_subsets(train, [10, 30, 50], seed=7)
    assert [len(subsets[n]) for n in (10, 30, 50)] == [10, 30, 50]
    assert set(subsets[10]) <= set(subsets[30]) <= set(subsets[50]) == set(train)
    # kept in corpus order
    assert subsets[30] == sorted(subsets[30], key=train.index)
    # the same seed gives the same subset whatever else was asked for
    assert nested_subsets(train, [30], seed=7)[30] == subsets[30]
    assert nested_subsets(train, [30], seed=8)[30] != subsets[30]
    assert token_count(subsets[10]) == sum(len(s) for s in subsets[10])
    with pytest.raises(ValueError, match=r"subset size 51 is outside 1\.\.50"):
        nested_subsets(train, [10, 51], seed=0)
    with pytest.raises(TypeError, match="ints"):
        nested_subsets(train, [2.5], seed=0)


def test_collate_chars_match_a_plain_loop():
    rng = np.random.default_rng(0)
    alphabet = list("abcdefghij")
    sentences = [
        Sentence(
            tuple("".join(rng.choice(alphabet, size=rng.integers(1, 9))) for _ in range(n)),
            ("X",) * n,
        )
        for n in rng.integers(1, 7, size=25)
    ]
    vocabs = Vocabs.build(sentences[:15])  # some characters and words unseen
    batch = collate(sentences, vocabs, max_word_len=6)
    expected = torch.zeros_like(batch.chars)
    for b, s in enumerate(sentences):
        for t, token in enumerate(s.tokens):
            for i, ch in enumerate(token[:6]):
                expected[b, t, i] = vocabs.chars.stoi.get(ch, 1)
    assert torch.equal(batch.chars, expected)
    assert batch.words.tolist() == [
        [vocabs.words.stoi.get(w, 1) for w in s.tokens] + [0] * (batch.words.shape[1] - len(s))
        for s in sentences
    ]


def test_pad_ids_right_pads_with_pad_and_masks_the_real_ids():
    from lab.data import pad_ids

    ids, mask = pad_ids([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and ids.dtype == torch.long
    assert mask.tolist() == [[True, True, True], [True, False, False]]
