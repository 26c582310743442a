"""Output heads: independent softmax, linear-chain CRF, autoregressive.

A head reads encoder states ``features (B, T, D)`` and the batch's ``mask (B, T)`` and
gives ``log_prob(tags) (B,)``, ``loss`` (mean NLL per real token: the sum of sentence
NLLs over the number of real tokens, the same reduction for every head),
``marginals (B, T, C)`` (zero on padding) and ``decode -> (B, T)`` long (0 on padding).

Under autocast (``TrainConfig.amp``) the encoder runs in bf16/fp16, but every head turns
its scores into float32 before a softmax or a dynamic program: a sentence's log Z is a
sum of T terms, and bf16's 8-bit mantissa would round it by ~0.5 nats at log Z ~ 100.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lab.models.config import HEAD_DECODERS
from lab.structured.crf import LinearChainCRF

# The exact autoregressive decoder enumerates C^T sequences per sentence; above this it
# refuses (ValueError) rather than run for hours.
EXACT_DECODE_LIMIT = 200_000
_EXACT_CHUNK = 4096


def _scores(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when autocast made it bf16/fp16; float32/float64 as they are."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def _clean_tags(tags: torch.Tensor, mask: torch.Tensor, num_tags: int) -> torch.Tensor:
    """tags (B, T) with padding set to 0; ValueError on a real tag outside [0, C)."""
    if tags.shape != mask.shape:
        raise ValueError(f"tags {tuple(tags.shape)} must have the mask's shape {tuple(mask.shape)}")
    real = tags[mask]
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= num_tags):
        raise ValueError(
            f"tag ids must be in [0, {num_tags}), got min {int(real.min())}, max {int(real.max())}"
        )
    return tags.masked_fill(~mask, 0)


def _no_options(method: str, options: dict[str, Any]) -> None:
    """ValueError for options given to a decoder that takes none."""
    if options:
        raise ValueError(f"decoder {method!r} takes no options, got {sorted(options)}")


class Head(nn.Module):
    """The interface every head implements."""

    decoders: tuple[str, ...] = ()

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = num_tags

    def log_prob(self, features: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor):
        """log p(tags | x) (B,) for tags (B, T) (padding ignored)."""
        raise NotImplementedError

    def loss(self, features: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """Scalar: sum over sentences of -log p(tags | x), over the number of real tokens."""
        return -self.log_prob(features, mask, tags).sum() / mask.sum().clamp(min=1)

    def marginals(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, C) per-token tag probabilities, zero on padding."""
        raise NotImplementedError

    def decode(
        self, features: torch.Tensor, mask: torch.Tensor, method: str, **options: Any
    ) -> torch.Tensor:
        """(B, T) long tags by ``method`` (one of ``decoders``), 0 on padding; ``options``
        are that decoder's (ValueError for one it does not take)."""
        raise NotImplementedError


class SoftmaxHead(Head):
    """Independent per token: p(y_1:T | x) = prod_t softmax(W h_t + b)[y_t]; decode argmax."""

    decoders = HEAD_DECODERS["softmax"]

    def __init__(self, in_dim: int, num_tags: int) -> None:
        super().__init__(num_tags)
        self.proj = nn.Linear(in_dim, num_tags)

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, C) log softmax of every token."""
        return torch.log_softmax(_scores(self.proj(features)), dim=-1)

    def log_prob(self, features, mask, tags):
        tags = _clean_tags(tags, mask, self.num_tags)
        token = self.log_probs(features).gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (B, T)
        return (token * mask).sum(1)

    def marginals(self, features, mask):
        return self.log_probs(features).exp() * mask.unsqueeze(-1)

    def decode(self, features, mask, method="argmax", **options):
        _no_options(method, options)
        return self.proj(features).argmax(-1) * mask


class CRFHead(Head):
    """Linear-chain CRF on encoder emissions: score(y) = start[y_0] + sum_t (W h_t)[y_t] +
    sum_{t>=1} transitions[y_{t-1}, y_t] + end[y_last]; exact NLL, marginals and Viterbi
    from ``lab.structured.LinearChainCRF``. Optional BIO constraints: forbidden
    transitions and start tags get probability 0.
    """

    decoders = HEAD_DECODERS["crf"]

    def __init__(
        self,
        in_dim: int,
        num_tags: int,
        allowed: torch.Tensor | None = None,
        allowed_start: torch.Tensor | None = None,
    ) -> None:
        super().__init__(num_tags)
        self.proj = nn.Linear(in_dim, num_tags)
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        self.register_buffer("allowed", allowed)
        self.register_buffer("allowed_start", allowed_start)

    def emissions(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, C) emission log-potentials (float32 under autocast: the module docstring)."""
        return _scores(self.proj(features))

    def crf(self, features: torch.Tensor, mask: torch.Tensor) -> LinearChainCRF:
        """The ``LinearChainCRF`` over this batch."""
        return LinearChainCRF(
            self.emissions(features),
            self.transitions,
            mask=mask,
            start=self.start,
            end=self.end,
            allowed=self.allowed,
            allowed_start=self.allowed_start,
        )

    def log_prob(self, features, mask, tags):
        tags = _clean_tags(tags, mask, self.num_tags)
        return self.crf(features, mask).log_prob(tags)

    def marginals(self, features, mask):
        # not differentiable: the engine's fast path runs without a graph
        with torch.no_grad():
            return self.crf(features, mask).marginals * mask.unsqueeze(-1)

    def decode(self, features, mask, method="viterbi", **options):
        _no_options(method, options)
        if method == "viterbi":
            tags, _ = self.crf(features, mask).viterbi()
        else:  # max_marginal: may break a constraint, that is the point of comparing
            tags = self.marginals(features, mask).argmax(-1)
        return tags.long() * mask


