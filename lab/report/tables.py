"""Tables: run records -> pandas tables (Markdown + CSV), each stating how it was made
(command, seeds, sizes, device, commit, date). Plots are in lab.report.plots.

Typical use inside an experiment's ``summarize(records, out_dir, context)``::

    df = records_frame(records)                       # one row per ok run
    table = aggregate(df, by=["model", "size"], metrics=["acc"])
    write_table(table, out_dir / "accuracy", context)
    plot_lines(df, x="size", y="acc", hue="model", logx=True,
               path_stem=out_dir / "learning_curve", provenance=context,
               xlabel="training sentences", ylabel="token accuracy (fraction)")

Column names may be given short (``"model"``) where ``"config.model"`` or
``"metrics.model"`` is meant; outputs keep the names as given.

The 95% confidence interval is lab.report.stats's: the half-width
``t(0.975, n-1) * std / sqrt(n)`` over the runs of a group (seeds), std with ``ddof=1``.
A group of one run has std and CI ``NaN``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.atomic import write_atomic
from lab.report.stats import t_quantile_975

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "aggregate",
    "context_from_records",
    "format_provenance",
    "records_frame",
    "write_table",
]


# Config keys that name a training size, for the "sizes" line of a provenance header.
SIZE_KEYS = ("train_size", "size", "n_train", "sizes", "T", "length")


# ----------------------------------------------------------------------------- frames


def ok_records(records: Sequence[dict]) -> list[dict]:
    """The records of runs that finished (status "ok") with metrics."""
    return [r for r in records if r.get("status") == "ok" and isinstance(r.get("metrics"), dict)]


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """One row per finished run: its config's keys, then its metrics' keys (a metric
    named like a config key wins), plus ``run_id`` and ``wall_s``. Failed runs are left
    out (count them from the records)."""
    import pandas as pd

    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise TypeError(f"record {index} must be a dict, got {type(record).__name__}")
    rows = []
    for r in ok_records(records):
        row = {**r["config"], **r["metrics"]}
        row["run_id"] = r.get("id")
        row["wall_s"] = r.get("wall_s")
        rows.append(row)
    return pd.DataFrame(rows)


def column(df: pd.DataFrame, name: str) -> str:
    """The column meant by ``name``: itself, else ``config.name``, else ``metrics.name``."""
    for candidate in (name, f"config.{name}", f"metrics.{name}"):
        if candidate in df.columns:
            return candidate
    raise ValueError(f"no column {name!r} (nor config.{name} / metrics.{name}); have {list(df)}")


def aggregate(df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per group of ``by``: ``n`` (runs in the group, i.e. seeds) and, per metric,
    ``<m>_mean``, ``<m>_std`` (ddof=1) and ``<m>_ci95`` (95% CI half-width, t
    distribution). Missing metric values are left out of that metric's statistics.
    Groups are sorted by ``by``; the output columns use the names as given."""
    import numpy as np
    import pandas as pd

    if isinstance(by, str) or isinstance(metrics, str):
        raise TypeError("by and metrics must be lists of column names, not strings")
    if not metrics:
        raise ValueError("metrics is empty: name at least one metric column")
    if df.empty:
        return pd.DataFrame(columns=[*by, "n", *_stat_columns(metrics)])
    by_cols = [column(df, b) for b in by]
    metric_cols = [column(df, m) for m in metrics]
    data = df[by_cols + metric_cols].copy()
    data.columns = [*by, *metrics]
    for metric in metrics:
        try:
            data[metric] = pd.to_numeric(data[metric])
        except (TypeError, ValueError) as err:
            raise ValueError(f"metric {metric!r} is not numeric: {err}") from err
    grouped = data.groupby(by, dropna=False, sort=True) if by else [((), data)]
    rows = []
    for key, group in grouped:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key, strict=True))
        row["n"] = len(group)
        for metric in metrics:
            values = group[metric].dropna().to_numpy(dtype=float)
            count = len(values)
            mean = float(values.mean()) if count else math.nan
            std = float(values.std(ddof=1)) if count > 1 else math.nan
            ci = t_quantile_975(count - 1) * std / math.sqrt(count) if count > 1 else math.nan
            row.update({f"{metric}_mean": mean, f"{metric}_std": std, f"{metric}_ci95": ci})
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*by, "n", *_stat_columns(metrics)])
    out["n"] = out["n"].astype(np.int64)
    return out


