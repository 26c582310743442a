"""CRF inference speed (issue 3, section 5): native vs torch-struct vs pytorch-crf.

Two ways in:
    python experiments/bench_crf.py [--sizes ... --repeats ...]   = ``lab bench crf``
    lab run bench_crf / lab reproduce --only bench_crf              the sweep protocol

One run = one (B, T, C): median ms of the training step (log Z forward + backward),
marginals and Viterbi for every implementation, taking turns (lab.structured.bench).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

NAME = "bench_crf"
CLAIM = (
    "The lab's native exact CRF inference (scaled forward-backward with a hand-written "
    "backward) is at least 50x faster than torch-struct and 5x faster than pytorch-crf "
    "for training at C = 17, and its Viterbi at least 5x faster than pytorch-crf's."
)
IMPLS = ("native", "logspace", "torch-struct", "pytorch-crf")


def grid(scale: str) -> list[dict]:
    from lab.structured.bench import DEFAULT_SIZES, parse_sizes

    sizes = common.pick(scale, [(8, 10, 5)], parse_sizes(DEFAULT_SIZES), parse_sizes(DEFAULT_SIZES))
    repeats = common.pick(scale, 1, 5, 11)
    return [{"B": B, "T": T, "C": C, "repeats": repeats, "seed": 0} for B, T, C in sizes]


def run(config: dict) -> dict:
    import torch

    from lab.structured import bench

    device = common.start_run(config)
    B, T, C = int(config["B"]), int(config["T"]), int(config["C"])
    em, tr, st, en = bench.potentials(B, T, C, device, torch.float32, seed=int(config["seed"]))
    metrics: dict = {"B": B, "T": T, "C": C}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as ``lab bench crf`` does by default (see its --threads)
    try:
        for op in bench.OPS:
            fns = {impl: bench.operations(impl, em, tr, st, en)[op] for impl in IMPLS}
            ms = bench.median_ms(fns, device, int(config["repeats"]), warmup=1)
            for impl in IMPLS:
                metrics[f"{op}_{impl}_ms"] = ms[impl]
                if impl != "native":
                    metrics[f"{op}_{impl}_ratio"] = ms[impl] / ms["native"]
    finally:
        torch.set_num_threads(threads)
    return metrics


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    from lab import verdict
    from lab.structured.bench import TARGETS

    df = common.frame(records)
    rule = (
        "supported if every target holds at every C = 17 size (same-run median ratios); "
        "not supported if none does; mixed otherwise"
    )
    if df.empty:
        return verdict.skipped("no finished runs", rule).as_dict()
    common.write_table(
        df.drop(columns=["run_id", "wall_s"], errors="ignore"),
        out_dir,
        "bench_crf",
        context,
        title="CRF inference: median ms and ratios",
    )
    checks, figures = [], []
    for (op, peer), target in TARGETS.items():
        col = f"{op}_{peer}_ratio"
        ratios = df.loc[df["C"] == 17, col] if col in df else []
        if len(ratios):
            checks.append(bool((ratios >= target).all()))
            figures.append(f"{op} vs {peer}: min {ratios.min():.1f}x (target {target:.0f}x)")
    if not checks:
        return verdict.skipped("no C = 17 sizes in the grid", rule).as_dict()
    outcome = (
        verdict.SUPPORTED
        if all(checks)
        else verdict.NOT_SUPPORTED
        if not any(checks)
        else verdict.MIXED
    )
    return verdict.Verdict(outcome, rule, "; ".join(figures)).as_dict()


if __name__ == "__main__":
    import argparse

    from lab.structured import bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_arguments(parser)
    sys.exit(bench.main(parser.parse_args()))
