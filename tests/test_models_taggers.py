"""Taggers: every encoder x head through the one interface, against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from lab.data.batch import Batch
from lab.models import ModelConfig, build_model
from lab.models.cells import GatedCell
from lab.models.encoders import build_encoder
from lab.structured import LinearChainCRF

NUM_WORDS, NUM_TAGS = 12, 4
# (encoder, bidirectional, layers): a mix of directions and depths over the six encoders
ENCODER_SETTINGS = [
    ("bow", False, 1),
    ("elman", True, 1),
    ("residual", False, 1),
    ("gated", True, 2),
    ("lstm", True, 1),
    ("gru", False, 2),
]
HEADS = ["softmax", "crf", "autoregressive"]


def make_batch(sentences: list[list[int]], tags: list[list[int]] | None = None) -> Batch:
    """Right-padded Batch from lists of word ids (and tag ids)."""
    lengths = torch.tensor([len(s) for s in sentences])
    t = int(lengths.max())
    words = torch.zeros(len(sentences), t, dtype=torch.long)
    tag_tensor = torch.zeros(len(sentences), t, dtype=torch.long)
    for i, s in enumerate(sentences):
        words[i, : len(s)] = torch.tensor(s)
        if tags is not None:
            tag_tensor[i, : len(s)] = torch.tensor(tags[i])
    mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
    return Batch(words=words, mask=mask, lengths=lengths, tags=tag_tensor if tags else None)


def synthetic(contextual: bool, n: int = 20, seed: int = 0, max_len: int = 8) -> Batch:
    """n sentences of 3..max_len words. Tags: word % C (a function of the word, learnable by
    bow), or (word_t + word_{t-1}) % C (needs the previous word)."""
    g = torch.Generator().manual_seed(seed)
    sentences, tags = [], []
    for _ in range(n):
        length = int(torch.randint(3, max_len + 1, (1,), generator=g))
        s = torch.randint(2, NUM_WORDS, (length,), generator=g).tolist()
        if contextual:
            y = [(w + (s[i - 1] if i else 0)) % NUM_TAGS for i, w in enumerate(s)]
        else:
            y = [w % NUM_TAGS for w in s]
        sentences.append(s)
        tags.append(y)
    return make_batch(sentences, tags)


def make_model(encoder: str, bidirectional: bool, layers: int, head: str, **kw):
    config = ModelConfig(
        encoder=encoder,
        bidirectional=bidirectional,
        layers=layers,
        embedding_dim=16,
        hidden=32,
        head=head,
        **kw,
    )
    return build_model(config, NUM_WORDS, NUM_TAGS)


ALL = [(*e, h) for e in ENCODER_SETTINGS for h in HEADS]
IDS = [f"{e}-{'bi' if b else 'uni'}{n}-{h}" for e, b, n, h in ALL]


@pytest.mark.parametrize("encoder,bidirectional,layers,head", ALL, ids=IDS)
def test_loss_is_finite_and_differentiable(encoder, bidirectional, layers, head):
    torch.manual_seed(0)
    model = make_model(encoder, bidirectional, layers, head)
    batch = synthetic(contextual=True, n=5)
    loss = model.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    # mean per token: log C at uniform predictions is the right order of magnitude
    assert 0.1 * math.log(NUM_TAGS) < float(loss.detach()) < 10 * math.log(NUM_TAGS)


@pytest.mark.parametrize("encoder,bidirectional,layers,head", ALL, ids=IDS)
def test_marginals_sum_to_one_and_decode_respects_mask(encoder, bidirectional, layers, head):
    torch.manual_seed(1)
    model = make_model(encoder, bidirectional, layers, head).eval()
    batch = synthetic(contextual=True, n=6, seed=3, max_len=6)  # exact: C^T <= 4096
    marginals = model.marginals(batch)
    assert marginals.shape == (*batch.words.shape, NUM_TAGS)
    sums = marginals.sum(-1)
    assert torch.allclose(sums[batch.mask], torch.ones(batch.num_tokens), atol=1e-5)
    assert (marginals[~batch.mask] == 0).all()
    for method in model.decoders:
        tags = model.decode(batch, method)
        assert tags.dtype == torch.long and tags.shape == batch.words.shape
        assert (tags[~batch.mask] == 0).all()
        assert ((tags >= 0) & (tags < NUM_TAGS)).all()


def token_accuracy(model, batch: Batch) -> float:
    pred = model.decode(batch)
    return float((pred == batch.tags)[batch.mask].float().mean())


@pytest.mark.parametrize("encoder,bidirectional,layers,head", ALL, ids=IDS)
def test_overfits_twenty_sentences(encoder, bidirectional, layers, head):
    torch.manual_seed(0)
    model = make_model(encoder, bidirectional, layers, head)
    # bow sees no context: give it tags that are a function of the word
    batch = synthetic(contextual=encoder != "bow")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    accuracy = 0.0
    for step in range(300):
        model.train()
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
        if step % 10 == 9:
            model.eval()
            accuracy = token_accuracy(model, batch)
            if accuracy == 1.0:
                break
    assert accuracy == 1.0, f"token accuracy {accuracy:.3f} after {step + 1} steps"


@pytest.mark.parametrize("encoder", ["elman", "residual", "gated", "lstm", "gru"])
def test_padding_never_changes_a_read_state(encoder):
    """Each sentence encoded alone equals it encoded in a padded batch (both directions)."""
    torch.manual_seed(0)
    enc = build_encoder(encoder, 5, 7, layers=2, bidirectional=True)
    x = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 2, 4])
    mask = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    together = enc(x, mask, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = enc(x[i : i + 1, :n], mask[i : i + 1, :n], lengths[i : i + 1])
        assert torch.allclose(together[i, :n], alone[0], atol=1e-5)
        assert (together[i, n:] == 0).all()
    # the backward half at position 0 has read the whole sentence: the last token matters
    x2 = x.clone()
    x2[1, 1] += 1.0
    changed = enc(x2, mask, lengths)
    assert not torch.allclose(changed[1, 0, 7:], together[1, 0, 7:])


def test_gated_cell_matches_its_equation_on_hand_set_weights():
    cell = GatedCell(input_size=2, hidden_size=2)
    w1 = torch.tensor([[1.0, -1.0], [0.5, 2.0]])
    w3 = torch.tensor([[0.0, 1.0], [-1.0, 0.5]])
    w2 = torch.tensor([[0.3, 0.0], [0.1, -0.2]])
    w4 = torch.tensor([[1.0, 1.0], [0.0, -1.0]])
    b, b_gate = torch.tensor([0.1, -0.1]), torch.tensor([0.2, 0.0])
    with torch.no_grad():
        cell.input_proj.weight.copy_(torch.cat([w1, w3]))
        cell.input_proj.bias.copy_(torch.cat([b, b_gate]))
        cell.recurrent.copy_(torch.cat([w2, w4]))
    xs = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]]])  # (1, 3, 2)
    h = torch.zeros(2)
    expected = []
    for x in xs[0]:
        lam = torch.sigmoid(w4 @ h + w3 @ x + b_gate)
        h = lam * h + (1 - lam) * torch.tanh(w1 @ x + w2 @ h + b)
        expected.append(h)
    assert torch.allclose(cell(xs)[0], torch.stack(expected), atol=1e-6)


def all_sequences(length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(NUM_TAGS), repeat=length)))


def brute_force_log_probs(model, batch: Batch, row: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every tag sequence of sentence ``row`` and model.log_prob of each (K,)."""
    n = int(batch.lengths[row])
    seqs = all_sequences(n)
    k = seqs.shape[0]
    single = make_batch([batch.words[row, :n].tolist()] * k)
    return seqs, model.log_prob(single, seqs)


