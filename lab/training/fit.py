"""The one training loop, for every model.

``fit`` trains a ``Trainable`` (lab.models.trainable): it calls ``loss(batch)`` for
gradient steps, or lets ``fit_closed_form(batches)`` fit the model when that returns True
(the HMM's counting estimator). It ranks epochs by a ``score(model)``, higher is better;
by default the tagger dev score of ``dev`` (``dev_scores``: the ``Tagger`` interface's
``decode``). Taggers, the sentence classifier and the encoder-decoder all train here,
with the same patience, clipping, lr schedule, non-finite handling and best-state keeping.

Data arguments: ``train`` (and ``dev``) are either lists of ``Sentence`` (then ``vocabs``
is required and batching happens inside: every epoch gets a fresh length-bucketed shuffle
that depends only on ``(config.seed, epoch)``), or lists of ready batches (any
``TrainBatch``: ``.to(device)`` and ``.num_tokens``; then only the order of the batches
is reshuffled each epoch, again by ``(seed, epoch)``).

Non-finite training: an epoch whose training loss, model state or score is not finite is
never a candidate for best; the run stops (``stopped_reason == "nonfinite_loss"``) and
keeps the best finite epoch. If no epoch was finite, ``fit`` writes ``fit.json`` (when
given ``out_dir``), saves no checkpoint and raises ``NonFiniteTrainingError``, so that no
caller goes on with (or saves) an all-NaN model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lab.data.batching import make_batches
from lab.device import resolve_device, synchronize
from lab.models.trainable import Trainable, TrainBatch
from lab.seeding import seed_everything
from lab.training.checkpoint import save_checkpoint
from lab.training.config import TrainConfig
from lab.training.evaluate import dev_scores, eval_batches, is_batches

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.pt"

# score(model) -> metric, or (metric, tie-break); higher is better
Score = Callable[[Any], "float | tuple[float, float]"]


@dataclass
class FitResult:
    """What ``fit`` did. Epochs count from 1; ``history`` holds one dict per epoch
    (epoch, train_loss, dev metric, lr, seconds, tokens_per_s).

    best_epoch           0 when no epoch was finite (then ``fit`` raised)
    updates              gradient updates made (each epoch's cumulative count is in
                         ``history`` as "updates"); updates_to_best: those before the best
                         epoch's evaluation
    dev_metric           the history key of the score: ``config.dev_metric``, or "score"
                         when ``fit`` was given a ``score`` function
    train_seconds        wall time of the whole fit, dev evaluations included
    train_tokens_per_s   training tokens per second of training time (batching, forward,
                         backward, step; dev evaluation excluded)
    seconds_to_best      wall time from the start until the best epoch's evaluation
    stopped_reason       max_epochs | patience | solved | max_seconds | interrupted |
                         nonfinite_loss | closed_form
    """

    best_dev_metric: float
    best_epoch: int
    epochs: int
    train_seconds: float
    train_tokens_per_s: float
    history: list[dict[str, Any]] = field(default_factory=list)
    dev_metric: str = "token_accuracy"
    updates: int = 0
    updates_to_best: int = 0
    seconds_to_best: float = float("nan")
    stopped_reason: str = "max_epochs"
    device: str = "cpu"
    threads: int = 1
    batch_size: int = 32
    checkpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NonFiniteTrainingError(RuntimeError):
    """No epoch of a ``fit`` ended finite: there is no state worth keeping. ``result``
    is the ``FitResult`` (best_epoch 0, stopped_reason "nonfinite_loss")."""

    def __init__(self, result: FitResult) -> None:
        super().__init__(
            f"training never produced a finite model ({result.epochs} epoch(s); the loss, the "
            "weights or the score was non-finite): nothing saved; lower the lr or clip gradients"
        )
        self.result = result


# --------------------------------------------------------------------------- data


def _epoch_batches(data: Sequence[Any], vocabs: Any, config: TrainConfig, epoch: int) -> list:
    """The training batches of one epoch, in an order fixed by ``(seed, epoch)``."""
    if is_batches(data):
        order = np.random.default_rng([config.seed, epoch]).permutation(len(data))
        return [data[i] for i in order]
    return make_batches(
        data, vocabs, config.batch_size, shuffle=True, seed=config.seed, epoch=epoch
    )


class _ClosedFormFeed:
    """Epoch 0's batches on the device, made only when iterated (a model without a closed
    form never reads them); counts the tokens it hands out."""

    def __init__(self, train: Sequence[Any], vocabs: Any, config: TrainConfig, device) -> None:
        self.train, self.vocabs, self.config, self.device = train, vocabs, config, device
        self.tokens = 0

    def __iter__(self) -> Iterator[Any]:
        for batch in _epoch_batches(self.train, self.vocabs, self.config, 0):
            self.tokens += batch.num_tokens
            yield batch.to(self.device)


# --------------------------------------------------------------------------- scoring


def _tagger_score(dev: Sequence[Any], vocabs: Any, config: TrainConfig) -> Score:
    """The default score: (dev metric, token accuracy) of a tagger on ``dev``."""
    batches = eval_batches(dev, vocabs, config.batch_size)
    tag_names = list(vocabs.tags.names) if vocabs is not None else None
    if config.dev_metric == "span_f1" and tag_names is None:
        raise ValueError("dev_metric 'span_f1' needs the tag names: pass vocabs")
    return lambda model: dev_scores(model, batches, config.dev_metric, tag_names)


def _evaluate(model: Trainable, score: Score) -> tuple[float, float]:
    """(metric, tie-break) of ``score(model)``, in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        value = score(model)
    metric, tiebreak = value if isinstance(value, tuple) else (value, value)
    return float(metric), float(tiebreak)


