"""The lab's statistics, one copy for every table and rule: Student-t quantiles, the
mean with its 95% confidence interval over seeds, paired differences, and the growth
rates of measured times.

The 95% confidence interval is the half-width ``t(0.975, n-1) * std / sqrt(n)``, std with
``ddof=1``. The t quantile comes from a table for 1..30 degrees of freedom and from the
Cornish-Fisher expansion beyond (error < 1e-6 there), so scipy is not needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# t(0.975, df) for df = 1..30 (scipy.stats.t.ppf, 6 decimals).
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
    2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
    2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if not isinstance(df, (int,)) or isinstance(df, bool) or df < 1:
        raise ValueError(f"degrees of freedom must be an int >= 1, got {df!r}")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = _Z975, float(df)
    # Cornish-Fisher expansion of the t quantile around the normal one (Abramowitz &
    # Stegun 26.7.5).
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


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
