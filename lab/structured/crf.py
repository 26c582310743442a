"""``LinearChainCRF``: a distribution over tag sequences with exact inference.

score(y) = start[y_0] + sum_t emissions[t, y_t] + sum_{t>=1} transitions[y_{t-1}, y_t]
           + end[y_last];   p(y | x) = exp(score(y)) / Z(x).

Constraints: ``allowed (C, C)`` bool forbids transitions, ``allowed_start`` /
``allowed_end (C,)`` bool forbid first / last tags. They are folded into the potentials
as -inf (so their gradients are zero); sequences using them have probability 0 in the
partition, marginals, sampling, Viterbi and top-k alike.

Dtypes: half and bfloat16 inputs are computed, and answered, in float32; float64 stays
float64 (mixed inputs: float64 if any is). Gradients flow to emissions, transitions,
start and end. Potentials may be -inf (impossible); NaN or +inf are not checked.

Backends: "native" (lab.structured.native: fast, hand-written backward; marginals
without a graph unless inputs require grad), "logspace" (autograd through log-space
forward-backward), "torch-struct" (the reference). ``topk`` and ``sample`` share one
implementation across backends. Scores returned by ``viterbi`` / ``topk`` are the
unnormalised score(y); ``log_prob`` subtracts log Z.
"""

from __future__ import annotations

from functools import cached_property

import torch

from lab.structured import kbest, logspace, native, sampling
from lab.structured.chain import Chain, score_tags

BACKENDS = ("native", "logspace", "torch-struct")