def _is_finite(model: Trainable) -> bool:
    """True when every floating parameter and buffer is finite (one sync)."""
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def _cpu_state(model: Trainable) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- steps


def _lr_lambda(schedule: str, total_steps: int) -> Callable[[int], float]:
    total = max(1, total_steps)
    if schedule == "linear":
        return lambda step: max(0.0, 1.0 - step / total)
    if schedule == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    return lambda step: 1.0


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """The forward pass's mixed precision (``TrainConfig.amp``): ``none``, ``bf16`` (CPU
    or CUDA; on a CPU with AMX tiles oneDNN's bf16 LSTM and matmuls are several times
    faster than fp32, see results/bench_tagger.md) or ``fp16`` (CUDA only, ValueError
    elsewhere). The heads score in float32 either way (lab.models.heads)."""
    if amp == "none":
        return contextlib.nullcontext()
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp='fp16' needs a CUDA device, got {device}")
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class _Epoch:
    """What one pass of gradient steps did."""

    loss_sum: float  # sum over batches of loss * num_tokens
    tokens: int
    steps: int
    seconds: float
    out_of_time: bool
    nonfinite: bool

    @property
    def train_loss(self) -> float:
        return self.loss_sum / self.tokens if self.tokens else float("nan")


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.0):
    """AdamW over the trainable parameters, fused where torch has a fused kernel for them:
    one pass over every parameter instead of a dozen ops per tensor. On a 2.2M-parameter
    BiLSTM-CRF on one CPU thread the step took 1.5 ms fused against 26 ms unfused (the
    difference is float rounding only)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


class _Stepper:
    """The gradient steps of ``fit``: AdamW, optional autocast and fp16 loss scaling,
    clipping, the lr schedule, and the progress bar of one epoch."""

    # read the loss back from the device only every so many steps (each read syncs)
    SYNC_EVERY = 20

    def __init__(
        self, model: Trainable, config: TrainConfig, device: torch.device, steps_per_epoch: int
    ) -> None:
        self.model, self.config, self.device = model, config, device
        autocast(device, config.amp)  # raises now, not mid-epoch, for fp16 off CUDA
        self.optimizer = make_optimizer(model, config.lr, config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _lr_lambda(config.lr_schedule, steps_per_epoch * config.max_epochs)
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.loss_fn = torch.compile(model.loss, dynamic=True) if config.compile else model.loss

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self, batch: TrainBatch) -> torch.Tensor:
        """One update; returns the detached loss on the device."""
        with autocast(self.device, self.config.amp):
            loss = self.loss_fn(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach().float()

    def run_epoch(
        self, batches: Sequence[TrainBatch], epoch: int, deadline: float | None, best: float
    ) -> _Epoch:
        """Steps over ``batches`` until done, past ``deadline`` or the loss is non-finite."""
        self.model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=self.device)
        tokens, steps, out_of_time, nonfinite = 0, 0, False, False
        bar = tqdm(
            batches,
            desc=f"epoch {epoch}",
            leave=False,
            disable=None if self.config.progress else True,
            unit="batch",
        )
        for i, batch in enumerate(bar, start=1):
            if deadline is not None and time.perf_counter() > deadline:
                out_of_time = True
                break
            loss = self.step(batch.to(self.device))
            loss_sum += loss * batch.num_tokens
            tokens += batch.num_tokens
            steps += 1
            if i % self.SYNC_EVERY == 0 or i == len(batches):
                total = float(loss_sum)
                if not math.isfinite(total):
                    nonfinite = True
                    break
                bar.set_postfix(
                    loss=f"{total / tokens:.4f}",
                    dev=f"{best:.4f}",
                    tok_s=f"{tokens / (time.perf_counter() - t0):.0f}",
                )
        bar.close()
        synchronize(self.device)
        seconds = time.perf_counter() - t0
        return _Epoch(float(loss_sum), tokens, steps, seconds, out_of_time, nonfinite)


class _Run:
    """The bookkeeping of one ``fit``: the result, the best finite state, the checkpoint."""

    def __init__(
        self,
        model: Trainable,
        config: TrainConfig,
        metric: str,
        device: torch.device,
        out_dir: str | Path | None,
        model_config: Any,
        vocabs: Any,
        log: Callable[[str], None],
    ) -> None:
        self.model, self.config, self.metric, self.log = model, config, metric, log
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.model_config, self.vocabs = model_config, vocabs
        self.result = FitResult(
            best_dev_metric=float("-inf"),
            best_epoch=0,
            epochs=0,
            train_seconds=0.0,
            train_tokens_per_s=float("nan"),
            dev_metric=metric,
            device=str(device),
            threads=torch.get_num_threads(),
            batch_size=config.batch_size,
        )
        self.start = time.perf_counter()
        self.best_key = (float("-inf"), float("-inf"))
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stale_epochs = 0
        self.train_tokens, self.train_seconds = 0, 0.0

    def count(self, done: _Epoch) -> None:
        self.train_tokens += done.tokens
        self.train_seconds += done.seconds
        self.result.updates += done.steps

    def keep(self, epoch: int, key: tuple[float, float]) -> None:
        """Make the model's current state the best, and save it."""
        self.best_key = key
        self.result.best_dev_metric, self.result.best_epoch = key[0], epoch
        self.result.updates_to_best = self.result.updates
        self.result.seconds_to_best = time.perf_counter() - self.start
        self.best_state = _cpu_state(self.model)
        if self.out_dir is not None:
            path = self.out_dir / CHECKPOINT_NAME
            save_checkpoint(path, self.model, self.model_config, self.config, self.vocabs)
            self.result.checkpoint = str(path)

    def end_epoch(
        self, epoch: int, done: _Epoch, key: tuple[float, float], lr: float, candidate: bool
    ) -> None:
        """Record epoch ``epoch`` and keep its state if it is finite and the best so far."""
        self.result.epochs = epoch
        self.result.history.append(
            {
                "epoch": epoch,
                "updates": self.result.updates,
                "train_loss": done.train_loss,
                self.metric: key[0],
                "lr": lr,
                "seconds": done.seconds,
                "tokens_per_s": done.tokens / done.seconds if done.seconds > 0 else math.nan,
            }
        )
        # NaN compares False, but a NaN tie-break must not ride on a finite metric
        improved = candidate and all(map(math.isfinite, key)) and key > self.best_key
        if improved:
            self.keep(epoch, key)
            self.stale_epochs = 0
        else:
            self.stale_epochs += 1
        self.log(
            f"epoch {epoch}: train loss {done.train_loss:.4f}, "
            f"dev {self.metric} {key[0]:.4f}{' *' if improved else ''}, "
            f"{done.tokens / max(done.seconds, 1e-9):.0f} tokens/s, {done.seconds:.1f}s"
        )

    def closed_form(self, seconds: float, tokens: int, key: tuple[float, float]) -> None:
        """Record the one 'epoch' of a closed-form fit."""
        tokens_per_s = tokens / max(seconds, 1e-9)
        self.result.history.append(
            {"epoch": 1, self.metric: key[0], "seconds": seconds, "tokens_per_s": tokens_per_s}
        )
        self.result.epochs, self.result.stopped_reason = 1, "closed_form"
        self.result.train_tokens_per_s = tokens_per_s
        self.keep(1, key)
        self.log(f"epoch 1 (closed form): dev {self.metric} {key[0]:.4f}")

    def finish(self) -> FitResult:
        """Restore the best state, write fit.json; raise if there is no finite state."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model.eval()
        result = self.result
        result.train_seconds = time.perf_counter() - self.start
        if result.stopped_reason != "closed_form":
            result.train_tokens_per_s = (
                self.train_tokens / self.train_seconds if self.train_seconds > 0 else math.nan
            )
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "fit.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        if self.best_state is None:
            raise NonFiniteTrainingError(result)
        return result


# --------------------------------------------------------------------------- the loop


def _model_config(model: Trainable, model_config: Any) -> Any:
    return model_config if model_config is not None else model.config


def _check_arguments(
    model: Trainable,
    train: Sequence[Any],
    dev: Sequence[Any] | None,
    config: TrainConfig,
    vocabs: Any,
    out_dir: str | Path | None,
    model_config: Any,
    score: Score | None,
) -> None:
    if not isinstance(model, Trainable):
        raise TypeError(f"model must be a lab.training.Trainable, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not is_batches(train) and vocabs is None:
        raise ValueError("training sentences need vocabs to be batched: pass vocabs=Vocabs(...)")
    if score is None and dev is None:
        raise ValueError("fit needs dev data to score epochs on, or a score function")
    if out_dir is not None and (vocabs is None or _model_config(model, model_config) is None):
        raise ValueError("saving to out_dir needs vocabs and a model config (model.config)")


def fit(
    model: Trainable,
    train: Sequence[Any],
    dev: Sequence[Any] | None,
    config: TrainConfig,
    vocabs: Any = None,
    out_dir: str | Path | None = None,
    model_config: Any = None,
    log: Callable[[str], None] | None = None,
    score: Score | None = None,
) -> FitResult:
    """Train ``model`` on ``train`` and keep the state with the best score.

    train, dev    lists of ``Sentence`` (needs ``vocabs``) or of batches (module doc);
                  ``dev`` may be None when ``score`` is given
    config        a ``TrainConfig``
    vocabs        ``lab.data.Vocabs``; needed for sentences, for ``span_f1`` and to save
    out_dir       if given, the best state is saved there as ``model.pt`` (a checkpoint
                  with ``model_config``, default ``model.config``) and ``fit.json``
    log           where the one line per epoch goes (default: this module's logger)
    score         ``score(model) -> float | (float, tie-break)``, higher is better, called
                  after every epoch in eval mode under no_grad; None: the tagger dev score
                  of ``dev`` by ``config.dev_metric`` (tie-break: token accuracy)

    AdamW with gradient clipping and an optional lr schedule. The run ends after
    ``max_epochs``, or earlier when the score reaches ``solved_at`` (the task is solved),
    or when it has not improved for ``patience`` epochs once ``min_updates`` updates are
    done (patience None: never; a plateau cannot end a run before its minimum); Ctrl-C
    stops cleanly. The model ends
    in the best finite state, in eval mode, on ``config.device``. Returns a ``FitResult``;
    raises ``NonFiniteTrainingError`` when no epoch was finite (module doc).
    """
    _check_arguments(model, train, dev, config, vocabs, out_dir, model_config, score)
    log = log or logger.info
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    metric = config.dev_metric if score is None else "score"
    score = score or _tagger_score(dev, vocabs, config)
    saved_config = _model_config(model, model_config)
    run = _Run(model, config, metric, device, out_dir, saved_config, vocabs, log)

    # The first optimizer step in a process imports torch._dynamo (seconds): import it
    # before the clock starts, so that max_seconds budgets training, not an import.
    import torch._dynamo  # noqa: F401

    run.start = time.perf_counter()
    feed = _ClosedFormFeed(train, vocabs, config, device)
    if model.fit_closed_form(feed):  # generative models: counting, not gradients
        run.closed_form(time.perf_counter() - run.start, feed.tokens, _evaluate(model, score))
        return run.finish()

    steps = len(train) if is_batches(train) else -(-len(train) // config.batch_size)
    stepper = _Stepper(model, config, device, steps)
    deadline = run.start + config.max_seconds if config.max_seconds is not None else None
    try:
        for epoch in range(1, config.max_epochs + 1):
            batches = _epoch_batches(train, vocabs, config, epoch)
            done = stepper.run_epoch(batches, epoch, deadline, run.result.best_dev_metric)
            run.count(done)
            if done.tokens == 0 and run.result.epochs > 0:  # no step: nothing new to score
                run.result.stopped_reason = "nonfinite_loss" if done.nonfinite else "max_seconds"
                break
            finite = not done.nonfinite and _is_finite(model)
            # a non-finite model is not scored: its decodes mean nothing
            key = _evaluate(model, score) if finite else (math.nan, math.nan)
            run.end_epoch(epoch, done, key, stepper.lr, candidate=finite)
            if not finite:
                run.result.stopped_reason = "nonfinite_loss"
                log(f"epoch {epoch}: the loss became non-finite; stopping, keeping the best")
                break
            if done.out_of_time:
                run.result.stopped_reason = "max_seconds"
                break
            if config.solved_at is not None and key[0] >= config.solved_at:
                run.result.stopped_reason = "solved"
                break
            if (
                config.patience is not None
                and run.stale_epochs >= config.patience
                and run.result.updates >= config.min_updates
            ):
                run.result.stopped_reason = "patience"
                break
        else:
            run.result.stopped_reason = "max_epochs"
    except KeyboardInterrupt:
        run.result.stopped_reason = "interrupted"
        log("interrupted: stopping, keeping the best state so far")
        if run.best_state is None and _is_finite(model):  # the current state is all there is
            run.keep(run.result.epochs, _evaluate(model, score))
    return run.finish()
