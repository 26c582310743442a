"""The native backend's edges: underflow fallback, dtypes, validation, sampling."""

from __future__ import annotations

import pytest
import torch

from lab.structured import LinearChainCRF, allowed_start, allowed_transitions, native
from lab.structured.enumerate import brute_force


def _potentials(B, T, C, dtype=torch.float64, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        scale * torch.randn(B, T, C, generator=g, dtype=dtype),
        scale * torch.randn(C, C, generator=g, dtype=dtype),
        scale * torch.randn(C, generator=g, dtype=dtype),
        scale * torch.randn(C, generator=g, dtype=dtype),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_huge_potentials_and_forbidden_transitions_give_no_nan(dtype):
    B, T, C = 3, 5, 4
    em, tr, st, en = _potentials(B, T, C, dtype, scale=1e4)
    allowed = torch.rand(C, C, generator=torch.Generator().manual_seed(1)) < 0.6
    allowed[:, 0] = True  # keep every row feasible
    mask = torch.tensor([[1] * 5, [1] * 3 + [0] * 2, [1] + [0] * 4]).bool()
    leaves = [x.clone().requires_grad_() for x in (em, tr, st, en)]
    crf = LinearChainCRF(leaves[0], leaves[1], mask, leaves[2], leaves[3], allowed)
    assert native.needs_log_space(crf.chain), "potentials of 1e4 must take the log-space path"
    crf.log_partition.sum().backward()
    assert torch.isfinite(crf.log_partition).all()
    for leaf in leaves:
        assert torch.isfinite(leaf.grad).all()
    ref = brute_force(em, tr, mask, st, en, allowed)
    # float32 resolves sums of ~5e4 to ~4e-3 in log space: that, not the algorithm,
    # bounds the float32 marginals here
    rtol, atol = (1e-12, 1e-9) if dtype == torch.float64 else (1e-6, 2e-2)
    torch.testing.assert_close(crf.log_partition.double(), ref["log_partition"], rtol=rtol, atol=0)
    torch.testing.assert_close(leaves[0].grad.double(), ref["marginals"], rtol=0, atol=atol)
    assert torch.isfinite(crf.marginals).all() and torch.isfinite(crf.edge_marginals).all()
    assert torch.isfinite(crf.entropy).all()
    _, scores = crf.viterbi()
    torch.testing.assert_close(scores.double(), ref["argmax_score"], rtol=rtol, atol=0)


def test_infeasible_row_gives_minus_inf_and_zero_gradients():
    em, tr, st, en = _potentials(2, 3, 2)
    allowed = torch.tensor([[True, False], [False, True]])
    # row 0 can only stay in one tag; forbid both as last tags for nothing: use allowed_end
    leaves = [x.clone().requires_grad_() for x in (em, tr, st, en)]
    crf = LinearChainCRF(
        *leaves[:2], None, *leaves[2:], allowed, allowed_end=torch.tensor([False, False])
    )
    assert torch.isneginf(crf.log_partition).all()
    crf.log_partition.sum().backward()
    for leaf in leaves:
        assert torch.isfinite(leaf.grad).all() and not leaf.grad.any()
    assert not crf.marginals.any()


def test_range_just_under_the_limit_stays_in_probability_space_and_is_exact():
    B, T, C = 2, 6, 4
    em, tr, st, en = _potentials(B, T, C, torch.float64, scale=6.0)
    em32, tr32, st32, en32 = (x.float() for x in (em, tr, st, en))
    crf = LinearChainCRF(em32, tr32, None, st32, en32)
    assert not native.needs_log_space(crf.chain)
    ref = brute_force(em, tr, None, st, en)
    torch.testing.assert_close(
        crf.log_partition.double(), ref["log_partition"], rtol=1e-6, atol=1e-5
    )
    torch.testing.assert_close(crf.marginals.double(), ref["marginals"], rtol=0, atol=1e-5)


def test_float32_marginals_match_float64_at_t500():
    em, tr, st, en = _potentials(4, 500, 9, torch.float64, scale=2.0)
    mask = torch.ones(4, 500, dtype=torch.bool)
    mask[1, 300:] = False
    ref = LinearChainCRF(em, tr, mask, st, en).marginals
    got = LinearChainCRF(em.float(), tr.float(), mask, st.float(), en.float()).marginals
    assert (got.double() - ref).abs().max() < 1e-5
    x = em.float().requires_grad_()
    LinearChainCRF(x, tr.float(), mask, st.float(), en.float()).log_partition.sum().backward()
    assert (x.grad.double() - ref).abs().max() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_are_computed_in_float32(dtype):
    em, tr, st, en = (x.to(dtype) for x in _potentials(2, 4, 3, torch.float32))
    crf = LinearChainCRF(em, tr, None, st, en)
    ref = LinearChainCRF(em.float(), tr.float(), None, st.float(), en.float())
    assert crf.log_partition.dtype == torch.float32
    torch.testing.assert_close(crf.log_partition, ref.log_partition)
    torch.testing.assert_close(crf.marginals, ref.marginals)
    x = em.clone().requires_grad_()
    LinearChainCRF(x, tr, None, st, en).log_partition.sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


def test_float64_stays_float64():
    em, tr, st, en = _potentials(2, 3, 3)
    crf = LinearChainCRF(em, tr, None, st, en)
    assert crf.log_partition.dtype == crf.marginals.dtype == torch.float64


def test_custom_backward_passes_gradcheck():
    em, tr, st, en = _potentials(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    allowed = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 1, 1]]).bool()

    def f(e, t, s, n):
        return LinearChainCRF(e, t, mask, s, n, allowed).log_partition

    inputs = [x.clone().requires_grad_() for x in (em, tr, st, en)]
    assert torch.autograd.gradcheck(f, inputs)