def test_autoregressive_exact_equals_brute_force_and_beam():
    torch.manual_seed(0)
    model = make_model("gru", True, 1, "autoregressive").eval()
    batch = synthetic(contextual=True, n=4, seed=5)
    batch = make_batch(
        [s[:5] for s in [batch.words[i, : batch.lengths[i]].tolist() for i in range(4)]]
    )
    with torch.no_grad():
        exact = model.decode(batch, "exact")
        full_beam = model.decode(batch, "beam", k=NUM_TAGS**5)  # a beam as wide as exact
        greedy = model.decode(batch, "greedy")
        for row in range(4):
            seqs, log_probs = brute_force_log_probs(model, batch, row)
            n = int(batch.lengths[row])
            # a distribution over all C^n sequences
            assert torch.allclose(log_probs.logsumexp(0), torch.tensor(0.0), atol=1e-4)
            best = seqs[log_probs.argmax()]
            assert torch.equal(exact[row, :n], best)
            assert torch.equal(full_beam[row, :n], best)
        # greedy is never better than the model's own argmax
        assert (model.log_prob(batch, greedy) <= model.log_prob(batch, exact) + 1e-5).all()


def test_autoregressive_decoder_steps_count_the_work():
    model = make_model("bow", False, 1, "autoregressive", beam_width=3)
    lengths = torch.tensor([2, 3])
    assert model.head.decoder_steps("greedy", lengths) == 6
    assert model.head.decoder_steps("beam", lengths) == 18
    assert model.head.decoder_steps("exact", lengths) == 4**2 * 2 + 4**3 * 3


