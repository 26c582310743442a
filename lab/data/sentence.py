"""The unit every reader and generator produces: one tagged sentence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    """T tokens and their T tags (tuples, so a sentence is hashable and immutable).

    ``tags`` may be empty for an untagged sentence (text to predict on); otherwise it has
    exactly one tag per token.
    """

    tokens: tuple[str, ...]
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists for convenience but store tuples, so equality and hashing work.
        object.__setattr__(self, "tokens", _as_str_tuple(self.tokens, "tokens"))
        object.__setattr__(self, "tags", _as_str_tuple(self.tags, "tags"))
        if self.tags and len(self.tags) != len(self.tokens):
            raise ValueError(
                f"a Sentence needs one tag per token (or no tags): got {len(self.tokens)} "
                f"tokens and {len(self.tags)} tags in {self.tokens!r}"
            )

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def has_tags(self) -> bool:
        """True when the sentence carries tags (always, for a non-empty tagged corpus)."""
        return len(self.tags) == len(self.tokens) and len(self.tokens) > 0


def _as_str_tuple(values: Sequence[str], name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"Sentence.{name} must be a sequence of strings, got the string {values!r}")
    out = tuple(values)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"Sentence.{name} must hold strings, got {type(v).__name__} {v!r}")
    return out