def test_marginals_and_entropy_are_differentiable_when_inputs_require_grad():
    em, tr, st, en = _potentials(1, 3, 3)
    e = em.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: LinearChainCRF(x, tr, None, st, en).entropy, [e])
    assert torch.autograd.gradcheck(lambda x: LinearChainCRF(x, tr, None, st, en).marginals, [e])


def test_sample_frequencies_match_marginals():
    em, tr, st, en = _potentials(2, 4, 3, scale=1.0, seed=3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]).bool()
    allowed = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 1]]).bool()
    crf = LinearChainCRF(em, tr, mask, st, en, allowed)
    n = 20_000
    samples = crf.sample(n, generator=torch.Generator().manual_seed(0))  # (n, B, T)
    assert samples.shape == (n, 2, 4) and not samples[:, ~mask].any()
    freq = torch.nn.functional.one_hot(samples, 3).double().mean(0)  # (B, T, C)
    mu = crf.marginals
    sigma = (mu * (1 - mu) / n).sqrt()
    # 5 standard errors per cell: a false alarm has probability ~1e-5 over 24 cells
    assert ((freq - mu).abs()[mask] <= 5 * sigma[mask] + 1e-12).all()
    # no sample uses a forbidden transition
    prev, nxt = samples[:, :, :-1], samples[:, :, 1:]
    used = allowed[prev, nxt] | ~mask[:, 1:]
    assert used.all()


def test_bio_constraints():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed = allowed_transitions(names, scheme="BIO")
    assert allowed[0, 1] and not allowed[0, 2] and allowed[1, 2] and allowed[2, 2]
    assert not allowed[1, 4] and not allowed[3, 2] and allowed[2, 3] and allowed[4, 0]
    assert allowed_start(names).tolist() == [True, True, False, True, False]
    assert torch.equal(allowed_transitions(names, "IOB2"), allowed)
    with pytest.raises(ValueError, match="scheme"):
        allowed_transitions(names, "BILOU")
    em = torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(0))
    crf = LinearChainCRF(em, torch.zeros(5, 5), allowed=allowed, allowed_start=allowed_start(names))
    tags, _ = crf.viterbi()
    assert allowed[tags[:, :-1], tags[:, 1:]].all() and allowed_start(names)[tags[:, 0]].all()
    assert not crf.marginals[:, 0, [2, 4]].any()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(mask=torch.tensor([[1, 0, 1], [1, 1, 1]]).bool()), "prefix"),
        (dict(mask=torch.tensor([[0, 0, 0], [1, 1, 1]]).bool()), "length >= 1"),
        (dict(mask=torch.ones(2, 4, dtype=torch.bool)), r"\(B, T\) = \(2, 3\)"),
        (dict(transitions=torch.zeros(3, 4)), r"\(C, C\) = \(4, 4\)"),
        (dict(start=torch.zeros(3)), r"\(C,\) = \(4,\)"),
        (dict(allowed=torch.ones(4, 3, dtype=torch.bool)), "allowed"),
        (dict(emissions=torch.zeros(2, 0, 4)), "T, C >= 1"),
        (dict(emissions=torch.zeros(2, 3)), r"expected shape \(B, T, C\)"),
        (dict(backend="fast"), "backend"),
    ],
)
def test_bad_input_raises_value_error(change, message):
    kw = dict(emissions=torch.zeros(2, 3, 4), transitions=torch.zeros(4, 4))
    kw.update(change)
    with pytest.raises(ValueError, match=message):
        LinearChainCRF(**kw)


