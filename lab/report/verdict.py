"""Verdicts: "supported", "not supported", "mixed", "insufficient" or "skipped", with the
rule's text and the figures it read.

A verdict is never typed in: each experiment (``experiments/<claim>.py``) holds its
claim's rule, the text and the function side by side, computes the figures from its
records and returns a :class:`Verdict`; ``results/README.md`` prints its three parts.

"insufficient" is not "skipped": the runs exist, but a validity check found that the
models the rule reads were not trained to the point the claim is about (an untrained
tagger's impossible BIO sequences say nothing about a trained one's), so no verdict on
the claim is drawn from them; the key figures say which check failed and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
MIXED = "mixed"
INSUFFICIENT = "insufficient"
SKIPPED = "skipped"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, MIXED, INSUFFICIENT, SKIPPED)


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict, the rule that produced it, and the figures the rule read: as
    text (``key_figures``) and, for a reproduction to compare number by number, as
    ``figures`` (:func:`figure` dicts: name, value, 95% CI half-width or exact)."""

    verdict: str
    rule: str
    key_figures: str
    figures: tuple[dict, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def as_dict(self) -> dict:
        """The dict an experiment's ``summarize`` returns."""
        out = {"verdict": self.verdict, "rule": self.rule, "key_figures": self.key_figures}
        if self.figures:
            out["figures"] = [dict(f) for f in self.figures]
        return out

    def with_key_figures(self, key_figures: str) -> Verdict:
        """The same verdict with the text of its figures replaced (a summary adds context
        to what the rule read); the structured figures stay."""
        return Verdict(self.verdict, self.rule, key_figures, self.figures)


def figure(name: str, value: float, ci: float | None = None, exact: bool = False) -> dict:
    """One key figure for ``lab reproduce``'s comparison: ``ci`` is the 95% half-width
    (None: no CI; such figures agree when equal to 3 significant digits); ``exact``
    figures (counts, a bound met or not) agree only when equal."""
    out = {"name": name, "value": float(value)}
    if ci is not None:
        out["ci"] = float(ci)
    if exact:
        out["exact"] = True
    return out


def skipped(reason: str, rule: str = "") -> Verdict:
    """No verdict: the data the rule needs is missing (``reason`` says why)."""
    return Verdict(SKIPPED, rule or "no rule applied", reason)


def insufficient(reason: str, rule: str = "", figures: str = "") -> Verdict:
    """No verdict on the claim: a validity check failed (``reason`` says which and why);
    ``figures``, if given, are what the rule would have read, for the record."""
    text = f"insufficient: {reason}"
    return Verdict(
        INSUFFICIENT, rule or "no rule applied", f"{text}; {figures}" if figures else text
    )


def combine(verdicts: Sequence[Verdict], rule: str) -> Verdict:
    """One verdict from several (e.g. one per corpus).

    Skipped parts are ignored (their data is absent). An insufficient part makes the whole
    insufficient: a claim judged on some of its parts only would read as judged on all of
    them, so it waits until every part it holds passed its validity checks. Otherwise all
    supported -> supported; all not supported -> not supported; else mixed. The key
    figures are every part's, in order.
    """
    used = [v for v in verdicts if v.verdict != SKIPPED]
    text = "; ".join(v.key_figures for v in verdicts)
    figures = tuple(f for v in verdicts for f in v.figures)
    if not used:
        return Verdict(SKIPPED, rule, text, figures)
    kinds = {v.verdict for v in used}
    if INSUFFICIENT in kinds:
        return Verdict(INSUFFICIENT, rule, text, figures)
    verdict = kinds.pop() if len(kinds) == 1 else MIXED
    return Verdict(verdict, rule, text, figures)


def both(first: bool, second: bool) -> str:
    """supported when both parts of a rule hold, not supported when neither, else mixed."""
    if first and second:
        return SUPPORTED
    if not first and not second:
        return NOT_SUPPORTED
    return MIXED
