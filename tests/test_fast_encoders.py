"""The padded (fast on CPU) path of the nn.LSTM/GRU encoders and the char BiLSTM against
the packed (reference) path: same values and gradients in float64; and the bench."""

from __future__ import annotations

import argparse

import pytest
import torch

from lab.data import Sentence, Vocabs, make_batches
from lab.models import ModelConfig, build_tagger
from lab.models.encoders import CharLSTM, build_encoder, resolve_path

TOL = {"atol": 1e-10, "rtol": 1e-10}


def padded_batch(b: int = 5, t: int = 7, d: int = 6, seed: int = 0):
    """x (B, T, D) float64 (garbage on padding, which neither path may read), mask, lengths."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([t, 1, 3, t - 1, 2][:b])
    x = torch.randn(b, t, d, generator=g, dtype=torch.float64)
    mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
    return x, mask, lengths


def values_and_grads(module, run, inputs: list[torch.Tensor], weight: torch.Tensor | None):
    """run() -> output; (output, d(sum(output * weight))/d(inputs and parameters))."""
    out = run()
    weight = (
        torch.randn_like(out, generator=torch.Generator().manual_seed(1))
        if weight is None
        else weight
    )
    grads = torch.autograd.grad((out * weight).sum(), [*inputs, *module.parameters()])
    return out, grads, weight


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_padded_path_equals_packed_values_and_gradients(kind, bidirectional, layers):
    torch.manual_seed(0)
    enc = build_encoder(kind, 6, 5, layers=layers, bidirectional=bidirectional).double()
    x, mask, lengths = padded_batch()
    x.requires_grad_(True)
    enc.path = "packed"
    ref, ref_grads, w = values_and_grads(enc, lambda: enc(x, mask, lengths), [x], None)
    enc.path = "padded"
    out, grads, _ = values_and_grads(enc, lambda: enc(x, mask, lengths), [x], w)
    assert torch.allclose(out, ref, **TOL)
    assert (out[~mask] == 0).all()
    for a, b in zip(grads, ref_grads, strict=True):
        assert torch.allclose(a, b, **TOL)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_padded_path_sentence_alone_equals_it_in_a_padded_batch(kind):
    torch.manual_seed(0)
    enc = build_encoder(kind, 6, 5, layers=2, bidirectional=True).double()
    enc.path = "padded"
    x, mask, lengths = padded_batch()
    together = enc(x, mask, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = enc(x[i : i + 1, :n], mask[i : i + 1, :n], lengths[i : i + 1])
        assert torch.allclose(together[i, :n], alone[0], **TOL)


def random_chars(b: int = 3, t: int = 6, length: int = 12, seed: int = 0) -> torch.Tensor:
    """(B, T, L) left-aligned char ids, token lengths 1..L (every CharLSTM bucket), padding
    tokens of zeros, and a repeated token (the padded path encodes each distinct row once)."""
    g = torch.Generator().manual_seed(seed)
    chars = torch.randint(1, 9, (b, t, length), generator=g)
    n = torch.randint(1, length + 1, (b, t), generator=g)
    chars[torch.arange(length).view(1, 1, -1) >= n.unsqueeze(-1)] = 0
    chars[0, t - 2 :] = 0  # padding tokens
    chars[1, 0] = chars[2, 3]  # a repeated token
    return chars


def test_char_lstm_padded_path_equals_packed_values_and_gradients():
    torch.manual_seed(0)
    enc = CharLSTM(num_chars=9, char_dim=4, hidden=5).double()
    chars = random_chars()
    enc.path = "packed"
    ref, ref_grads, w = values_and_grads(enc, lambda: enc(chars), [], None)
    enc.path = "padded"
    out, grads, _ = values_and_grads(enc, lambda: enc(chars), [], w)
    assert torch.allclose(out, ref, **TOL)
    assert (out[0, -2:] == 0).all()
    for a, b in zip(grads, ref_grads, strict=True):
        assert torch.allclose(a, b, **TOL)


def conv_char_features(enc, chars: torch.Tensor) -> torch.Tensor:
    """The char CNN as ``nn.Conv1d`` computes it over every token: (B, T, L) -> (B, T, F)."""
    b, t, length = chars.shape
    e = enc.embedding(chars.reshape(b * t, length)).transpose(1, 2)  # (B*T, C, L)
    f = torch.relu(enc.conv(e)).masked_fill((chars.reshape(b * t, 1, length) == 0), 0.0)
    return f.max(dim=2).values.reshape(b, t, -1)


@pytest.mark.parametrize("width", [1, 3, 5])
def test_char_cnn_by_gathers_equals_the_convolution_values_and_gradients(width):
    from lab.models.encoders import CharCNN

    torch.manual_seed(0)
    enc = CharCNN(num_chars=9, char_dim=4, filters=6, width=width).double()
    chars = random_chars()
    ref, ref_grads, w = values_and_grads(enc, lambda: conv_char_features(enc, chars), [], None)
    out, grads, _ = values_and_grads(enc, lambda: enc(chars), [], w)
    assert torch.allclose(out, ref, **TOL)
    assert (out[0, -2:] == 0).all()  # padding tokens
    for a, b in zip(grads, ref_grads, strict=True):
        assert torch.allclose(a, b, **TOL)
    with pytest.raises(ValueError, match="width must be odd"):
        CharCNN(num_chars=9, char_dim=4, filters=6, width=2)


@pytest.mark.parametrize("char_encoder", [None, "cnn", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_loss_and_gradients_do_not_depend_on_the_path(char_encoder, bidirectional):
    sentences = [
        Sentence(["The", "dog", "barks", "."], ["D", "N", "V", "P"]),
        Sentence(["Dogs", "bark"], ["N", "V"]),
        Sentence(["A", "cat", "sees", "the", "dog", "."], ["D", "N", "V", "D", "N", "P"]),
    ]
    vocabs = Vocabs.build(sentences)
    (batch,) = make_batches(sentences, vocabs, batch_size=3)
    config = ModelConfig(
        encoder="lstm",
        bidirectional=bidirectional,
        layers=2,
        embedding_dim=6,
        hidden=5,
        head="crf",
        char_features=char_encoder is not None,
        char_encoder=char_encoder or "cnn",
        char_dim=4,
    )
    torch.manual_seed(0)
    model = build_tagger(config, vocabs).double()
    results = []
    for path in ("packed", "padded"):
        model.encoder.path = path
        if isinstance(model.features.chars, CharLSTM):
            model.features.chars.path = path
        loss = model.loss(batch)
        results.append((loss, torch.autograd.grad(loss, list(model.parameters()))))
    (ref, ref_grads), (fast, grads) = results
    assert torch.allclose(fast, ref, **TOL)
    for a, b in zip(grads, ref_grads, strict=True):
        assert torch.allclose(a, b, **TOL)


def test_resolve_path_by_device_and_validation():
    assert resolve_path("auto", torch.device("cpu")) == "padded"
    assert resolve_path("auto", torch.device("cuda")) == "packed"  # cuDNN, not measured here
    assert resolve_path("packed", torch.device("cpu")) == "packed"
    with pytest.raises(ValueError, match="unknown path"):
        resolve_path("fast", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown path"):
        build_encoder("lstm", 4, 4).__class__("lstm", 4, 4, path="fast")


def test_bench_tagger_writes_its_tables_at_a_tiny_size(tmp_path):
    from lab.bench import tagger as bench_tagger

    parser = argparse.ArgumentParser()
    bench_tagger.add_arguments(parser)
    out = tmp_path / "bench_tagger.md"
    args = parser.parse_args(
        "--synthetic --sentences 24 --batch-sizes 8 --embedding-dim 8 --hidden 8 --char-dim 4 "
        f"--rounds 1 --max-batches 2 --out {out}".split()
    )
    assert bench_tagger.main(args) == 0
    text = out.read_text()
    assert "torch thread(s)" in text and torch.__version__ in text
    assert "Command `" in text and "; commit " in text
    assert "## Training" in text and "## Decoding" in text and "## Viterbi alone" in text
    assert "| bilstm-crf | 8 |" in text and "| lstm-crf | 8 |" in text
    for name in ("bilstm-crf", "bilstm-softmax", "lstm-crf"):
        for chars in ("-", "cnn", "lstm"):
            assert text.count(f"| {name} | {chars} | 8 |") == 2  # one row per table


@pytest.mark.parametrize("native_bf16", [True, False])
def test_bench_tagger_rows_have_both_precisions_and_their_ratios(tmp_path, monkeypatch,
                                                                 native_bf16):  # fmt: skip
    from lab import device
    from lab.bench import tagger as bench_tagger

    # a CPU without native bf16 gets no bf16 column (it would be emulated, slower than
    # fp32); one with it gets the column and its ratio. Either CPU runs either case here
    monkeypatch.setattr(device, "bf16_is_fast", lambda _: native_bf16)
    parser = argparse.ArgumentParser()
    bench_tagger.add_arguments(parser)
    args = parser.parse_args(
        "--synthetic --sentences 16 --batch-sizes 8 --embedding-dim 8 --hidden 8 --char-dim 4 "
        f"--rounds 1 --max-batches 1 --models lstm-crf --out {tmp_path / 'b.md'}".split()
    )
    assert bench_tagger.main(args) == 0
    rows = [r for r in (tmp_path / "b.md").read_text().splitlines() if r.startswith("| lstm-crf")]
    training = rows[0].strip("|").split("|")
    if not native_bf16:
        assert training[4].strip() == training[7].strip() == "-"
        assert "not measured here (no native bf16)" in (tmp_path / "b.md").read_text()
        training[4] = training[7] = "1"
    lab, bf16, ref, ratio, bf16_ratio, encoder, ceiling = (
        float(c.replace(",", "")) for c in training[3:]
    )
    assert min(lab, bf16, ref, encoder) > 0
    assert ratio == pytest.approx(lab / ref, rel=0.02, abs=0.01)
    assert ceiling == pytest.approx(encoder / ref, rel=0.02, abs=0.01)
    decoding = rows[3].strip("|").split("|")  # rows 0-2: training; 3-5: decoding
    assert len(decoding) == 8  # no encoder-alone columns: that bound is the training's
    if native_bf16:
        assert bf16_ratio == pytest.approx(bf16 / ref, rel=0.02, abs=0.01)


# --- bf16 autocast (TrainConfig amp="bf16"): the encoder in bf16, the heads in float32


def bf16_tagger(head: str, seed: int = 0):
    """A small BiLSTM tagger with char BiLSTM features, 20 sentences, their vocabs and
    their one batch."""
    from lab.data import builtin_corpus

    sentences = builtin_corpus("synthetic-hmm", 20, seed=seed)
    vocabs = Vocabs.build(sentences, chars=True)
    config = ModelConfig(
        encoder="lstm", bidirectional=True, embedding_dim=16, hidden=32, head=head,
        char_features=True, char_encoder="lstm", char_dim=8,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = build_tagger(config, vocabs)
    return model, sentences, vocabs, make_batches(sentences, vocabs, batch_size=20)[0]


@pytest.mark.parametrize("head", ["softmax", "crf", "autoregressive"])
def test_heads_score_in_float32_under_bf16_autocast(head):
    model, _, _, batch = bf16_tagger(head)
    fp32 = model.loss(batch).item()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        features = model.encode(batch)
        loss = model.loss(batch)
        marginals = model.head.marginals(features, batch.mask)
    assert features.dtype == torch.bfloat16  # the encoder did run in bf16
    assert loss.dtype == torch.float32 and marginals.dtype == torch.float32
    # bf16 encoder states move the loss by their rounding only (8-bit mantissa: ~1%)
    assert abs(loss.item() - fp32) < 0.02 * fp32
    sums = marginals.sum(-1)[batch.mask]
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_under_bf16_autocast_without_native_bf16_runs_bf16_on_torchs_kernel(
    monkeypatch, bidirectional
):
    """On a CPU without native bf16 oneDNN's bf16 LSTM fails; the padded path and the char
    BiLSTM then run the same bf16 LSTM on torch's own kernel (forced here on any CPU)."""
    from lab import device
    from lab.models.encoders import padded_rnn

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    x, _, lengths = padded_batch()
    x = x.float().requires_grad_()
    torch.manual_seed(0)
    encoder = build_encoder("lstm", x.shape[-1], 8, bidirectional=bidirectional)
    fp32 = padded_rnn(encoder.rnn, x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = padded_rnn(encoder.rnn, x, lengths)
        with pytest.raises(ValueError, match="path='packed' under bf16 autocast"):
            encoder.__class__("lstm", x.shape[-1], 8, path="packed")(x, None, lengths)
    assert bf16.dtype == torch.bfloat16
    assert torch.allclose(bf16.float(), fp32, atol=0.03)  # bf16 rounding, not another model
    bf16.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32
               for p in encoder.parameters())  # fmt: skip
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_tagger_trained_by_fit_under_bf16_autocast_learns(head):
    from lab.training.config import TrainConfig
    from lab.training.evaluate import evaluate
    from lab.training.fit import fit

    model, train, vocabs, _ = bf16_tagger(head)
    config = TrainConfig(
        lr=2e-2, batch_size=10, max_epochs=40, patience=40, device="cpu", amp="bf16",
        progress=False,
    )  # fmt: skip
    before = evaluate(model, train, vocabs)["token_accuracy"]
    fit(model, train, train, config, vocabs=vocabs)
    after = evaluate(model, train, vocabs)["token_accuracy"]
    assert after >= 0.95 > before, (before, after)


@pytest.mark.parametrize("shape", [(4, 7), (4, 7, 3)])
def test_reverse_padded_flips_each_row_within_its_length(shape):
    from lab.models.encoders import reverse_padded

    x = torch.randn(shape, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 1, 5])
    out = reverse_padded(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(out[b, :n], x[b, :n].flip(0))
        assert torch.equal(out[b, n:], x[b, n:])  # padding stays where it is
    assert torch.equal(reverse_padded(out, lengths), x)
