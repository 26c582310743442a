"""Every lecture experiment at the tiny scale: its runs finish, its summary writes its
tables (Markdown + CSV) and plots (PNG), and its verdict comes from the stated rule."""

from __future__ import annotations

import json

import pytest

from experiments._common import has_scale, pick
from lab.cli.reproduce import CLAIMS
from lab.report.verdict import VERDICTS
from lab.runs import experiment
from lab.runs.experiment import SCALES
from lab.runs.sweep import run_sweep

SIX = (
    "exact_inference",
    "word_order",
    "vanishing_gradients",
    "classification",
    "greedy_vs_exact",
    "encoder_decoder",
)
CONTEXT = {"command": "pytest", "scale": "tiny", "seeds": [0], "device": "cpu", "commit": "test"}


def test_every_claim_has_a_script_with_the_protocol() -> None:
    assert set(CLAIMS) <= set(experiment.available())
    for name in CLAIMS:
        module = experiment.load(name)
        assert module.NAME == name and len(module.CLAIM) > 40
        scales = [s for s in SCALES if has_scale(module.grid, s)]
        assert {"tiny", "quick", "full"} <= set(scales)
        for scale in scales:
            configs = module.grid(scale)
            assert configs and all("seed" in c for c in configs)
            if name in SIX:  # (learning_curve's time caps are another issue's)
                # no wall-clock cap decides a run that feeds a verdict: a safety net only
                assert all((c.get("max_seconds") or 60) >= 60 for c in configs), name
        # bigger scales never have fewer runs than smaller ones (standard sits between
        # quick and full in cost, not necessarily in runs: it is left out)
        sizes = [len(module.grid(s)) for s in ("tiny", "quick", "full")]
        assert sizes == sorted(sizes)
        with pytest.raises(ValueError, match="unknown scale"):
            module.grid("huge")


def test_standard_scale_for_the_six_claims_and_a_clear_error_elsewhere() -> None:
    for name in SIX:
        configs = experiment.load(name).grid("standard")
        assert configs and len({c["seed"] for c in configs}) >= 3
    # an experiment without one says so by name (its grid calls pick without standard=)
    namespace = {"NAME": "no_standard_here", "pick": pick}
    exec("def grid(scale):\n    return pick(scale, 1, 2, 3)", namespace)
    assert namespace["grid"]("quick") == 2
    with pytest.raises(ValueError, match="no_standard_here has no standard scale"):
        namespace["grid"]("standard")
    assert not has_scale(namespace["grid"], "standard")


@pytest.mark.parametrize("name", CLAIMS)
def test_experiment_runs_at_tiny_scale(name: str, tmp_path) -> None:
    module = experiment.load(name)
    configs = [dict(c, device="cpu") for c in module.grid("tiny")]
    records = run_sweep(name, configs, tmp_path, progress=False)
    failed = [r["error"] for r in records if r["status"] != "ok"]
    assert not failed, failed[0]
    summary = module.summarize(records, tmp_path, CONTEXT)
    assert summary["verdict"] in VERDICTS and summary["verdict"] != "skipped", summary
    assert summary["rule"] and summary["key_figures"]
    tables = sorted(tmp_path.glob("*.md"))
    assert tables and all(t.with_suffix(".csv").is_file() for t in tables)
    assert "pytest" in tables[0].read_text()  # states how it was made
    plots = list(tmp_path.glob("*.png"))
    assert plots and all(p.stat().st_size > 1000 for p in plots)
    # a rerun finds every run done: nothing is recomputed, the records are the same
    again = run_sweep(name, configs, tmp_path, progress=False)
    assert [r["id"] for r in again] == [r["id"] for r in records]


@pytest.mark.parametrize("cell", ["elman", "residual", "gated", "lstm", "gru"])
def test_unrolled_states_equal_the_encoders_own(cell: str) -> None:
    """The gradient probe of vanishing_gradients unrolls each encoder step by step; its
    states must be the encoder's own (else it would measure another network)."""
    import torch

    from lab.models.encoders import build_encoder

    probe = experiment.load("vanishing_gradients")
    torch.manual_seed(0)
    encoder = build_encoder(cell, 5, 4)
    x = torch.randn(3, 6, 5)
    mask = torch.ones(3, 6, dtype=torch.bool)
    expected = encoder(x, mask, mask.sum(1))  # (B, T, H)
    states = probe.unrolled_states(encoder, x)
    got = torch.stack([parts[0].reshape(3, 4) for parts in states], 1)
    torch.testing.assert_close(got, expected)


