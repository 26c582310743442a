"""Each claim's rule, proved by simulation: on 1,000 synthetic record sets drawn where the
claim is false (a null), it says "supported" in <= 5% of them; drawn where the claim is
true at the effect sizes and seed-to-seed spreads the committed runs observed
(results/<claim>/, results/standard/<claim>/), it says "supported" in >= 80%.

Draws are vectorised numpy; the rule is called once per draw on the figures it reads
(per-seed values, as summarize hands them over). The nulls sit at the rule's boundary
where one exists (e.g. a bag of words exactly ``margin`` above chance): the hardest case
for a CI-based threshold, which then says "supported" about 2.5% of the time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from experiments import (
    classification,
    encoder_decoder,
    exact_inference,
    greedy_vs_exact,
    vanishing_gradients,
    word_order,
)
from lab.report import verdict as V

DRAWS = 1000
MAX_FALSE_POSITIVE = 0.05
MIN_POWER = 0.80


def supported_rate(call: Callable[[int], V.Verdict], draws: int = DRAWS) -> float:
    """The fraction of draws ``i`` whose verdict ``call(i)`` is "supported"."""
    return sum(call(i).verdict == V.SUPPORTED for i in range(draws)) / draws


def lognormal_curves(rng, ts, law, sigma: float, seeds: int):
    """(DRAWS, seeds, len(ts)) times law(T) * exp(N(0, sigma)): timing noise on a shared
    machine is multiplicative."""
    base = np.array([law(t) for t in ts], dtype=float)
    return base * np.exp(rng.normal(0.0, sigma, size=(DRAWS, seeds, len(ts))))


def as_curves(ts, times_one_draw):
    return [(list(map(float, ts)), list(map(float, row))) for row in times_one_draw]


# --- claim 1 -----------------------------------------------------------------------

ENUM_TS = list(range(2, 11))
FB_TS = [10, 30, 100, 300, 1000, 3000, 10000]
# observed (results/exact_inference, quick): enumeration ~0.5 ms + 3^T x 9.5 us; forward-
# backward ~0.9 ms + 17 us per token; seed-to-seed scatter of a timing ~20% (log sd 0.2)
TIMING_SIGMA = 0.2


def enum_law(t: int) -> float:
    return 0.5 + 9.5e-3 * 3.0**t


def fb_law(t: int) -> float:
    return 0.9 + 0.017 * t


def _claim1(enum, fb, err: float = 1e-14):
    return lambda i: exact_inference.rule(
        err, err, as_curves(ENUM_TS, enum[i]), as_curves(FB_TS, fb[i])
    )


@pytest.mark.parametrize("seeds", [3, 5])
def test_exact_inference_rule_power(seeds: int) -> None:
    rng = np.random.default_rng(1)
    enum = lognormal_curves(rng, ENUM_TS, enum_law, TIMING_SIGMA, seeds)
    fb = lognormal_curves(rng, FB_TS, fb_law, TIMING_SIGMA, seeds)
    assert supported_rate(_claim1(enum, fb)) >= MIN_POWER


@pytest.mark.parametrize(
    "null",
    [
        "enumeration polynomial (T^3)",
        "forward-backward superlinear (T^1.5)",
        "forward-backward inexact",
    ],
)
def test_exact_inference_rule_null(null: str) -> None:
    rng = np.random.default_rng(2)
    enum_l, fb_l, err = enum_law, fb_law, 1e-14
    if null.startswith("enumeration"):

        def enum_l(t):
            return 0.5 + 1e-3 * t**3

    elif "superlinear" in null:

        def fb_l(t):
            return 0.9 + 0.017 * t**1.5 / 10.0

    else:
        err = 1e-3
    enum = lognormal_curves(rng, ENUM_TS, enum_l, TIMING_SIGMA, 3)
    fb = lognormal_curves(rng, FB_TS, fb_l, TIMING_SIGMA, 3)
    assert supported_rate(_claim1(enum, fb, err)) <= MAX_FALSE_POSITIVE


# --- claim 3 -----------------------------------------------------------------------

RNN_CELLS = ("elman", "residual", "gated", "lstm", "gru")
# observed: bag of words exactly 0.5 on pair-complete test sets; every RNN >= 0.99 with a
# seed sd <= 0.01
RNN_MEAN, RNN_SD = 0.99, 0.01


def _claim3(bow_mean, bow_sd, rnn_means, rnn_sd, seeds=3):
    rng = np.random.default_rng(3)
    bow = rng.normal(bow_mean, bow_sd, size=(DRAWS, seeds))
    rnn = np.clip(
        np.asarray(rnn_means)[None, :, None]
        + rng.normal(0, rnn_sd, size=(DRAWS, len(rnn_means), seeds)),
        0,
        1,
    )
    return lambda i: word_order.rule(
        list(bow[i]), {c: list(rnn[i, j]) for j, c in enumerate(RNN_CELLS)}, 0.5, 900
    )


def test_word_order_rule_power() -> None:
    assert supported_rate(_claim3(0.5, 0.005, [RNN_MEAN] * 5, RNN_SD)) >= MIN_POWER


@pytest.mark.parametrize("null", ["bag of words above chance", "one RNN cell at 0.9"])
def test_word_order_rule_null(null: str) -> None:
    if null.startswith("bag"):  # exactly at the band's edge: chance + margin
        call = _claim3(0.5 + word_order.MARGIN, 0.02, [RNN_MEAN] * 5, RNN_SD)
    else:
        call = _claim3(0.5, 0.005, [word_order.RNN_MIN] + [RNN_MEAN] * 4, 0.03)
    assert supported_rate(call) <= MAX_FALSE_POSITIVE


# --- claim 4 -----------------------------------------------------------------------

LAGS = (5, 10, 20, 50, 100)
# A seed either learns a lag or stays at chance (results/standard/vanishing_gradients:
# query accuracy 0.99-1.0 or 0.20-0.30), so a run is drawn as learned with a probability
# per lag: accuracy ~1.0 (sd 0.005) if it learned, chance 0.25 (sd 0.03) if not. Observed
# (standard, fixed budget): Elman learns lag 5 and, in some seeds, 10; the gated family
# learns to lag 20 in every seed and beyond in some. Trained log10 relative gradient
# norms at the largest distance: Elman -13 to -18 (sd ~2), a cell that keeps it -0.5 to
# +0.5 (sd ~0.3). (The standard fixed-budget grid found the gated cells' trained norms at
# distance 100 bimodal instead: kept where a seed learned lag 100, shut, -15 to -19, where
# it did not; that lowers the gradient half's power, not the rule's false-positive rate.)
P_ELMAN = {5: 1.0, 10: 0.4, 20: 0.0, 50: 0.0, 100: 0.0}
P_GATED = {5: 1.0, 10: 1.0, 20: 0.98, 50: 0.6, 100: 0.3}
ELMAN_LOG_SD, KEPT_LOG_SD = 2.0, 0.3


def _bimodal(rng, p: float, seeds: int):
    """(DRAWS, seeds) query accuracies: learned with probability p, else at chance."""
    learned = rng.random((DRAWS, seeds)) < p
    high = np.clip(1.0 - np.abs(rng.normal(0, 0.005, (DRAWS, seeds))), 0, 1)
    low = np.clip(0.25 + rng.normal(0, 0.03, (DRAWS, seeds)), 0, 1)
    return np.where(learned, high, low)


def _claim4(p_cell, elman_log10, other_log10, seeds=5, seed=4):
    """``p_cell(cell) -> {lag: probability of learning it}``."""
    rng = np.random.default_rng(seed)
    cells = ("elman", "residual", "gated", "lstm", "gru")
    acc = {c: {k: _bimodal(rng, p_cell(c)[k], seeds) for k in LAGS} for c in cells}
    grads = {
        c: (elman_log10 if c == "elman" else other_log10)
        + rng.normal(0, ELMAN_LOG_SD if c == "elman" else KEPT_LOG_SD, size=(DRAWS, seeds))
        for c in cells
    }
    return lambda i: vanishing_gradients.rule(
        {c: list(g[i]) for c, g in grads.items()},
        {c: {k: list(v[i]) for k, v in a.items()} for c, a in acc.items()},
        0.25,
        max(LAGS),
    )


def observed(cell: str) -> dict:
    return P_ELMAN if cell == "elman" else P_GATED


@pytest.mark.parametrize("seeds", [3, 5])
def test_vanishing_gradients_rule_power(seeds: int) -> None:
    call = _claim4(observed, -15.0, 0.0, seeds=seeds)
    assert supported_rate(call) >= MIN_POWER


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize(
    "null",
    [
        "gated cells learn as often as Elman (rate 0.2)",
        "gated cells learn as often as Elman (rate 0.5)",
        "gated cells learn as often as Elman (rate 0.8)",
        "the LSTM no better than Elman, the others learn",
        "Elman gradient at the vanishing edge",
        "residual gradient at the explosion edge",
    ],
)
def test_vanishing_gradients_rule_null(null: str, seeds: int) -> None:
    lo, hi = vanishing_gradients.BAND
    if null.startswith("gated cells learn as often"):
        rate = float(null.split("rate ")[1].rstrip(")"))
        same = {k: (1.0 if k == 5 else rate) for k in LAGS}  # validity holds at lag 5
        call = _claim4(lambda c: same, -15.0, 0.0, seeds=seeds)
    elif null.startswith("the LSTM"):
        call = _claim4(lambda c: P_ELMAN if c in ("elman", "lstm") else P_GATED, -15.0, 0.0,
                       seeds=seeds)  # fmt: skip
    elif null.startswith("Elman gradient"):
        call = _claim4(observed, lo, 0.0, seeds=seeds)
    else:
        call = _claim4(observed, -15.0, hi, seeds=seeds)
    assert supported_rate(call) <= MAX_FALSE_POSITIVE


def test_vanishing_gradients_rule_not_supported_only_on_evidence() -> None:
    """Neither half holding reads "not supported" only where the runs contradict one;
    both halves undecided (quick's 3 seeds and short budget) read "insufficient"."""
    lags = (5, 10, 20)
    ok, chance = [1.0, 0.99, 1.0], [0.25, 0.24, 0.27]

    def acc(elman: list, gated: list) -> dict:
        cells = ("elman", "residual", "gated", "lstm", "gru")
        return {c: {k: (ok if k == 5 else elman if c == "elman" else gated) for k in lags}
                for c in cells}  # fmt: skip

    one_of_three = [1.0, 0.26, 0.25]
    spread = {c: [-20.0, -1.0, 0.5] for c in ("elman", "residual", "gated", "lstm", "gru")}
    undecided = vanishing_gradients.rule(spread, acc(chance, one_of_three), 0.25, 20)
    assert undecided.verdict == "insufficient"
    kept = {c: [0.1, -0.2, 0.0] for c in spread}  # the Elman RNN kept its gradient
    contradicted = vanishing_gradients.rule(kept, acc(chance, one_of_three), 0.25, 20)
    assert contradicted.verdict == "not supported"
    elman_learns = vanishing_gradients.rule(spread, acc(ok, chance), 0.25, 20)
    assert elman_learns.verdict == "not supported"  # the Elman RNN is never at chance


# --- claim 5 -----------------------------------------------------------------------

# observed (synthetic BIO, standard): softmax 0.13% invalid transitions per token, the
# unconstrained CRF 0.03%; seed sd of the paired difference ~0.04 points
SOFTMAX_INVALID, CRF_INVALID, INVALID_SD = 0.0013, 0.0003, 0.0004
ACCURACY = {"softmax": [0.93] * 5, "crf": [0.93] * 5}


def _claim5(soft_mean, crf_mean, seeds=5):
    rng = np.random.default_rng(5)
    shared = rng.normal(0, INVALID_SD / 2, size=(DRAWS, seeds))  # the seed's own data
    soft = np.clip(soft_mean + shared + rng.normal(0, INVALID_SD, (DRAWS, seeds)), 0, None)
    crf = np.clip(crf_mean + shared + rng.normal(0, INVALID_SD / 2, (DRAWS, seeds)), 0, None)
    return lambda i: classification.rule(
        1e-7,
        1e-8,
        dict(enumerate(soft[i])),
        dict(enumerate(crf[i])),
        ACCURACY,
        0.45,
        "synthetic_bio",
    )


def test_classification_rule_power() -> None:
    assert supported_rate(_claim5(SOFTMAX_INVALID, CRF_INVALID)) >= MIN_POWER


def test_classification_rule_null() -> None:
    # the softmax no more often invalid than the CRF
    assert supported_rate(_claim5(SOFTMAX_INVALID, SOFTMAX_INVALID)) <= MAX_FALSE_POSITIVE


# --- claim 6 -----------------------------------------------------------------------

EXACT_TS, GREEDY_TS = list(range(2, 10)), [10, 25, 50, 100]
# observed (quick): greedy misses ~10% of sentences, seed sd ~3 points; exact ~0.05 ms x
# 3^T; greedy ~0.3 ms + 0.05 ms per token
MISS_MEAN, MISS_SD = 0.10, 0.03


def _claim6(miss_mean, exact_law, greedy_law, seeds=3):
    rng = np.random.default_rng(6)
    miss = np.clip(miss_mean + rng.normal(0, MISS_SD, (DRAWS, seeds)), 0, 1)
    if miss_mean == 0:
        miss = np.zeros_like(miss)  # no misses at all: the rate is exactly 0
    exact = lognormal_curves(rng, EXACT_TS, exact_law, TIMING_SIGMA, seeds)
    greedy = lognormal_curves(rng, GREEDY_TS, greedy_law, TIMING_SIGMA, seeds)
    return lambda i: greedy_vs_exact.rule(
        list(miss[i]),
        as_curves(EXACT_TS, exact[i]),
        as_curves(GREEDY_TS, greedy[i]),
        [0.85] * seeds,
        [0.86] * seeds,
        0.4,
        300,
    )


def exact_law(t: int) -> float:
    return 0.2 + 0.05 * 3.0**t


def greedy_law(t: int) -> float:
    return 0.3 + 0.05 * t


def test_greedy_vs_exact_rule_power() -> None:
    assert supported_rate(_claim6(MISS_MEAN, exact_law, greedy_law)) >= MIN_POWER


@pytest.mark.parametrize("null", ["greedy never misses", "greedy quadratic", "exact polynomial"])
def test_greedy_vs_exact_rule_null(null: str) -> None:
    miss, ex, gr = MISS_MEAN, exact_law, greedy_law
    if null == "greedy never misses":
        miss = 0.0
    elif null == "greedy quadratic":

        def gr(t):
            return 0.3 + 0.002 * t * t

    else:

        def ex(t):
            return 0.2 + 0.05 * t**3

    assert supported_rate(_claim6(miss, ex, gr)) <= MAX_FALSE_POSITIVE


# --- claim 7 -----------------------------------------------------------------------

# observed (standard): greedy token accuracy ~0.97 at length 5 vs ~0.85 at 12 (paired sd
# of the drop ~0.03); beam minus greedy exact match ~+0.02 (paired sd ~0.01)
DROP, DROP_SD, GAIN, GAIN_SD = 0.12, 0.03, 0.02, 0.01


def _claim7(drop, gain, seeds=5):
    rng = np.random.default_rng(7)
    short = np.clip(0.97 + rng.normal(0, 0.01, (DRAWS, seeds)), 0, 1)
    long_ = short - drop - rng.normal(0, DROP_SD, (DRAWS, seeds))
    greedy = 0.6 + rng.normal(0, 0.03, (DRAWS, seeds))
    beam = greedy + gain + rng.normal(0, GAIN_SD, (DRAWS, seeds))
    return lambda i: encoder_decoder.rule(
        dict(enumerate(short[i])),
        dict(enumerate(long_[i])),
        dict(enumerate(beam[i])),
        dict(enumerate(greedy[i])),
        5,
        12,
    )


def test_encoder_decoder_rule_power() -> None:
    assert supported_rate(_claim7(DROP, GAIN)) >= MIN_POWER


@pytest.mark.parametrize("null", ["no drop with length", "beam no better than greedy"])
def test_encoder_decoder_rule_null(null: str) -> None:
    call = _claim7(0.0, GAIN) if null.startswith("no drop") else _claim7(DROP, 0.0)
    assert supported_rate(call) <= MAX_FALSE_POSITIVE
