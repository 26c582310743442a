"""``lab run EXPERIMENT``: expand the experiment's grid, run what is not done (resumable),
then write its tables and plots with the experiment's ``summarize``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lab.cli.common import check_out_folder
from lab.runs.experiment import SCALES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="name of a script in experiments/ (e.g. learning_curve)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--scale", choices=SCALES, default=None, help="grid scale (default: quick)")
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick")
    scale.add_argument("--standard", dest="scale", action="store_const", const="standard")
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
        "--out",
        type=Path,
        default=None,
        help="output directory (default results/<name>/ at the quick scale, "
        "results/<scale>/<name>/ at the others)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of every run of the grid (hidden=16; a list sets an axis: "
        "lag=5,10); repeatable; the runs go to runs/ unless --out says otherwise",
    )
    parser.add_argument(
        "--corpus",
        action="append",
        default=None,
        metavar="NAME=TRAIN,DEV,TEST",
        help="a corpus by path (CoNLL-U or CoNLL columns, gz or not), or the NAME of a "
        "built-in one; repeatable; replaces the experiment's default corpora",
    )
    parser.add_argument(
        "--corpora",
        type=Path,
        default=None,
        metavar="FILE.toml",
        help="a TOML file of corpora ([NAME] train=, dev=, test=, format=), with --corpus",
    )


def main(args: argparse.Namespace) -> int:
    from lab.errors import UsageError
    from lab.pipeline.run_experiment import print_failures, run_experiment
    from lab.runs import experiment, provenance

    # checked before any folder is made; errors go to lab.cli.main (one line, exit 2)
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.address is not None and args.executor != "ray":
        raise UsageError("--address is for --executor ray")
    experiment.load(args.experiment)  # an unknown name fails here, naming the known ones
    if args.device != "auto":
        from lab.device import resolve_device

        resolve_device(args.device)  # e.g. cuda on a machine without CUDA
    corpora = corpora_from(args)
    scale = args.scale or "quick"
    from lab.runs.overrides import parse_overrides

    overrides = parse_overrides(args.set)
    # results/<name>/ holds the quick scale, results/<scale>/<name>/ the others (as lab
    # reproduce's references): one folder never mixes two scales' records
    default = Path("results") if scale == "quick" else Path("results") / scale
    out_dir = args.out if args.out is not None else default / args.experiment
    if overrides and args.out is None:
        # an overridden grid is not the committed one: never into results/ by default
        out_dir = Path("runs") / f"{args.experiment}-{scale}-{_slug(overrides)}"
    check_out_folder(out_dir, "--out")
    if overrides:  # an unknown key or a bad type fails here, before any folder is made
        from lab.pipeline.run_experiment import grid_of
        from lab.runs.overrides import apply_overrides

        apply_overrides(grid_of(experiment.load(args.experiment), scale, corpora), overrides)
    print(f"{args.experiment}: scale {scale!r} -> {out_dir}", file=sys.stderr)
    result = run_experiment(
        args.experiment,
        scale,
        out_dir,
        executor=args.executor,
        workers=args.workers,
        device=args.device,
        progress=not args.no_progress,
        address=args.address,
        command=provenance.command_line(),
        corpora=corpora,
        overrides=overrides,
    )
    print_failures(result)
    print(json.dumps(result.summary, indent=2))
    if result.failed:
        n, total = len(result.failed), len(result.records)
        print(f"{n} of {total} runs failed (rerun to retry them)", file=sys.stderr)
        return 1
    return 0


def corpora_from(args: argparse.Namespace) -> dict[str, dict | None] | None:
    """The corpora ``--corpus`` and ``--corpora`` name (None: the experiment's default)."""
    from lab.data.corpora import parse_corpus_arg, read_corpora_file

    if args.corpus is None and args.corpora is None:
        return None
    corpora: dict[str, dict | None] = {}
    if args.corpora is not None:
        corpora.update(read_corpora_file(args.corpora))
    for text in args.corpus or []:
        name, spec = parse_corpus_arg(text)
        if name in corpora:
            raise ValueError(f"--corpus {name!r} is given twice")
        corpora[name] = spec
    return corpora


def _slug(overrides: dict) -> str:
    """A folder name for a set of overrides: ``hidden16-lag5_10``."""
    import re

    from lab.runs.overrides import describe

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", describe(overrides).replace("=", "").replace(", ", "-"))