def test_gradient_norms_vanish_for_a_contracting_elman_cell() -> None:
    """With recurrent weights scaled down, d loss_T / d h_t must shrink geometrically
    with the distance; with a residual cell it must not."""
    import torch

    from lab.data import TagVocab, Vocab, Vocabs, long_range_corpus
    from lab.models import ModelConfig, build_model

    probe = experiment.load("vanishing_gradients")
    sentences = long_range_corpus(8, 12, seed=0, extra_length=0)
    tags = sorted({t for s in sentences for t in s.tags})
    vocabs = Vocabs(words=Vocab.build([s.tokens for s in sentences]), tags=TagVocab(tags))
    norms = {}
    for cell in ("elman", "residual"):
        torch.manual_seed(0)
        config = ModelConfig(encoder=cell, bidirectional=False, hidden=8, embedding_dim=8)
        model = build_model(config, len(vocabs.words), len(vocabs.tags))
        with torch.no_grad():
            model.encoder.layers[0][0].recurrent.mul_(0.2)
        norms[cell] = probe.gradient_norms(model, sentences, vocabs)
    assert len(norms["elman"]) == 13 and norms["elman"][0] == pytest.approx(1.0)
    assert norms["elman"][-1] < 1e-4 < norms["residual"][-1]


def test_timing_runs_pin_threads_and_restore_them() -> None:
    """The timing experiments run on one thread (recorded in their configs) and leave the
    process's thread count as they found it."""
    import torch

    module = experiment.load("exact_inference")
    config = dict(module.grid("tiny")[0], device="cpu")
    assert config["threads"] == 1
    before = torch.get_num_threads()
    metrics = module.run(config)
    assert torch.get_num_threads() == before
    assert metrics["time_ms"] > 0 and metrics["logz_abs_err"] < 1e-9


def test_best_time_pauses_the_garbage_collector_only_while_timing() -> None:
    """As timeit does: a collection pass inside the timed call would charge the call for
    every live object (a linear forward-backward looked super-linear with it)."""
    import gc

    import torch

    from experiments._common import best_time

    seen = []
    assert gc.isenabled()
    seconds = best_time(lambda: seen.append(gc.isenabled()), torch.device("cpu"), repeats=3)
    assert seen == [True, False, False, False]  # the warm-up call, then the timed ones
    assert gc.isenabled() and seconds >= 0

    def fails():
        if not gc.isenabled():
            raise RuntimeError("inside the timed call")

    with pytest.raises(RuntimeError, match="inside the timed call"):
        best_time(fails, torch.device("cpu"))
    assert gc.isenabled()  # restored after a failure too


def test_learning_curve_model_names() -> None:
    module = experiment.load("learning_curve")
    bi = module.model_kwargs("bigru-softmax", 8, 4, False)
    assert bi["encoder"] == "gru" and bi["bidirectional"] and bi["head"] == "softmax"
    uni = module.model_kwargs("lstm-crf", 8, 4, True)
    assert uni["encoder"] == "lstm" and not uni["bidirectional"] and uni["char_features"]
    assert uni["char_encoder"] == "lstm" and uni["word_dropout"] > 0
    bow = module.model_kwargs("bow-crf", 8, 4, True)
    assert bow["char_features"] is False and "word_dropout" not in bow  # words are all it has
    assert module.model_kwargs("hmm", 8, 4, False)["head"] == "hmm"
    for bad in ("bilstm", "transformer-crf", "bibow-crf", "lstm-svm"):
        with pytest.raises(ValueError, match="unknown model"):
            module.model_kwargs(bad, 8, 4, False)


