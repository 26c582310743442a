"""``SequenceClassifier``: encoder -> final state (or mean) -> softmax over classes, and
``ClassificationBatch``, what it trains on through ``lab.training.fit``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lab.models.encoders import build_encoder
from lab.models.trainable import Trainable

POOLINGS = ("last", "mean")


@dataclass
class ClassificationBatch:
    """B right-padded sentences with one label each.

    words   (B, T) long, word ids, 0 on padding
    mask    (B, T) bool, True on real tokens (a prefix of each row)
    labels  (B,) long, class ids
    """

    words: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> ClassificationBatch:
        """The same batch with every tensor on ``device``."""
        return ClassificationBatch(
            self.words.to(device, non_blocking=True),
            self.mask.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
        )

    @property
    def num_tokens(self) -> int:
        """The number of real (unpadded) tokens."""
        return int(self.mask.sum())


class SequenceClassifier(Trainable):
    """p(y | x_1:T) = softmax(W phi(x_1:T) + b) for one label per sentence.

    phi is the encoder's state pooled over the sentence: ``"last"`` = the final state
    (forward half at the last real token, backward half at the first), ``"mean"`` = the
    mean over real tokens. With ``encoder="bow"`` and ``pooling="mean"`` this is the
    lecture's time-invariant phi, blind to word order.

    Args: num_words (V, pad=0), num_classes (K), encoder (one of ENCODERS),
    embedding_dim, hidden (per direction), layers, bidirectional, dropout, pooling.
    Inputs: words (B, T) long, mask (B, T) bool right-padded, labels (B,) long, or a
    ``ClassificationBatch`` of the three for ``loss`` (what ``fit`` calls).
    """

    def __init__(
        self,
        num_words: int,
        num_classes: int,
        encoder: str = "lstm",
        embedding_dim: int = 64,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {list(POOLINGS)}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.embedding = nn.Embedding(num_words, embedding_dim, padding_idx=0)
        self.encoder = build_encoder(encoder, embedding_dim, hidden, layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(self.encoder.out_dim, num_classes)
        self.pooling = pooling
        self.num_classes = num_classes

    @classmethod
    def from_config(
        cls, config: Any, num_words: int, num_classes: int, pooling: str = "last"
    ) -> SequenceClassifier:
        """The classifier with the encoder part of a ``ModelConfig`` (encoder,
        embedding_dim, hidden, layers, bidirectional, dropout); its head is ignored."""
        return cls(
            num_words,
            num_classes,
            encoder=config.encoder,
            embedding_dim=config.embedding_dim,
            hidden=config.hidden,
            layers=config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            pooling=pooling,
        )

    def features(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """phi (B, D): the pooled encoder state."""
        if words.dim() != 2 or mask.shape != words.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"expected words (B, T) and a bool mask of the same shape, got "
                f"{tuple(words.shape)} and {mask.dtype} {tuple(mask.shape)}"
            )
        lengths = mask.sum(1)
        states = self.encoder(self.dropout(self.embedding(words)), mask, lengths)  # (B, T, D)
        if self.pooling == "last":
            return self.encoder.final_states(states, lengths)
        return states.sum(1) / lengths.unsqueeze(1).to(states.dtype)

    def log_probs(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, K) log p(y | x)."""
        return torch.log_softmax(self.out(self.dropout(self.features(words, mask))), dim=-1)

    def loss(self, batch: ClassificationBatch) -> torch.Tensor:
        """Scalar: mean over sentences of -log p(label | x)."""
        words, mask, labels = batch.words, batch.mask, batch.labels
        if labels.shape != words.shape[:1]:
            raise ValueError(
                f"expected labels of shape (B,) = ({words.shape[0]},), got {tuple(labels.shape)}"
            )
        return nn.functional.nll_loss(self.log_probs(words, mask), labels)

    def predict(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) long: the most probable class."""
        return self.log_probs(words, mask).argmax(-1)
