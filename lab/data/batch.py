"""A padded batch of tagged sentences: what every tagger consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Batch:
    """Right-padded tensors for B sentences of at most T tokens.

    words   (B, T) long, word ids, 0 (``<pad>``) on padding
    tags    (B, T) long, tag ids, 0 on padding (read only where ``mask``), or None
    mask    (B, T) bool, True on real tokens (a prefix of each row)
    lengths (B,)   long, number of real tokens per sentence
    chars   (B, T, L) long, character ids, 0 on padding, or None when unused
    tokens  the original tokens, one list of strings per sentence
    """

    words: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    tags: torch.Tensor | None = None
    chars: torch.Tensor | None = None
    tokens: list[list[str]] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with every tensor on ``device``."""

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(
            words=self.words.to(device, non_blocking=True),
            mask=self.mask.to(device, non_blocking=True),
            lengths=self.lengths.to(device, non_blocking=True),
            tags=move(self.tags),
            chars=move(self.chars),
            tokens=self.tokens,
        )

    @property
    def size(self) -> int:
        """B, the number of sentences."""
        return int(self.words.shape[0])

    @property
    def num_tokens(self) -> int:
        """The number of real (unpadded) tokens."""
        return int(self.lengths.sum())