def test_ewt_quality_runs_at_tiny_scale(tmp_path, monkeypatch) -> None:
    from collections import Counter

    from lab import device
    from lab.data import load_real_corpus

    module = experiment.load("ewt_quality")
    # where bf16 is not native the grid leaves the bf16 runs out ...
    monkeypatch.setattr(device, "bf16_is_fast", lambda _: False)
    if not module.grid("tiny"):
        pytest.skip("UD EWT is not there")
    assert {c.get("amp", "none") for c in module.grid("tiny")} == {"none"}
    # ... and has them where it is (run here on whatever bf16 this CPU has: emulated on AVX2)
    monkeypatch.setattr(device, "bf16_is_fast", lambda _: True)
    configs = [dict(c, device="cpu") for c in module.grid("tiny")]
    assert {c["head"] for c in configs} == {"crf", "softmax"}
    assert Counter(c.get("amp", "none") for c in configs) == {"none": 2, "bf16": 2}
    records = run_sweep("ewt_quality", configs, tmp_path, progress=False)
    failed = [r["error"] for r in records if r["status"] != "ok"]
    assert not failed, failed[0]
    test = load_real_corpus("ud_ewt")["test"][:200]
    counts = Counter(t for s in test for t in s.tags)
    majority = max(counts.values()) / sum(counts.values())
    for record in records:
        assert record["metrics"]["test_token_accuracy"] > majority + 0.1
    # 200 training sentences are not the bar's setting: no verdict from them ...
    summary = module.summarize(records, tmp_path, CONTEXT)
    assert summary["verdict"] == "skipped"
    assert "test_token_accuracy" in (tmp_path / "accuracy.md").read_text()
    # ... while full-training-set records get the rule's verdict
    as_full = [{**r, "metrics": {**r["metrics"], "train_sentences": 12544}} for r in records]
    summary = module.summarize(as_full, tmp_path, CONTEXT)
    assert summary["verdict"] == "not supported" and "bar 95.0%" in summary["key_figures"]
    # the verdict reads the fp32 runs; the bf16 ones are reported beside it
    assert "bf16 crf: test accuracy" in summary["key_figures"]
    assert "fp32's" in summary["key_figures"]
    assert "| bf16 |" in (tmp_path / "per_seed.md").read_text()


def test_claim4_protocol_learns_what_patience_abandons() -> None:
    """The Elman RNN at lag 5 (quick size) sits at chance for tens of epochs, then learns
    the key. Under claim 4's protocol (a fixed budget, stopped only when solved) it learns
    it; early stopping with the quick grid's former patience of 10 would have ended the
    same runs at chance. Three seeds, two must show it (trajectories differ by CPU)."""
    vg = experiment.load("vanishing_gradients")
    shown = 0
    for seed in (0, 1, 2):
        config = {**vg.grid("quick")[0], "lag": 5, "seed": seed, "device": "cpu"}
        assert config["cell"] == "elman" and config["patience"] is None
        metrics = vg.run(config)
        curve = metrics["dev_curve"]
        if metrics["query_accuracy"] >= vg.LEARNED and vg.abandoned_by_patience(curve, 10):
            stop = vg.patience_stop([s for _, s in curve], 10)
            assert max(s for _, s in curve[:stop]) < 0.5  # ended at chance
            shown += 1
    assert shown >= 2


def test_patience_stop_reads_a_curve() -> None:
    vg = experiment.load("vanishing_gradients")
    assert vg.patience_stop([0.2, 0.3, 0.3, 0.3], 2) == 4
    assert vg.patience_stop([0.2, 0.3, 0.4], 2) is None
    curve = [[i, s] for i, s in enumerate([0.25, 0.25, 0.25, 0.95])]
    assert vg.abandoned_by_patience(curve, 2) and not vg.abandoned_by_patience(curve, 3)


def test_claim4_verdict_waits_for_the_whole_grid(tmp_path) -> None:
    """A sweep stopped part-way (here: one run's record missing) reads "insufficient",
    never a verdict on part of the cells or lags."""
    from lab.cli import main as lab_main

    out = tmp_path / "vg"
    argv = ["run", "vanishing_gradients", "--scale", "tiny", "--set", "lag=3", "--device",
            "cpu", "--no-progress", "--out", str(out)]  # fmt: skip
    assert lab_main(argv) == 0
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:-1]))
    assert lab_main(["report", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "insufficient"
    assert "1 run(s) of the tiny-scale grid not finished yet" in summary["key_figures"]
