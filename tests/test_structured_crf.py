"""LinearChainCRF against brute-force enumeration, for every backend (property tests)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.structured import LinearChainCRF
from lab.structured.enumerate import brute_force

BACKENDS = ["native", "logspace", "torch-struct"]


@st.composite
def chains(draw, dtype=torch.float64):
    """Random potentials: B 1..3, T 1..6, C 1..5, random right padding, random allowed."""
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, 6))
    C = draw(st.integers(1, 5 if T <= 5 else 4))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    lengths = [draw(st.integers(1, T)) for _ in range(B)]
    lengths[draw(st.integers(0, B - 1))] = T if draw(st.booleans()) else lengths[0]
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    scale = draw(st.sampled_from([0.5, 2.0, 5.0]))
    kw = dict(
        emissions=scale * torch.randn(B, T, C, generator=g, dtype=dtype),
        transitions=scale * torch.randn(C, C, generator=g, dtype=dtype),
        mask=mask if draw(st.booleans()) or min(lengths) < T else None,
        start=torch.randn(C, generator=g, dtype=dtype),
        end=torch.randn(C, generator=g, dtype=dtype),
    )
    if draw(st.booleans()):
        kw["allowed"] = torch.rand(C, C, generator=g) < 0.7
    return kw


def _close(actual, expected, dtype):
    if dtype == torch.float64:
        torch.testing.assert_close(actual.double(), expected, rtol=1e-9, atol=1e-9)
    else:
        torch.testing.assert_close(actual.double(), expected, rtol=1e-5, atol=1e-5)


def _check_against_enumeration(kw, backend, dtype):
    ref = brute_force(**kw, k=4)
    crf = LinearChainCRF(**kw, backend=backend)
    feasible = torch.isfinite(ref["log_partition"])
    if backend == "torch-struct":
        # torch-struct stands in a large finite number for -inf: compare feasible rows
        kw = {
            k: (v[feasible] if k in ("emissions", "mask") and v is not None else v)
            for k, v in kw.items()
        }
        if not feasible.any():
            return
        ref = brute_force(**kw, k=4)
        crf = LinearChainCRF(**kw, backend=backend)
        feasible = torch.isfinite(ref["log_partition"])
    _close(crf.log_partition, ref["log_partition"], dtype)
    _close(crf.marginals, ref["marginals"], dtype)
    _close(crf.edge_marginals, ref["edge_marginals"], dtype)
    _close(crf.entropy, ref["entropy"], dtype)
    tags, scores = crf.viterbi()
    _close(scores, ref["argmax_score"], dtype)
    # the decoded sequence must score what enumeration's best scores (ties allowed)
    ok = torch.isfinite(scores)
    if ok.any():
        _close(crf.score(tags)[ok], ref["argmax_score"][ok], dtype)
    mask = crf.mask
    assert not tags[~mask].any(), "padding positions of Viterbi tags must be 0"
    top_tags, top_scores = crf.topk(4)
    _close(top_scores, ref["topk_scores"], dtype)
    for r in range(4):
        finite = torch.isfinite(top_scores[r])
        if finite.any():
            rescored = crf.score(top_tags[r])[finite]
            _close(rescored, ref["topk_scores"][r][finite], dtype)
    # marginals sum to one on real tokens (feasible rows)
    sums = crf.marginals.sum(2)[feasible]
    _close(sums[mask[feasible]], torch.ones_like(sums[mask[feasible]]).double(), dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(kw=chains())
def test_float64_equals_enumeration(backend, kw):
    _check_against_enumeration(kw, backend, torch.float64)


@settings(max_examples=25, deadline=None)
@given(kw=chains(dtype=torch.float32))
def test_float32_native_equals_enumeration(kw):
    _check_against_enumeration(kw, "native", torch.float32)


@settings(max_examples=25, deadline=None)
@given(kw=chains())
def test_grad_of_log_partition_is_marginals(kw):
    leaves = {
        k: kw[k].clone().requires_grad_() for k in ("emissions", "transitions", "start", "end")
    }
    crf = LinearChainCRF(**{**kw, **leaves})
    ref = brute_force(**kw)
    feasible = torch.isfinite(ref["log_partition"])
    crf.log_partition[feasible].sum().backward()
    for leaf in leaves.values():
        assert torch.isfinite(leaf.grad).all()
    mu = ref["marginals"][feasible]
    torch.testing.assert_close(leaves["emissions"].grad[feasible], mu, rtol=1e-9, atol=1e-9)
    lengths = crf.lengths[feasible]
    torch.testing.assert_close(leaves["start"].grad, mu[:, 0].sum(0), rtol=1e-9, atol=1e-9)
    last = mu[torch.arange(len(mu)), lengths - 1].sum(0)
    torch.testing.assert_close(leaves["end"].grad, last, rtol=1e-9, atol=1e-9)
    if ref["edge_marginals"].numel():
        edges = ref["edge_marginals"][feasible].sum((0, 1))
        torch.testing.assert_close(leaves["transitions"].grad, edges, rtol=1e-9, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(kw=chains())
def test_padded_batch_equals_rows_one_by_one(kw):
    crf = LinearChainCRF(**kw)
    tags, scores = crf.viterbi()
    for b, L in enumerate(crf.lengths.tolist()):
        one = dict(kw, emissions=kw["emissions"][b : b + 1, :L], mask=None)
        single = LinearChainCRF(**one)
        torch.testing.assert_close(single.log_partition, crf.log_partition[b : b + 1])
        torch.testing.assert_close(single.marginals[0], crf.marginals[b, :L])
        torch.testing.assert_close(single.viterbi()[1], scores[b : b + 1])


@settings(max_examples=20, deadline=None)
@given(kw=chains())
def test_backends_agree(kw):
    crfs = [LinearChainCRF(**kw, backend=b) for b in BACKENDS]
    feasible = torch.isfinite(crfs[0].log_partition)
    for other in crfs[1:]:
        torch.testing.assert_close(other.log_partition[feasible], crfs[0].log_partition[feasible])
        torch.testing.assert_close(other.marginals[feasible], crfs[0].marginals[feasible])
        torch.testing.assert_close(other.viterbi()[1][feasible], crfs[0].viterbi()[1][feasible])


def test_log_prob_normalises_and_matches_enumeration():
    g = torch.Generator().manual_seed(0)
    B, T, C = 2, 3, 3
    em = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    tr = torch.randn(C, C, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    crf = LinearChainCRF(em, tr, mask)
    import itertools

    total = torch.zeros(B, dtype=torch.float64)
    for seq in itertools.product(range(C), repeat=T):
        tags = torch.tensor(seq).expand(B, T)
        # row 1 has 2 tokens: count each of its sequences once (y_2 = 0)
        total += crf.log_prob(tags).exp() * torch.tensor([1.0, 1.0 if seq[2] == 0 else 0.0])
    torch.testing.assert_close(total, torch.ones(B, dtype=torch.float64))
    tags = torch.tensor([[0, 1, 2], [2, 2, 0]])
    expected = -crf.log_prob(tags).sum() / 5
    torch.testing.assert_close(crf.nll_per_token(tags), expected)


def test_t_equals_one():
    em = torch.tensor([[[0.0, 1.0]]], dtype=torch.float64)
    crf = LinearChainCRF(
        em,
        torch.zeros(2, 2, dtype=torch.float64),
        end=torch.tensor([0.0, -1.0], dtype=torch.float64),
    )
    torch.testing.assert_close(crf.marginals[0, 0], torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert crf.edge_marginals.shape == (1, 0, 2, 2)
    assert crf.sample(3).shape == (3, 1, 1)


def test_enumeration_refuses_beyond_its_size_limit():
    from lab.structured.enumerate import MAX_SEQUENCES, enumerate_log_partition

    em = torch.zeros(1, 10, 5)  # 5**10 = 9.8 million sequences
    assert 5**10 > MAX_SEQUENCES
    with pytest.raises(ValueError, match=r"C\*\*T = 5\*\*10"):
        enumerate_log_partition(em, torch.zeros(5, 5))


def test_topk_with_k_beyond_the_number_of_sequences():
    em = torch.randn(1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    crf = LinearChainCRF(em, torch.zeros(2, 2, dtype=torch.float64))
    tags, scores = crf.topk(6)
    assert torch.isfinite(scores[:4]).all() and torch.isneginf(scores[4:]).all()
    assert len({tuple(t) for t in tags[:4, 0].tolist()}) == 4, "the 4 sequences, each once"
    assert (scores[:-1] >= scores[1:]).all()
