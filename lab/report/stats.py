"""The lab's statistics, one copy for every table and rule: Student-t quantiles, the
mean with its 95% confidence interval over seeds, paired differences and their CI, the
growth rates of measured times (one curve, or one per seed with a CI over the seeds).

The 95% confidence interval is the half-width ``t(0.975, n-1) * std / sqrt(n)``, std with
``ddof=1``. The t quantile comes from a table for 1..30 degrees of freedom and from the
Cornish-Fisher expansion beyond (error < 1e-6 there), so scipy is not needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# t(0.975, df) for df = 1..30 (scipy.stats.t.ppf, 6 decimals).
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
    2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
    2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip
_Z975 = 1.959963984540054


# t(0.95, df) for df = 1..30 (scipy.stats.t.ppf, 6 decimals): the 90% two-sided CI that a
# two-one-sided-tests equivalence check at alpha = 0.05 reads.
_T95 = (
    6.313752, 2.919986, 2.353363, 2.131847, 2.015048, 1.943180, 1.894579, 1.859548,
    1.833113, 1.812461, 1.795885, 1.782288, 1.770933, 1.761310, 1.753050, 1.745884,
    1.739607, 1.734064, 1.729133, 1.724718, 1.720743, 1.717144, 1.713872, 1.710882,
    1.708141, 1.705618, 1.703288, 1.701131, 1.699127, 1.697261,
)  # fmt: skip
_Z95 = 1.6448536269514722
_TABLES = {0.975: (_T975, _Z975), 0.95: (_T95, _Z95)}


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom, for p = 0.975 (the
    two-sided 95% CI) or 0.95 (the two-sided 90% CI); a table to df 30, Cornish-Fisher
    beyond (Abramowitz & Stegun 26.7.5; error < 1e-6 there)."""
    if p not in _TABLES:
        raise ValueError(f"t quantile tabulated for p in {sorted(_TABLES)}, got {p!r}")
    if not isinstance(df, int) or isinstance(df, bool) or df < 1:
        raise ValueError(f"degrees of freedom must be an int >= 1, got {df!r}")
    table, z = _TABLES[p]
    if df <= len(table):
        return table[df - 1]
    v = float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (df >= 1): the
    half-width factor of a two-sided 95% CI."""
    return t_quantile(0.975, df)


def mean_ci95(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, 95% confidence half-width (Student t over seeds) and n.

    One value gives an infinite half-width: one seed says nothing about the spread.
    """
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        raise ValueError("mean_ci95 needs at least one value, got none")
    mean = sum(xs) / n
    if n == 1:
        return mean, math.inf, 1
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, t_quantile_975(n - 1) * math.sqrt(var / n), n


def paired_differences(a: dict, b: dict) -> list[float]:
    """``a[k] - b[k]`` for every key (a seed) in both, in key order: paired gaps."""
    return [float(a[k]) - float(b[k]) for k in sorted(set(a) & set(b))]


def growth_per_step(ts: Sequence[float], times: Sequence[float], last: int = 3) -> float:
    """exp(slope) of log(time) against T over the ``last`` largest T: the factor by which
    time grows per extra token (about C for enumeration over C^T sequences)."""
    slope = _slope(ts, [math.log(t) for t in times], last)
    return math.exp(slope)


def loglog_slope(ts: Sequence[float], times: Sequence[float], last: int = 3) -> float:
    """Slope of log(time) against log(T) over the ``last`` largest T: about 1 for a
    linear-time algorithm once fixed overheads stop dominating."""
    return _slope([math.log(t) for t in ts], [math.log(t) for t in times], last)


