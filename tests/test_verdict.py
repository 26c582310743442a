"""Verdict rules on fixtures whose answer is known, each rule both ways (and mixed)."""

from __future__ import annotations

import math

import pytest

from experiments import (
    classification,
    encoder_decoder,
    ewt_quality,
    exact_inference,
    greedy_vs_exact,
    vanishing_gradients,
    word_order,
)
from lab.report import stats as S
from lab.report import verdict as V


def test_mean_ci95_matches_hand_computation() -> None:
    mean, half, n = S.mean_ci95([1.0, 2.0, 3.0])
    # sd = 1, se = 1/sqrt(3), t(0.975, 2) = 4.302653
    assert n == 3 and mean == pytest.approx(2.0)
    assert half == pytest.approx(4.302653 / math.sqrt(3))
    assert S.mean_ci95([5.0])[1] == math.inf
    with pytest.raises(ValueError, match="at least one"):
        S.mean_ci95([])


def test_growth_and_slope_recover_known_laws() -> None:
    ts = [2, 3, 4, 5, 6]
    assert S.growth_per_step(ts, [3.0**t for t in ts]) == pytest.approx(3.0)
    big = [100, 1000, 10000]
    assert S.loglog_slope(big, [2e-3 * t for t in big]) == pytest.approx(1.0)
    assert S.loglog_slope(big, [1e-6 * t * t for t in big]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        S.loglog_slope([10], [1.0])


def test_estimates_and_slopes_over_seeds() -> None:
    est = S.paired_estimate({0: 3.0, 1: 4.0, 2: 5.0}, {0: 1.0, 1: 1.0, 2: 1.0, 7: 9.0})
    assert est.n == 3 and est.mean == pytest.approx(3.0)
    assert est.low == pytest.approx(3.0 - 4.302653 / math.sqrt(3))
    assert "95% CI, 3 seeds" in est.format()
    ts = [10.0, 100.0, 1000.0]
    lin = S.slope_estimate([(ts, [2 * t for t in ts]), (ts, [3 * t for t in ts])], log_x=True)
    assert lin.mean == pytest.approx(1.0) and lin.half == pytest.approx(0.0, abs=1e-12)
    growth = S.slope_estimate([([1, 2, 3], [3.0, 9.0, 27.0])] * 2, log_x=False)
    assert math.exp(growth.mean) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="at least one seed"):
        S.paired_estimate({0: 1.0}, {1: 1.0})


def test_verdict_rejects_unknown_word() -> None:
    with pytest.raises(ValueError, match="verdict must be one of"):
        V.Verdict("probably", "r", "f")


def _curves(ts, law, seeds=3):
    return [(list(ts), [law(t) for t in ts]) for _ in range(seeds)]


def test_exact_inference_rule_both_ways() -> None:
    enum_ts, fb_ts = range(2, 11), [10, 100, 1000, 3000, 10000]
    exp_enum = _curves(enum_ts, lambda t: 3.0**t)
    poly_enum = _curves(enum_ts, lambda t: float(t * t))
    lin_fb = _curves(fb_ts, lambda t: 0.02 * t + 1.0)
    quad_fb = _curves(fb_ts, lambda t: 1e-5 * t * t + 1.0)
    ok = exact_inference.rule(1e-12, 1e-12, exp_enum, lin_fb)
    assert ok.verdict == V.SUPPORTED and "x3.00 per extra token" in ok.key_figures
    assert exact_inference.rule(1e-2, 1e-12, poly_enum, quad_fb).verdict == V.NOT_SUPPORTED
    assert exact_inference.rule(1e-12, 1e-12, exp_enum, quad_fb).verdict == V.MIXED
    assert exact_inference.rule(1e-12, 1e-12, poly_enum, lin_fb).verdict == V.MIXED
    short = _curves([10, 100, 1000], lambda t: 0.02 * t)
    low = exact_inference.rule(1e-12, 1e-12, exp_enum, short)
    assert low.verdict == V.INSUFFICIENT and "T = 1000" in low.key_figures


