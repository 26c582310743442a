"""``lab compare SPEC.toml``: a comparison you declare (models, corpora, sizes, seeds,
training settings, baseline, margin) run as a resumable sweep, then summarised with
paired-seed statistics: scores with 95% CIs, gaps to the baseline, equivalence /
difference calls, win rates, seeds needed, cost, learning-curve plots. ``lab compare
--example`` prints a commented spec that runs in about a minute on 2 cores."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", type=Path, help="the comparison spec (TOML)")
    parser.add_argument("--example", action="store_true", help="print a commented spec")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default runs/compare-<spec name>/)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="parallel runs (default 1)")
    parser.add_argument("--executor", choices=("local", "pool", "ray"), default=None,
                        help="as lab run's (default: local, pool with --workers > 1)")  # fmt: skip
    parser.add_argument("--address", default=None, help="Ray cluster address (--executor ray)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (every run's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from lab.errors import UsageError
    from lab.pipeline.compare import EXAMPLE, read_spec, run_comparison
    from lab.pipeline.run_experiment import print_failures
    from lab.runs import provenance

    if args.example:
        print(EXAMPLE, end="")
        return 0
    if args.spec is None:
        raise UsageError("give a SPEC.toml (lab compare --example prints one)")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.address is not None and args.executor != "ray":
        raise UsageError("--address is for --executor ray")
    if args.device != "auto":
        from lab.device import resolve_device

        resolve_device(args.device)
    spec = read_spec(args.spec)  # every key checked, every corpus read: before any run
    out_dir = args.out if args.out is not None else Path("runs") / f"compare-{args.spec.stem}"
    print(f"compare {args.spec} -> {out_dir}", file=sys.stderr)
    result = run_comparison(
        spec, out_dir, executor=args.executor, workers=args.workers, device=args.device,
        progress=not args.no_progress, address=args.address, command=provenance.command_line(),
    )  # fmt: skip
    print_failures(result)
    print(json.dumps(result.summary, indent=2))
    tables = sorted(p.name for p in out_dir.iterdir() if p.suffix in (".md", ".png"))
    print(f"tables and plots in {out_dir}: {', '.join(tables)}", file=sys.stderr)
    return 1 if result.failed else 0
