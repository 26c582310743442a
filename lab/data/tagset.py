"""Questions about a tag set that the data can answer (no model, no metric)."""

from __future__ import annotations

from collections.abc import Sequence


def is_bio_tagset(names: Sequence[str]) -> bool:
    """True when every tag name is 'O', 'B-X' or 'I-X' and at least one is not 'O'."""
    ok = all(n == "O" or (len(n) > 2 and n[1] == "-" and n[0] in "BI") for n in names)
    return ok and any(n != "O" for n in names)