def test_autoregressive_exact_refuses_long_sentences():
    model = make_model("bow", False, 1, "autoregressive")
    batch = make_batch([[2] * 12])  # 4^12 > limit
    with pytest.raises(ValueError, match="limit"):
        model.decode(batch, "exact")
    short = make_batch([[2] * 3])  # 4^3 = 64 sequences
    with pytest.raises(ValueError, match="limit of 63"):
        model.decode(short, "exact", limit=63)
    with torch.no_grad():
        assert torch.equal(model.decode(short, "exact", limit=64), model.decode(short, "exact"))


def test_decoder_options_go_through_the_tagger_interface():
    torch.manual_seed(0)
    model = make_model("elman", False, 1, "autoregressive", beam_width=2)
    batch = make_batch([[2, 5, 7, 3], [4, 9]])
    with torch.no_grad():
        features = model.encode(batch)
        for k in (1, 3):
            assert torch.equal(
                model.decode(batch, "beam", k=k), model.head.beam(features, batch.mask, k)
            )
        assert torch.equal(model.decode(batch, "beam"), model.head.beam(features, batch.mask, 2))
        assert torch.equal(model.decode(batch, "beam", k=1), model.decode(batch, "greedy"))
    with pytest.raises(ValueError, match="k is the beam decoder's option"):
        model.decode(batch, "greedy", k=3)
    with pytest.raises(ValueError, match="takes no options"):
        model.decode(batch, "beam", width=3)
    crf = make_model("bow", False, 1, "crf")
    with pytest.raises(ValueError, match="takes no options"):
        crf.decode(batch, "viterbi", k=3)
    with pytest.raises(ValueError, match="has no decoder 'beam'"):
        crf.resolve_decoder("beam")
    assert crf.resolve_decoder(None) == "viterbi"


@pytest.mark.parametrize("encoder,bidirectional", [("bow", False), ("elman", True)])
def test_crf_head_nll_equals_brute_force(encoder, bidirectional):
    torch.manual_seed(0)
    model = make_model(encoder, bidirectional, 1, "crf")
    with torch.no_grad():
        model.head.transitions.normal_()
        model.head.start.normal_()
        model.head.end.normal_()
    batch = make_batch([[2, 5, 7, 3], [4, 9]], [[0, 1, 2, 3], [3, 3]])
    feats = model.encode(batch)
    emissions = model.head.emissions(feats)
    h = model.head
    nll = 0.0
    for row in range(2):
        n = int(batch.lengths[row])
        seqs = all_sequences(n)
        scores = h.start[seqs[:, 0]] + h.end[seqs[:, -1]]
        scores = scores + emissions[row, torch.arange(n), seqs].sum(1)
        if n > 1:
            scores = scores + h.transitions[seqs[:, :-1], seqs[:, 1:]].sum(1)
        gold = batch.tags[row, :n]
        gold_index = int((seqs == gold).all(1).nonzero())
        nll = nll - (scores[gold_index] - scores.logsumexp(0))
    expected = nll / batch.num_tokens
    assert torch.allclose(model.loss(batch), expected, atol=1e-5)
    engine = LinearChainCRF(emissions, h.transitions, batch.mask, start=h.start, end=h.end)
    assert torch.allclose(model.loss(batch), engine.nll_per_token(batch.tags), atol=1e-6)
    # Viterbi = brute-force argmax
    seqs = all_sequences(4)
    scores = h.start[seqs[:, 0]] + h.end[seqs[:, -1]] + emissions[0, torch.arange(4), seqs].sum(1)
    scores = scores + h.transitions[seqs[:, :-1], seqs[:, 1:]].sum(1)
    assert torch.equal(model.decode(batch, "viterbi")[0], seqs[scores.argmax()])


