"""Verdict rules: each turns an experiment's measured figures into "supported",
"not supported" or "mixed", by a rule stated in words beside it.

A verdict is never typed in: the experiment scripts compute the figures from their
records and call one of the rules below, which returns a :class:`Verdict` holding the
verdict, the rule's text (what ``results/README.md`` prints) and the figures it read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
MIXED = "mixed"
SKIPPED = "skipped"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, MIXED, SKIPPED)

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (then 1.96).
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict, the rule that produced it, and the figures the rule read."""

    verdict: str
    rule: str
    key_figures: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def as_dict(self) -> dict[str, str]:
        """The dict an experiment's ``summarize`` returns."""
        return {"verdict": self.verdict, "rule": self.rule, "key_figures": self.key_figures}


def skipped(reason: str, rule: str = "") -> Verdict:
    """No verdict: the data the rule needs is missing (``reason`` says why)."""
    return Verdict(SKIPPED, rule or "no rule applied", reason)


def t95(df: int) -> float:
    """Two-sided 95% Student-t quantile for ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return _T95[df - 1] if df <= len(_T95) else 1.96


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
    return mean, t95(n - 1) * math.sqrt(var / n), n


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


def combine(verdicts: Sequence[Verdict], rule: str) -> Verdict:
    """One verdict from several (e.g. one per corpus): all supported -> supported; all
    not supported -> not supported; skipped ones ignored; otherwise mixed."""
    used = [v for v in verdicts if v.verdict != SKIPPED]
    figures = "; ".join(v.key_figures for v in verdicts)
    if not used:
        return Verdict(SKIPPED, rule, figures)
    kinds = {v.verdict for v in used}
    verdict = kinds.pop() if len(kinds) == 1 else MIXED
    return Verdict(verdict, rule, figures)


def _both(first: bool, second: bool) -> str:
    if first and second:
        return SUPPORTED
    if not first and not second:
        return NOT_SUPPORTED
    return MIXED


# --- claim 1: exact_inference -------------------------------------------------------

EXACT_INFERENCE_RULE = (
    "supported if forward-backward's log Z and marginals equal brute-force enumeration "
    "(max abs difference <= {tol:g}) at every T, AND enumeration time grows exponentially "
    "(>= {min_growth:g}x per extra token over its 3 largest T) while forward-backward's "
    "grows at most linearly (log-log slope of time vs T <= {max_slope:g} over its 3 largest "
    "T); not supported if neither holds; mixed otherwise"
)


def exact_inference_rule(
    logz_max_err: float,
    marginal_max_err: float,
    enum_growth: float,
    fb_slope: float,
    tol: float = 1e-6,
    min_growth: float = 1.5,
    max_slope: float = 1.3,
) -> Verdict:
    """Claim 1: sum-product is exact, and linear where enumeration is exponential."""
    exact = logz_max_err <= tol and marginal_max_err <= tol
    scaling = enum_growth >= min_growth and fb_slope <= max_slope
    rule = EXACT_INFERENCE_RULE.format(tol=tol, min_growth=min_growth, max_slope=max_slope)
    figures = (
        f"max |log Z diff| = {logz_max_err:.1e}, max |marginal diff| = {marginal_max_err:.1e}; "
        f"enumeration time x{enum_growth:.2f} per extra token; forward-backward log-log "
        f"slope {fb_slope:.2f}"
    )
    return Verdict(_both(exact, scaling), rule, figures)


# --- claim 2: learning_curve --------------------------------------------------------

LEARNING_CURVE_RULE = (
    "supported (the structured model's advantage shrinks with data) if the mean "
    "{structured} minus {neural} {metric} gap over seeds is smaller at the largest size than "
    "at the smallest AND at the largest size it is within the seeds' 95% CI of zero or below "
    "(the CI's lower end <= 0); not supported if the gap does not shrink and stays "
    "significantly above zero at the largest size; mixed otherwise"
)


def learning_curve_rule(
    gaps_smallest: Sequence[float],
    gaps_largest: Sequence[float],
    smallest: int,
    largest: int,
    structured: str = "BiLSTM-CRF",
    neural: str = "BiLSTM-softmax",
    metric: str = "token accuracy",
    label: str = "",
) -> Verdict:
    """Claim 2: ``gaps_*`` hold, per seed, structured minus neural at a training size."""
    rule = LEARNING_CURVE_RULE.format(structured=structured, neural=neural, metric=metric)
    if len(gaps_smallest) < 2 or len(gaps_largest) < 2:
        # one seed has no confidence interval: any verdict would rest on nothing
        return skipped(f"{label}: fewer than 2 paired seeds at the smallest or largest size", rule)
    m_small, h_small, _ = mean_ci95(gaps_smallest)
    m_large, h_large, n = mean_ci95(gaps_largest)
    shrinks = m_large < m_small
    caught_up = m_large - h_large <= 0
    if shrinks and caught_up:
        verdict = SUPPORTED
    elif not shrinks and not caught_up:
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    prefix = f"{label}: " if label else ""
    figures = (
        f"{prefix}{structured} - {neural} {metric}: {_pct(m_small)} +- {_pts(h_small)} at "
        f"{smallest} sentences, {_pct(m_large)} +- {_pts(h_large)} at {largest} (95% CI, "
        f"{n} seeds)"
    )
    return Verdict(verdict, rule, figures)


def _pct(x: float) -> str:
    """A signed difference of fractions in percentage points."""
    return f"{100 * x:+.2f} pts"


def _pts(x: float) -> str:
    """A CI half-width in percentage points (infinite for one seed)."""
    return "inf" if math.isinf(x) else f"{100 * x:.2f}"


# --- claim 3: word_order ------------------------------------------------------------

WORD_ORDER_RULE = (
    "supported if the bag-of-words classifier's mean test accuracy is within {margin:g} of "
    "chance (the majority-class rate) AND the best recurrent classifier's mean accuracy is "
    ">= {rnn_min:g}; not supported if neither holds; mixed otherwise"
)


def word_order_rule(
    bow_accuracy: Sequence[float],
    rnn_accuracy: Mapping[str, Sequence[float]],
    chance: float,
    margin: float = 0.1,
    rnn_min: float = 0.9,
) -> Verdict:
    """Claim 3: an order-blind phi cannot separate "the man ate the hot dog" from "the hot
    dog ate the man"; a recurrent phi can."""
    rule = WORD_ORDER_RULE.format(margin=margin, rnn_min=rnn_min)
    if not bow_accuracy or not rnn_accuracy:
        return skipped("no bag-of-words or no recurrent runs", rule)
    bow, _, _ = mean_ci95(bow_accuracy)
    means = {name: mean_ci95(v)[0] for name, v in rnn_accuracy.items() if v}
    best_name = max(means, key=means.get)
    at_chance = abs(bow - chance) <= margin
    rnn_ok = means[best_name] >= rnn_min
    figures = (
        f"bag-of-words accuracy {bow:.3f} (chance {chance:.3f}); best RNN ({best_name}) "
        f"{means[best_name]:.3f}; " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(means.items()))
    )
    return Verdict(_both(at_chance, rnn_ok), rule, figures)


