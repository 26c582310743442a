"""``lab report DIR``: turn a results directory into tables and plots by calling the
``summarize`` of the experiment named in its records (``lab.pipeline.run_experiment``).

Given a folder of claim folders instead (``results/``, ``results/standard/``: no
results.jsonl of its own, subfolders holding one), it reports every claim found there
(and its companions, as ``lab reproduce`` does) and rewrites that folder's summary.json
and README.md from the records alone: no run is started, so a long sweep's README can be
written while or after it runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir",
        type=Path,
        help="a results directory holding results.jsonl, or a folder of claim folders "
        "(e.g. results/standard) to rewrite its README.md from their records",
    )


def main(args: argparse.Namespace) -> int:
    from lab.pipeline.run_experiment import report_experiment
    from lab.runs.records import results_path

    if (
        args.dir.is_dir()
        and not results_path(args.dir).exists()
        and any(results_path(child).exists() for child in args.dir.iterdir() if child.is_dir())
    ):
        return report_tree(args.dir)
    result = report_experiment(args.dir)
    if result.failed:
        print(f"{len(result.failed)} failed runs left out of the report", file=sys.stderr)
    print(json.dumps(result.summary, indent=2))
    return 0


def report_tree(root: Path) -> int:
    """Report each claim folder under ``root`` (in the claims' order) and its companions;
    merge their entries into ``root/summary.json`` and rewrite ``root/README.md``."""
    from lab.cli.reproduce import CLAIMS, COMPANIONS
    from lab.pipeline.run_experiment import report_experiment
    from lab.report import readme
    from lab.runs.records import results_path

    found = [name for name in CLAIMS if results_path(root / name).exists()]
    if not found:
        raise FileNotFoundError(
            f"{root}: no results.jsonl, and no claim folder holding one (expected some of "
            f"{list(CLAIMS)})"
        )
    entries: dict = {}
    for name in found:
        result = report_experiment(root / name)
        for _, subfolder in COMPANIONS.get(name, ()):
            if results_path(root / name / subfolder).exists():
                report_experiment(root / name / subfolder)
        # no wall time: this command ran nothing (the entry keeps the runs' summed time)
        entries = readme.update_summary(root, readme.entry(result, root / name, None))
        failed = f", {len(result.failed)} failed" if result.failed else ""
        print(f"{name}: {result.summary['verdict']} ({len(result.records)} runs{failed})")
    readme.write_readme(root, entries, CLAIMS)
    print(f"wrote {root / readme.README_FILE}")
    return 0
