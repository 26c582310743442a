"""The training loop: models learn, runs reproduce, early stopping, budgets, Ctrl-C."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch
from torch import nn

from lab.data import Vocabs, make_batches
from lab.data.synthetic.hmm import synthetic_hmm
from lab.models.config import ModelConfig
from lab.models.tagger import Tagger
from lab.seeding import seed_everything
from lab.training.checkpoint import read_checkpoint
from lab.training.config import TrainConfig
from lab.training.evaluate import dev_scores, evaluate
from lab.training.fit import FitResult, NonFiniteTrainingError, fit


def accuracy_of(model, batches) -> float:
    return dev_scores(model, batches)[0]


class UnigramTagger(Tagger):
    """A stand-in that honours the tagger interface: p(y_t | x) = softmax(W[x_t])."""

    decoders = ("argmax",)

    def __init__(self, num_words: int, num_tags: int) -> None:
        super().__init__()
        self.config = ModelConfig(head="softmax")  # its decoder: argmax
        self.scores = nn.Embedding(num_words, num_tags)
        nn.init.zeros_(self.scores.weight)

    def _log_probs(self, batch):
        return self.scores(batch.words).log_softmax(-1)  # (B, T, C)

    def loss(self, batch):
        logp = self._log_probs(batch).gather(-1, batch.tags[..., None]).squeeze(-1)  # (B, T)
        return -logp[batch.mask].mean()

    def marginals(self, batch):
        return self._log_probs(batch).exp() * batch.mask[..., None]

    def decode(self, batch, method=None):
        return self._log_probs(batch).argmax(-1) * batch.mask


@pytest.fixture(scope="module")
def corpus():
    train, _ = synthetic_hmm(300, seed=1)
    dev, params = synthetic_hmm(100, seed=2)
    vocabs = Vocabs.build(train, chars=False)
    return train, dev, vocabs, params


def majority_accuracy(train, dev) -> float:
    top = Counter(t for s in train for t in s.tags).most_common(1)[0][0]
    return sum(t == top for s in dev for t in s.tags) / sum(len(s) for s in dev)


def quick(**overrides) -> TrainConfig:
    base = {"lr": 1e-2, "max_epochs": 6, "batch_size": 32, "progress": False, "device": "cpu"}
    return TrainConfig(**{**base, **overrides})


def test_train_config_validates_and_round_trips():
    config = TrainConfig(lr=0.01, lr_schedule="cosine", max_seconds=5.0)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="patience must be an int >= 1"):
        TrainConfig(patience=0)
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_stand_in_model_learns_and_best_state_is_restored(corpus):
    train, dev, vocabs, params = corpus
    seed_everything(0)
    model = UnigramTagger(len(vocabs.words), len(vocabs.tags))
    result = fit(model, train, dev, quick(lr=0.1), vocabs=vocabs)
    assert isinstance(result, FitResult)
    assert result.best_dev_metric > majority_accuracy(train, dev) + 0.2
    assert 1 <= result.best_epoch <= result.epochs == len(result.history)
    # the model ends in the best state: scoring it again gives the best dev figure
    dev_batches = make_batches(dev, vocabs, 32)
    assert accuracy_of(model, dev_batches) == pytest.approx(result.best_dev_metric)
    assert result.train_tokens_per_s > 0 and result.train_seconds > 0


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_bilstm_beats_majority_baseline(corpus, head):
    from lab.models import ModelConfig, build_model

    train, dev, vocabs, params = corpus
    seed_everything(0)
    config = ModelConfig(encoder="lstm", bidirectional=True, head=head, embedding_dim=32, hidden=32)
    model = build_model(config, len(vocabs.words), len(vocabs.tags))
    result = fit(model, train, dev, quick(), vocabs=vocabs)
    majority = majority_accuracy(train, dev)
    assert result.best_dev_metric > majority + 0.35, (result.best_dev_metric, majority)
    metrics = evaluate(model, dev, vocabs, hmm_params=params)
    assert metrics["token_accuracy"] == pytest.approx(result.best_dev_metric)
    # the true HMM's posterior is the ceiling; a few seconds of training stay below it
    assert majority < metrics["token_accuracy"] < metrics["bayes_token_accuracy"]
    assert metrics["bayes_gap"] == pytest.approx(
        metrics["bayes_token_accuracy"] - metrics["token_accuracy"]
    )
    assert metrics["n_tokens"] == sum(len(s) for s in dev)
    assert 0 <= metrics["ece"] <= 1 and 0 <= metrics["brier"] <= 2
    assert metrics["nll_per_token"] < math.log(len(vocabs.tags))
    if head == "softmax":  # independent tokens: sequence NLL = sum of token NLLs
        assert metrics["nll_per_token"] == pytest.approx(metrics["marginal_nll"], rel=1e-4)


def test_hmm_tagger_fits_in_closed_form_near_the_bayes_ceiling(corpus, tmp_path):
    from lab.models import ModelConfig, build_model
    from lab.training.checkpoint import load_checkpoint

    train, dev, vocabs, params = corpus
    config = ModelConfig(encoder="bow", bidirectional=False, head="hmm")
    model = build_model(config, len(vocabs.words), len(vocabs.tags))
    result = fit(model, train, dev, quick(), vocabs=vocabs, out_dir=tmp_path)
    assert result.stopped_reason == "closed_form" and result.epochs == 1
    assert json.loads((tmp_path / "fit.json").read_text())["stopped_reason"] == "closed_form"
    loaded, _, _ = load_checkpoint(tmp_path / "model.pt")
    assert evaluate(loaded, dev, vocabs)["token_accuracy"] == result.best_dev_metric
    metrics = evaluate(model, dev, vocabs, hmm_params=params)
    assert metrics["token_accuracy"] > majority_accuracy(train, dev) + 0.4
    assert abs(metrics["bayes_gap"]) < 0.1
    # a conditional NLL, comparable with the discriminative models' (not the joint)
    assert metrics["nll_per_token"] < math.log(len(vocabs.tags))


def test_same_seed_gives_identical_metrics(corpus):
    train, dev, vocabs, params = corpus

    def run(seed: int) -> tuple[list, dict]:
        from lab.models import ModelConfig, build_model

        seed_everything(seed)
        config = ModelConfig(
            encoder="lstm", head="softmax", embedding_dim=16, hidden=16, dropout=0.2
        )
        model = build_model(config, len(vocabs.words), len(vocabs.tags))
        result = fit(model, train, dev, quick(max_epochs=2, seed=seed), vocabs=vocabs)
        history = [
            {k: v for k, v in h.items() if k not in ("seconds", "tokens_per_s")}
            for h in result.history
        ]
        # JSON, so that NaN (an empty length bucket) compares equal to NaN
        return json.dumps([history, evaluate(model, dev, vocabs)], sort_keys=True)

    first, second, other = run(0), run(0), run(1)
    assert first == second
    assert first != other


def test_batches_as_input_and_patience_stops(corpus):
    train, dev, vocabs, params = corpus

    class Stuck(UnigramTagger):
        """Decodes one tag whatever it learns: the dev score never improves."""

        def decode(self, batch, method=None):
            return torch.zeros_like(batch.words)

    model = Stuck(len(vocabs.words), len(vocabs.tags))
    train_batches = make_batches(train, vocabs, 32)
    dev_batches = make_batches(dev, vocabs, 32)
    result = fit(model, train_batches, dev_batches, quick(max_epochs=10, patience=2))
    assert result.stopped_reason == "patience"
    assert result.epochs == 3 and result.best_epoch == 1


def test_sentences_without_vocabs_raise(corpus):
    train, dev, vocabs, params = corpus
    model = UnigramTagger(len(vocabs.words), len(vocabs.tags))
    with pytest.raises(ValueError, match="need vocabs"):
        fit(model, train, dev, quick())
    with pytest.raises(TypeError, match="list of lab.data.Sentence"):
        fit(model, [1, 2], dev, quick(), vocabs=vocabs)


def test_max_seconds_budget_stops(corpus):
    train, dev, vocabs, params = corpus
    model = UnigramTagger(len(vocabs.words), len(vocabs.tags))
    result = fit(
        model, train, dev, quick(max_epochs=1000, patience=1000, max_seconds=0.5), vocabs=vocabs
    )
    assert result.stopped_reason == "max_seconds"
    assert result.epochs < 1000 and result.train_seconds < 30


def test_ctrl_c_stops_cleanly_keeping_the_best(corpus, tmp_path):
    train, dev, vocabs, params = corpus

    class Interrupted(UnigramTagger):
        steps = 0

        def loss(self, batch):
            self.steps += 1
            if self.steps > 25:  # during epoch 3 (10 batches per epoch)
                raise KeyboardInterrupt
            return super().loss(batch)

    model = Interrupted(len(vocabs.words), len(vocabs.tags))
    result = fit(model, train, dev, quick(max_epochs=10), vocabs=vocabs)
    assert result.stopped_reason == "interrupted"
    assert result.epochs == 2 and result.best_epoch in (1, 2)
    dev_batches = make_batches(dev, vocabs, 32)
    assert accuracy_of(model, dev_batches) == pytest.approx(result.best_dev_metric)


def test_nonfinite_from_the_start_raises_and_saves_nothing(corpus, tmp_path):
    train, dev, vocabs, params = corpus

    class Diverges(UnigramTagger):
        def loss(self, batch):
            return super().loss(batch) * float("nan")

    model = Diverges(len(vocabs.words), len(vocabs.tags))
    with pytest.raises(NonFiniteTrainingError, match="never produced a finite model") as e:
        fit(model, train, dev, quick(), vocabs=vocabs, out_dir=tmp_path, model_config={})
    result = e.value.result
    assert result.stopped_reason == "nonfinite_loss"
    assert (result.epochs, result.best_epoch, result.checkpoint) == (1, 0, None)
    assert math.isnan(result.history[0]["token_accuracy"])  # a NaN model is not scored
    assert not (tmp_path / "model.pt").exists()
    assert json.loads((tmp_path / "fit.json").read_text())["best_epoch"] == 0


def test_nonfinite_epoch_is_never_best_and_the_best_finite_state_is_kept(corpus, tmp_path):
    train, dev, vocabs, params = corpus
    dev_batches = make_batches(dev, vocabs, 32)

    class DivergesInEpoch3(UnigramTagger):
        steps = 0

        def loss(self, batch):
            self.steps += 1  # 10 batches per epoch
            return super().loss(batch) * (float("inf") if self.steps > 25 else 1.0)

    states = {}

    def score(model):  # the default dev score, keeping a copy of each scored state
        states[len(states) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return dev_scores(model, dev_batches)

    model = DivergesInEpoch3(len(vocabs.words), len(vocabs.tags))
    result = fit(
        model, train, dev, quick(lr=0.1), vocabs=vocabs, out_dir=tmp_path, score=score,
        model_config={"head": "softmax"},
    )  # fmt: skip
    assert result.stopped_reason == "nonfinite_loss"
    assert result.epochs == 3 and len(states) == 2  # epoch 3 is not even scored
    assert result.best_epoch == 2 and result.history[1]["score"] == result.best_dev_metric
    assert math.isnan(result.history[2]["score"])
    best = states[2]["scores.weight"]
    saved = read_checkpoint(tmp_path / "model.pt")["state_dict"]["scores.weight"]
    assert torch.isfinite(best).all()
    assert torch.equal(model.scores.weight, best) and torch.equal(saved, best)


def test_a_nan_score_is_never_best(corpus):
    train, dev, vocabs, params = corpus
    values = iter([(0.5, 0.1), (float("nan"), 0.9), (0.5, float("nan")), (0.4, 0.4)])
    model = UnigramTagger(len(vocabs.words), len(vocabs.tags))
    result = fit(
        model, train, None, quick(max_epochs=4, patience=5), vocabs, score=lambda m: next(values)
    )
    assert result.best_epoch == 1 and result.best_dev_metric == 0.5
    assert result.stopped_reason == "max_epochs"


def test_crf_at_a_huge_lr_saves_no_nan_model(tmp_path):
    """The fixture of issue 16: ``lab train --model head=crf --train-config clip_norm=none
    --train synthetic-hmm:200 --dev synthetic-hmm:50 --epochs 4 --lr 1e12`` saved an
    all-NaN model.pt as its best."""
    from lab.models import build_tagger

    train, _ = synthetic_hmm(200, seed=1)
    dev, _ = synthetic_hmm(50, seed=2)
    vocabs = Vocabs.build(train, chars=False)
    seed_everything(0)
    model = build_tagger(ModelConfig(head="crf"), vocabs)
    config = quick(lr=1e12, clip_norm=None, max_epochs=4)
    with pytest.raises(NonFiniteTrainingError) as e:  # epoch 1 already diverges
        fit(model, train, dev, config, vocabs=vocabs, out_dir=tmp_path)
    assert e.value.result.stopped_reason == "nonfinite_loss"
    assert e.value.result.best_epoch == 0 and not (tmp_path / "model.pt").exists()


def test_closed_form_models_skip_gradient_steps(corpus):
    train, dev, vocabs, params = corpus

    class Counting(UnigramTagger):
        """Fits by counting word-tag pairs, as an HMM does."""

        def fit_closed_form(self, batches):
            counts = torch.ones_like(self.scores.weight)  # add-one smoothing, (V, C)
            for b in batches:
                counts.index_put_(
                    (b.words[b.mask], b.tags[b.mask]), torch.ones(b.num_tokens), accumulate=True
                )
            with torch.no_grad():
                self.scores.weight.copy_(counts.log())
            return True

    model = Counting(len(vocabs.words), len(vocabs.tags))
    result = fit(model, train, dev, quick(), vocabs=vocabs)
    assert result.stopped_reason == "closed_form" and result.epochs == 1
    assert result.best_dev_metric > majority_accuracy(train, dev) + 0.2


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_lr_schedules_decay_to_zero(corpus, schedule):
    train, dev, vocabs, params = corpus
    model = UnigramTagger(len(vocabs.words), len(vocabs.tags))
    result = fit(
        model, train, dev, quick(max_epochs=2, patience=5, lr_schedule=schedule), vocabs=vocabs
    )
    assert result.history[0]["lr"] < 1e-2
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)


def test_span_f1_dev_metric_on_bio_tags():
    from lab.data import Sentence

    sentences = [
        Sentence(["a", "b", "c"], ["B-X", "I-X", "O"]),
        Sentence(["c", "a"], ["O", "B-X"]),
    ] * 20
    vocabs = Vocabs.build(sentences, chars=False)
    model = UnigramTagger(len(vocabs.words), len(vocabs.tags))
    result = fit(model, sentences, sentences, quick(lr=0.1, dev_metric="span_f1"), vocabs=vocabs)
    assert result.best_dev_metric == pytest.approx(1.0)
    metrics = evaluate(model, sentences, vocabs)
    assert metrics["span_f1"] == pytest.approx(1.0)
    assert metrics["invalid_transition_rate"] == 0.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_loop_runs_on_cuda(corpus):
    from lab.models import ModelConfig, build_model

    train, dev, vocabs, params = corpus
    for amp in ("none", "bf16"):
        seed_everything(0)
        model = build_model(ModelConfig(head="crf"), len(vocabs.words), len(vocabs.tags))
        result = fit(model, train, dev, quick(device="cuda", amp=amp), vocabs=vocabs)
        assert result.device.startswith("cuda")
        assert next(model.parameters()).is_cuda
        assert result.best_dev_metric > majority_accuracy(train, dev) + 0.3


def test_amp_options_on_cpu(corpus):
    train, dev, vocabs, _ = corpus
    model = UnigramTagger(len(vocabs.words), len(vocabs.tags))
    with pytest.raises(ValueError, match="amp='fp16' needs a CUDA device"):
        fit(model, train, dev, quick(amp="fp16"), vocabs=vocabs)
    result = fit(model, train, dev, quick(lr=0.1, amp="bf16", max_epochs=3), vocabs=vocabs)
    assert result.best_dev_metric > majority_accuracy(train, dev) + 0.2


def _scripted(values):
    """A score function that returns ``values`` one epoch after another."""
    it = iter(values)
    return lambda model: next(it)


def test_a_plateau_cannot_end_a_run_before_min_updates(corpus):
    """The long-lag / all-O plateau: flat for 6 epochs, then a step up. Patience 2 alone
    stops on the plateau; with min_updates past the plateau the run reaches the step."""
    train, dev, vocabs, params = corpus
    plateau = [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.9, 0.9, 0.9, 0.9]
    steps = -(-len(train) // 32)  # updates per epoch
    stopped = fit(UnigramTagger(len(vocabs.words), len(vocabs.tags)), train, None,
                  quick(max_epochs=10, patience=2), vocabs, score=_scripted(plateau))  # fmt: skip
    assert stopped.stopped_reason == "patience" and stopped.best_dev_metric == 0.25
    assert stopped.epochs == 3
    kept = fit(UnigramTagger(len(vocabs.words), len(vocabs.tags)), train, None,
               quick(max_epochs=10, patience=2, min_updates=7 * steps), vocabs,
               score=_scripted(plateau))  # fmt: skip
    assert kept.best_dev_metric == 0.9 and kept.best_epoch == 7
    # patience counts again once the minimum is done: stale epochs 8 and 9 end it
    assert kept.stopped_reason == "patience" and kept.epochs == 9
    assert kept.updates == 9 * steps and kept.updates_to_best == 7 * steps
    assert [h["updates"] for h in kept.history] == [steps * e for e in range(1, 10)]


def test_a_fixed_budget_stops_only_when_solved(corpus):
    train, dev, vocabs, params = corpus
    flat = [0.25] * 8
    budget = fit(UnigramTagger(len(vocabs.words), len(vocabs.tags)), train, None,
                 quick(max_epochs=8, patience=None, solved_at=0.99), vocabs,
                 score=_scripted(flat))  # fmt: skip
    assert budget.stopped_reason == "max_epochs" and budget.epochs == 8
    rising = [0.25, 0.5, 0.995, 0.2, 0.2]
    solved = fit(UnigramTagger(len(vocabs.words), len(vocabs.tags)), train, None,
                 quick(max_epochs=5, patience=None, solved_at=0.99), vocabs,
                 score=_scripted(rising))  # fmt: skip
    assert solved.stopped_reason == "solved" and solved.epochs == 3
    assert solved.best_dev_metric == 0.995


def test_stopping_rule_fields_are_validated():
    assert TrainConfig(patience=None).patience is None
    with pytest.raises(ValueError, match="min_updates must be an int >= 0"):
        TrainConfig(min_updates=-1)
    with pytest.raises(ValueError, match="solved_at must be a finite number"):
        TrainConfig(solved_at=float("inf"))
    config = TrainConfig(patience=None, min_updates=100, solved_at=0.99)
    assert TrainConfig.from_dict(config.to_dict()) == config
