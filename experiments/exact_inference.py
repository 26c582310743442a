"""Claim 1: sum-product (forward-backward) gives the exact log Z and marginals that
brute-force enumeration gives, in time linear in T where enumeration is exponential.

One run = one method ("enumeration" or "forward_backward") at one length T for one seed:
random float64 CRF potentials (C tags, one sentence), the median time of log Z +
marginals, and (enumeration runs) the largest absolute difference from forward-backward
on the same potentials.
"""

from __future__ import annotations

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
    enum_ts = common.pick(scale, [2, 3, 4, 5, 6], list(range(2, 11)), list(range(2, 13)))
    fb_ts = common.pick(
        scale,
        [2, 10, 30, 100, 300],
        [2, 5, 10, 30, 100, 300, 1000],
        [2, 5, 10, 30, 100, 300, 1000, 3000, 10000],
    )
    repeats = common.pick(scale, 1, 3, 5)
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
    metrics["sequences"] = C**T
    return metrics


# --- the rule ----------------------------------------------------------------------

RULE = (
    "supported if forward-backward's log Z and marginals equal brute-force enumeration "
    "(max abs difference <= {tol:g}) at every T, AND enumeration time grows exponentially "
    "(>= {min_growth:g}x per extra token over its 3 largest T) while forward-backward's "
    "grows at most linearly (log-log slope of time vs T <= {max_slope:g} over its 3 largest "
    "T); not supported if neither holds; mixed otherwise"
)


def rule(
    logz_max_err: float,
    marginal_max_err: float,
    enum_growth: float,
    fb_slope: float,
    tol: float = 1e-6,
    min_growth: float = 1.5,
    max_slope: float = 1.3,
) -> verdict.Verdict:
    """Claim 1: sum-product is exact, and linear where enumeration is exponential."""
    exact = logz_max_err <= tol and marginal_max_err <= tol
    scaling = enum_growth >= min_growth and fb_slope <= max_slope
    text = RULE.format(tol=tol, min_growth=min_growth, max_slope=max_slope)
    figures = (
        f"max |log Z diff| = {logz_max_err:.1e}, max |marginal diff| = {marginal_max_err:.1e}; "
        f"enumeration time x{enum_growth:.2f} per extra token; forward-backward log-log "
        f"slope {fb_slope:.2f}"
    )
    return verdict.Verdict(verdict.both(exact, scaling), text, figures)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    from lab.report.tables import aggregate

    df = common.frame(records)
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
    times = aggregate(df, by=["method", "T"], metrics=["time_ms"])
    common.write_table(
        times,
        out_dir,
        "time_vs_T",
        context,
        f"Time (ms) of log Z + marginals for one sentence of T tokens, C = {NUM_TAGS} tags, "
        f"float64, {THREADS} CPU thread(s) (forward-backward on the run's device): the fastest "
        "of the repeats (least disturbed by other processes), mean over seeds.",
    )
    enum = df[df["method"] == "enumeration"]
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
        times.assign(time_ms_ci95=0.0),  # no bands: with 2-3 seeds they say little
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

    fb = times[times["method"] == "forward_backward"]
    en = times[times["method"] == "enumeration"]
    if len(fb) < 2 or len(en) < 2:
        return verdict.skipped("fewer than two lengths per method").as_dict()
    result = rule(
        logz_max_err=float(enum["logz_abs_err"].max()),
        marginal_max_err=float(enum["marginal_abs_err"].max()),
        enum_growth=stats.growth_per_step(list(en["T"]), list(en["time_ms_mean"])),
        fb_slope=stats.loglog_slope(list(fb["T"]), list(fb["time_ms_mean"])),
    )
    return result.as_dict()
