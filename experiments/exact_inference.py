"""Claim 1: sum-product (forward-backward) gives the exact log Z and marginals that
brute-force enumeration gives, in time linear in T where enumeration is exponential.

One run = one method ("enumeration" or "forward_backward") at one length T for one seed:
random float64 CRF potentials (C tags, one sentence), the median time of log Z +
marginals, and (enumeration runs) the largest absolute difference from forward-backward
on the same potentials.
"""

from __future__ import annotations

import math
from pathlib import Path

from experiments import _common as common
from lab.report import stats, verdict

NAME = "exact_inference"
CLAIM = (
    "All chain models share one conditional-independence structure, so sum-product "
    "(forward-backward) computes the exact marginals p(y_t = v | x) and log Z, in time "
    "linear in T, where brute-force enumeration of the C^T sequences is exponential."
)
SERIAL = True  # it measures time: lab reproduce runs it alone, one run at a time
THREADS = 1  # one CPU thread: small sequential ops time reliably on a shared machine
NUM_TAGS = 3  # C: small, so enumeration reaches T = 12 (3^12 = 531,441 sequences)


def grid(scale: str) -> list[dict]:
    # enumeration to its limit (C^T sequences held at once); forward-backward to T = 10^4
    # (quick) and 10^5 (standard: about 2 s a call on one core), so that time / T is read
    # over two to three decades past the fixed per-call overheads
    enum_ts = common.pick(
        scale, [2, 3, 4, 5, 6], list(range(2, 11)), list(range(2, 13)), standard=list(range(2, 13))
    )
    fb_ts = common.pick(
        scale,
        [2, 10, 30, 100, 300],
        [10, 30, 100, 300, 1000, 3000, 10000],
        [10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000],
        standard=[10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000],
    )
    repeats = common.pick(scale, 1, 3, 5, standard=3)
    configs = []
    for seed in common.seeds(scale):
        for method, ts in (("enumeration", enum_ts), ("forward_backward", fb_ts)):
            for T in ts:
                configs.append(
                    {
                        "method": method,
                        "T": T,
                        "C": NUM_TAGS,
                        "repeats": repeats,
                        "threads": THREADS,
                        "seed": seed,
                    }
                )
    return configs


def run(config: dict) -> dict:
    with common.pinned_threads(config.get("threads")):
        return _run(config)


def _run(config: dict) -> dict:
    import torch

    from lab.structured import LinearChainCRF
    from lab.structured.enumerate import brute_force

    device = common.start_run(config)
    T, C = int(config["T"]), int(config["C"])
    gen = torch.Generator().manual_seed(int(config["seed"]) * 1000 + T)
    emissions = torch.randn(1, T, C, generator=gen, dtype=torch.float64)  # (B=1, T, C)
    transitions = torch.randn(C, C, generator=gen, dtype=torch.float64)  # (C, C)
    start = torch.randn(C, generator=gen, dtype=torch.float64)
    end = torch.randn(C, generator=gen, dtype=torch.float64)

    def forward_backward(dev: torch.device):
        crf = LinearChainCRF(
            emissions.to(dev), transitions.to(dev), start=start.to(dev), end=end.to(dev)
        )
        return crf.log_partition, crf.marginals

    metrics: dict = {"method": config["method"], "T": T, "C": C}
    if config["method"] == "enumeration":
        # brute force runs on the CPU (it enumerates in Python and float64)
        cpu = torch.device("cpu")
        seconds = common.best_time(
            lambda: brute_force(emissions, transitions, start=start, end=end),
            cpu,
            repeats=int(config["repeats"]),
        )
        exact = brute_force(emissions, transitions, start=start, end=end)
        log_z, marginals = forward_backward(cpu)
        metrics["logz_abs_err"] = float((log_z - exact["log_partition"]).abs().max())
        metrics["marginal_abs_err"] = float((marginals - exact["marginals"]).abs().max())
        metrics["device_used"] = "cpu"
    elif config["method"] == "forward_backward":
        seconds = common.best_time(
            lambda: forward_backward(device), device, repeats=int(config["repeats"])
        )
        metrics["device_used"] = str(device)
    else:
        raise ValueError(
            f"method must be 'enumeration' or 'forward_backward', got {config['method']!r}"
        )
    metrics["time_ms"] = 1000.0 * seconds
    metrics["log10_sequences"] = T * math.log10(C)  # C^T itself overflows JSON at T = 10^4
    return metrics


# --- the rule ----------------------------------------------------------------------

TOL = 1e-6  # float64 forward-backward vs enumeration
MIN_GROWTH = 1.5  # enumeration: at least x1.5 per extra token (C = 3 gives about x3)
FLAT_FACTOR = 2.0  # forward-backward: time / T within a factor 2 over T >= LINEAR_FROM
LINEAR_FROM = 1000  # below this, fixed per-call overheads dominate (flat time, not linear)
MIN_FB_T = 10_000  # validity: forward-backward measured to at least this length
MIN_ENUM_POINTS = 3
GROWTH_POINTS = 4  # enumeration's growth is fitted over its 4 largest T

RULE = (
    "validity first (else insufficient): forward-backward timed up to T >= {min_fb_t} and "
    "enumeration at >= {min_points} lengths. Then supported if forward-backward's log Z and "
    "marginals equal brute-force enumeration (max abs difference <= {tol:g}) at every T, AND "
    "enumeration time grows exponentially (the 95% CI over seeds of its growth per extra "
    "token, fitted over its {growth_points} largest T, lies above x{min_growth:g}) while "
    "forward-backward's is linear (its time / T, median over seeds, stays within a factor "
    "{flat:g} (max / min) over all T >= {linear_from}); not supported if neither holds; "
    "mixed otherwise"
)

