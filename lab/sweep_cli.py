"""``lab run EXPERIMENT``: expand the experiment's grid, run what is not done (resumable),
then write its tables and plots with the experiment's ``summarize``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SCALES = ("tiny", "quick", "full")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="name of a script in experiments/ (e.g. learning_curve)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--scale", choices=SCALES, default=None, help="grid scale (default: quick)")
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick")
    scale.add_argument("--full", dest="scale", action="store_const", const="full")
    parser.add_argument("--workers", type=int, default=1, help="parallel runs (default 1)")
    parser.add_argument(
        "--executor",
        choices=("local", "pool", "ray"),
        default=None,
        help="local: in this process (default with 1 worker); pool: local processes "
        "(default with --workers > 1); ray: a Ray runtime (pip install 'lab[ray]')",
    )
    parser.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps: resolved and set as "
        "every run's config 'device' (as lab reproduce does, so both share run ids)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default results/<name>/)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from lab import experiment as experiments
    from lab import provenance
    from lab.report import context_from_records
    from lab.sweep import run_sweep

    module = experiments.load(args.experiment)
    scale = args.scale or "quick"
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    executor = args.executor or ("pool" if args.workers > 1 else "local")
    if args.address is not None and executor != "ray":
        raise ValueError("--address is for --executor ray")
    configs = module.grid(scale)
    device = provenance.resolve_device(args.device)
    configs = [{**config, "device": device} for config in configs]
    out_dir = args.out if args.out is not None else Path("results") / module.NAME
    print(f"{module.NAME}: {len(configs)} runs at scale {scale!r} -> {out_dir}", file=sys.stderr)
    records = run_sweep(
        module.NAME,
        configs,
        out_dir,
        executor=executor,
        workers=args.workers,
        address=args.address,
        progress=not args.no_progress,
    )
    failed = [r for r in records if r.get("status") != "ok"]
    for record in failed:
        last = (record.get("error") or "").strip().splitlines()[-1:] or ["?"]
        print(f"failed run {record['id']} {record['config']}: {last[0]}", file=sys.stderr)
    ok = [r for r in records if r.get("status") == "ok"]
    context = context_from_records(records, command=provenance.command_line())
    context["scale"] = scale
    summary = module.summarize(ok, out_dir, context)
    write_summary(out_dir, module.NAME, summary, context)
    print(json.dumps(summary, indent=2))
    if failed:
        print(f"{len(failed)} of {len(records)} runs failed (rerun to retry them)", file=sys.stderr)
        return 1
    return 0


def write_summary(out_dir: Path, name: str, summary: dict, context: dict) -> Path:
    """``out_dir/summary.json``: the verdict with how it was made."""
    from lab.atomic import write_atomic

    path = Path(out_dir) / "summary.json"
    data = {"experiment": name, **(summary or {}), "context": context}
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
    return path