# --- claim 4: vanishing_gradients ---------------------------------------------------

VANISHING_GRADIENTS_RULE = (
    "supported if, at initialisation, the Elman RNN's gradient norm ||d loss_T / d h_t|| at "
    "the largest distance T - t, relative to its norm at T - t = 0, is at least {factor:g}x "
    "smaller than that of the residual and of the gated cell (the lecture's two fixes), AND "
    "on the long-range task the Elman RNN's query accuracy, averaged over the lags k, is "
    "below the best of residual/gated/lstm/gru by more than {acc_margin:g}; not supported "
    "if neither holds; mixed otherwise"
)


def vanishing_gradients_rule(
    relative_grad_at_init: Mapping[str, float],
    accuracy_over_lags: Mapping[str, float],
    largest_distance: int,
    lags: Sequence[int],
    factor: float = 10.0,
    acc_margin: float = 0.02,
) -> Verdict:
    """Claim 4: tanh RNN gradients vanish with distance; residual/gated connections
    carry them (and the information) further. ``accuracy_over_lags``: per cell, the mean
    query accuracy over ``lags``."""
    rule = VANISHING_GRADIENTS_RULE.format(factor=factor, acc_margin=acc_margin)
    needed = ("elman", "residual", "gated")
    missing = [c for c in needed if c not in relative_grad_at_init]
    if missing or "elman" not in accuracy_over_lags:
        return skipped(f"missing cells {missing or ['elman (long-range)']}", rule)
    elman = relative_grad_at_init["elman"]
    grads_ok = all(relative_grad_at_init[c] >= factor * elman for c in ("residual", "gated"))
    others = {c: a for c, a in accuracy_over_lags.items() if c != "elman"}
    if not others:
        return skipped("no gated-family long-range runs", rule)
    best = max(others, key=others.get)
    acc_ok = others[best] - accuracy_over_lags["elman"] > acc_margin
    grads = ", ".join(f"{c} {v:.1e}" for c, v in sorted(relative_grad_at_init.items()))
    figures = (
        f"relative gradient norm at T - t = {largest_distance} (init): {grads}; long-range "
        f"query accuracy averaged over lags {list(lags)}: elman "
        f"{accuracy_over_lags['elman']:.3f} vs best {best} {others[best]:.3f}"
    )
    return Verdict(_both(grads_ok, acc_ok), rule, figures)


# --- claim 5: classification --------------------------------------------------------

CLASSIFICATION_RULE = (
    "supported if the product of per-token softmaxes sums to one over all tag sequences "
    "(|sum - 1| <= {tol:g}, by enumeration), its pairwise marginals factorise "
    "(max |p(y_t, y_t+1) - p(y_t) p(y_t+1)| <= {tol:g}: no dependence between tags), AND its "
    "argmax produces impossible BIO sequences (invalid-transition rate > 0 and above the "
    "BIO-constrained CRF's); not supported if the first two fail; mixed otherwise"
)