def test_word_order_rule_both_ways() -> None:
    rnn = {"lstm": [0.99, 1.0, 0.995], "elman": [0.97, 0.98, 0.99]}
    yes = word_order.rule([0.5, 0.5, 0.5], rnn, 0.5, min_unseen=900)
    assert yes.verdict == V.SUPPORTED and "unseen" in yes.key_figures
    no = word_order.rule([0.95, 0.97, 0.96], {"lstm": [0.6, 0.5, 0.55]}, 0.5, 900)
    assert no.verdict == V.NOT_SUPPORTED
    # one recurrent cell that does not tell them apart is enough to withhold "supported"
    half = word_order.rule([0.5] * 3, {**rnn, "gru": [0.5, 0.6, 0.55]}, 0.5, 900)
    assert half.verdict == V.MIXED
    few = word_order.rule([0.5] * 3, rnn, 0.5, min_unseen=20)
    assert few.verdict == V.INSUFFICIENT


def _claim4(elman_acc, gated_acc, elman_grad, other_grad, lags=(5, 20, 50)):
    accuracy = {"elman": {k: elman_acc(k) for k in lags}}
    grads = {"elman": elman_grad}
    for cell in ("residual", "gated", "lstm", "gru"):
        accuracy[cell] = {k: gated_acc(k) for k in lags}
        grads[cell] = other_grad
    return vanishing_gradients.rule(grads, accuracy, 0.25, max(lags))


def test_vanishing_gradients_rule_both_ways() -> None:
    def falls(k):
        return [1.0, 0.99, 1.0] if k == 5 else [0.25, 0.26, 0.24]

    def stays(k):
        return [1.0, 0.98, 0.99]

    vanished, kept, exploded = [-9.0, -8.5, -9.5], [-1.0, -1.2, -0.8], [5.0, 5.5, 4.5]
    yes = _claim4(falls, stays, vanished, kept)
    assert yes.verdict == V.SUPPORTED and "lag 20" in yes.key_figures
    no = _claim4(falls, falls, kept, kept)
    assert no.verdict == V.NOT_SUPPORTED
    # the residual cell's explosion is no "kept" gradient: the gradient half fails
    boom = _claim4(falls, stays, vanished, exploded)
    assert boom.verdict == V.MIXED and "exploded" in boom.key_figures
    untrained = _claim4(lambda k: [0.25, 0.3, 0.2], stays, vanished, kept)
    assert untrained.verdict == V.INSUFFICIENT and "elman" in untrained.key_figures
    assert vanishing_gradients.rule({"elman": [1.0]}, {}, 0.25, 5).verdict == V.SKIPPED


def test_classification_rule_both_ways() -> None:
    acc = {"softmax": [0.93, 0.92, 0.93], "crf": [0.93, 0.93, 0.94]}
    soft, crf = {0: 0.012, 1: 0.011, 2: 0.013}, {0: 0.001, 1: 0.0, 2: 0.002}
    yes = classification.rule(1e-7, 1e-8, soft, crf, acc, 0.45, "synthetic_bio")
    assert yes.verdict == V.SUPPORTED and "softmax - CRF" in yes.key_figures
    same = classification.rule(1e-7, 1e-8, crf, crf, acc, 0.45, "synthetic_bio")
    assert same.verdict == V.NOT_SUPPORTED
    improper = classification.rule(0.3, 0.2, soft, crf, acc, 0.45, "synthetic_bio")
    assert improper.verdict == V.MIXED
    # below the all-O baseline: an untrained tagger's invalid sequences say nothing
    weak = {"softmax": [0.91, 0.91, 0.92], "crf": [0.91, 0.92, 0.91]}
    low = classification.rule(1e-7, 1e-8, soft, crf, weak, 0.926, "wnut17")
    assert low.verdict == V.INSUFFICIENT and "all-O" in low.key_figures


def _claim6(miss, exact_law, greedy_law, ar=0.85, crf=0.86):
    exact = _curves(range(2, 10), exact_law)
    greedy = _curves([10, 25, 50, 100], greedy_law)
    return greedy_vs_exact.rule(miss, exact, greedy, [ar] * 3, [crf] * 3, 0.4, 300)