Curve = tuple[list[float], list[float]]  # (T values, times) of one seed


def rule(
    logz_max_err: float,
    marginal_max_err: float,
    enum_curves: list[Curve],
    fb_curves: list[Curve],
    tol: float = TOL,
    min_growth: float = MIN_GROWTH,
    flat: float = FLAT_FACTOR,
) -> verdict.Verdict:
    """Claim 1: sum-product is exact, and linear where enumeration is exponential.

    ``enum_curves`` / ``fb_curves``: one (Ts, times) per seed, same Ts in every seed."""
    import numpy as np

    text = RULE.format(
        min_fb_t=MIN_FB_T, min_points=MIN_ENUM_POINTS, tol=tol, growth_points=GROWTH_POINTS,
        min_growth=min_growth, flat=flat, linear_from=LINEAR_FROM,
    )  # fmt: skip
    if not enum_curves or not fb_curves:
        return verdict.skipped("no enumeration or no forward-backward runs", text)
    fb_ts = np.asarray(fb_curves[0][0], dtype=float)
    n_enum = len(enum_curves[0][0])
    problems = []
    if fb_ts.max() < MIN_FB_T:
        problems.append(f"forward-backward timed to T = {fb_ts.max():.0f} (needs >= {MIN_FB_T})")
    if n_enum < MIN_ENUM_POINTS:
        problems.append(f"enumeration at {n_enum} lengths (needs >= {MIN_ENUM_POINTS})")
    if problems:
        return verdict.insufficient("; ".join(problems), text)
    exact = logz_max_err <= tol and marginal_max_err <= tol
    log_growth = stats.slope_estimate(enum_curves, log_x=False, last=GROWTH_POINTS)
    exponential = log_growth.low > math.log(min_growth)
    ratio, slope = stats.per_token_spread(fb_curves, LINEAR_FROM)
    linear = ratio <= flat
    figures = (
        f"max |log Z diff| = {logz_max_err:.1e}, max |marginal diff| = {marginal_max_err:.1e}; "
        f"enumeration time x{math.exp(log_growth.mean):.2f} per extra token (95% CI "
        f"x{math.exp(log_growth.low):.2f} to x{math.exp(log_growth.high):.2f}, "
        f"{log_growth.n} seeds); forward-backward time / T varies x{ratio:.2f} (max / min) "
        f"over T = {LINEAR_FROM}..{fb_ts.max():.0f}, log-log slope {slope.format('.2f')}"
    )
    key = (
        verdict.figure("exact (log Z and marginals within tol)", exact, exact=True),
        log_growth.figure("enumeration log time growth per extra token"),
        slope.figure("forward-backward log-log slope of time vs T"),
    )
    return verdict.Verdict(verdict.both(exact, exponential and linear), text, figures, key)


def curves(df, method: str) -> list[Curve]:
    """Per seed, (Ts, time_ms) of ``method``, T ascending; only the Ts every seed has."""
    sub = df[df["method"] == method]
    if sub.empty:
        return []
    common_ts = sorted(set.intersection(*(set(g["T"]) for _, g in sub.groupby("seed"))))
    out = []
    for _, g in sub.groupby("seed"):
        g = g[g["T"].isin(common_ts)].sort_values("T")
        out.append((g["T"].astype(float).tolist(), g["time_ms"].astype(float).tolist()))
    return out


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    from lab.report.tables import aggregate

    df = common.frame(records)
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
    df["us_per_token"] = 1000.0 * df["time_ms"] / df["T"]
    times = aggregate(df, by=["method", "T"], metrics=["time_ms", "us_per_token"])
    common.write_table(
        times,
        out_dir,
        "time_vs_T",
        context,
        f"Time (ms) of log Z + marginals for one sentence of T tokens, and per token (us), "
        f"C = {NUM_TAGS} tags, float64, {THREADS} CPU thread(s) (forward-backward on the run's "
        "device): the fastest of the repeats (least disturbed by other processes), mean over "
        "seeds. Timings taken on a shared 2-core machine: other load only adds time.",
    )
    enum = df[df["method"] == "enumeration"]
    if not enum.empty:
        agreement = aggregate(enum, by=["T"], metrics=["logz_abs_err", "marginal_abs_err"])
        agreement = agreement[["T", "n", "logz_abs_err_mean", "marginal_abs_err_mean"]]
        common.write_table(
            agreement,
            out_dir,
            "agreement",
            context,
            "Max |forward-backward - enumeration| of log Z and of the marginals per T, float64.",
        )
    common.plot(
        times.assign(time_ms_ci95=0.0),  # no bands: with 2-5 seeds they say little
        out_dir,
        "time_vs_T",
        context,
        x="T",
        y="time_ms",
        hue="method",
        logx=True,
        logy=True,
        xlabel="sentence length T (tokens)",
        ylabel="time of log Z + marginals (ms, log scale)",
        title=f"Enumeration (C^T, C = {NUM_TAGS}) vs forward-backward",
    )
    if enum.empty:
        return verdict.skipped("no enumeration runs").as_dict()
    return rule(
        logz_max_err=float(enum["logz_abs_err"].max()),
        marginal_max_err=float(enum["marginal_abs_err"].max()),
        enum_curves=curves(df, "enumeration"),
        fb_curves=curves(df, "forward_backward"),
    ).as_dict()
