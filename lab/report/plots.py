"""Plots: one line per group with its 95% confidence band (lab.report.stats), PNG and/or
SVG, captioned with how they were made (command, seeds, sizes, device, commit)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lab.atomic import write_atomic
from lab.report.tables import aggregate, column, format_provenance, is_percent

if TYPE_CHECKING:
    import pandas as pd


def plot_lines(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    path_stem: str | os.PathLike | None = None,
    provenance: dict | None = None,
    *,
    hline: float | tuple[float, str] | None = None,
    logx: bool = False,
    logy: bool = False,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    formats: Sequence[str] = ("png", "svg"),
    bounds: tuple[float, float] | None = None,
) -> list[Path]:
    """Lines of ``y`` against ``x``, one per value of ``hue``, with 95% confidence bands.

    ``df`` is either one row per run (the mean and CI over runs sharing ``(hue, x)`` are
    computed here) or already aggregated (has ``<y>_mean`` and ``<y>_ci95`` columns).
    ``hline`` draws a reference line (a value, or ``(value, label)``, e.g. the
    Bayes-optimal accuracy). Labels should carry units ("time per sentence (ms)").
    With one row per run, every run is drawn as a small point beside the mean (a t band
    over a few seeds of a bimodal outcome says little without them). ``bounds``: the
    metric's range (default: [0, 1] for a fraction named like an accuracy, F1 or rate);
    the band is clipped to it, and the caption says so.
    Writes ``<stem>.png`` and ``<stem>.svg`` (``formats``); returns their paths."""
    import pandas as pd
    from matplotlib.figure import Figure

    if path_stem is None:
        raise ValueError("path_stem is required: where to write <stem>.png / <stem>.svg")
    points = _points(df, x, y, hue)
    runs = None if f"{y}_mean" in df.columns else df
    if bounds is None and runs is not None:
        if is_percent(y, pd.to_numeric(runs[y], errors="coerce")):
            bounds = (0.0, 1.0)
    fig = Figure(figsize=(6.4, 4.2), dpi=150)
    ax = fig.add_subplot()
    groups = list(points.groupby("hue", sort=True, dropna=False)) if hue else [(None, points)]
    colors = _colors(len(groups))
    markers = "osD^vP*Xhp<>"
    for index, (label, group) in enumerate(groups):
        group = group.sort_values("x")
        color = colors[index]
        ax.plot(
            group["x"],
            group["mean"],
            marker=markers[index % len(markers)],
            markersize=4,
            color=color,
            label=None if label is None else str(label),
        )
        lower, upper = group["mean"] - group["ci"], group["mean"] + group["ci"]
        if bounds is not None:
            lower, upper = lower.clip(bounds[0], bounds[1]), upper.clip(bounds[0], bounds[1])
        ax.fill_between(group["x"], lower, upper, color=color, alpha=0.2, linewidth=0)
        if runs is not None:
            mine = runs if label is None else runs[runs[column(runs, hue)] == label]
            ax.scatter(mine[column(mine, x)], mine[y], s=6, color=color, alpha=0.5,
                       linewidths=0)  # fmt: skip
    if hline is not None:
        value, text = hline if isinstance(hline, tuple) else (hline, "reference")
        ax.axhline(float(value), color="black", linestyle="--", linewidth=1, label=text)
    if logx:
        ax.set_xscale("log")
        _plain_log_ticks(ax, sorted(points["x"].dropna().unique()))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            title=hue,
            fontsize="small",
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
            frameon=False,
        )
    caption = "Shaded: 95% CI over runs (t)"
    if bounds is not None:
        caption += f", clipped to [{bounds[0]:g}, {bounds[1]:g}], the metric's range"
    if runs is not None:
        caption += "; dots: every run"
    caption += ". " + format_provenance(provenance)
    fig.text(0.01, -0.01, caption, fontsize=5.5, va="top", ha="left", wrap=True)
    paths = []
    stem = Path(path_stem)
    for fmt in formats:
        buffer = io.BytesIO()
        metadata = {"Description": caption} if fmt in ("png", "svg", "pdf") else None
        fig.savefig(buffer, format=fmt, bbox_inches="tight", metadata=metadata)
        path = stem.with_name(f"{stem.name}.{fmt}")
        write_atomic(path, buffer.getvalue())
        paths.append(path)
    return paths


def _points(df: pd.DataFrame, x: str, y: str, hue: str | None) -> pd.DataFrame:
    """A frame with columns hue, x, mean, ci (ci 0 where undefined)."""
    import pandas as pd

    if df.empty:
        raise ValueError("nothing to plot: the frame is empty")
    by = [hue, x] if hue else [x]
    if f"{y}_mean" in df.columns:
        cols = [column(df, b) for b in by]
        ci = df[f"{y}_ci95"] if f"{y}_ci95" in df.columns else 0.0
        points = pd.DataFrame({"x": df[cols[-1]], "mean": df[f"{y}_mean"], "ci": ci})
        if hue:
            points["hue"] = df[cols[0]]
    else:
        table = aggregate(df, by=by, metrics=[y])
        points = pd.DataFrame({"x": table[x], "mean": table[f"{y}_mean"], "ci": table[f"{y}_ci95"]})
        if hue:
            points["hue"] = table[hue]
    points["ci"] = pd.to_numeric(points["ci"]).fillna(0.0)
    return points


def _colors(count: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def _plain_log_ticks(ax, xs: list) -> None:
    """Label a log x-axis with plain numbers (1000, not 10^3); with few sizes, put the
    ticks on the sizes themselves."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    if 0 < len(xs) <= 8:
        ax.xaxis.set_major_locator(FixedLocator([float(x) for x in xs]))
        ax.xaxis.set_minor_formatter(NullFormatter())