def test_greedy_vs_exact_rule_both_ways() -> None:
    def expo(t):
        return 0.1 * 3.0**t

    def lin(t):
        return 0.5 * t

    def quad(t):
        return 0.01 * t * t

    assert _claim6([0.1, 0.08, 0.12], expo, lin).verdict == V.SUPPORTED
    assert _claim6([0.0, 0.0, 0.0], lambda t: float(t), quad).verdict == V.NOT_SUPPORTED
    assert _claim6([0.0, 0.0, 0.0], expo, lin).verdict == V.MIXED
    assert _claim6([0.1, 0.08, 0.12], expo, quad).verdict == V.MIXED
    weak = _claim6([0.3, 0.3, 0.3], expo, lin, ar=0.45)
    assert weak.verdict == V.INSUFFICIENT and "autoregressive" in weak.key_figures


def test_encoder_decoder_rule_both_ways() -> None:
    seeds = (0, 1, 2)

    def per_seed(*values):
        return dict(zip(seeds, values, strict=True))

    short, long_ = per_seed(0.97, 0.96, 0.98), per_seed(0.80, 0.78, 0.83)
    greedy, beam = per_seed(0.60, 0.62, 0.58), per_seed(0.65, 0.66, 0.64)
    yes = encoder_decoder.rule(short, long_, beam, greedy, 5, 12)
    assert yes.verdict == V.SUPPORTED and "drop" in yes.key_figures
    no = encoder_decoder.rule(short, short, greedy, greedy, 5, 12)
    assert no.verdict == V.NOT_SUPPORTED
    assert encoder_decoder.rule(short, long_, greedy, greedy, 5, 12).verdict == V.MIXED
    low = per_seed(0.5, 0.4, 0.45)
    assert encoder_decoder.rule(low, low, beam, greedy, 5, 12).verdict == V.INSUFFICIENT


def test_combine() -> None:
    s = V.Verdict(V.SUPPORTED, "r", "a")
    n = V.Verdict(V.NOT_SUPPORTED, "r", "b")
    k = V.skipped("absent")
    i = V.insufficient("untrained", "r")
    assert V.combine([s, s, k], "r").verdict == V.SUPPORTED
    assert V.combine([s, n], "r").verdict == V.MIXED
    assert V.combine([k], "r").verdict == V.SKIPPED
    assert V.combine([n, k], "r").key_figures == "b; absent"
    # a part that could not be judged withholds the whole verdict
    assert V.combine([s, i, k], "r").verdict == V.INSUFFICIENT
    assert i.key_figures == "insufficient: untrained"


def test_quality_bar_rule_both_ways() -> None:
    yes = ewt_quality.rule([95.2, 95.0, 95.1], [94.9], 95.0)
    assert (
        yes.verdict == V.SUPPORTED and "95.10%" in yes.key_figures and "94.90%" in yes.key_figures
    )
    assert ewt_quality.rule([94.5], [94.6], 95.0).verdict == V.NOT_SUPPORTED
    assert ewt_quality.rule([94.8, 95.1], [], 95.0).verdict == V.MIXED
    assert ewt_quality.rule([], [94.6], 95.0).verdict == V.SKIPPED


def test_estimate_format_signs_the_mean_not_the_half_width() -> None:
    est = S.Estimate(0.0013, 0.0007, 3)
    assert est.format("+.2f", 100, " pts") == "+0.13 pts +- 0.07 (95% CI, 3 seeds)"
    assert S.Estimate(-0.5, 0.25, 1).format(".2f") == "-0.50 +- 0.25 (95% CI, 1 seed)"


def test_structured_figures_travel_with_the_verdict() -> None:
    est = S.Estimate(0.5, 0.1, 3)
    assert est.figure("gap", 100) == {"name": "gap", "value": 50.0, "n": 3, "ci": 10.0}
    assert "ci" not in S.Estimate(0.5, math.inf, 1).figure("one seed")
    a = V.Verdict(V.SUPPORTED, "r", "a", (est.figure("x"),))
    b = V.Verdict(V.SUPPORTED, "r", "b", (V.figure("exact", 1, exact=True),))
    both = V.combine([a, b], "r")
    assert [f["name"] for f in both.as_dict()["figures"]] == ["x", "exact"]
    assert a.with_key_figures("more").figures == a.figures
    assert "figures" not in V.Verdict(V.MIXED, "r", "k").as_dict()
