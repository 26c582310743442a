"""The one training loop, for every model.

``fit`` never branches on a model's type. It uses only the tagger interface:
``loss(batch)`` (mean NLL per token), ``decode(batch, method=None)`` (B, T) and, where a
model has it, ``fit_closed_form(batches)`` (the HMM's counting estimator) instead of
gradient steps. ``evaluate`` adds ``marginals(batch)`` (B, T, C) for calibration.

Data arguments: ``train`` and ``dev`` are either lists of ``Sentence`` (then ``vocabs`` is
required and batching happens inside: every epoch gets a fresh length-bucketed shuffle
that depends only on ``(config.seed, epoch)``), or lists of ready ``Batch`` objects (then
only the order of the batches is reshuffled each epoch, again by ``(seed, epoch)``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.data.batch import Batch
from lab.device import resolve_device, synchronize
from lab.seeding import seed_everything
from lab.training.config import TrainConfig
from lab.training.evaluate import _eval_batches, _is_batches, dev_scores

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.pt"


@dataclass
class FitResult:
    """What ``fit`` did. Epochs count from 1; ``history`` holds one dict per epoch
    (epoch, train_loss, dev metric, lr, seconds, tokens_per_s).

    train_seconds        wall time of the whole fit, dev evaluations included
    train_tokens_per_s   training tokens per second of training time (batching, forward,
                         backward, step; dev evaluation excluded)
    seconds_to_best      wall time from the start until the best epoch's evaluation
    stopped_reason       max_epochs | patience | max_seconds | interrupted |
                         nonfinite_loss | closed_form
    """

    best_dev_metric: float
    best_epoch: int
    epochs: int
    train_seconds: float
    train_tokens_per_s: float
    history: list[dict[str, Any]] = field(default_factory=list)
    dev_metric: str = "token_accuracy"
    seconds_to_best: float = float("nan")
    stopped_reason: str = "max_epochs"
    device: str = "cpu"
    threads: int = 1
    batch_size: int = 32
    checkpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _epoch_batches(data: Sequence[Any], vocabs: Any, config: TrainConfig, epoch: int) -> list:
    """The training batches of one epoch, in an order fixed by ``(seed, epoch)``."""
    if _is_batches(data):
        order = np.random.default_rng([config.seed, epoch]).permutation(len(data))
        return [data[i] for i in order]
    from lab.data.batching import make_batches

    return make_batches(
        data, vocabs, config.batch_size, shuffle=True, seed=config.seed, epoch=epoch
    )


def _lr_lambda(schedule: str, total_steps: int) -> Callable[[int], float]:
    total = max(1, total_steps)
    if schedule == "linear":
        return lambda step: max(0.0, 1.0 - step / total)
    if schedule == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    return lambda step: 1.0


def _autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    if amp == "none":
        return contextlib.nullcontext()
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp='fp16' needs a CUDA device, got {device}")
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class _Stepper:
    """The gradient steps of ``fit``: AdamW, optional autocast and fp16 loss scaling,
    clipping, the lr schedule, and the progress bar of one epoch."""

    # read the loss back from the device only every so many steps (each read syncs)
    SYNC_EVERY = 20

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        config: TrainConfig,
        device: torch.device,
    ) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.config, self.device = config, device
        _autocast(device, config.amp)  # raises now, not mid-epoch, for fp16 off CUDA
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.loss_fn = torch.compile(model.loss, dynamic=True) if config.compile else model.loss

    def step(self, batch: Batch) -> torch.Tensor:
        """One update; returns the detached loss (mean NLL per token) on the device."""
        with _autocast(self.device, self.config.amp):
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
        self, batches: Sequence[Batch], epoch: int, deadline: float | None, best_dev: float
    ) -> tuple[float, int, bool, bool]:
        """Steps over ``batches`` until done, past ``deadline`` or the loss is non-finite.
        Returns (sum of token-weighted losses, tokens, out_of_time, nonfinite)."""
        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=self.device)
        tokens, out_of_time, nonfinite = 0, False, False
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
            if i % self.SYNC_EVERY == 0 or i == len(batches):
                total = float(loss_sum)
                if not math.isfinite(total):
                    nonfinite = True
                    break
                bar.set_postfix(
                    loss=f"{total / tokens:.4f}",
                    dev=f"{best_dev:.4f}",
                    tok_s=f"{tokens / (time.perf_counter() - t0):.0f}",
                )
        bar.close()
        return float(loss_sum), tokens, out_of_time, nonfinite


def fit(
    model: torch.nn.Module,
    train: Sequence[Any],
    dev: Sequence[Any],
    config: TrainConfig,
    vocabs: Any = None,
    out_dir: str | Path | None = None,
    model_config: Any = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train`` and keep the state with the best dev score.

    train, dev    lists of ``Sentence`` (needs ``vocabs``) or of ``Batch`` (module doc)
    config        a ``TrainConfig``
    vocabs        ``lab.data.Vocabs``; needed for sentences, for ``span_f1`` and to save
    out_dir       if given, the best state is saved there as ``model.pt`` (a checkpoint
                  with ``model_config``, default ``model.config``) and ``fit.json``
    log           where the one line per epoch goes (default: this module's logger)

    AdamW with gradient clipping and an optional lr schedule; early stopping when the dev
    metric has not improved for ``patience`` epochs; Ctrl-C stops cleanly. The model ends
    in the best state, in eval mode, on ``config.device``. Returns a ``FitResult``.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    train_are_batches = _is_batches(train)
    if not train_are_batches and vocabs is None:
        raise ValueError("training sentences need vocabs to be batched: pass vocabs=Vocabs(...)")
    tag_names = list(vocabs.tags.names) if vocabs is not None else None
    if config.dev_metric == "span_f1" and tag_names is None:
        raise ValueError("dev_metric 'span_f1' needs the tag names: pass vocabs")
    if out_dir is not None:
        model_config = model_config if model_config is not None else getattr(model, "config", None)
        if model_config is None or vocabs is None:
            raise ValueError("saving to out_dir needs vocabs and a model config (model.config)")
    log = log or logger.info
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    dev_batches = _eval_batches(dev, vocabs, config.batch_size)

    def score() -> tuple[float, float]:
        return dev_scores(model, dev_batches, config.dev_metric, tag_names)

    best_key = (float("-inf"), float("-inf"))

    # The first optimizer step in a process imports torch._dynamo (seconds): import it
    # before the clock starts, so that max_seconds budgets training, not an import.
    import torch._dynamo  # noqa: F401

    start = time.perf_counter()
    result = FitResult(
        best_dev_metric=float("-inf"),
        best_epoch=0,
        epochs=0,
        train_seconds=0.0,
        train_tokens_per_s=float("nan"),
        dev_metric=config.dev_metric,
        device=str(device),
        threads=torch.get_num_threads(),
        batch_size=config.batch_size,
    )
    checkpoint_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None

    def save_best() -> None:
        if checkpoint_path is not None:
            from lab.training.checkpoint import save_checkpoint

            save_checkpoint(checkpoint_path, model, model_config, config, vocabs)
            result.checkpoint = str(checkpoint_path)

    def finish() -> FitResult:
        model.eval()
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / "fit.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        return result

    if hasattr(model, "fit_closed_form"):  # generative models: counting, not gradients
        t0 = time.perf_counter()
        batches = _epoch_batches(train, vocabs, config, 0)
        model.fit_closed_form([b.to(device) for b in batches])
        seconds = time.perf_counter() - t0
        value = score()[0]
        tokens = sum(b.num_tokens for b in batches)
        result.history.append(
            {
                "epoch": 1,
                config.dev_metric: value,
                "seconds": seconds,
                "tokens_per_s": tokens / max(seconds, 1e-9),
            }
        )
        result.best_dev_metric, result.best_epoch, result.epochs = value, 1, 1
        result.train_tokens_per_s = tokens / max(seconds, 1e-9)
        result.stopped_reason = "closed_form"
        result.train_seconds = result.seconds_to_best = time.perf_counter() - start
        save_best()
        log(f"epoch 1 (closed form): dev {config.dev_metric} {value:.4f}")
        return finish()

    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = len(train) if train_are_batches else -(-len(train) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(config.lr_schedule, steps_per_epoch * config.max_epochs)
    )
    stepper = _Stepper(model, optimizer, scheduler, config, device)
    deadline = start + config.max_seconds if config.max_seconds is not None else None
    best_state = None
    stale_epochs = 0
    total_tokens, total_train_seconds = 0, 0.0

    try:
        for epoch in range(1, config.max_epochs + 1):
            model.train()
            t0 = time.perf_counter()
            batches = _epoch_batches(train, vocabs, config, epoch)
            loss_sum, tokens, out_of_time, nonfinite = stepper.run_epoch(
                batches, epoch, deadline, result.best_dev_metric
            )
            synchronize(device)
            seconds = time.perf_counter() - t0
            total_tokens += tokens
            total_train_seconds += seconds
            if tokens == 0 and result.epochs > 0:  # no step this epoch: nothing new to score
                result.stopped_reason = "nonfinite_loss" if nonfinite else "max_seconds"
                break
            value, tiebreak = score()
            result.epochs = epoch
            result.history.append(
                {
                    "epoch": epoch,
                    "train_loss": loss_sum / tokens if tokens else float("nan"),
                    config.dev_metric: value,
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": seconds,
                    "tokens_per_s": tokens / seconds if seconds > 0 else float("nan"),
                }
            )
            improved = (value, tiebreak) > best_key
            if improved:
                best_key = (value, tiebreak)
                result.best_dev_metric, result.best_epoch = value, epoch
                result.seconds_to_best = time.perf_counter() - start
                best_state = _cpu_state(model)
                stale_epochs = 0
                save_best()
            else:
                stale_epochs += 1
            log(
                f"epoch {epoch}: train loss {result.history[-1]['train_loss']:.4f}, "
                f"dev {config.dev_metric} {value:.4f}{' *' if improved else ''}, "
                f"{tokens / max(seconds, 1e-9):.0f} tokens/s, {seconds:.1f}s"
            )
            if nonfinite:
                result.stopped_reason = "nonfinite_loss"
                log(f"epoch {epoch}: the loss became non-finite; stopping, keeping the best")
                break
            if out_of_time:
                result.stopped_reason = "max_seconds"
                break
            if stale_epochs >= config.patience:
                result.stopped_reason = "patience"
                break
        else:
            result.stopped_reason = "max_epochs"
    except KeyboardInterrupt:
        result.stopped_reason = "interrupted"
        log("interrupted: stopping, keeping the best state so far")
        if best_state is None:  # no epoch finished: the current state is all there is
            result.best_dev_metric, result.best_epoch = score()[0], result.epochs
            best_state = _cpu_state(model)
            save_best()
    if best_state is not None:
        model.load_state_dict(best_state)
    result.train_seconds = time.perf_counter() - start
    result.train_tokens_per_s = (
        total_tokens / total_train_seconds if total_train_seconds > 0 else float("nan")
    )
    return finish()