def test_softmax_log_prob_is_a_sum_of_token_log_probs():
    torch.manual_seed(0)
    model = make_model("lstm", True, 1, "softmax")
    batch = synthetic(contextual=True, n=3)
    marg = model.marginals(batch)
    expected = marg.clamp_min(1e-30).log().gather(2, batch.tags.unsqueeze(-1)).squeeze(-1)
    expected = (expected * batch.mask).sum(1)
    assert torch.allclose(model.log_prob(batch, batch.tags), expected, atol=1e-5)
    assert torch.allclose(model.loss(batch), -expected.sum() / batch.num_tokens, atol=1e-6)


def test_char_features_change_the_states():
    torch.manual_seed(0)
    config = ModelConfig(encoder="gru", char_features=True, char_dim=8, hidden=16)
    model = build_model(config, NUM_WORDS, NUM_TAGS, num_chars=10)
    batch = synthetic(contextual=True, n=3)
    with pytest.raises(ValueError, match="chars"):
        model.loss(batch)
    b, t = batch.words.shape
    batch.chars = torch.randint(1, 10, (b, t, 5)) * batch.mask.unsqueeze(-1)
    loss = model.loss(batch)
    loss.backward()
    assert model.features.chars.conv.weight.grad.abs().sum() > 0


def test_config_round_trip_and_validation():
    config = ModelConfig(encoder="gated", bidirectional=True, head="crf", hidden=128)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="valid keys"):
        ModelConfig.from_dict({**config.to_dict(), "hiden": 3})
    with pytest.raises(ValueError, match="bow"):
        ModelConfig(encoder="transformer")
    with pytest.raises(ValueError, match="softmax"):
        ModelConfig(head="mlp")
    with pytest.raises(ValueError, match="viterbi"):
        ModelConfig(head="crf", decoder="greedy")
    with pytest.raises(ValueError, match="bidirectional"):
        ModelConfig(encoder="bow", bidirectional=True)
    with pytest.raises(ValueError, match="crf"):
        ModelConfig(head="softmax", bio_constraints=True)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.0)
    with pytest.raises(ValueError, match="tag_names"):
        build_model(ModelConfig(head="crf", bio_constraints=True), NUM_WORDS, NUM_TAGS)
    with pytest.raises(ValueError, match="num_chars"):
        build_model(ModelConfig(char_features=True), NUM_WORDS, NUM_TAGS)
    model = build_model(ModelConfig(head="autoregressive"), NUM_WORDS, NUM_TAGS)
    with pytest.raises(ValueError, match="greedy"):
        model.decode(synthetic(True, n=2), "viterbi")


BIO_NAMES = ["O", "B-X", "I-X", "B-Y", "I-Y"]


def bio_valid(tags: list[int]) -> bool:
    names = [BIO_NAMES[t] for t in tags]
    for i, name in enumerate(names):
        if name.startswith("I-"):
            before = names[i - 1] if i else "O"
            if before[2:] != name[2:]:
                return False
    return True


def test_crf_head_with_bio_constraints_never_decodes_an_invalid_sequence():
    torch.manual_seed(0)
    config = ModelConfig(encoder="bow", bidirectional=False, head="crf", bio_constraints=True)
    model = build_model(config, NUM_WORDS, len(BIO_NAMES), tag_names=BIO_NAMES)
    with torch.no_grad():  # make the emissions prefer I- tags everywhere
        model.head.proj.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0, 5.0]))
    batch = synthetic(contextual=True, n=8, seed=1, max_len=5)
    for row, tags in enumerate(model.decode(batch, "viterbi").tolist()):
        assert bio_valid(tags[: int(batch.lengths[row])])
    # probability mass sits only on valid sequences
    seqs = torch.tensor(list(itertools.product(range(5), repeat=3)))
    single = make_batch([[2, 3, 4]] * len(seqs))
    log_probs = model.log_prob(single, seqs)
    valid = torch.tensor([bio_valid(s) for s in seqs.tolist()])
    assert torch.isinf(log_probs[~valid]).all()
    assert torch.allclose(log_probs[valid].logsumexp(0), torch.tensor(0.0), atol=1e-5)


