"""Inference and training cost figures: complete, consistent, labelled with their setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lab.data import Vocabs, make_batches, synthetic_hmm
from lab.models import ModelConfig, build_model
from lab.training.cost import measure_inference, process_peak_rss_mb, training_cost
from lab.training.fit import FitResult


@pytest.fixture(scope="module")
def crf_and_batches():
    sentences, _ = synthetic_hmm(40, seed=3)
    vocabs = Vocabs.build(sentences, chars=False)
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(head="crf", embedding_dim=8, hidden=8), len(vocabs.words), len(vocabs.tags)
    )
    return model, make_batches(sentences, vocabs, batch_size=16), sentences


@pytest.mark.parametrize("method", [None, "viterbi", "max_marginal"])
def test_measure_inference_reports_every_figure(crf_and_batches, method):
    model, batches, sentences = crf_and_batches
    model.train()
    r = measure_inference(model, batches, method=method, repeats=3, warmup=1)
    assert model.training  # the model's mode is restored
    assert r["method"] == (method or "viterbi")
    assert r["n_sentences"] == len(sentences) == 40
    assert r["n_tokens"] == sum(len(s) for s in sentences)
    assert r["batch_size"] == 16 and r["device"] == "cpu"
    assert r["threads"] == torch.get_num_threads()
    assert len(r["seconds_all"]) == 3
    assert min(r["seconds_all"]) <= r["seconds_median"] <= max(r["seconds_all"])
    assert r["tokens_per_s"] == pytest.approx(r["n_tokens"] / r["seconds_median"])
    assert r["ms_per_sentence"] == pytest.approx(1000 * r["seconds_median"] / 40)
    assert r["memory_kind"] == "process_peak_rss" and r["peak_memory_mb"] > 1


def test_measure_inference_rejects_bad_arguments(crf_and_batches):
    model, batches, _ = crf_and_batches
    with pytest.raises(ValueError, match="no decoder 'beam'"):
        measure_inference(model, batches, method="beam")
    with pytest.raises(ValueError, match="repeats must be"):
        measure_inference(model, batches, repeats=0)
    with pytest.raises(ValueError, match="at least one batch"):
        measure_inference(model, [])


def test_process_peak_rss_matches_the_kernel_high_water_mark():
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc on this system")
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    assert float(block.sum()) > 0
    hwm_kib = next(
        int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM")
    )
    assert process_peak_rss_mb() == pytest.approx(hwm_kib / 1024, rel=0.05)
    assert process_peak_rss_mb() > 64


def test_training_cost_from_fit_result():
    result = FitResult(
        best_dev_metric=0.9,
        best_epoch=3,
        epochs=5,
        train_seconds=10.0,
        train_tokens_per_s=1234.0,
        seconds_to_best=6.5,
        stopped_reason="patience",
        device="cpu",
        threads=2,
        batch_size=32,
    )
    assert training_cost(result) == {
        "train_tokens_per_s": 1234.0,
        "train_seconds": 10.0,
        "seconds_to_best": 6.5,
        "epochs": 5,
        "best_epoch": 3,
        "stopped_reason": "patience",
        "device": "cpu",
        "threads": 2,
        "batch_size": 32,
    }
