"""``HMMTagger``: the generative HMM of ``lab.structured`` behind the tagger interface."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from lab.data.batch import Batch
from lab.models.config import HEAD_DECODERS, ModelConfig
from lab.models.tagger import Tagger, check_batch
from lab.structured.constraints import bio_masks


class HMMTagger(Tagger):
    """p(x, y) = p(y_0) prod_t p(y_t | y_{t-1}) prod_t p(x_t | y_t), fit by counting.

    ``fit_closed_form(batches)`` sets the maximum-likelihood parameters with add-
    ``smoothing`` counts (``lab.structured.HMM.fit``; the unknown word id 1 gets the
    counts of words seen once). Before fitting, every distribution is uniform. It has no
    trainable parameters: the training loop calls ``fit_closed_form`` instead of
    gradient steps. The parameters are buffers, so ``state_dict`` saves them.

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

    def fit_closed_form(self, batches: Iterable[Batch]) -> None:
        """Maximum likelihood (with add-``smoothing``) from the real tokens of ``batches``."""
        from lab.structured import HMM

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

    def crf(self, batch: Batch):
        """The posterior p(y | x) as a ``LinearChainCRF``; its score(y) is log p(x, y) and
        its log Z is log p(x)."""
        from lab.structured import LinearChainCRF

        check_batch(batch)
        words = batch.words
        if words.numel() and int(words.max()) >= self.num_words:
            raise ValueError(f"word ids must be < {self.num_words}, got {int(words.max())}")
        emissions = self.log_emission.t()[words]  # (B, T, C)
        return LinearChainCRF(
            emissions,
            self.log_transition,
            mask=batch.mask,
            start=self.log_start,
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

    def decode(self, batch: Batch, method: str | None = None) -> torch.Tensor:
        method = self._method(method)
        if method == "viterbi":
            tags, _ = self.crf(batch).viterbi()
        else:
            tags = self.marginals(batch).argmax(-1)
        return tags.long() * batch.mask
