"""Verdicts: "supported", "not supported", "mixed" or "skipped", with the rule's text and
the figures it read.

A verdict is never typed in: each experiment (``experiments/<claim>.py``) holds its
claim's rule, the text and the function side by side, computes the figures from its
records and returns a :class:`Verdict`; ``results/README.md`` prints its three parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
MIXED = "mixed"
SKIPPED = "skipped"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, MIXED, SKIPPED)


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict, the rule that produced it, and the figures the rule read."""

    verdict: str
    rule: str
    key_figures: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def as_dict(self) -> dict[str, str]:
        """The dict an experiment's ``summarize`` returns."""
        return {"verdict": self.verdict, "rule": self.rule, "key_figures": self.key_figures}


def skipped(reason: str, rule: str = "") -> Verdict:
    """No verdict: the data the rule needs is missing (``reason`` says why)."""
    return Verdict(SKIPPED, rule or "no rule applied", reason)


def combine(verdicts: Sequence[Verdict], rule: str) -> Verdict:
    """One verdict from several (e.g. one per corpus): all supported -> supported; all
    not supported -> not supported; skipped ones ignored; otherwise mixed."""
    used = [v for v in verdicts if v.verdict != SKIPPED]
    figures = "; ".join(v.key_figures for v in verdicts)
    if not used:
        return Verdict(SKIPPED, rule, figures)
    kinds = {v.verdict for v in used}
    verdict = kinds.pop() if len(kinds) == 1 else MIXED
    return Verdict(verdict, rule, figures)


def both(first: bool, second: bool) -> str:
    """supported when both parts of a rule hold, not supported when neither, else mixed."""
    if first and second:
        return SUPPORTED
    if not first and not second:
        return NOT_SUPPORTED
    return MIXED
