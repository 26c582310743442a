"""Word features: character encoders (CNN, BiLSTM) and word dropout."""

from __future__ import annotations

import random

import pytest
import torch

from lab.data import Sentence, Vocabs, make_batches
from lab.data.vocab import PAD_ID, UNK_ID
from lab.models import ModelConfig, build_tagger
from lab.models.encoders import CharLSTM, WordFeatures

SUFFIX_TAG = {"a": "A", "b": "B", "c": "C"}


def suffix_corpus(n: int, seed: int) -> list[Sentence]:
    """Sentences of random 5..8-letter words; a word's tag is its last letter's
    (a -> A, b -> B, c -> C), so only its characters tell the tag of an unseen word."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        tokens = [
            "".join(rng.choice("defghijk") for _ in range(rng.randint(4, 7))) + rng.choice("abc")
            for _ in range(rng.randint(3, 7))
        ]
        sentences.append(Sentence(tokens, [SUFFIX_TAG[t[-1]] for t in tokens]))
    return sentences


def test_char_lstm_features_of_a_token_do_not_depend_on_padding():
    torch.manual_seed(0)
    encoder = CharLSTM(num_chars=9, char_dim=4, hidden=5)
    alone = torch.tensor([[[3, 4, 5]]])  # (B=1, T=1, L=3)
    padded = torch.zeros(2, 3, 6, dtype=torch.long)
    padded[1, 2, :3] = torch.tensor([3, 4, 5])
    padded[0, 0, :6] = torch.tensor([2, 2, 3, 4, 5, 6])
    out = encoder(padded)  # (2, 3, 10)
    assert out.shape == (2, 3, 10)
    assert torch.allclose(out[1, 2], encoder(alone)[0, 0], atol=1e-6)
    assert torch.equal(out[0, 1], torch.zeros(10))  # a padding token
    assert out[0, 0].abs().sum() > 0


def test_word_dropout_replaces_real_words_at_its_rate_in_training_only():
    torch.manual_seed(0)
    features = WordFeatures(num_words=50, embedding_dim=1, word_dropout=0.3)
    with torch.no_grad():  # row i of the embedding holds i, so the output shows the ids
        features.embedding.weight.copy_(torch.arange(50.0).unsqueeze(1))
    words = torch.randint(2, 50, (200, 50))
    words[:, 40:] = PAD_ID
    used = features(words).squeeze(-1).long()  # (200, 50)
    replaced = used != words
    assert (used[replaced] == UNK_ID).all()
    assert not replaced[:, 40:].any()  # padding stays padding
    assert abs(replaced[:, :40].float().mean().item() - 0.3) < 0.02  # 8,000 draws: sd 0.005
    features.eval()
    assert torch.equal(features(words).squeeze(-1).long(), words)


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_unseen_words_are_tagged_by_their_characters(char_encoder: str):
    train, test = suffix_corpus(150, seed=0), suffix_corpus(40, seed=1)
    vocabs = Vocabs.build(train, chars=True)
    unseen = sum(t not in vocabs.words for s in test for t in s.tokens)
    assert unseen > 0.8 * sum(len(s) for s in test)

    def test_accuracy(config: ModelConfig) -> float:
        torch.manual_seed(0)
        model = build_tagger(config, vocabs)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        for epoch in range(6):
            for batch in make_batches(train, vocabs, 16, shuffle=True, epoch=epoch):
                optimizer.zero_grad()
                model.loss(batch).backward()
                optimizer.step()
        model.eval()
        correct = total = 0
        for batch in make_batches(test, vocabs, 64):
            with torch.no_grad():
                correct += int(((model.decode(batch) == batch.tags) & batch.mask).sum())
            total += int(batch.mask.sum())
        return correct / total

    common = dict(encoder="lstm", bidirectional=True, hidden=16, embedding_dim=16, char_dim=16)
    with_chars = ModelConfig(
        **common, char_features=True, char_encoder=char_encoder, word_dropout=0.2
    )
    words_only = ModelConfig(**common)
    assert test_accuracy(with_chars) > 0.95
    assert test_accuracy(words_only) < 0.6  # unseen words are all <unk>: chance is ~1/3


def test_char_config_is_validated():
    from lab.models.config import CHAR_ENCODERS
    from lab.models.encoders import CHAR_ENCODER_CLASSES

    assert tuple(CHAR_ENCODER_CLASSES) == CHAR_ENCODERS  # what the config accepts, builds
    with pytest.raises(ValueError, match="cnn"):
        ModelConfig(char_encoder="transformer")
    with pytest.raises(ValueError, match="word_dropout"):
        ModelConfig(word_dropout=1.0)
    with pytest.raises(ValueError, match="word_dropout"):
        ModelConfig(word_dropout=-0.1)
    config = ModelConfig(char_features=True, char_encoder="lstm", word_dropout=0.25)
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_unique_rows_is_exact_even_on_a_hash_collision():
    from lab.models.encoders import row_hash_weights, unique_rows

    x = torch.randint(0, 4, (300, 6), generator=torch.Generator().manual_seed(0))
    x[::3, 3:] = 0  # shorter rows, as padded tokens are
    rows, inverse = unique_rows(x)
    assert torch.equal(rows[inverse], x)
    assert len(rows) == len(torch.unique(x, dim=0))
    # two different rows built to share a hash: the check must catch it
    w = row_hash_weights(2)
    clash = torch.stack(
        [torch.stack([w[1], torch.tensor(0)]), torch.stack([torch.tensor(0), w[0]])]
    )
    rows, inverse = unique_rows(clash)
    assert len(rows) == 2 and torch.equal(rows[inverse], clash)