def _stat_columns(metrics: list[str]) -> list[str]:
    return [f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci95")]


# ----------------------------------------------------------------------------- provenance


def context_from_records(records: Sequence[dict], command: str | None = None) -> dict:
    """How a set of records was made, for headers and ``summarize``'s ``context``:
    experiment, command (the sweep's, or ``command``), seeds, sizes, device(s),
    commit(s), date range, runs and failures."""
    from lab.runs import provenance as prov

    def distinct(values) -> list:
        seen = []
        for v in values:
            if v is not None and v not in seen:
                seen.append(v)
        return seen

    def sortable(values: list) -> list:
        try:
            return sorted(values)
        except TypeError:
            return values

    configs = [r.get("config") or {} for r in records]
    size_key = next((k for k in SIZE_KEYS if any(k in c for c in configs)), None)
    commits = []
    for r in records:
        if r.get("commit"):
            commits.append(prov.describe_commit({"sha": r["commit"], "dirty": r.get("dirty")}))
    finished = sortable(distinct(r.get("finished") for r in records))
    commands = distinct(r.get("command") for r in records)
    return {
        "experiment": ", ".join(distinct(r.get("experiment") for r in records)),
        "command": command if command is not None else "; ".join(commands),
        "seeds": sortable(distinct(c.get("seed") for c in configs)),
        "sizes": sortable(distinct(c.get(size_key) for c in configs)) if size_key else [],
        "device": "; ".join(distinct(r.get("device") for r in records)),
        "commit": ", ".join(distinct(commits)) or "unknown",
        "date": f"{finished[0]} .. {finished[-1]}" if len(finished) > 1 else "".join(finished),
        "runs": len(records),
        "failed": sum(r.get("status") != "ok" for r in records),
    }


_HEADER_ORDER = ("command", "seeds", "sizes", "device", "commit", "date")


def format_provenance(provenance: dict | None) -> str:
    """``"command: `...` · seeds: 0, 1, 2 · sizes: ... · device: ... · commit: ... · date"``."""
    if not provenance:
        return "provenance: not given"
    if not isinstance(provenance, dict):
        raise TypeError(f"provenance must be a dict, got {type(provenance).__name__}")

    def text(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value) or "-"
        if isinstance(value, dict):
            return ", ".join(f"{k} {v}" for k, v in value.items())
        return str(value)

    keys = [k for k in _HEADER_ORDER if k in provenance]
    keys += [k for k in provenance if k not in _HEADER_ORDER and k not in ("versions",)]
    parts = []
    for key in keys:
        value = text(provenance[key])
        parts.append(f"{key}: `{value}`" if key == "command" else f"{key}: {value}")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- tables


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub Markdown table of ``df`` (floats to ``digits`` significant digits)."""
    header = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(_plain(v), digits) for v in row) + " |")
    return "\n".join(lines)


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
}  # fmt: skip
_PLUS_MINUS = re.compile(r"^([+-]?[0-9.]+(?:e[+-]?[0-9]+)?) \+- ([0-9.]+(?:e[+-]?[0-9]+)?)$")


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in text)


def latex_cell(value: Any, digits: int = 4) -> str:
    r"""One LaTeX cell: ``"95.3 +- 0.5"`` becomes ``$95.3 \pm 0.5$``, numbers math, text
    escaped."""
    text = _cell(_plain(value), digits)
    match = _PLUS_MINUS.match(text.strip())
    if match:
        return f"${match.group(1)} \\pm {match.group(2)}$"
    if re.fullmatch(r"[+-]?[0-9.]+(?:e[+-]?[0-9]+)?", text.strip()):
        return f"${text.strip()}$"
    return latex_escape(text)


def latex_table(df: pd.DataFrame, caption: str, digits: int = 4) -> str:
    """A booktabs ``table`` of ``df`` with ``caption`` (needs ``\\usepackage{booktabs}``)."""
    columns = "l" * len(df.columns)
    lines = [
        "% written by lab (lab.report.tables.latex_table); needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        f"\\begin{{tabular}}{{{columns}}}",
        "\\toprule",
        " & ".join(latex_escape(str(c)) for c in df.columns) + " \\\\",
        "\\midrule",
    ]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_cell(v, digits) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{latex_escape(caption)}}}",
              "\\end{table}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (so formatting is uniform)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", 1) == 0 else value


# Metric names that are fractions a reader wants in percent (when every mean is in [0, 1]).
PERCENT_NAMES = ("accuracy", "f1", "precision", "recall", "rate", "match", "acc")
# A Markdown table wider than this is hard to read; write_table's caller picks columns.
MAX_COLUMNS = 8
CELL_NOTE = (
    "Cells: mean +- 95% CI half-width over the n seeds (t distribution); accuracies, F1 "
    "and rates in percent. The CSV beside this table has every column at full precision."
)


def is_percent(name: str, means: pd.Series) -> bool:
    values = means.dropna()
    in_unit = bool(len(values)) and bool(((values >= 0) & (values <= 1)).all())
    return in_unit and any(hint in name.lower() for hint in PERCENT_NAMES)


def mean_ci_cell(mean: float, ci: float, percent: bool = False, digits: int = 3) -> str:
    """One readable cell: ``"95.3 +- 0.5"`` (``mean +- ci``, in percent when asked); the
    CI is left out where undefined (one seed)."""
    if mean is None or math.isnan(mean):
        return "-"
    scale = 100.0 if percent else 1.0
    if percent:
        text = f"{scale * mean:.1f}"
        return text if ci is None or math.isnan(ci) else f"{text} +- {scale * ci:.1f}"
    text = f"{mean:.{digits}g}"
    return text if ci is None or math.isnan(ci) else f"{text} +- {ci:.2g}"


def readable(df: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """An aggregated table for reading: each ``<m>_mean`` / ``<m>_std`` / ``<m>_ci95``
    triple becomes one column ``<m>`` of :func:`mean_ci_cell` strings (percent for
    fractions named like accuracies, F1 or rates). Returns the table and whether any
    column was collapsed (then the Markdown carries :data:`CELL_NOTE`)."""
    import pandas as pd

    out, collapsed = {}, False
    for col in df.columns:
        name = str(col)
        if name.endswith("_mean"):
            metric = name[: -len("_mean")]
            ci = df[f"{metric}_ci95"] if f"{metric}_ci95" in df.columns else None
            percent = is_percent(metric, pd.to_numeric(df[col], errors="coerce"))
            out[metric] = [
                mean_ci_cell(float(m), float(c) if ci is not None else math.nan, percent=percent)
                for m, c in zip(
                    df[col], ci if ci is not None else [math.nan] * len(df), strict=True
                )
            ]
            collapsed = True
        elif name.endswith(("_std", "_ci95")) and f"{name.rsplit('_', 1)[0]}_mean" in df.columns:
            continue
        else:
            out[name] = list(df[col])
    return pd.DataFrame(out), collapsed


def write_table(
    df: pd.DataFrame,
    path_stem: str | os.PathLike,
    provenance: dict | None,
    title: str | None = None,
    digits: int = 4,
    columns: Sequence[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``<stem>.md`` (headed by how it was made; mean/std/CI triples of an
    :func:`aggregate` table as one readable cell each; only ``columns`` if given, to stay
    within :data:`MAX_COLUMNS`), ``<stem>.tex`` (the same table in booktabs, "95.3 +- 0.5"
    as ``$95.3 \\pm 0.5$``, captioned with the title, the cells' meaning and how it was
    made) and ``<stem>.csv`` (every column, full precision, one header row), each
    atomically. Returns the Markdown and CSV paths."""
    stem = Path(path_stem)
    md_path, csv_path = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".csv")
    tex_path = stem.with_name(stem.name + ".tex")
    shown, collapsed = readable(df)
    if columns is not None:
        missing = [c for c in columns if c not in shown.columns]
        if missing:
            raise ValueError(f"no columns {missing} to show; the table has {list(shown.columns)}")
        shown = shown[list(columns)]
    header = [f"# {title}", ""] if title else []
    header += [f"How this was made: {format_provenance(provenance)}", ""]
    if collapsed:
        header += [CELL_NOTE, ""]
    markdown = "\n".join(header) + "\n" + markdown_table(shown, digits) + "\n"
    write_atomic(md_path, markdown.encode("utf-8"))
    parts = [title or "", CELL_NOTE if collapsed else "", "How this was made: "
             + format_provenance(provenance).replace(" · ", "; ").replace("`", "")]  # fmt: skip
    caption = " ".join(p if p.endswith(".") else p + "." for p in parts if p)
    write_atomic(tex_path, latex_table(shown, caption, digits).encode("utf-8"))
    write_atomic(csv_path, df.to_csv(index=False).encode("utf-8"))
    return md_path, csv_path
