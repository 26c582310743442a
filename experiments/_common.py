"""Helpers shared by the experiment scripts (a leading underscore: not an experiment).

Scales, seeds, the records -> DataFrame step, tables and plots that state how they were
made, seeding and timing of one run.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# the experiments' one records -> DataFrame step, and its filter (used as common.frame)
from lab.report.tables import ok_records  # noqa: F401
from lab.report.tables import records_frame as frame  # noqa: F401
from lab.runs.experiment import SCALES, check_scale

SEEDS = {"tiny": [0], "quick": [0, 1, 2], "standard": [0, 1, 2, 3, 4], "full": [0, 1, 2]}
assert set(SEEDS) == set(SCALES)


def seeds(scale: str) -> list[int]:
    """The seeds of a scale: one for tests, three on the CPU (quick) and at full scale,
    five at the standard scale (a t CI over 3 seeds is 2.5x wider than over 5)."""
    return list(SEEDS[check_scale(scale)])


def pick(scale: str, tiny: Any, quick: Any, full: Any, standard: Any = None) -> Any:
    """The value for ``scale``; ValueError for "standard" when the caller gave none (an
    experiment without a standard scale)."""
    if check_scale(scale) == "standard":
        if standard is None:
            raise ValueError(f"{_caller_experiment()} has no standard scale")
        return standard
    return {"tiny": tiny, "quick": quick, "full": full}[scale]


def has_scale(grid: Callable[[str], Any], scale: str) -> bool:
    """True when ``grid(scale)`` exists (an experiment may lack the standard scale)."""
    try:
        grid(scale)
    except ValueError as err:
        if "has no standard scale" in str(err):
            return False
        raise
    return True


def stated_grid(grid: Callable[[str], list[dict]], context: dict) -> list[dict]:
    """The runs a summary's records were asked to be: ``grid`` at the context's scale,
    with the context's ``--set`` overrides; [] when the context states no scale. A rule
    reads it to wait for every run the grid fixes, never deciding on those that happen
    to be done."""
    from lab.runs.overrides import apply_overrides, parse_overrides

    scale = context.get("scale")
    if scale not in SCALES:
        return []
    expected = grid(scale)
    overrides = context.get("overrides")
    if overrides:
        expected = apply_overrides(expected, parse_overrides(str(overrides).split(", ")))
    return expected


def _caller_experiment() -> str:
    """The experiment module that called ``pick`` (for its error message)."""
    import inspect

    for frame_info in inspect.stack()[2:]:
        name = frame_info.frame.f_globals.get("NAME")
        if isinstance(name, str):
            return name
    return "this experiment"


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
    keys = ("command", "scale", "overrides", "seeds", "device", "commit")
    return {k: context[k] for k in keys if k in context}


def write_table(
    df, out_dir: Path, stem: str, context: dict, title: str = "", columns=None
) -> tuple:
    """``df`` as ``out_dir/stem.md`` (titled, headed by how it was made; only ``columns``
    if given) and ``.csv`` (every column), through lab.report.tables."""
    from lab.report.tables import write_table as report_write_table

    return report_write_table(
        df, Path(out_dir) / stem, provenance(context), title=title or None, columns=columns
    )


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
    disturbed estimate of the cost itself (what timeit recommends). Python's garbage
    collector is paused while ``fn`` runs, as timeit pauses it: its full passes walk every
    live object, so a call that holds T tensors pays a share that grows faster than T
    (forward-backward's time per token rose x1.7 from T = 1,000 to 100,000 with it, x1.2
    without), which would make a linear algorithm look super-linear."""
    return min(_times(fn, device, repeats, warmup))


def _times(fn: Callable[[], object], device, repeats: int, warmup: int) -> list[float]:
    from lab.device import synchronize

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    collecting = gc.isenabled()
    gc.disable()  # the warm-up above ran with it, so its garbage does not pile up here
    try:
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - start)
    finally:
        if collecting:
            gc.enable()
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
    from lab.training.fit import fit

    model = build_tagger(ModelConfig(**model_kwargs), vocabs)
    result = fit(model, train, dev, train_config(config, dev_metric), vocabs=vocabs)
    return model, result


def shuffled_chunks(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices 0..n-1 in a (seed, epoch)-determined order, cut into batches."""
    import numpy as np

    order = np.random.default_rng([seed, epoch]).permutation(n).tolist()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


# ------------------------------------------------ training through lab.training.fit


def train_config(config: dict, dev_metric: str = "token_accuracy"):
    """The run's training settings (``config``: lr, batch_size, max_epochs, patience,
    min_updates, solved_at, max_seconds, seed, device, amp) as a lab.training TrainConfig.
    ``patience`` None is a fixed budget of ``max_epochs`` (ended early only by
    ``solved_at``); ``min_updates`` keeps patience from ending a run on a plateau.
    ``max_seconds`` is a safety net only: a run it stops is counted and left out of every
    verdict (``capped``)."""
    from lab.training.config import TrainConfig

    patience = config.get("patience", 2)
    solved_at = config.get("solved_at")
    return TrainConfig(
        lr=float(config.get("lr", 2e-3)),
        batch_size=int(config.get("batch_size", 32)),
        max_epochs=int(config.get("max_epochs", 10)),
        patience=None if patience is None else int(patience),
        min_updates=int(config.get("min_updates", 0)),
        solved_at=None if solved_at is None else float(solved_at),
        max_seconds=config.get("max_seconds"),
        dev_metric=dev_metric,
        device=str(config.get("device", "auto")),
        seed=int(config["seed"]),
        amp=str(config.get("amp", "none")),
        progress=False,
    )


def fit_model(
    model,
    train: Sequence,
    dev: Sequence,
    config: dict,
    vocabs=None,
    score: Callable[[Any], float] | None = None,
    dev_metric: str = "token_accuracy",
):
    """lab.training.fit.fit under the run's settings; ``score(model)`` (higher is better,
    eval mode, no grad) replaces the dev metric for early stopping. Returns the FitResult."""
    from lab.training.fit import fit

    return fit(model, train, dev, train_config(config, dev_metric), vocabs=vocabs, score=score)


def fit_metrics(result) -> dict:
    """What every trained run records of its training: epochs, updates, seconds, why it
    stopped (``capped``: the max_seconds safety net stopped it, so it is left out of verdicts)."""
    reason = str(getattr(result, "stopped_reason", ""))
    return {
        "epochs": int(result.epochs),
        "best_epoch": int(getattr(result, "best_epoch", 0)),
        "updates": int(getattr(result, "updates", 0)),
        "updates_to_best": int(getattr(result, "updates_to_best", 0)),
        "train_seconds": float(result.train_seconds),
        "stopped_reason": reason,
        "capped": reason == "max_seconds",
    }


def uncapped(df):
    """(the rows whose training was not stopped by the max_seconds safety net, how many
    were); rows without the field count as uncapped."""
    if "capped" not in df:
        return df, 0
    capped = df["capped"].fillna(False).astype(bool)
    return df[~capped], int(capped.sum())
