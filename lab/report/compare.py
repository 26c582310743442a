"""A reproduction checked against its reference: per claim, the verdict (same / changed)
and each key figure with its CI in both (agrees / differs), as ``comparison.md``.

Entries are ``results/summary.json`` entries (lab.report.readme). A summary may carry
``figures``: a list of ``{"name", "value", "ci", "exact"}`` (``ci`` the 95% half-width or
None; ``exact`` figures must be equal). Two figures agree when their CIs overlap
(|a - b| <= ci_a + ci_b), or, without CIs, when they are equal to 3 significant digits.
Without structured figures the two key-figure texts are shown side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Comparison:
    """The comparison's Markdown and whether any verdict changed (or had no reference)."""

    markdown: str
    changed: list[str]
    unmatched: list[str]


def figures_agree(a: dict, b: dict) -> bool:
    """Whether figure ``a`` (the reference) and ``b`` (this run) agree: equal when exact,
    else overlapping 95% CIs, else equal to 3 significant digits."""
    va, vb = float(a["value"]), float(b["value"])
    if a.get("exact") or b.get("exact"):
        return va == vb
    ca, cb = a.get("ci"), b.get("ci")
    if ca is not None and cb is not None and math.isfinite(ca) and math.isfinite(cb):
        return abs(va - vb) <= float(ca) + float(cb)
    return f"{va:.3g}" == f"{vb:.3g}"


def _cell(figure: dict | None) -> str:
    if figure is None:
        return "-"
    ci = figure.get("ci")
    value = f"{float(figure['value']):.4g}"
    return f"{value} +- {float(ci):.2g}" if ci is not None and math.isfinite(ci) else value


def compare(reference: dict[str, dict], run: dict[str, dict], scale: str) -> Comparison:
    """Compare the run's entries with the reference's (the same scale only)."""
    lines = [
        f"# Reproduction vs reference (scale `{scale}`)",
        "",
        "Verdict: same or changed. Figures: the reference's and this run's value +- 95% CI "
        "half-width; they agree when the intervals overlap (exact figures: when equal).",
        "",
        "| claim | reference verdict | this run | verdict |",
        "|---|---|---|---|",
    ]
    changed, unmatched, details = [], [], []
    for name, entry in run.items():
        ref = reference.get(name)
        if ref is None or ref.get("scale") != scale:
            unmatched.append(name)
            lines.append(f"| {name} | (no reference at scale {scale}) | {entry['verdict']} | - |")
            continue
        same = ref.get("verdict") == entry.get("verdict")
        if not same:
            changed.append(name)
        lines.append(
            f"| {name} | {ref.get('verdict')} | {entry['verdict']} | "
            f"{'same' if same else '**changed**'} |"
        )
        details += ["", f"## {name}", ""]
        ref_figs = {f["name"]: f for f in ref.get("figures") or []}
        run_figs = {f["name"]: f for f in entry.get("figures") or []}
        if ref_figs and run_figs:
            details += ["| figure | reference | this run | |", "|---|---|---|---|"]
            for fig in list(dict.fromkeys([*ref_figs, *run_figs])):
                a, b = ref_figs.get(fig), run_figs.get(fig)
                verdict = "agrees" if a and b and figures_agree(a, b) else "**differs**"
                details.append(f"| {fig} | {_cell(a)} | {_cell(b)} | {verdict} |")
        else:
            details += [
                f"- reference: {ref.get('key_figures', '')}",
                f"- this run: {entry.get('key_figures', '')}",
            ]
    return Comparison("\n".join(lines + details) + "\n", changed, unmatched)
