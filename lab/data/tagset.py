"""Questions about a tag set that the data can answer (no model, no metric)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def is_bio_tagset(names: Sequence[str]) -> bool:
    """True when every tag name is 'O', 'B-X' or 'I-X' and at least one is not 'O'."""
    ok = all(n == "O" or (len(n) > 2 and n[1] == "-" and n[0] in "BI") for n in names)
    return ok and any(n != "O" for n in names)


def first_invalid_bio(tag_lists: Iterable[Sequence[str]]) -> tuple[int, int, str, str] | None:
    """(sentence, token, previous tag, tag) of the first I-X that follows neither B-X nor
    I-X (a sentence's start counts as O), or None when every sentence keeps BIO."""
    for i, tags in enumerate(tag_lists):
        previous = "O"
        for t, tag in enumerate(tags):
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                return i, t, previous, tag
            previous = tag
    return None
