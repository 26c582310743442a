"""Helpers shared by the experiment scripts (a leading underscore: not an experiment).

Scales, seeds, the records -> DataFrame step, tables and plots that state how they were
made, seeding and timing of one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# the experiments' one records -> DataFrame step, and its filter (used as common.frame)
from lab.report.tables import ok_records  # noqa: F401
from lab.report.tables import records_frame as frame  # noqa: F401
from lab.runs.experiment import SCALES, check_scale

SEEDS = {"tiny": [0], "quick": [0, 1, 2], "full": [0, 1, 2]}
assert set(SEEDS) == set(SCALES)


def seeds(scale: str) -> list[int]:
    """The seeds of a scale: one for tests, three on the CPU (quick) and at full scale."""
    return list(SEEDS[check_scale(scale)])


def pick(scale: str, tiny: Any, quick: Any, full: Any) -> Any:
    """The value for ``scale``."""
    return {"tiny": tiny, "quick": quick, "full": full}[check_scale(scale)]


# Synthetic data: each run seed trains on its own sample; every run is tuned and tested
# on the same dev and test samples, so runs differ only in what they are meant to.
TRAIN_SEED_OFFSET = 1000
DEV_SEED, TEST_SEED = 900_001, 900_002


def synthetic_splits(
    make: Callable[[int, int], Any], n_train: int, n_dev: int, n_test: int, seed: int
) -> tuple[Any, Any, Any]:
    """(train, dev, test) = ``make(n, sample_seed)`` for the run ``seed``'s training
    sample and the shared dev and test samples."""
    return (
        make(int(n_train), TRAIN_SEED_OFFSET + int(seed)),
        make(int(n_dev), DEV_SEED),
        make(int(n_test), TEST_SEED),
    )


def corpus_available(name: str) -> bool:
    """True when the real corpus ``name`` ("ud_ewt", "wnut17") is where lab.data looks."""
    from lab.data import real_corpus

    try:
        real_corpus(name)
    except FileNotFoundError:
        return False
    return True


def provenance(context: dict) -> dict:
    """The parts of ``context`` that a table or plot states: how it was made."""
    keys = ("command", "scale", "seeds", "device", "commit")
    return {k: context[k] for k in keys if k in context}


def write_table(df, out_dir: Path, stem: str, context: dict, title: str = "") -> tuple:
    """``df`` as ``out_dir/stem.md`` (titled, headed by how it was made) and ``.csv``,
    through lab.report."""
    from lab.report.tables import write_table as report_write_table

    return report_write_table(df, Path(out_dir) / stem, provenance(context), title=title or None)


def plot(df, out_dir: Path, stem: str, context: dict, **kwargs: Any) -> list[Path]:
    """lab.report.plot_lines into ``out_dir/stem.png`` (PNG only), captioned with how it
    was made. ``kwargs``: x, y, hue and plot_lines' options."""
    from lab.report.plots import plot_lines

    kwargs.setdefault("formats", ("png",))
    return plot_lines(df, path_stem=Path(out_dir) / stem, provenance=provenance(context), **kwargs)


@contextmanager
def pinned_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch's CPU thread count set to ``threads`` (None: unchanged),
    then restore it, so that a run never changes the threads of what comes after it."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def start_run(config: dict):
    """Seed everything from ``config["seed"]`` and return the torch device to use."""
    # torch imports its compiler stack on the first optimizer it builds (seconds): do it
    # here, so that it never eats into a run's training-time budget
    import torch._dynamo  # noqa: F401

    from lab.device import resolve_device
    from lab.seeding import seed_everything

    seed_everything(int(config["seed"]))
    return resolve_device(str(config.get("device", "auto")))


def best_time(fn: Callable[[], object], device, repeats: int = 3, warmup: int = 1) -> float:
    """Fastest wall seconds of ``fn()`` over ``repeats`` calls after ``warmup``: on a
    shared machine, other processes only ever add time, so the minimum is the least
    disturbed estimate of the cost itself (what timeit recommends)."""
    return min(_times(fn, device, repeats, warmup))


def _times(fn: Callable[[], object], device, repeats: int, warmup: int) -> list[float]:
    from lab.device import synchronize

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


# --------------------------------------------------------------------------- taggers


def train_tagger(
    model_kwargs: dict,
    train: Sequence,
    dev: Sequence,
    vocabs,
    config: dict,
    dev_metric: str = "token_accuracy",
):
    """Build the tagger ``ModelConfig(**model_kwargs)`` for ``vocabs`` and train it with
    lab.training.fit.fit under the run's training settings (``config``: lr, batch_size,
    max_epochs, patience, max_seconds, seed, device). Returns (model, FitResult)."""
    from lab.models import ModelConfig
    from lab.models.registry import build_tagger
    from lab.training.config import TrainConfig
    from lab.training.fit import fit

    model = build_tagger(ModelConfig(**model_kwargs), vocabs)
    train_config = TrainConfig(
        lr=float(config.get("lr", 2e-3)),
        batch_size=int(config.get("batch_size", 32)),
        max_epochs=int(config.get("max_epochs", 10)),
        patience=int(config.get("patience", 2)),
        max_seconds=config.get("max_seconds"),
        dev_metric=dev_metric,
        device=str(config.get("device", "auto")),
        seed=int(config["seed"]),
        progress=False,
    )
    result = fit(model, train, dev, train_config, vocabs=vocabs)
    return model, result


# ---------------------------------------------------- models that are not taggers


def train_steps(
    model,
    loss_fn: Callable[[object], object],
    batches_for_epoch: Callable[[int], Sequence],
    config: dict,
    score_fn: Callable[[], float] | None = None,
) -> dict:
    """A minimal loop for the models that lab.training.fit.fit does not take (the sentence
    classifier and the encoder-decoder: they read no tagging ``Batch``), with fit's
    choices: AdamW (``config["lr"]``), gradient norm clipped to 5, at most
    ``config["max_epochs"]`` epochs and ``config["max_seconds"]`` seconds, and (with
    ``score_fn``, higher is better) the best epoch's state kept.

    ``loss_fn(batch)`` -> scalar loss; ``batches_for_epoch(epoch)`` -> that epoch's batches.
    Returns {"epochs", "train_seconds", "best_score"}.
    """
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=float(config.get("lr", 3e-3)))
    max_seconds = config.get("max_seconds")
    start = time.perf_counter()
    best_score, best_state, epochs = float("-inf"), None, 0
    for epoch in range(1, int(config.get("max_epochs", 10)) + 1):
        model.train()
        for batch in batches_for_epoch(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                break
        epochs = epoch
        if score_fn is not None:
            model.eval()
            with torch.no_grad():
                score = float(score_fn())
            if score > best_score:
                best_score = score
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {
        "epochs": epochs,
        "train_seconds": time.perf_counter() - start,
        "best_score": best_score,
    }


def shuffled_chunks(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices 0..n-1 in a (seed, epoch)-determined order, cut into batches."""
    import numpy as np

    order = np.random.default_rng([seed, epoch]).permutation(n).tolist()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]
