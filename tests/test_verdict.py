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
    learning_curve,
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


def test_verdict_rejects_unknown_word() -> None:
    with pytest.raises(ValueError, match="verdict must be one of"):
        V.Verdict("probably", "r", "f")


def test_exact_inference_rule_both_ways() -> None:
    ok = exact_inference.rule(1e-12, 1e-12, enum_growth=3.0, fb_slope=1.0)
    assert ok.verdict == V.SUPPORTED
    bad = exact_inference.rule(1e-2, 1e-12, enum_growth=1.0, fb_slope=2.0)
    assert bad.verdict == V.NOT_SUPPORTED
    mixed = exact_inference.rule(1e-12, 1e-12, enum_growth=1.1, fb_slope=1.0)
    assert mixed.verdict == V.MIXED
    assert "enumeration" in ok.rule and "1.0e-12" in ok.key_figures


def test_learning_curve_rule_both_ways() -> None:
    shrinks = learning_curve.rule([0.10, 0.12, 0.11], [0.001, -0.002, 0.0], 100, 10000)
    assert shrinks.verdict == V.SUPPORTED
    stays = learning_curve.rule([0.05, 0.05, 0.05], [0.08, 0.081, 0.079], 100, 10000)
    assert stays.verdict == V.NOT_SUPPORTED
    # shrinks but still clearly above zero
    partial = learning_curve.rule([0.10, 0.11, 0.12], [0.05, 0.051, 0.049], 100, 10000)
    assert partial.verdict == V.MIXED
    assert "10000" in shrinks.key_figures and "BiLSTM-CRF" in shrinks.rule
    assert learning_curve.rule([], [0.1], 1, 2).verdict == V.SKIPPED
    # one seed has no CI: a gap that stays 5 points up must not read as "caught up"
    assert learning_curve.rule([0.10], [0.05], 100, 10000).verdict == V.SKIPPED


def test_word_order_rule_both_ways() -> None:
    yes = word_order.rule([0.5, 0.52], {"lstm": [0.99, 1.0], "elman": [0.7, 0.8]}, 0.5)
    assert yes.verdict == V.SUPPORTED and "lstm" in yes.key_figures
    no = word_order.rule([0.95, 0.97], {"lstm": [0.6, 0.5]}, 0.5)
    assert no.verdict == V.NOT_SUPPORTED
    assert word_order.rule([0.5], {"lstm": [0.6]}, 0.5).verdict == V.MIXED


def test_vanishing_gradients_rule_both_ways() -> None:
    grads = {"elman": 1e-8, "residual": 1e-1, "gated": 1e-3, "lstm": 1e-6}
    yes = vanishing_gradients.rule(grads, {"elman": 0.3, "lstm": 0.9}, 50, [5, 20])
    assert yes.verdict == V.SUPPORTED
    flat = {"elman": 1e-2, "residual": 1e-2, "gated": 1e-2}
    no = vanishing_gradients.rule(flat, {"elman": 0.9, "gated": 0.9}, 50, [5, 20])
    assert no.verdict == V.NOT_SUPPORTED
    half = vanishing_gradients.rule(grads, {"elman": 0.9, "gated": 0.9}, 50, [5, 20])
    assert half.verdict == V.MIXED
    assert vanishing_gradients.rule({"elman": 1.0}, {}, 5, [5]).verdict == V.SKIPPED


def test_classification_rule_both_ways() -> None:
    yes = classification.rule(1e-7, 1e-8, 0.05, 0.0, "WNUT 17")
    assert yes.verdict == V.SUPPORTED
    no = classification.rule(0.3, 0.2, 0.05, 0.0, "WNUT 17")
    assert no.verdict == V.NOT_SUPPORTED
    assert classification.rule(1e-7, 1e-8, 0.0, 0.0, "x").verdict == V.MIXED


def test_greedy_vs_exact_rule_both_ways() -> None:
    assert greedy_vs_exact.rule(0.1, 200, 4.0, 1.0).verdict == V.SUPPORTED
    assert greedy_vs_exact.rule(0.0, 200, 1.0, 2.0).verdict == V.NOT_SUPPORTED
    assert greedy_vs_exact.rule(0.0, 200, 4.0, 1.0).verdict == V.MIXED


def test_encoder_decoder_rule_both_ways() -> None:
    assert encoder_decoder.rule(0.95, 0.9, 0.3, 3, 12, 0.01).verdict == V.SUPPORTED
    assert encoder_decoder.rule(0.2, 0.1, 0.2, 3, 12, 0.0).verdict == V.NOT_SUPPORTED
    assert encoder_decoder.rule(0.95, 0.9, 0.95, 3, 12, 0.0).verdict == V.MIXED


def test_combine() -> None:
    s = V.Verdict(V.SUPPORTED, "r", "a")
    n = V.Verdict(V.NOT_SUPPORTED, "r", "b")
    k = V.skipped("absent")
    assert V.combine([s, s, k], "r").verdict == V.SUPPORTED
    assert V.combine([s, n], "r").verdict == V.MIXED
    assert V.combine([k], "r").verdict == V.SKIPPED
    assert V.combine([n, k], "r").key_figures == "b; absent"


def test_quality_bar_rule_both_ways() -> None:
    yes = ewt_quality.rule([95.2, 95.0, 95.1], [94.9], 95.0)
    assert (
        yes.verdict == V.SUPPORTED and "95.10%" in yes.key_figures and "94.90%" in yes.key_figures
    )
    assert ewt_quality.rule([94.5], [94.6], 95.0).verdict == V.NOT_SUPPORTED
    assert ewt_quality.rule([94.8, 95.1], [], 95.0).verdict == V.MIXED
    assert ewt_quality.rule([], [94.6], 95.0).verdict == V.SKIPPED
