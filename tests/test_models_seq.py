"""SequenceClassifier (word order) and EncoderDecoder (learn to reverse, beam vs greedy)."""

from __future__ import annotations

import pytest
import torch

from lab.models import (
    ClassificationBatch,
    EncoderDecoder,
    ModelConfig,
    SequenceClassifier,
    TranslationBatch,
)
from lab.training.config import TrainConfig
from lab.training.fit import fit


def pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(r) for r in rows)
    x = torch.zeros(len(rows), t, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : len(r)] = torch.tensor(r)
    return x, x != 0


def word_order_data(n: int = 24, seed: int = 0):
    """Sentences holding words 2 and 3 once each among fillers 4..9; label 1 iff 2 comes
    first. Every sentence's reordering with 2 and 3 swapped is also in the set."""
    g = torch.Generator().manual_seed(seed)
    rows, labels = [], []
    for _ in range(n // 2):
        length = int(torch.randint(3, 7, (1,), generator=g))
        s = torch.randint(4, 10, (length,), generator=g).tolist()
        i, j = sorted(torch.randperm(length, generator=g)[:2].tolist())
        for first, second, label in ((2, 3, 1), (3, 2, 0)):
            r = list(s)
            r[i], r[j] = first, second
            rows.append(r)
            labels.append(label)
    words, mask = pad(rows)
    return words, mask, torch.tensor(labels)


def train(model, step_fn, steps: int, lr: float = 0.02, done=None) -> None:
    """Adam on ``step_fn()`` for at most ``steps`` steps; stop early once ``done()``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        optimizer.zero_grad()
        step_fn().backward()
        optimizer.step()
        if done is not None and step % 25 == 24 and done():
            return


@pytest.mark.parametrize("encoder", ["gated", "gru"])
def test_recurrent_classifier_learns_word_order(encoder):
    torch.manual_seed(0)
    words, mask, labels = word_order_data()
    config = ModelConfig(encoder=encoder, embedding_dim=16, hidden=32)
    model = SequenceClassifier.from_config(config, 12, 2)
    train(
        model,
        lambda: model.loss(ClassificationBatch(words, mask, labels)),
        150,
        done=lambda: bool((model.predict(words, mask) == labels).all()),
    )
    assert (model.predict(words, mask) == labels).all()


def test_bow_classifier_cannot_see_word_order():
    torch.manual_seed(0)
    words, mask, labels = word_order_data()
    model = SequenceClassifier(12, 2, encoder="bow", hidden=16, pooling="mean")
    train(model, lambda: model.loss(ClassificationBatch(words, mask, labels)), 50)
    lp = model.log_probs(words, mask)
    # the swapped pairs (rows 2i, 2i+1) get the same distribution: chance accuracy
    assert torch.allclose(lp[0::2], lp[1::2], atol=1e-6)
    assert float((model.predict(words, mask) == labels).float().mean()) == 0.5


def test_classifier_rejects_bad_input():
    with pytest.raises(ValueError, match="pooling"):
        SequenceClassifier(10, 2, pooling="max")
    model = SequenceClassifier(10, 2, encoder="gru", hidden=8)
    words, mask = pad([[2, 3]])
    with pytest.raises(ValueError, match="labels"):
        model.loss(ClassificationBatch(words, mask, torch.tensor([0, 1])))


BOS, EOS = 1, 2


def reverse_data(n: int = 16, seed: int = 0):
    """Source: 2..5 symbols from 3..7; target: the source reversed, then eos."""
    g = torch.Generator().manual_seed(seed)
    src, tgt_in, tgt_out = [], [], []
    for _ in range(n):
        length = int(torch.randint(2, 6, (1,), generator=g))
        s = torch.randint(3, 8, (length,), generator=g).tolist()
        y = s[::-1] + [EOS]
        src.append(s)
        tgt_in.append([BOS] + y[:-1])
        tgt_out.append(y)
    (s, sm), (ti, _), (to, tm) = pad(src), pad(tgt_in), pad(tgt_out)
    return s, sm, ti, to, tm


@pytest.mark.parametrize("cell", ["gru", "gated", "lstm"])
def test_encoder_decoder_learns_to_reverse(cell):
    torch.manual_seed(0)
    src, src_mask, tgt_in, tgt_out, tgt_mask = reverse_data()
    model = EncoderDecoder(8, 8, hidden=64, cell=cell, embedding_dim=16, bos=BOS, eos=EOS)
    t = tgt_out.shape[1]

    def reversed_all() -> bool:
        return torch.equal(model.greedy(src, src_mask, max_len=t)[:, :t], tgt_out)

    loss = lambda: model.loss(TranslationBatch(src, src_mask, tgt_in, tgt_out, tgt_mask))  # noqa: E731
    train(model, loss, 400, lr=0.01, done=reversed_all)
    greedy = model.greedy(src, src_mask, max_len=t + 2)
    assert torch.equal(greedy[:, :t], tgt_out) and (greedy[:, t:] == 0).all()
    beam = model.beam(src, src_mask, max_len=t + 2, k=3)
    assert torch.equal(beam[:, :t], tgt_out)


def test_beam_finds_at_least_the_greedy_log_probability():
    torch.manual_seed(1)
    src, src_mask, *_ = reverse_data(n=8, seed=2)
    model = EncoderDecoder(8, 8, hidden=16, cell="elman", embedding_dim=8, bos=BOS, eos=EOS)
    max_len = 6

    def log_prob(out: torch.Tensor) -> torch.Tensor:
        # score to eos, or to max_len when no eos was produced
        mask = torch.cumsum((out == EOS).long(), 1) - (out == EOS).long() == 0
        tgt_in = torch.cat([torch.full((out.shape[0], 1), BOS), out[:, :-1]], 1)
        return model.log_prob(src, src_mask, tgt_in, out, mask)

    with torch.no_grad():
        greedy = model.greedy(src, src_mask, max_len)
        beam = model.beam(src, src_mask, max_len, k=5)
        assert torch.equal(model.beam(src, src_mask, max_len, k=1), greedy)
        assert (log_prob(beam) >= log_prob(greedy) - 1e-5).all()


def fit_config(**overrides) -> TrainConfig:
    base = {"lr": 0.02, "max_epochs": 40, "patience": 40, "progress": False, "device": "cpu"}
    return TrainConfig(**{**base, **overrides})


def test_classifier_trains_through_fit_on_classification_batches():
    torch.manual_seed(0)
    words, mask, labels = word_order_data()
    batches = [ClassificationBatch(words[i : i + 8], mask[i : i + 8], labels[i : i + 8])
               for i in range(0, len(labels), 8)]  # fmt: skip
    assert batches[0].num_tokens == int(mask[:8].sum())
    model = SequenceClassifier(12, 2, encoder="gru", embedding_dim=16, hidden=32)

    def accuracy(m) -> float:
        return float((m.predict(words, mask) == labels).float().mean())

    result = fit(model, batches, None, fit_config(patience=5), score=accuracy)
    assert result.dev_metric == "score" and result.best_dev_metric == 1.0
    assert accuracy(model) == 1.0  # the best state is the one restored
    assert not model.training


def test_encoder_decoder_trains_through_fit_on_translation_batches():
    torch.manual_seed(0)
    src, src_mask, tgt_in, tgt_out, tgt_mask = reverse_data()
    tensors = (src, src_mask, tgt_in, tgt_out, tgt_mask)
    batches = [TranslationBatch(*(x[i : i + 4] for x in tensors)) for i in range(0, 16, 4)]
    assert sum(b.num_tokens for b in batches) == int(tgt_mask.sum())
    model = EncoderDecoder(8, 8, hidden=64, cell="gru", embedding_dim=16, bos=BOS, eos=EOS)
    t = tgt_out.shape[1]

    def exact(m) -> float:
        return float((m.greedy(src, src_mask, max_len=t)[:, :t] == tgt_out).all(1).float().mean())

    before = exact(model)
    result = fit(model, batches, None, fit_config(lr=0.01, max_epochs=60, patience=5), score=exact)
    assert result.best_dev_metric >= before + 0.5
    assert exact(model) == result.best_dev_metric  # the best state is the one restored
