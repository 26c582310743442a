"""Metrics on hand-made predictions equal hand-computed values; span F1 equals seqeval."""

from __future__ import annotations

import math
import random

import pytest
import torch

from lab.training import metrics


def test_token_and_sentence_accuracy():
    gold = [[0, 1, 2], [1, 1]]
    pred = [[0, 2, 2], [1, 1]]
    assert metrics.token_accuracy(gold, pred) == pytest.approx(4 / 5)
    assert metrics.sentence_accuracy(gold, pred) == pytest.approx(1 / 2)


def test_misaligned_inputs_raise():
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        metrics.token_accuracy([[0], [1, 1]], [[0], [1]])
    with pytest.raises(ValueError, match="predicted"):
        metrics.sentence_accuracy([[0]], [])


def test_unpad():
    padded = torch.tensor([[1, 2, 0], [3, 0, 0]])
    assert metrics.unpad(padded, torch.tensor([2, 1])) == [[1, 2], [3]]
    with pytest.raises(ValueError, match="lengths must be in"):
        metrics.unpad(padded, [4, 1])
    with pytest.raises(ValueError, match="lengths must be in"):
        metrics.unpad(padded, [-1, 1])


def test_bio_spans_follow_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-X"]
    assert metrics.bio_spans(tags) == [
        ("PER", 0, 1),
        ("LOC", 3, 4),
        ("LOC", 5, 5),
        ("ORG", 6, 6),
        ("X", 7, 7),
    ]
    with pytest.raises(ValueError, match="BIO tag"):
        metrics.bio_spans(["B-PER", "NOUN"])


def test_span_prf_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "I-ORG"]]
    # gold spans: PER(0,1), LOC(3,3), ORG(1,1); predicted: PER(0,1), ORG(0,1); 1 correct
    r = metrics.span_prf(gold, pred)
    assert (r["n_gold"], r["n_pred"], r["n_correct"]) == (3, 2, 1)
    assert r["precision"] == pytest.approx(1 / 2)
    assert r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_span_prf_no_predictions_is_zero():
    r = metrics.span_prf([["B-PER"]], [["O"]])
    assert (r["precision"], r["recall"], r["f1"]) == (0.0, 0.0, 0.0)


def test_invalid_transition_rate():
    pred = [["I-PER", "I-PER", "O", "B-LOC", "I-PER"], ["B-X", "I-X"]]
    # invalid: token 0 (I after start), token 4 (I-PER after B-LOC) -> 2 of 7 tokens
    assert metrics.invalid_transition_rate(pred) == pytest.approx(2 / 7)


def test_is_bio_tagset():
    from lab.data.tagset import is_bio_tagset

    assert is_bio_tagset(["O", "B-PER", "I-PER"])
    assert not is_bio_tagset(["NOUN", "VERB"])
    assert not is_bio_tagset(["O"])


def test_nll_brier_ece_hand_computed():
    # confidences away from bin edges, so that float rounding cannot move a token
    probs = torch.tensor([[0.95, 0.05], [0.65, 0.35], [0.25, 0.75], [0.15, 0.85]])
    gold = torch.tensor([0, 1, 1, 1])
    nll = -(math.log(0.95) + math.log(0.35) + math.log(0.75) + math.log(0.85)) / 4
    assert metrics.nll_per_token(probs, gold) == pytest.approx(nll)
    brier = (2 * 0.05**2 + 2 * 0.65**2 + 2 * 0.25**2 + 2 * 0.15**2) / 4
    assert metrics.brier_score(probs, gold) == pytest.approx(brier)
    # 2 bins (0, .5], (.5, 1]: every confidence (.95, .65, .75, .85) is in bin 1;
    # accuracy there 3/4, mean confidence 0.8 -> ECE |0.75 - 0.8|
    ece2 = metrics.expected_calibration_error(probs, gold, n_bins=2)
    assert ece2 == pytest.approx(0.05)
    # 10 bins: one token each: {.95: right}, {.65: wrong}, {.75: right}, {.85: right}
    ece = (abs(1 - 0.95) + abs(0 - 0.65) + abs(1 - 0.75) + abs(1 - 0.85)) / 4
    assert metrics.expected_calibration_error(probs, gold, n_bins=10) == pytest.approx(ece)


def test_probability_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"probs \(N, C\)"):
        metrics.brier_score(torch.ones(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="gold tag ids"):
        metrics.nll_per_token(torch.ones(2, 2) / 2, torch.tensor([0, 2]))


def test_accuracy_by_oov_and_length():
    gold = [[0, 1, 2], [1]]
    pred = [[0, 0, 2], [0]]
    tokens = [["the", "cat", "zorp"], ["blick"]]
    r = metrics.accuracy_by_oov(gold, pred, tokens, known={"the", "cat"})
    assert r["in_vocab_accuracy"] == pytest.approx(1 / 2)
    assert r["oov_accuracy"] == pytest.approx(1 / 2)
    assert r["oov_rate"] == pytest.approx(2 / 4)
    assert r["n_oov"] == 2
    by_len = metrics.accuracy_by_length(gold, pred, edges=(1, 2))
    assert by_len["1-1"] == {"accuracy": 0.0, "sentences": 1, "tokens": 1}
    assert math.isnan(by_len["2-2"]["accuracy"])
    assert by_len["3+"]["accuracy"] == pytest.approx(2 / 3)


def test_span_prf_agrees_with_seqeval_on_wnut17(shared_data):
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    from lab.data import read_corpus

    gold = [list(s.tags) for s in read_corpus(shared_data / "wnut17" / "emerging.dev.conll.gz")]
    assert len(gold) == 1009
    names = sorted({t for s in gold for t in s})
    rng = random.Random(0)
    # perturbations that make every kind of BIO error, invalid I- starts included
    pred = [[rng.choice(names) if rng.random() < 0.15 else t for t in s] for s in gold]
    r = metrics.span_prf(gold, pred)
    assert 0 < r["f1"] < 1
    assert r["precision"] == pytest.approx(seqeval_metrics.precision_score(gold, pred))
    assert r["recall"] == pytest.approx(seqeval_metrics.recall_score(gold, pred))
    assert r["f1"] == pytest.approx(seqeval_metrics.f1_score(gold, pred))


def test_bayes_optimal_accuracy_maps_names_and_rejects_unknown_words():
    from lab.data import Sentence, synthetic_hmm

    sentences, params = synthetic_hmm(50, seed=4)
    bayes = metrics.bayes_optimal_accuracy(sentences, params)
    assert 0 < bayes["sentence_accuracy"] <= bayes["token_accuracy"] <= 1
    with pytest.raises(ValueError, match="'zzz' is not a word or tag of this HMM"):
        metrics.bayes_optimal_accuracy([Sentence(["zzz"], ["T0"])], params)