def classification_rule(
    sum_to_one_error: float,
    factorisation_gap: float,
    invalid_rate_softmax: float,
    invalid_rate_crf: float,
    corpus: str,
    tol: float = 1e-5,
) -> Verdict:
    """Claim 5: the RNN-softmax-argmax pipeline is a proper distribution over sequences
    with no dependence between tags, so its argmax can be an impossible sequence."""
    rule = CLASSIFICATION_RULE.format(tol=tol)
    proper = sum_to_one_error <= tol and factorisation_gap <= tol
    impossible = invalid_rate_softmax > 0 and invalid_rate_softmax > invalid_rate_crf
    if not proper:
        verdict = NOT_SUPPORTED
    elif impossible:
        verdict = SUPPORTED
    else:
        verdict = MIXED
    figures = (
        f"max |sum_y p(y|x) - 1| = {sum_to_one_error:.1e}; factorisation gap "
        f"{factorisation_gap:.1e}; invalid BIO rate on {corpus}: softmax argmax "
        f"{invalid_rate_softmax:.4f} vs constrained CRF Viterbi {invalid_rate_crf:.4f}"
    )
    return Verdict(verdict, rule, figures)


# --- claim 6: greedy_vs_exact -------------------------------------------------------

GREEDY_VS_EXACT_RULE = (
    "supported if greedy decoding misses the autoregressive model's own exact argmax on "
    "some sentences (miss rate > 0) AND exact decoding time grows exponentially "
    "(>= {min_growth:g}x per extra token over its {points} largest T) while greedy grows at "
    "most linearly (log-log slope <= {max_slope:g}, same T); not supported if neither holds; "
    "mixed otherwise"
)


def greedy_vs_exact_rule(
    greedy_miss_rate: float,
    n_sentences: int,
    exact_growth: float,
    greedy_slope: float,
    min_growth: float = 1.5,
    max_slope: float = 1.5,
    points: int = 3,
) -> Verdict:
    """Claim 6: greedy search is linear in T but only approximates the exponential exact
    search. ``points``: how many of the largest T the growth rates were fitted on."""
    rule = GREEDY_VS_EXACT_RULE.format(min_growth=min_growth, max_slope=max_slope, points=points)
    approximate = greedy_miss_rate > 0
    scaling = exact_growth >= min_growth and greedy_slope <= max_slope
    figures = (
        f"greedy misses the exact argmax on {100 * greedy_miss_rate:.1f}% of "
        f"{n_sentences} sentences; exact decode time x{exact_growth:.2f} per extra token; "
        f"greedy log-log slope {greedy_slope:.2f}"
    )
    return Verdict(_both(approximate, scaling), rule, figures)


# --- claim 7: encoder_decoder -------------------------------------------------------

ENCODER_DECODER_RULE = (
    "supported if the encoder-decoder learns the toy translation (greedy token accuracy >= "
    "{min_acc:g} on the shortest sources) AND its exact-match accuracy falls from the "
    "shortest to the longest sources (one context vector C must hold the whole source); "
    "not supported if neither holds; mixed otherwise"
)


def encoder_decoder_rule(
    token_accuracy_shortest: float,
    exact_match_shortest: float,
    exact_match_longest: float,
    shortest: int,
    longest: int,
    beam_minus_greedy: float,
    min_acc: float = 0.8,
) -> Verdict:
    """Claim 7: an encoder-decoder with a fixed context C translates, less well as the
    source grows."""
    rule = ENCODER_DECODER_RULE.format(min_acc=min_acc)
    learns = token_accuracy_shortest >= min_acc
    falls = exact_match_longest < exact_match_shortest
    figures = (
        f"greedy token accuracy {token_accuracy_shortest:.3f} at source length {shortest}; "
        f"exact match {exact_match_shortest:.3f} at length {shortest} vs "
        f"{exact_match_longest:.3f} at {longest}; beam minus greedy exact match "
        f"{beam_minus_greedy:+.3f}"
    )
    return Verdict(_both(learns, falls), rule, figures)


# --- the quality bar on real data: ewt_quality (not a lecture claim) ---------------

QUALITY_BAR_RULE = (
    "supported if the BiLSTM-CRF's mean test token accuracy over seeds is >= {bar:.1f}%; "
    "mixed if only some seeds reach it; not supported if none does"
)


def quality_bar_rule(crf: Sequence[float], softmax: Sequence[float], bar: float) -> Verdict:
    """Issue 5's bar: ``crf`` and ``softmax`` hold test token accuracies (%) per seed."""
    rule = QUALITY_BAR_RULE.format(bar=bar)
    if not crf:
        return skipped("no BiLSTM-CRF run", rule)
    mean, half, n = mean_ci95(crf)
    if mean >= bar:
        result = SUPPORTED
    else:
        result = MIXED if max(crf) >= bar else NOT_SUPPORTED
    figures = f"BiLSTM-CRF test accuracy {mean:.2f}% (n={n}{_ci(half)})"
    if softmax:
        s_mean, s_half, s_n = mean_ci95(softmax)
        figures += f"; BiLSTM-softmax {s_mean:.2f}% (n={s_n}{_ci(s_half)})"
    return Verdict(result, rule, f"{figures}; bar {bar:.1f}%")


def _ci(half: float) -> str:
    return f", +- {half:.2f}" if math.isfinite(half) else ""
