"""What two commands share: the data options of ``lab train`` and ``lab evaluate``, and
the plain-text metrics table both print."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any


def format_table(columns: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table: one row per metric, one column per entry of ``columns``
    (e.g. ``{"dev": {...}, "test": {...}}``); floats with 4 decimals."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.4f}"
        return "-" if value is None else str(value)

    names: list[str] = []
    for metrics in columns.values():
        names += [k for k in metrics if k not in names]
    rows = [["metric", *columns]] + [
        [name, *(cell(m.get(name)) for m in columns.values())] for name in names
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default="auto",
        choices=("auto", "conllu", "columns"),
        help="corpus file format: auto (by extension, then content), conllu or columns",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="sentences per batch")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda[:i], mps")
