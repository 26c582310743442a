"""``lab report DIR``: turn a results directory into tables and plots by calling the
``summarize`` of the experiment named in its records."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="a results directory holding results.jsonl")


def main(args: argparse.Namespace) -> int:
    from lab import experiment as experiments
    from lab import provenance
    from lab.records import load_records, results_path
    from lab.report import context_from_records
    from lab.sweep_cli import write_summary

    out_dir = Path(args.dir)
    records = load_records(out_dir)
    if not records:
        raise ValueError(f"no records in {results_path(out_dir)}: run `lab run EXPERIMENT` first")
    names = list(dict.fromkeys(r.get("experiment") for r in records))
    if None in names:
        raise ValueError(f"{results_path(out_dir)}: a record lacks its 'experiment' field")
    if len(names) > 1:
        raise ValueError(
            f"{results_path(out_dir)} mixes experiments {names}; expected one per directory"
        )
    module = experiments.load(names[0])
    context = context_from_records(records)
    context["report_command"] = provenance.command_line()
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        print(f"{len(failed)} failed runs left out of the report", file=sys.stderr)
    summary = module.summarize([r for r in records if r.get("status") == "ok"], out_dir, context)
    write_summary(out_dir, module.NAME, summary, context)
    print(json.dumps(summary, indent=2))
    return 0
