"""The compiled CPU forward-backward (lab.structured.forward_backward_cpu, through
native): the same log Z, marginals, edge marginals and gradients as the tensor path and
as enumeration; padding; a sentence alone equal to itself in a batch; gradcheck."""

from __future__ import annotations

import pytest
import torch

from lab.structured import LinearChainCRF, native
from lab.structured.enumerate import brute_force


def potentials(B, T, C, dtype=torch.float64, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        scale * torch.randn(*shape, generator=g, dtype=dtype)
        for shape in ((B, T, C), (C, C), (C,), (C,))
    )


def padded_mask(lengths, T):
    return torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def forbidden(C, seed=3):
    allowed = torch.rand(C, C, generator=torch.Generator().manual_seed(seed)) < 0.7
    allowed[:, 0] = True  # every tag may be followed by tag 0: no infeasible row
    return allowed


def everything(crf_args, tensor_path: bool):
    """log Z, marginals, edge marginals and the four gradients of sum(log Z)."""
    em, tr, mask, st, en, allowed = crf_args
    leaves = [x.clone().requires_grad_() for x in (em, tr, st, en)]
    context = native.tensor_ops() if tensor_path else torch.enable_grad()
    with context:
        crf = LinearChainCRF(leaves[0], leaves[1], mask, leaves[2], leaves[3], allowed)
        log_z = crf.log_partition
        log_z.sum().backward()
        with torch.no_grad():
            plain = LinearChainCRF(em, tr, mask, st, en, allowed)
            mu, edges = plain.marginals, plain.edge_marginals
    return [log_z.detach(), mu, edges, *(x.grad for x in leaves)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_equals_the_tensor_path(dtype):
    B, T, C = 5, 9, 6
    em, tr, st, en = potentials(B, T, C, dtype, scale=2.0)
    args = (em, tr, padded_mask([9, 4, 1, 9, 7], T), st, en, forbidden(C))
    compiled, tensor = everything(args, False), everything(args, True)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    for got, want in zip(compiled, tensor, strict=True):
        assert got.dtype == dtype
        torch.testing.assert_close(got, want, **tol)


def test_compiled_equals_enumeration_in_float64():
    B, T, C = 4, 5, 3
    em, tr, st, en = potentials(B, T, C, scale=1.5, seed=1)
    mask, allowed = padded_mask([5, 3, 1, 4], T), forbidden(C, seed=2)
    ref = brute_force(em, tr, mask, st, en, allowed)
    log_z, mu, _, d_em, *_ = everything((em, tr, mask, st, en, allowed), False)
    torch.testing.assert_close(log_z, ref["log_partition"], rtol=1e-12, atol=0)
    torch.testing.assert_close(mu, ref["marginals"], rtol=0, atol=1e-12)
    torch.testing.assert_close(d_em, ref["marginals"], rtol=0, atol=1e-12)


def test_float32_at_t500_within_1e5_of_float64():
    em, tr, st, en = potentials(4, 500, 9, torch.float64, scale=2.0)
    mask = padded_mask([500, 300, 500, 17], 500)
    ref = LinearChainCRF(em, tr, mask, st, en).marginals
    got = LinearChainCRF(em.float(), tr.float(), mask, st.float(), en.float()).marginals
    assert (got.double() - ref).abs().max() < 1e-5


def test_a_sentence_alone_equals_itself_inside_a_padded_batch():
    em, tr, st, en = potentials(3, 8, 5, seed=4)
    mask = padded_mask([8, 5, 2], 8)
    batch = LinearChainCRF(em, tr, mask, st, en)
    for b, n in enumerate([8, 5, 2]):
        alone = LinearChainCRF(em[b : b + 1, :n], tr, None, st, en)
        torch.testing.assert_close(batch.log_partition[b : b + 1], alone.log_partition)
        torch.testing.assert_close(batch.marginals[b : b + 1, :n], alone.marginals)
        assert batch.marginals[b, n:].abs().max() == 0 if n < 8 else True
        torch.testing.assert_close(batch.edge_marginals[b : b + 1, : n - 1], alone.edge_marginals)


def test_compiled_backward_passes_gradcheck():
    em, tr, st, en = potentials(3, 4, 3, seed=5)
    mask, allowed = padded_mask([4, 2, 1], 4), forbidden(3, seed=6)

    def f(e, t, s, n):
        return LinearChainCRF(e, t, mask, s, n, allowed).log_partition

    inputs = [x.clone().requires_grad_() for x in (em, tr, st, en)]
    assert torch.autograd.gradcheck(f, inputs)


def test_the_compiled_pass_is_the_cpu_path_and_falls_back_to_log_space():
    em, tr, st, en = potentials(2, 4, 3)
    crf = LinearChainCRF(em, tr, None, st, en)
    assert native._compiled(crf.chain) is not None  # the CPU takes the compiled loop
    with native.tensor_ops():
        assert native._compiled(crf.chain) is None
    huge = LinearChainCRF(1e4 * em, tr, None, st, en)  # spans past float64's limit
    assert native._compiled(huge.chain) is None
    torch.testing.assert_close(
        huge.log_partition, brute_force(1e4 * em, tr, None, st, en)["log_partition"]
    )


@pytest.mark.parametrize("case", ["-inf on a real token", "NaN on a real token", "wide span"])
def test_unreliable_emissions_go_to_log_space(case: str) -> None:
    """The compiled pass declines (None) what probability space cannot hold, so that the
    caller's log-space fallback decides; what it returns is log space's answer."""
    from lab.structured import forward_backward_cpu

    em, tr, st, en = potentials(2, 5, 4, dtype=torch.float32)
    lengths = torch.tensor([5, 3])
    if case.startswith("-inf"):
        em[0, 2, 1] = -float("inf")
    elif case.startswith("NaN"):
        em[1, 1, 0] = float("nan")
    else:
        em[0, 3, 2] = 200.0  # one token's scores span more than float32's exp can hold
    em[1, 3:] = 0.0  # padding, as a Chain holds it
    assert forward_backward_cpu.forward_backward(em, tr, st, en, lengths) is None
    if case.startswith("NaN"):
        return
    mask = padded_mask([5, 3], 5)
    compiled = LinearChainCRF(em, tr, mask, st, en).log_partition
    with native.tensor_ops():
        tensor = LinearChainCRF(em, tr, mask, st, en).log_partition
    exact = brute_force(em.double(), tr.double(), mask=mask, start=st.double(), end=en.double())
    torch.testing.assert_close(compiled, tensor)
    torch.testing.assert_close(compiled.double(), exact["log_partition"], rtol=1e-5, atol=1e-4)
