"""Allowed transitions and start tags from BIO / IOB2 tag names.

Under BIO (= IOB2) an ``I-X`` tag must follow ``B-X`` or ``I-X``, so it can neither
follow anything else nor start a sequence. Names without a ``B-`` / ``I-`` prefix
(``O``, ``<pad>``, ...) are unconstrained, like ``O``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

SCHEMES = ("BIO", "IOB2")


def _parse(tag_names: Sequence[str], scheme: str) -> list[tuple[str, str | None]]:
    """(prefix, type) per tag: ("B", "PER"), ("I", "PER") or ("O", None)."""
    if scheme.upper() not in SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    parsed = []
    for name in tag_names:
        if not isinstance(name, str):
            raise TypeError(f"tag_names: expected strings, got {type(name).__name__}")
        prefix, sep, kind = name.partition("-")
        if sep and prefix in ("B", "I") and kind:
            parsed.append((prefix, kind))
        else:
            parsed.append(("O", None))
    return parsed


def allowed_transitions(tag_names: Sequence[str], scheme: str = "BIO") -> torch.Tensor:
    """(C, C) bool, [i, j] True when tag j may follow tag i."""
    parsed = _parse(tag_names, scheme)
    C = len(parsed)
    allowed = torch.ones(C, C, dtype=torch.bool)
    for j, (pj, kj) in enumerate(parsed):
        if pj == "I":
            for i, (pi, ki) in enumerate(parsed):
                allowed[i, j] = pi in ("B", "I") and ki == kj
    return allowed


def allowed_start(tag_names: Sequence[str], scheme: str = "BIO") -> torch.Tensor:
    """(C,) bool, True when a sequence may start with the tag (not ``I-X``)."""
    return torch.tensor([p != "I" for p, _ in _parse(tag_names, scheme)], dtype=torch.bool)


def bio_masks(tag_names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(allowed (C, C) bool, allowed_start (C,) bool) for BIO tags."""
    return allowed_transitions(list(tag_names), scheme="BIO"), allowed_start(list(tag_names))