def _expect_tensor(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    return x


def _expect_shape(name: str, x: torch.Tensor, shape: tuple[int, ...], letters: str) -> None:
    if tuple(x.shape) != shape:
        raise ValueError(f"{name}: expected shape {letters} = {shape}, got {tuple(x.shape)}")


def _expect_device(name: str, x: torch.Tensor, device: torch.device) -> None:
    if x.device != device:
        raise ValueError(f"{name}: expected device {device} (that of emissions), got {x.device}")


def _validated_mask(mask: torch.Tensor | None, B: int, T: int, device: torch.device):
    """(mask (B, T) bool, lengths (B,) long) after checking it is a non-empty prefix."""
    if mask is None:
        mask = torch.ones(B, T, dtype=torch.bool, device=device)
        return mask, torch.full((B,), T, dtype=torch.long, device=device)
    else:
        _expect_tensor("mask", mask)
        _expect_shape("mask", mask, (B, T), "(B, T)")
        _expect_device("mask", mask, device)
        if mask.dtype != torch.bool:
            if mask.dtype.is_floating_point or mask.dtype.is_complex:
                raise TypeError(f"mask: expected a bool (or 0/1 integer) tensor, got {mask.dtype}")
            if ((mask != 0) & (mask != 1)).any():
                raise ValueError("mask: expected only 0/1 values")
            mask = mask.bool()
    lengths = mask.sum(1)  # (B,)
    if not (B and T):
        return mask, lengths
    prefix = torch.arange(T, device=device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    bad = (prefix != mask).any(1)
    if bool((bad | (lengths == 0)).any()):  # one check (one sync) when all is well
        if bad.any():
            row = int(bad.nonzero()[0, 0])
            raise ValueError(
                "mask: expected each row to be a prefix of Trues (right padding), "
                f"got row {row} = {mask[row].int().tolist()}"
            )
        row = int((lengths == 0).nonzero()[0, 0])
        raise ValueError(
            f"mask: expected every sequence to have length >= 1, got length 0 in row {row}"
        )
    return mask, lengths


class LinearChainCRF:
    """A linear-chain CRF over B sequences of at most T tags from C classes.

    Args:
        emissions: (B, T, C) log-potentials theta(y_t).
        transitions: (C, C) theta(y_{t-1}=i, y_t=j) at [i, j].
        mask: (B, T) bool, a prefix of Trues per row (right padding); None = all real.
        start, end: (C,) added to the first / last real tag; None = zeros.
        allowed: (C, C) bool, False forbids the transition i -> j; None = all allowed.
        allowed_start, allowed_end: (C,) bool, False forbids a first / last tag.
        backend: "native" (fast, default), "logspace" (autograd through log-space
            forward-backward) or "torch-struct" (reference, through torch_struct).
    """

    def __init__(
        self,
        emissions: torch.Tensor,
        transitions: torch.Tensor,
        mask: torch.Tensor | None = None,
        start: torch.Tensor | None = None,
        end: torch.Tensor | None = None,
        allowed: torch.Tensor | None = None,
        backend: str = "native",
        allowed_start: torch.Tensor | None = None,
        allowed_end: torch.Tensor | None = None,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        _expect_tensor("emissions", emissions)
        _expect_tensor("transitions", transitions)
        if emissions.dim() != 3:
            raise ValueError(f"emissions: expected shape (B, T, C), got {tuple(emissions.shape)}")
        B, T, C = emissions.shape
        if B == 0 or T == 0 or C == 0:
            raise ValueError(f"emissions: expected B, T, C >= 1, got (B, T, C) = {(B, T, C)}")
        device = emissions.device
        _expect_shape("transitions", transitions, (C, C), "(C, C)")
        _expect_device("transitions", transitions, device)
        for name, x in (("start", start), ("end", end)):
            if x is not None:
                _expect_tensor(name, x)
                _expect_shape(name, x, (C,), "(C,)")
                _expect_device(name, x, device)
        floats = [x for x in (emissions, transitions, start, end) if x is not None]
        for x, name in zip(floats, ("emissions", "transitions", "start", "end"), strict=False):
            if not x.dtype.is_floating_point:
                raise TypeError(f"{name}: expected a floating-point tensor, got {x.dtype}")
        dtype = torch.float64 if any(x.dtype == torch.float64 for x in floats) else torch.float32
        mask_given = mask is not None
        mask, lengths = _validated_mask(mask, B, T, device)

        emissions = emissions.to(dtype)
        if mask_given:
            emissions = emissions.masked_fill(~mask.unsqueeze(2), 0.0)
        transitions = transitions.to(dtype)
        start = emissions.new_zeros(C) if start is None else start.to(dtype)
        end = emissions.new_zeros(C) if end is None else end.to(dtype)
        for name, x, shape, letters in (
            ("allowed", allowed, (C, C), "(C, C)"),
            ("allowed_start", allowed_start, (C,), "(C,)"),
            ("allowed_end", allowed_end, (C,), "(C,)"),
        ):
            if x is not None:
                _expect_tensor(name, x)
                _expect_shape(name, x, shape, letters)
                _expect_device(name, x, device)
                if x.dtype != torch.bool:
                    raise TypeError(f"{name}: expected a bool tensor, got {x.dtype}")
        if allowed is not None:
            transitions = transitions.masked_fill(~allowed, -torch.inf)
        if allowed_start is not None:
            start = start.masked_fill(~allowed_start, -torch.inf)
        if allowed_end is not None:
            end = end.masked_fill(~allowed_end, -torch.inf)

        self.backend = backend
        self.chain = Chain(emissions, transitions, start, end, mask, lengths)

    # -- shapes -------------------------------------------------------------------------

    @property
    def mask(self) -> torch.Tensor:
        """(B, T) bool, True on real tokens."""
        return self.chain.mask

    @property
    def lengths(self) -> torch.Tensor:
        """(B,) long, real tokens per sequence."""
        return self.chain.lengths

    @property
    def num_tags(self) -> int:
        """C."""
        return self.chain.shape[2]

    def _needs_graph(self) -> bool:
        """True when results must carry autograd history (inputs require grad)."""
        return torch.is_grad_enabled() and any(x.requires_grad for x in self.chain[:4])

    def _torch_struct(self):
        from lab.structured import torch_struct_backend

        return torch_struct_backend.TorchStructChain(self.chain)

    # -- sum-product ----------------------------------------------------------------

    @cached_property
    def log_partition(self) -> torch.Tensor:
        """log Z(x) (B,), exact; differentiable (native: hand-written backward)."""
        if self.backend == "native":
            return native.log_partition(self.chain)
        if self.backend == "logspace":
            return logspace.log_partition(self.chain)
        return self._torch_struct().log_partition()

    @cached_property
    def marginals(self) -> torch.Tensor:
        """p(y_t = v | x) (B, T, C), zero on padding. Native computes it without an
        autograd graph (fast); when inputs require grad it takes the differentiable
        log-space path, so call under ``torch.no_grad()`` for speed."""
        if self.backend == "torch-struct":
            return self._torch_struct().marginals()
        if self.backend == "logspace" or self._needs_graph():
            return logspace.marginals(self.chain)[1]
        return native.marginals(self.chain)[1]

    @cached_property
    def edge_marginals(self) -> torch.Tensor:
        """p(y_{t-1} = i, y_t = j | x) (B, T-1, C, C), zero where t is padding."""
        if self.backend == "torch-struct":
            return self._torch_struct().edge_marginals()
        if self.backend == "logspace" or self._needs_graph():
            return logspace.edge_marginals(self.chain)
        return native.edge_marginals(self.chain)

    @cached_property
    def entropy(self) -> torch.Tensor:
        """H(y | x) (B,) in nats: log Z - E[score(y)]."""
        if self.backend == "torch-struct":
            return self._torch_struct().entropy()
        emissions, transitions, start, end, mask, lengths = self.chain
        mu, edges = self.marginals, self.edge_marginals
        batch = torch.arange(mu.shape[0], device=mu.device)

        def expect(p: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
            # 0 * -inf is 0 here: forbidden entries carry no mass
            return torch.where(p > 0, p * theta, torch.zeros_like(p))

        expected = (
            expect(mu, emissions).sum((1, 2))
            + expect(edges, transitions).sum((1, 2, 3))
            + expect(mu[:, 0], start).sum(1)
            + expect(mu[batch, lengths - 1], end).sum(1)
        )  # (B,)
        log_z = self.log_partition
        # a row with no allowed sequence has no uncertainty: 0, not -inf
        return torch.where(torch.isfinite(log_z), log_z - expected, torch.zeros_like(log_z))

    # -- scoring --------------------------------------------------------------------

    def _check_tags(self, tags: torch.Tensor, leading: tuple[int, ...] = ()) -> torch.Tensor:
        _expect_tensor("tags", tags)
        B, T, C = self.chain.shape
        _expect_shape("tags", tags, leading + (B, T), "(B, T)")
        _expect_device("tags", tags, self.chain.emissions.device)
        if tags.dtype.is_floating_point or tags.dtype == torch.bool:
            raise TypeError(f"tags: expected an integer tensor, got {tags.dtype}")
        tags = tags.long()
        real = tags[..., self.mask]
        if real.numel() and (real.min() < 0 or real.max() >= C):
            raise ValueError(
                f"tags: expected values in [0, {C}) on real tokens, got range "
                f"[{int(real.min())}, {int(real.max())}]"
            )
        return tags.masked_fill(~self.mask, 0)

    def score(self, tags: torch.Tensor) -> torch.Tensor:
        """score(tags) (B,) for tags (B, T); -inf if a forbidden transition is used."""
        return score_tags(self.chain, self._check_tags(tags))

    def log_prob(self, tags: torch.Tensor) -> torch.Tensor:
        """log p(tags | x) (B,) for tags (B, T) long (padding ignored)."""
        return self.score(tags) - self.log_partition

    def nll_per_token(self, tags: torch.Tensor) -> torch.Tensor:
        """Scalar: sum over the batch of -log p(tags | x), divided by the real tokens."""
        return -self.log_prob(tags).sum() / self.lengths.sum()

    # -- max-product, top-k, sampling --------------------------------------------------

    def viterbi(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(tags (B, T) long, 0 on padding; scores (B,)): the MAP sequence and its score."""
        if self.backend == "torch-struct":
            return self._torch_struct().viterbi()
        return native.viterbi(self.chain)

    def topk(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(tags (k, B, T), scores (k, B)): the k best sequences, best first. Where a
        sequence has fewer than k allowed taggings the extra slots score -inf."""
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k: expected an int >= 1, got {k!r}")
        return kbest.topk(self.chain, k)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, B, T) long: exact samples (forward filtering, backward sampling), 0 on
        padding."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected an int >= 1, got {n!r}")
        return sampling.sample(self.chain, n, generator)