class AutoregressiveHead(Head):
    """p(y | x) = prod_t p(y_t | y_<t, x), with a tag-level GRU:

        s_t = GRU(s_{t-1}, [h_t ; E y_{t-1}]),   p(y_t | y_<t, x) = softmax(W s_t + b)

    where y_0 is a start symbol (id C of E) and s_0 = 0. The state s_t carries the whole
    tag history, so the model is not first-order and exact decoding needs enumeration.
    Trained with teacher forcing. Decoders: ``greedy`` (O(T)), ``beam`` (width k,
    O(k T); ``decode(..., "beam", k=...)``, default ``beam_width``), ``exact`` (enumerates
    C^T per sentence; ValueError above ``decode(..., "exact", limit=...)``, default
    ``exact_limit`` = EXACT_DECODE_LIMIT). ``marginals`` are greedy-conditioned per-step softmaxes
    p(y_t | x, greedy prefix y^_<t), not exact marginals.
    """

    decoders = HEAD_DECODERS["autoregressive"]

    def __init__(
        self, in_dim: int, num_tags: int, tag_dim: int, hidden: int, beam_width: int = 4
    ) -> None:
        super().__init__(num_tags)
        self.tag_embedding = nn.Embedding(num_tags + 1, tag_dim)
        self.rnn = nn.GRU(in_dim + tag_dim, hidden, batch_first=True)
        self.proj = nn.Linear(hidden, num_tags)
        self.beam_width = beam_width
        self.exact_limit = EXACT_DECODE_LIMIT

    @property
    def start_symbol(self) -> int:
        return self.num_tags

    def _step(
        self, h_t: torch.Tensor, prev: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """h_t (N, D), prev (N,) tag ids, state (1, N, Hs) or None
        -> log p(y_t | ...) (N, C), new state (1, N, Hs)."""
        inputs = torch.cat([h_t, self.tag_embedding(prev)], dim=-1).unsqueeze(1)  # (N, 1, D+E)
        out, state = self.rnn(inputs, state)
        return torch.log_softmax(_scores(self.proj(out.squeeze(1))), dim=-1), state

    def _token_log_probs(self, features: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: (B, T) log p(y_t | y_<t, x) of the given tags."""
        b = features.shape[0]
        start = tags.new_full((b, 1), self.start_symbol)
        prev = torch.cat([start, tags[:, :-1]], dim=1)  # (B, T)
        inputs = torch.cat([features, self.tag_embedding(prev)], dim=-1)  # (B, T, D+E)
        # right padding: padded steps come after every real one and are never read
        out, _ = self.rnn(inputs)  # (B, T, Hs)
        logp = torch.log_softmax(_scores(self.proj(out)), dim=-1)  # (B, T, C)
        return logp.gather(2, tags.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, features, mask, tags):
        tags = _clean_tags(tags, mask, self.num_tags)
        return (self._token_log_probs(features, tags) * mask).sum(1)

    def greedy(self, features: torch.Tensor, mask: torch.Tensor):
        """Greedy decoding: tags (B, T) (0 on padding) and the per-step distributions
        p(y_t | x, y^_<t) (B, T, C) (zero on padding)."""
        b, t, _ = features.shape
        prev = features.new_full((b,), self.start_symbol, dtype=torch.long)
        state = None
        tags, probs = [], []
        for i in range(t):
            logp, state = self._step(features[:, i], prev, state)  # (B, C)
            prev = logp.argmax(-1)  # (B,)
            tags.append(prev)
            probs.append(logp.exp())
        return torch.stack(tags, 1) * mask, torch.stack(probs, 1) * mask.unsqueeze(-1)

    def beam(self, features: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
        """Beam search of width k: (B, T) tags of the best finished hypothesis."""
        if k < 1:
            raise ValueError(f"beam width must be >= 1, got {k}")
        b, t, d = features.shape
        c = self.num_tags
        feats = features.repeat_interleave(k, dim=0)  # (B*k, T, D)
        scores = features.new_full((b, k), float("-inf"))
        scores[:, 0] = 0.0  # one live hypothesis at the start
        prev = features.new_full((b * k,), self.start_symbol, dtype=torch.long)
        history = features.new_zeros((b, k, 0), dtype=torch.long)
        state = None
        # a finished sentence extends each hypothesis by tag 0 at no cost
        frozen = features.new_full((c,), float("-inf"))
        frozen[0] = 0.0
        for i in range(t):
            logp, state = self._step(feats[:, i], prev, state)  # (B*k, C)
            logp = torch.where(mask[:, i, None, None], logp.view(b, k, c), frozen)  # (B, k, C)
            top, index = (scores.unsqueeze(-1) + logp).view(b, k * c).topk(k, dim=1)  # (B, k)
            source, tag = index // c, index % c  # (B, k)
            history = torch.cat(
                [history.gather(1, source.unsqueeze(-1).expand(-1, -1, i)), tag.unsqueeze(-1)],
                dim=2,
            )  # (B, k, i+1)
            hs = state.shape[-1]
            state = state.view(b, k, hs).gather(1, source.unsqueeze(-1).expand(-1, -1, hs))
            state = state.view(1, b * k, hs)
            prev, scores = tag.reshape(-1), top
        best = scores.argmax(1)  # (B,)
        return history[torch.arange(b, device=features.device), best] * mask

    def exact(
        self, features: torch.Tensor, mask: torch.Tensor, limit: int | None = None
    ) -> torch.Tensor:
        """argmax_y p(y | x) by enumerating all C^T_b sequences of each sentence: (B, T).
        ValueError when a sentence has more than ``limit`` (default ``exact_limit``)."""
        b, t, _ = features.shape
        c = self.num_tags
        limit = self.exact_limit if limit is None else limit
        lengths = mask.sum(1).tolist()
        for n in lengths:
            if c**n > limit:
                raise ValueError(
                    f"exact decoding would enumerate C^T = {c}^{n} = {c**n} sequences, above the "
                    f"limit of {limit}; use 'greedy' or 'beam', or shorter sentences"
                )
        out = mask.new_zeros((b, t), dtype=torch.long)
        for row, n in enumerate(lengths):
            total = c**n
            powers = c ** torch.arange(n - 1, -1, -1, device=features.device)  # (n,)
            best_score, best = float("-inf"), None
            for lo in range(0, total, _EXACT_CHUNK):
                ids = torch.arange(lo, min(lo + _EXACT_CHUNK, total), device=features.device)
                seqs = (ids.unsqueeze(1) // powers) % c  # (K, n)
                feats = features[row : row + 1, :n].expand(seqs.shape[0], -1, -1)  # (K, n, D)
                scores = self._token_log_probs(feats, seqs).sum(1)  # (K,)
                value, arg = scores.max(0)
                if float(value) > best_score:
                    best_score, best = float(value), seqs[arg]
            assert best is not None
            out[row, :n] = best
        return out

    def decoder_steps(self, method: str, lengths: torch.Tensor) -> int:
        """The number of tag-GRU step evaluations ``method`` spends on a padded batch with
        ``lengths`` (B,): greedy B*T (T the longest), beam k*B*T, exact sum_b C^T_b * T_b.
        The analytic side of the decoders' cost (cost.py measures the time)."""
        if method not in self.decoders:
            raise ValueError(f"unknown decoder {method!r}; expected one of {list(self.decoders)}")
        b, t = lengths.numel(), int(lengths.max()) if lengths.numel() else 0
        if method == "greedy":
            return b * t
        if method == "beam":
            return self.beam_width * b * t
        return sum(self.num_tags**n * n for n in lengths.tolist())

    def marginals(self, features, mask):
        with torch.no_grad():
            return self.greedy(features, mask)[1]

    def decode(self, features, mask, method="greedy", *, k=None, limit=None, **options):
        """greedy; beam of width ``k`` (default ``beam_width``); exact up to ``limit``
        sequences per sentence (default ``exact_limit``)."""
        _no_options(method, options)
        if k is not None and method != "beam":
            raise ValueError(f"k is the beam decoder's option, not {method!r}'s")
        if limit is not None and method != "exact":
            raise ValueError(f"limit is the exact decoder's option, not {method!r}'s")
        with torch.no_grad():
            if method == "greedy":
                return self.greedy(features, mask)[0]
            if method == "beam":
                return self.beam(features, mask, self.beam_width if k is None else k)
            return self.exact(features, mask, limit)
