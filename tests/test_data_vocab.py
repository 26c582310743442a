"""Vocabularies: special ids, min_freq, lowercasing, unseen tags, round trips."""

from __future__ import annotations

import json

import pytest

from lab.data import PAD_ID, UNK_ID, CharVocab, Sentence, TagVocab, Vocab, Vocabs

TRAIN = [
    Sentence(("the", "dog", "ran"), ("DET", "NOUN", "VERB")),
    Sentence(("The", "cat", "ran"), ("DET", "NOUN", "VERB")),
    Sentence(("a", "dog", "!"), ("DET", "NOUN", "PUNCT")),
]


def test_vocab_specials_order_and_unknowns():
    v = Vocab.build([s.tokens for s in TRAIN])
    assert v.itos[:2] == ["<pad>", "<unk>"] and v.stoi["<pad>"] == PAD_ID
    # most frequent first, ties alphabetical
    assert v.itos[2:] == ["dog", "ran", "!", "The", "a", "cat", "the"]
    assert v.encode(["dog", "zebra"]) == [2, UNK_ID]
    assert v.decode(v.encode(["the", "cat"])) == ["the", "cat"]
    assert len(v) == 9


def test_vocab_does_not_depend_on_corpus_order():
    forward = Vocab.build([s.tokens for s in TRAIN])
    backward = Vocab.build([s.tokens for s in reversed(TRAIN)])
    assert forward.itos == backward.itos


def test_vocab_min_freq_and_lower():
    v = Vocab.build([s.tokens for s in TRAIN], min_freq=2, lower=True)
    assert v.itos == ["<pad>", "<unk>", "dog", "ran", "the"]
    assert v.encode(["THE", "cat"]) == [4, UNK_ID]
    assert "The" in v and "cat" not in v


def test_vocab_bad_input():
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build([["a"]], min_freq=0)
    with pytest.raises(TypeError, match="sequences of tokens"):
        Vocab.build(["a string, not a token list"])
    with pytest.raises(ValueError, match="outside this vocabulary"):
        Vocab.build([["a"]]).decode([3])
    with pytest.raises(ValueError, match="must start with"):
        Vocab(["a", "b"])


def test_char_vocab_encodes_one_token():
    c = CharVocab.build([s.tokens for s in TRAIN])
    assert c.itos[:2] == ["<pad>", "<unk>"]
    assert set(c.itos[2:]) == set("thedogranTca!")
    assert c.decode(c.encode("dog")) == ["d", "o", "g"]
    assert c.encode("dz")[1] == UNK_ID


def test_tag_vocab_has_no_specials_and_rejects_unseen_tags():
    t = TagVocab.build(s.tags for s in TRAIN)
    assert t.names == ["DET", "NOUN", "PUNCT", "VERB"] and len(t) == 4
    assert t.encode(["VERB", "DET"]) == [3, 0]
    assert t.decode([1, 2]) == ["NOUN", "PUNCT"]
    with pytest.raises(ValueError, match="'ADJ' was not seen in training"):
        t.encode(["DET", "ADJ"])
    with pytest.raises(ValueError, match="no tags"):
        TagVocab.build([[]])


def test_vocabs_build_and_json_round_trip():
    vocabs = Vocabs.build(TRAIN, min_freq=1, lower=True, chars=True)
    assert vocabs.words.lower and not vocabs.chars.lower  # chars keep case information
    restored = Vocabs.from_dict(json.loads(json.dumps(vocabs.to_dict())))
    assert restored == vocabs
    assert restored.words.encode(["The"]) == vocabs.words.encode(["the"])
    no_chars = Vocabs.build(TRAIN, chars=False)
    assert no_chars.chars is None and Vocabs.from_dict(no_chars.to_dict()).chars is None
    with pytest.raises(ValueError, match="expected a 'words' vocabulary"):
        Vocab.from_dict(vocabs.to_dict()["chars"])
    with pytest.raises(ValueError, match="empty training set"):
        Vocabs.build([])