def test_hmm_config_needs_no_encoder_and_names_one_model():
    plain = ModelConfig(head="hmm")
    assert plain == ModelConfig(encoder="bow", bidirectional=False, head="hmm")
    assert plain.to_dict() == {**ModelConfig().to_dict(), "encoder": "bow", "head": "hmm"}
    assert ModelConfig.from_dict(plain.to_dict()) == plain
    for wrong in ({"encoder": "gru"}, {"bidirectional": True}, {"char_features": True}):
        with pytest.raises(ValueError, match="has no encoder"):
            ModelConfig(head="hmm", **wrong)


def test_hmm_tagger_fits_by_counting_and_scores_the_joint():
    config = ModelConfig(encoder="bow", bidirectional=False, head="hmm")
    model = build_model(config, NUM_WORDS, NUM_TAGS)
    assert list(model.parameters()) == []
    batch = synthetic(contextual=False, n=20)
    model.fit_closed_form([batch])
    # emissions: add-one counts over the words (pad excluded), as HMM.fit makes them
    counts = torch.ones(NUM_TAGS, NUM_WORDS, dtype=torch.float64)
    counts[:, 0] = 0
    for w, y in zip(batch.words[batch.mask].tolist(), batch.tags[batch.mask].tolist(), strict=True):
        counts[y, w] += 1
    seen_once = counts.sum(0) - NUM_TAGS == 1
    counts[:, 1] += (counts[:, seen_once] - 1).sum(1)
    expected = (counts / counts.sum(1, keepdim=True)).log()
    assert torch.allclose(model.log_emission.double()[:, 1:], expected[:, 1:], atol=1e-5)
    # the tags are a function of the word: the fitted HMM decodes them all
    for method in model.decoders:
        assert token_accuracy_with(model, batch, method) == 1.0
    # loss = joint NLL per token, by brute force: log p(x, y) = log p(y | x) + log p(x)
    small = make_batch([[2, 7, 5]], [[2, 3, 1]])
    seqs = all_sequences(3)
    conditional = model.log_prob(make_batch([[2, 7, 5]] * len(seqs)), seqs)
    assert abs(float(conditional.logsumexp(0))) < 1e-5
    ls, lt, le = model.log_start, model.log_transition, model.log_emission
    joint = ls[2] + lt[2, 3] + lt[3, 1] + le[2, 2] + le[3, 7] + le[1, 5]
    assert torch.allclose(model.loss(small).double(), -joint.double() / 3, atol=1e-5)
    marg = model.marginals(batch)
    assert torch.allclose(marg.sum(-1)[batch.mask].float(), torch.ones(batch.num_tokens))


def token_accuracy_with(model, batch: Batch, method: str) -> float:
    pred = model.decode(batch, method)
    return float((pred == batch.tags)[batch.mask].float().mean())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("encoder,bidirectional,layers,head", ALL, ids=IDS)
def test_taggers_run_on_cuda_like_on_cpu(encoder, bidirectional, layers, head):
    torch.manual_seed(0)
    model = make_model(encoder, bidirectional, layers, head).eval()
    batch = synthetic(contextual=True, n=5, max_len=6)
    cpu_loss = model.loss(batch)
    model = model.to("cuda")
    gpu_batch = batch.to("cuda")
    loss = model.loss(gpu_batch)
    loss.backward()
    assert torch.allclose(loss.cpu(), cpu_loss.detach(), atol=1e-4)
    for method in model.decoders:
        tags = model.decode(gpu_batch, method)
        assert tags.device.type == "cuda" and (tags[~gpu_batch.mask] == 0).all()
    assert torch.allclose(
        model.marginals(gpu_batch).sum(-1)[gpu_batch.mask].cpu(),
        torch.ones(batch.num_tokens),
        atol=1e-4,
    )