def _slope(xs: Sequence[float], ys: Sequence[float], last: int) -> float:
    if len(xs) != len(ys):
        raise ValueError(f"x and y differ in length: {len(xs)} vs {len(ys)}")
    pairs = sorted(zip(xs, ys, strict=True))[-last:]
    if len(pairs) < 2:
        raise ValueError(f"a slope needs at least 2 points, got {len(pairs)}")
    mx = sum(p[0] for p in pairs) / len(pairs)
    my = sum(p[1] for p in pairs) / len(pairs)
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    if sxx == 0:
        raise ValueError("a slope needs at least two distinct x values")
    return sum((p[0] - mx) * (p[1] - my) for p in pairs) / sxx


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95% confidence interval ``[low, high]`` (Student t)."""

    mean: float
    half: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def figure(self, name: str, scale: float = 1.0) -> dict:
        """This estimate as a key figure (lab.report.verdict.figure's form): ``scale``
        times the mean and the half-width."""
        half = scale * self.half
        out = {"name": name, "value": scale * self.mean, "n": self.n}
        if math.isfinite(half):
            out["ci"] = half
        return out

    def format(self, spec: str = ".3f", scale: float = 1.0, unit: str = "") -> str:
        """``"0.912 +- 0.031 (95% CI, 3 seeds)"``; ``scale`` multiplies (100: points). A
        sign in ``spec`` ("+.2f") signs the mean only: a half-width has none."""
        half_spec = spec.lstrip("+- ")
        half = "inf" if math.isinf(self.half) else format(scale * self.half, half_spec)
        seeds = "seed" if self.n == 1 else "seeds"
        return f"{format(scale * self.mean, spec)}{unit} +- {half} (95% CI, {self.n} {seeds})"


def estimate(values: Sequence[float]) -> Estimate:
    """``mean_ci95`` as an :class:`Estimate` (values: one per seed)."""
    return Estimate(*mean_ci95(values))


def paired_estimate(a: Mapping, b: Mapping) -> Estimate:
    """The mean of ``a[seed] - b[seed]`` over the seeds in both, with its 95% CI: the
    paired comparison (each seed's shared data and initialisation cancel)."""
    diffs = paired_differences(a, b)
    if not diffs:
        raise ValueError("paired_estimate needs at least one seed in both, got none")
    return estimate(diffs)


def slope_estimate(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]],
    log_x: bool,
    log_y: bool = True,
    last: int = 3,
) -> Estimate:
    """One least-squares slope per curve (a seed's (xs, ys)) over its ``last`` largest x,
    then their mean with a 95% CI over the curves. ``log_x`` True: a log-log slope (about
    1 for linear time); False: the slope of log y against x (log of the growth per step)."""
    slopes = []
    for xs, ys in curves:
        fx = [math.log(x) for x in xs] if log_x else [float(x) for x in xs]
        fy = [math.log(y) for y in ys] if log_y else [float(y) for y in ys]
        slopes.append(_slope(fx, fy, last))
    return estimate(slopes)


def per_token_spread(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]], from_t: float
) -> tuple[float, Estimate]:
    """How linear measured times are: over the T >= ``from_t`` (the same Ts in every
    curve, one curve (Ts, times) per seed), the max / min of time / T (median over seeds;
    1 for a perfectly linear cost) and the log-log slope of time vs T (CI over seeds)."""
    ts = [float(t) for t in curves[0][0]]
    per_token = [  # time / T at each T, the median over seeds
        statistics.median(float(y[i]) / t for _, y in curves) for i, t in enumerate(ts)
    ]
    big = [v for t, v in zip(ts, per_token, strict=True) if t >= from_t]
    if len(big) < 2:
        raise ValueError(f"a spread needs >= 2 lengths T >= {from_t}, got {len(big)}")
    slope = slope_estimate(curves, log_x=True, last=len(big))
    return max(big) / min(big), slope


# --- CIs at other levels, and equivalence (two one-sided tests) ---------------------


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """The mean over seeds with its two-sided ``level`` CI (0.95 or 0.90; Student t,
    std with ddof=1) as an :class:`Estimate` (whose ``half`` is then at that level). One
    value gives an infinite half-width."""
    p = {0.95: 0.975, 0.90: 0.95}.get(level)
    if p is None:
        raise ValueError(f"level must be 0.95 or 0.90, got {level!r}")
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        raise ValueError("mean_ci needs at least one value, got none")
    mean = sum(xs) / n
    if n == 1:
        return Estimate(mean, math.inf, 1)
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return Estimate(mean, t_quantile(p, n - 1) * math.sqrt(var / n), n)


