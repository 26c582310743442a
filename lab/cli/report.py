"""``lab report DIR``: turn a results directory into tables and plots by calling the
``summarize`` of the experiment named in its records (``lab.runs.run_experiment``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="a results directory holding results.jsonl")


def main(args: argparse.Namespace) -> int:
    from lab.runs.run_experiment import report_experiment

    result = report_experiment(args.dir)
    if result.failed:
        print(f"{len(result.failed)} failed runs left out of the report", file=sys.stderr)
    print(json.dumps(result.summary, indent=2))
    return 0
