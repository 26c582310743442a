"""``HMMTagger``: the generative HMM of ``lab.structured`` behind the tagger interface."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from lab.data.batch import Batch
from lab.models.config import HEAD_DECODERS, ModelConfig
from lab.models.tagger import Tagger, check_batch
from lab.structured.constraints import bio_masks
from lab.structured.crf import LinearChainCRF
from lab.structured.hmm import HMM, hmm_chain


class HMMTagger(Tagger):
    """p(x, y) = p(y_0) prod_t p(y_t | y_{t-1}) prod_t p(x_t | y_t), fit by counting.

    ``fit_closed_form(batches)`` sets the maximum-likelihood parameters with add-
    ``smoothing`` counts (``lab.structured.HMM.fit``; the unknown word id 1 gets the
    counts of words seen once) and returns True. Before fitting, every distribution is
    uniform. It has no trainable parameters: ``fit`` takes no gradient steps when
    ``fit_closed_form`` returns True. The parameters are buffers, so ``state_dict`` saves
    them. Inference is the CRF's: ``crf(batch)`` is ``lab.structured.hmm.hmm_chain`` of
    the buffers. The config's encoder fields are not used (ModelConfig asks for
    encoder='bow' with head='hmm' so that one model has one config, and one run id).

    loss(batch)       scalar: -log p(x, y) summed over sentences, over the real tokens
                      (the joint NLL per token; the generative model's training loss)
    log_prob(b, tags) (B,) log p(tags | x), the conditional, comparable to the CRF's
    marginals(batch)  (B, T, C) exact posterior marginals p(y_t | x)
    decode(batch)     viterbi (default) or max_marginal
    """

    def __init__(
        self,
        config: ModelConfig,
        num_words: int,
        num_tags: int,
        tag_names: Sequence[str] | None = None,
        smoothing: float = 1.0,
    ) -> None:
        super().__init__()
        if config.head != "hmm":
            raise ValueError(f"HMMTagger needs head='hmm', got {config.head!r}")
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        self.config = config
        self.num_tags = num_tags
        self.num_words = num_words
        self.smoothing = smoothing
        self.decoders = HEAD_DECODERS["hmm"]
        c, v = num_tags, num_words
        self.register_buffer("log_start", torch.full((c,), -torch.log(torch.tensor(c * 1.0))))
        self.register_buffer(
            "log_transition", torch.full((c, c), -torch.log(torch.tensor(c * 1.0)))
        )
        self.register_buffer("log_emission", torch.full((c, v), -torch.log(torch.tensor(v * 1.0))))
        allowed = allowed_first = None
        if config.bio_constraints:
            if tag_names is None:
                raise ValueError("bio_constraints=True needs tag_names (the C tag strings)")

            allowed, allowed_first = bio_masks(tag_names)
        self.register_buffer("allowed", allowed)
        self.register_buffer("allowed_start", allowed_first)

    def fit_closed_form(self, batches: Iterable[Batch]) -> bool:
        """Maximum likelihood (with add-``smoothing``) from the real tokens of ``batches``;
        True (fitted: no gradient steps)."""
        words, tags = [], []
        for batch in batches:
            check_batch(batch, need_tags=True)
            for w, y, m in zip(batch.words.cpu(), batch.tags.cpu(), batch.mask.cpu(), strict=True):
                words.append(w[m].tolist())
                tags.append(y[m].tolist())
        if not words:
            raise ValueError("fit_closed_form got no batches")
        hmm = HMM.fit(words, tags, self.num_tags, self.num_words, smoothing=self.smoothing)
        for name in ("log_start", "log_transition", "log_emission"):
            buffer = getattr(self, name)
            buffer.copy_(getattr(hmm, name).to(buffer.dtype))
        return True

    def crf(self, batch: Batch) -> LinearChainCRF:
        """The posterior p(y | x) as a ``LinearChainCRF``; its score(y) is log p(x, y) and
        its log Z is log p(x)."""
        check_batch(batch)
        return hmm_chain(
            self.log_start,
            self.log_transition,
            self.log_emission,
            batch.words,
            batch.mask,
            allowed=self.allowed,
            allowed_start=self.allowed_start,
        )

    def loss(self, batch: Batch) -> torch.Tensor:
        check_batch(batch, need_tags=True)
        joint = self.crf(batch).score(batch.tags.masked_fill(~batch.mask, 0))  # (B,)
        return -joint.sum() / batch.mask.sum().clamp(min=1)

    def log_prob(self, batch: Batch, tags: torch.Tensor) -> torch.Tensor:
        return self.crf(batch).log_prob(tags.masked_fill(~batch.mask, 0))

    def marginals(self, batch: Batch) -> torch.Tensor:
        with torch.no_grad():
            return self.crf(batch).marginals * batch.mask.unsqueeze(-1)

    def decode(self, batch: Batch, method: str | None = None, **options: Any) -> torch.Tensor:
        method = self.resolve_decoder(method)
        if options:
            raise ValueError(f"decoder {method!r} takes no options, got {sorted(options)}")
        if method == "viterbi":
            tags, _ = self.crf(batch).viterbi()
        else:
            tags = self.marginals(batch).argmax(-1)
        return tags.long() * batch.mask