def paired_change(before: Mapping, after: Mapping, level: float = 0.95) -> Estimate:
    """The mean over the seeds in both of ``before[seed] - after[seed]`` with its
    two-sided ``level`` CI: how much a per-seed quantity (a gap) fell from one setting
    to another, each seed compared with itself."""
    diffs = paired_differences(before, after)
    if not diffs:
        raise ValueError("paired_change needs at least one seed in both, got none")
    return mean_ci(diffs, level)


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests (TOST) at ``alpha``: the mean is equivalent to 0 within
    ``+-delta`` when the two-sided (1 - 2 alpha) CI ``[low, high]`` lies inside it."""

    estimate: Estimate  # at the (1 - 2 alpha) level
    delta: float

    @property
    def equivalent(self) -> bool:
        return -self.delta < self.estimate.low and self.estimate.high < self.delta


def tost(values: Sequence[float], delta: float, alpha: float = 0.05) -> Equivalence:
    """TOST of ``values`` (one per seed) against the margin ``+-delta`` (delta > 0);
    alpha 0.05 reads the 90% CI (the only level tabulated besides 0.025's 95%)."""
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    if alpha not in (0.05, 0.025):
        raise ValueError(f"alpha must be 0.05 or 0.025, got {alpha!r}")
    return Equivalence(mean_ci(values, 1 - 2 * alpha), float(delta))


# --- counts: how many seeds did something (a bimodal outcome: learned or not) ----------


def fisher_greater(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided p-value of Fisher's exact test that group 1's rate exceeds group 2's:
    P(K1 >= k1) under the hypergeometric law of the 2x2 table with its margins fixed (k1
    of n1 and k2 of n2 successes). 5 of 5 against 0 of 5 gives 1/252 = 0.004."""
    for name, value in (("k1", k1), ("n1", n1), ("k2", k2), ("n2", n2)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    if k1 > n1 or k2 > n2:
        raise ValueError(f"successes exceed trials: {k1}/{n1}, {k2}/{n2}")
    total, successes = n1 + n2, k1 + k2
    denominator = math.comb(total, n1)
    high = min(n1, successes)
    tail = sum(
        math.comb(successes, k) * math.comb(total - successes, n1 - k) for k in range(k1, high + 1)
    )
    return tail / denominator


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval of a rate seen k times in n, by
    bisection on the binomial tails (no scipy)."""
    if not (isinstance(n, int) and n >= 1 and isinstance(k, int) and 0 <= k <= n):
        raise ValueError(f"expected 0 <= k <= n, n >= 1, got k={k!r}, n={n!r}")
    tail = (1.0 - level) / 2

    def upper_tail(p: float) -> float:  # P(X >= k | p)
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))

    def lower_tail(p: float) -> float:  # P(X <= k | p)
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, k + 1))

    def solve(f, increasing: bool) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if (f(mid) < tail) == increasing:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(upper_tail, increasing=True)
    high = 1.0 if k == n else solve(lower_tail, increasing=False)
    return low, high


def fewest_seeds(
    decision_rate: Callable[[int], float], ladder: Sequence[int], target: float = 0.8
) -> int | None:
    """The first count n of ``ladder`` whose ``decision_rate(n)`` (the probability, found
    by simulating a rule's own decision, that n seeds decide it) reaches ``target``; None
    when even the last rung does not (report "more than" it)."""
    for n in ladder:
        if decision_rate(n) >= target:
            return n
    return None


def t_bounds(x, p: float = 0.975):
    """(low, high) of the mean's t interval at quantile ``p`` (0.975: the 95% CI, 0.95:
    the 90% one), over the last axis of ``x`` (D, n), n >= 2, for many draws at once."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    half = t_quantile(p, n - 1) * x.std(axis=-1, ddof=1) / math.sqrt(n)
    mean = x.mean(axis=-1)
    return mean - half, mean + half
