"""``lab reproduce``: run every lecture experiment from scratch into a fresh work folder,
summarise each, write the folder's README, and compare its verdicts and key figures with
the committed reference of the same scale (``results/``): ``comparison.md``, printed;
exit status 1 when a verdict changed.

    lab reproduce --quick                      all seven claims, CPU scale (<= 15 min)
    lab reproduce --resume runs/reproduce-quick-20261203-120000
    lab reproduce --quick --into results       refresh the committed results
    lab reproduce --scale tiny --only word_order --into /tmp/r

torch and pandas are imported only inside :func:`main` (keeps ``lab --help`` fast).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lab.cli.common import check_out_folder
from lab.runs.experiment import SCALES

# The lecture's claims, in the lecture's order (= results/README.md's order).
CLAIMS = (
    "exact_inference",
    "learning_curve",
    "word_order",
    "vanishing_gradients",
    "classification",
    "greedy_vs_exact",
    "encoder_decoder",
)
# Experiments that measure what a claim's tables need beside it, run right after it into
# a subfolder of its results (no verdict of their own): claim 2's cost, timed alone.
COMPANIONS = {"learning_curve": (("learning_curve_cost", "cost"),)}

# What the full scale costs (printed with --full). An estimate, not a measurement: the
# quick grids' per-run costs scaled by the full grids' runs (learning_curve: 588 runs,
# 14 models x 14 corpus-sizes x 3 seeds, no time cap, up to 30,000 training sentences).
FULL_SCALE_EXPECTED = (
    "full scale: expect roughly 10 hours on one GPU and days on a 2-core CPU (estimated, "
    "not measured); learning_curve is ~90% of it. The sweep is resumable: stop and rerun "
    "the same command at will; spread it with --workers or --executor ray."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--quick", dest="scale", action="store_const", const="quick", help="CPU scale (default)"
    )
    scale.add_argument(
        "--standard",
        dest="scale",
        action="store_const",
        const="standard",
        help="models trained to the point each claim is about (tens of minutes to hours)",
    )
    scale.add_argument(
        "--full", dest="scale", action="store_const", const="full", help="the issue's grids"
    )
    scale.add_argument("--scale", dest="scale", choices=SCALES, help="tiny: seconds, for tests")
    parser.set_defaults(scale=None)  # quick, or the scale a --resume folder states
    parser.add_argument(
        "--only", default="", help="comma-separated experiment names (default: all seven)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--into",
        default=None,
        help="write (and resume) into this folder, e.g. results/ to refresh the committed "
        "results (default: a fresh runs/reproduce-<scale>-<timestamp>/)",
    )
    where.add_argument(
        "--resume", default=None, help="continue an interrupted reproduction in this folder"
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="the committed results to compare with (default: results/ for the quick scale, "
        "results/<scale>/ for the others; same scale only)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel runs in a process pool (default: min(2, cores)); experiments that "
        "measure time (SERIAL = True in their script) always run one at a time",
    )
    parser.add_argument(
        "--executor",
        default=None,
        choices=("local", "pool", "ray"),
        help="sweep executor (default: local, or pool when --workers > 1)",
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, ...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def default_workers() -> int:
    """min(2, usable cores): two small CPU runs side by side nearly halve the wall time."""
    from lab.runs.sweep import threads_per_worker

    return min(2, threads_per_worker(1))


def selected(only: str) -> list[str]:
    """The experiments to run: ``only`` (comma-separated) or all seven claims."""
    if not only.strip():
        return list(CLAIMS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    from lab.runs import experiment

    known = set(CLAIMS) | set(experiment.available())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}: expected names from {list(CLAIMS)}")
    return names


def command_for(args: argparse.Namespace) -> str:
    """The command that reproduces these results, from the parsed arguments (also right
    when ``main`` is called from Python rather than from a shell)."""
    parts = ["lab", "reproduce", "--quick" if args.scale == "quick" else None]
    if args.scale in ("standard", "full"):
        parts.append(f"--{args.scale}")
    elif args.scale == "tiny":
        parts += ["--scale", "tiny"]
    if args.only:
        parts += ["--only", args.only]
    if args.into is not None:
        parts += ["--into", args.into]
    if args.workers is not None:
        parts += ["--workers", str(args.workers)]
    if args.device != "auto":
        parts += ["--device", args.device]
    return " ".join(p for p in parts if p)


def default_reference(scale: str) -> Path:
    """The committed results of a scale: results/ holds the quick scale (what `make
    reproduce` checks), results/<scale>/ the others."""
    return Path("results") if scale == "quick" else Path("results") / scale


def stated_scale(folder: Path) -> str | None:
    """The scale a reproduction folder's summaries state (or its name,
    reproduce-<scale>-<stamp>), None if none does; ValueError if they disagree."""
    import json

    scales = set()
    for summary in folder.glob("*/summary.json"):
        try:
            scale = json.loads(summary.read_text(encoding="utf-8")).get("context", {}).get("scale")
        except (OSError, ValueError, AttributeError):
            continue
        if scale:
            scales.add(scale)
    named = folder.name.split("-")
    if not scales and len(named) > 1 and named[0] == "reproduce" and named[1] in SCALES:
        scales.add(named[1])
    if len(scales) > 1:
        raise ValueError(f"--resume {folder}: its experiments were run at scales {sorted(scales)}")
    return scales.pop() if scales else None


def resolve_scale(args: argparse.Namespace) -> str:
    """The scale: the one given, else the one a --resume folder states, else quick; a
    --resume folder of another scale than the one given is refused."""
    if args.resume is not None and Path(args.resume).is_dir():
        stated = stated_scale(Path(args.resume))
        if stated and args.scale and stated != args.scale:
            raise ValueError(
                f"--resume {args.resume}: a {stated}-scale reproduction; resuming it at the "
                f"{args.scale} scale would mix the two (drop the scale option)"
            )
        return args.scale or stated or "quick"
    return args.scale or "quick"


def work_folder(args: argparse.Namespace) -> Path:
    """Where this reproduction writes: ``--into``, ``--resume`` (which must exist), or a
    fresh ``runs/reproduce-<scale>-<timestamp>/``."""
    if args.resume is not None:
        folder = Path(args.resume)
        if not folder.is_dir():
            raise ValueError(f"--resume {folder}: no such folder (nothing to continue)")
        return folder
    if args.into is not None:
        check_out_folder(args.into, "--into")
        return Path(args.into)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"reproduce-{args.scale}-{stamp}"


def main(args: argparse.Namespace) -> int:
    from lab.atomic import write_atomic
    from lab.device import device_name
    from lab.pipeline.run_experiment import ExperimentResult, print_failures, run_experiment
    from lab.report import readme
    from lab.report.compare import compare
    from lab.runs import provenance

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    args.scale = resolve_scale(args)
    if args.device != "auto":  # e.g. a typo, or cuda here: refused before any run
        from lab.device import resolve_device

        resolve_device(args.device)
    workers = args.workers or default_workers()
    names = selected(args.only)
    out = work_folder(args)
    reference = Path(args.reference) if args.reference else default_reference(args.scale)
    print(f"lab reproduce: writing to {out}/ (reference: {reference}/)")
    device = device_name(args.device)
    command = command_for(args)
    print(
        f"lab reproduce: scale {args.scale}, {len(names)} experiment(s), device "
        f"{provenance.describe_device(device)}, {workers} worker(s)"
    )
    if args.scale == "full":
        print(FULL_SCALE_EXPECTED)

    import torch

    threads = torch.get_num_threads()  # an experiment may pin its runs' threads: restore
    timings: dict[str, float] = {}
    failures: list[str] = []
    start_all = time.perf_counter()

    def run_one(name: str, folder: Path) -> ExperimentResult:
        print(f"\n== {name} -> {folder}")
        try:
            result = run_experiment(
                name,
                args.scale,
                folder,
                executor=args.executor,
                workers=workers,
                device=device,
                progress=not args.no_progress,
                command=command,
            )
        except Exception as err:  # one broken experiment must not lose the other claims
            failures.append(name)
            print(f"  {name} failed: {type(err).__name__}: {err}", file=sys.stderr)
            result = ExperimentResult(
                name,
                "",
                {"verdict": "skipped", "rule": "summarize failed", "key_figures": str(err)},
                {"command": command, "scale": args.scale},
            )
        torch.set_num_threads(threads)
        print_failures(result)
        if result.failed:
            failures.append(name)
        return result

    for name in names:
        start = time.perf_counter()
        result = run_one(name, out / name)
        for companion, subfolder in COMPANIONS.get(name, ()):
            run_one(companion, out / name / subfolder)
        wall = time.perf_counter() - start
        timings[name] = wall
        entries = readme.update_summary(out, readme.entry(result, out / name, wall))
        readme.write_readme(out, entries, CLAIMS)
        print(f"  verdict: {result.summary['verdict']} -- {result.summary['key_figures']}")
        print(f"  wall time {wall:.1f} s")

    total = time.perf_counter() - start_all
    print("\n== wall time per experiment")
    for name, wall in timings.items():
        print(f"  {name:<22} {wall:8.1f} s")
    print(f"  {'total':<22} {total:8.1f} s ({total / 60:.1f} min)")
    print(f"wrote {out / readme.README_FILE}")
    status = 0
    if failures:
        print(f"runs or summaries failed in: {sorted(set(failures))}", file=sys.stderr)
        status = 1
    if out.resolve() != reference.resolve():
        summary = readme.load_summary(out)
        ran = {n: summary[n] for n in names if n in summary}  # in the claims' order
        result = compare(readme.load_summary(reference), ran, args.scale)
        write_atomic(out / "comparison.md", result.markdown)
        print("\n" + result.markdown)
        print(f"wrote {out / 'comparison.md'}")
        if result.changed:
            print(f"verdicts changed from the reference: {result.changed}", file=sys.stderr)
            status = 1
    return status