def test_bad_tags_and_types_raise():
    crf = LinearChainCRF(torch.zeros(2, 3, 4), torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        crf.log_prob(torch.tensor([[0, 1, 4], [0, 0, 0]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        crf.log_prob(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        crf.log_prob(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        LinearChainCRF([[0.0]], torch.zeros(1, 1))
    with pytest.raises(ValueError, match="k"):
        crf.topk(0)


def test_padding_tags_are_ignored_by_log_prob():
    em, tr, st, en = _potentials(1, 3, 3)
    mask = torch.tensor([[True, True, False]])
    crf = LinearChainCRF(em, tr, mask, st, en)
    a = crf.log_prob(torch.tensor([[1, 2, 0]]))
    b = crf.log_prob(torch.tensor([[1, 2, 2]]))
    torch.testing.assert_close(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    em, tr, st, en = _potentials(3, 7, 5)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] + [0] * 6]).bool()
    cpu = LinearChainCRF(em, tr, mask, st, en)
    gpu = LinearChainCRF(em.cuda(), tr.cuda(), mask.cuda(), st.cuda(), en.cuda())
    torch.testing.assert_close(gpu.log_partition.cpu(), cpu.log_partition)
    torch.testing.assert_close(gpu.marginals.cpu(), cpu.marginals)
    assert torch.equal(gpu.viterbi()[0].cpu(), cpu.viterbi()[0])
    with pytest.raises(ValueError, match="device"):
        LinearChainCRF(em.cuda(), tr, mask.cuda())


def test_compiled_and_tensor_op_viterbi_agree_bitwise_even_on_ties():
    # integer potentials in a small range: many ties, where both keep the first maximum
    g = torch.Generator().manual_seed(9)
    em = torch.randint(-2, 3, (6, 8, 5), generator=g).float()
    tr = torch.randint(-2, 3, (5, 5), generator=g).float()
    st, en = torch.zeros(5), torch.randint(-1, 2, (5,), generator=g).float()
    mask = torch.arange(8).unsqueeze(0) < torch.tensor([[8], [3], [6], [1], [8], [5]])
    crf = LinearChainCRF(em, tr, mask, st, en, allowed=torch.rand(5, 5, generator=g) < 0.8)
    tags, best = native.viterbi(crf.chain)  # the CPU: the compiled loop
    ref_tags, ref_best = native._viterbi_tensor_ops(crf.chain)
    assert torch.equal(tags, ref_tags)
    assert torch.equal(best, ref_best)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("path", ["compiled", "tensor ops"])
def test_padded_viterbi_equals_enumeration_on_both_paths(path, dtype):
    B, C, T = 40, 6, 5
    em, tr, st, en = _potentials(B, T, C, dtype, seed=4)
    lengths = torch.randint(1, T + 1, (B,), generator=torch.Generator().manual_seed(3))
    lengths[0] = T
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    em = em.masked_fill(~mask.unsqueeze(-1), 1e3)  # padding's emissions must not be read
    crf = LinearChainCRF(em, tr, mask, st, en)
    run = native.viterbi if path == "compiled" else native._viterbi_tensor_ops
    tags, best = run(crf.chain)
    assert best.dtype == dtype and tags.dtype == torch.long
    ref = brute_force(em, tr, mask, st, en)
    torch.testing.assert_close(best.double(), ref["argmax_score"], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(crf.score(tags), best)
    assert not tags[~mask].any()
