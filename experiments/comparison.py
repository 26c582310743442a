"""A comparison a user declared (``lab compare SPEC.toml``; lab.pipeline.compare reads the
spec and builds the runs). Not a lecture claim: the runs are the learning curve's (one
model on the first ``size`` sentences of a seeded permutation of a corpus, early
stopping on dev under the spec's shared settings), each model named in full by its
ModelConfig; the summary compares every model with the spec's baseline.

Per corpus, model and size: the test metric with its 95% CI over seeds; the paired gap
to the baseline (same seed, same subset) with its 95% CI; the call: "better" / "worse"
where the 95% CI excludes 0, "equivalent" where the 90% CI lies within +-margin (two
one-sided tests at 5%, the learning-curve rule's), both where both hold ("better, within
the margin"), else "undecided" with the paired seeds that would decide it with >= 80%
probability (simulated with this call at the observed gap and seed sd); win rates over
paired seeds; training time to the best epoch and decoding tokens/s (measured beside
the sweep's other workers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiments import _common as common
from experiments import learning_curve as lc
from lab.errors import UsageError
from lab.report import stats, verdict

NAME = "comparison"
CLAIM = "Not a lecture claim: a comparison a user declared (lab compare SPEC.toml)."
SPEC_FILE = "spec.json"  # the checked spec, written by lab compare beside the records
UNDECIDED = "undecided"


def grid(scale: str) -> list[dict]:
    raise UsageError("a comparison's runs come from its spec: lab compare SPEC.toml")


def run(config: dict) -> dict:
    return lc.run(config)


def calls(gaps: np.ndarray, margin: float) -> np.ndarray:
    """The call on many draws at once: ``gaps`` (D, n) per-seed gaps (model - baseline,
    the margin's unit), n >= 2 -> (D,) strings (module doc)."""
    gaps = np.atleast_2d(np.asarray(gaps, dtype=float))
    lo95, hi95 = stats.t_bounds(gaps, 0.975)
    lo90, hi90 = stats.t_bounds(gaps, 0.95)
    equivalent = (lo90 > -margin) & (hi90 < margin)
    better, worse = lo95 > 0, hi95 < 0
    out = np.full(gaps.shape[0], UNDECIDED, dtype=object)
    out[equivalent] = "equivalent"
    out[better] = "better"
    out[worse] = "worse"
    out[better & equivalent] = "better, within the margin"
    out[worse & equivalent] = "worse, within the margin"
    return out


def seeds_needed(gaps: list[float], margin: float, draws: int = 2000, seed: int = 0) -> str:
    """Paired seeds that would decide an undecided gap with >= 80% probability, simulated
    with ``calls`` at its observed mean and seed sd: "N", or "more than 50"."""
    mean, sd = float(np.mean(gaps)), float(np.std(gaps, ddof=1))
    rng = np.random.default_rng(seed)

    def rate(n: int) -> float:
        draws_ = mean + sd * rng.standard_normal((draws, n))
        return float(np.mean(calls(draws_, margin) != UNDECIDED))

    n = stats.fewest_seeds(rate, lc.SEED_LADDER, lc.DECIDE_TARGET)
    return str(n) if n is not None else f"more than {lc.SEED_LADDER[-1]}"


def load_spec(out_dir: Path) -> dict:
    path = Path(out_dir) / SPEC_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: missing; rerun lab compare SPEC.toml --out {out_dir}") from None


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import pandas as pd

    spec = load_spec(out_dir)
    df = common.frame(records)
    failed = [r for r in records if r.get("status") != "ok"]
    if df.empty:
        return verdict.skipped(f"no finished runs ({len(failed)} failed)").as_dict()
    baseline, margin = spec["baseline"], float(spec["margin"]) / 100.0
    order = [baseline] + [m for m in spec["models"] if m != baseline]
    figures = []
    for corpus, part in df.groupby("corpus", sort=False):
        metric = str(part["metric"].iloc[0])
        sizes = sorted(int(s) for s in part["size"].unique())
        models = [m for m in order if m in set(part["model"])]
        _scores(part, corpus, metric, models, sizes, out_dir, context)
        rows = []
        for model in models[1:]:
            gaps = lc.paired_gaps(part, model, baseline, metric)
            for size in sizes:
                values = list(gaps.get(size, {}).values())
                if len(values) < 2:
                    continue
                call = str(calls(np.array([values]), margin)[0])
                wins = sum(v > 0 for v in values)
                rows.append({
                    "model": model, "size": size,
                    "gap (pts)": lc._cell(values, signed=True), "call": call,
                    "wins": f"{wins}/{len(values)}",
                    "seeds needed": seeds_needed(values, margin) if call == UNDECIDED else "-",
                })  # fmt: skip
        if rows:
            lc.write_readable(
                pd.DataFrame(rows), out_dir, f"{corpus}_vs_{baseline}", context,
                f"{corpus}: each model minus {baseline}, test {metric.replace('_', ' ')} "
                f"paired by seed, in points (95% CI, t). Call: better/worse where the 95% CI "
                f"excludes 0; equivalent where the 90% CI lies within +-{spec['margin']:g} "
                "points (two one-sided tests at 5%); else undecided, with the paired seeds "
                "that would decide it with >= 80% probability at the observed gap and sd. "
                "Wins: seeds where the model scored higher.",
            )  # fmt: skip
            largest = max(r["size"] for r in rows)
            figures += [f"{corpus} at {largest}: {r['model']} - {baseline} {r['gap (pts)']} "
                        f"pts, {r['call']}" for r in rows if r["size"] == largest]  # fmt: skip
        _cost(part, corpus, metric, models, out_dir, context)
        if len(sizes) > 1:
            common.plot(
                part, out_dir, f"{corpus}_{metric}", context, x="size", y=metric, hue="model",
                logx=True, xlabel="training sentences (log scale)",
                ylabel=f"test {metric.replace('_', ' ')} (fraction)",
                title=spec.get("title") or f"{corpus}",
            )  # fmt: skip
    text = "; ".join(figures) or "no model has two paired seeds at any size"
    if failed:
        text += f"; {len(failed)} run(s) failed (see results.jsonl)"
    return verdict.skipped(f"not a claim: {spec.get('title', 'a comparison')}: {text}").as_dict()


def _scores(part, corpus: str, metric: str, models: list[str], sizes: list[int], out_dir: Path,
            context: dict) -> None:  # fmt: skip
    import pandas as pd

    rows = []
    for model in models:
        mine = part[part["model"] == model]
        row = {"model": model}
        for size in sizes[-6:]:
            row[str(size)] = lc._cell(mine[mine["size"] == size][metric])
        rows.append(row)
    seeds = ", ".join(f"{n} at {s}" for s, n in part.groupby("size")["seed"].nunique().items())
    lc.write_readable(
        pd.DataFrame(rows), out_dir, f"{corpus}_scores", context,
        f"{corpus}: test {metric.replace('_', ' ')} (%) by model and training sentences: "
        f"mean +- 95% CI over seeds (t); seeds {seeds}.",
    )  # fmt: skip


def _cost(part, corpus: str, metric: str, models: list[str], out_dir: Path, context: dict) -> None:
    import pandas as pd

    rows = []
    for (model, size), mine in part.groupby(["model", "size"], sort=False):
        decode = mine["decode_tokens_per_s"] if "decode_tokens_per_s" in mine else pd.Series()
        rows.append({
            "model": model, "size": int(size), "seeds": len(mine),
            "best epoch": f"{mine['best_epoch'].mean():.1f}",
            "s to best": f"{mine['seconds_to_best'].mean():.1f}",
            "decode tok/s": f"{decode.mean():,.0f}" if decode.notna().any() else "-",
            "at chance": sum(lc.at_chance(r, metric) for r in mine.to_dict("records")),
        })  # fmt: skip
    rows.sort(key=lambda r: (models.index(r["model"]) if r["model"] in models else 99, r["size"]))
    lc.write_readable(
        pd.DataFrame(rows), out_dir, f"{corpus}_cost", context,
        f"{corpus}: training to the best dev epoch (mean over seeds; wall seconds, dev checks "
        "included) and test decoding throughput of each model's default decoder, both "
        "measured beside the sweep's other workers; runs that ended at chance (entity F1 0).",
    )  # fmt: skip
