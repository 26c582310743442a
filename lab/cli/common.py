"""What commands share: the data options of ``lab train`` and ``lab evaluate``, the
plain-text metrics table both print, and the check of a folder a command writes into."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lab.errors import UsageError


def check_out_folder(path: str | Path, option: str) -> None:
    """Refuse, naming the option, a folder to write into that cannot be one: ``path`` is
    a file, or a file stands where one of its parents should be (``--out afile/sub``)."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists() or part.is_symlink():
            if not part.is_dir() and part == path:
                raise UsageError(f"{option} {path} is a file; expected a folder")
            if not part.is_dir():
                raise UsageError(f"{option} {path}: cannot be made, {part} is a file")
            return


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
