"""``Tagger``: the one interface of every tagging model, and ``NeuralTagger`` =
word features -> encoder -> head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lab.data.batch import Batch
from lab.models.config import ModelConfig
from lab.models.encoders import Encoder, WordFeatures
from lab.models.heads import Head
from lab.models.trainable import Trainable


def check_batch(batch: Batch, need_tags: bool = False) -> None:
    """TypeError/ValueError unless ``batch`` is a Batch with consistent (B, T) tensors."""
    if not isinstance(batch, Batch):
        raise TypeError(f"expected a lab.data.batch.Batch, got {type(batch).__name__}")
    if batch.words.dim() != 2:
        raise ValueError(f"expected words of shape (B, T), got {tuple(batch.words.shape)}")
    if batch.mask.shape != batch.words.shape or batch.mask.dtype != torch.bool:
        raise ValueError(
            f"expected a bool mask of shape {tuple(batch.words.shape)}, got "
            f"{batch.mask.dtype} {tuple(batch.mask.shape)}"
        )
    if need_tags and batch.tags is None:
        raise ValueError("this needs gold tags, but batch.tags is None")


class Tagger(Trainable):
    """Every tagger, whatever its family:

    loss(batch)               scalar, mean NLL per real token (sum of sentence NLLs over
                              the number of real tokens)
    log_prob(batch, tags)     (B,) log p(tags | x) of given tags (B, T)
    marginals(batch)          (B, T, C) p(y_t | x), zero on padding
    decode(batch, method, **options)
                              (B, T) long, 0 on padding; method None = config's decoder;
                              options go to that decoder (autoregressive head: ``k`` for
                              beam, ``limit`` for exact)
    decoders                  the decode methods this tagger supports
    resolve_decoder(method)   the decoder ``decode(batch, method)`` runs; the one place
                              that rejects an unknown name
    fit_closed_form(batches)  False (gradient steps) unless the family counts (the HMM)
    """

    config: ModelConfig
    num_tags: int
    decoders: tuple[str, ...] = ()

    def log_prob(self, batch: Batch, tags: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def marginals(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, batch: Batch, method: str | None = None, **options: Any) -> torch.Tensor:
        raise NotImplementedError

    def resolve_decoder(self, method: str | None = None) -> str:
        """``method``, or the config's decoder when None; ValueError unless supported."""
        method = method or self.config.resolved_decoder
        if method not in self.decoders:
            raise ValueError(
                f"{type(self).__name__} with head {self.config.head!r} has no decoder "
                f"{method!r}; expected one of {list(self.decoders)}"
            )
        return method


class NeuralTagger(Tagger):
    """Word features -> dropout -> encoder -> dropout -> head."""

    def __init__(
        self, config: ModelConfig, features: WordFeatures, encoder: Encoder, head: Head
    ) -> None:
        super().__init__()
        self.config = config
        self.features = features
        self.encoder = encoder
        self.head = head
        self.dropout = nn.Dropout(config.dropout)
        self.num_tags = head.num_tags
        self.decoders = head.decoders

    def encode(self, batch: Batch) -> torch.Tensor:
        """(B, T, D) encoder states, zero on padding."""
        check_batch(batch)
        x = self.dropout(self.features(batch.words, batch.chars))  # (B, T, E)
        return self.dropout(self.encoder(x, batch.mask, batch.lengths))

    def loss(self, batch: Batch) -> torch.Tensor:
        check_batch(batch, need_tags=True)
        return self.head.loss(self.encode(batch), batch.mask, batch.tags)

    def log_prob(self, batch: Batch, tags: torch.Tensor) -> torch.Tensor:
        return self.head.log_prob(self.encode(batch), batch.mask, tags)

    def marginals(self, batch: Batch) -> torch.Tensor:
        return self.head.marginals(self.encode(batch), batch.mask)

    def decode(self, batch: Batch, method: str | None = None, **options: Any) -> torch.Tensor:
        method = self.resolve_decoder(method)
        return self.head.decode(self.encode(batch), batch.mask, method, **options)
