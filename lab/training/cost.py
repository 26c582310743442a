"""What a model costs: inference throughput and memory per decoder, and training cost.

Every figure carries the device, thread count and batch size it was taken with. Timings
are medians of repeated passes after warm-up passes, with the device synchronised
before each clock read.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from lab.data.batch import Batch
from lab.device import model_device, synchronize

if TYPE_CHECKING:
    from lab.models.tagger import Tagger


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)


def process_peak_rss_mb() -> float:
    """This process's peak resident memory since it started, in MiB (NaN where the
    ``resource`` module is missing, e.g. Windows)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def measure_inference(
    model: Tagger,
    batches: Sequence[Batch],
    method: str | None = None,
    repeats: int = 5,
    warmup: int = 1,
) -> dict[str, Any]:
    """Time ``model.decode(batch, method)`` over all ``batches`` on the model's device
    (method None: the model's default; an unknown one -> ValueError, from
    ``model.resolve_decoder``).

    The batches are moved to the device first (transfers are not timed); ``warmup``
    untimed passes, then ``repeats`` timed passes over every batch, each under
    ``torch.no_grad`` in eval mode. Returns:

    tokens_per_s, ms_per_sentence   from the median pass
    seconds_median, seconds_all     wall time of one pass over all batches
    peak_memory_mb, memory_kind     CUDA allocator peak during the timed passes
                                    ("cuda_allocator"), else the process's peak RSS
                                    since start ("process_peak_rss", an upper bound)
    device, threads, batch_size     how it was measured (batch_size: the largest B)
    method, n_sentences, n_tokens, repeats, warmup
    """
    if not batches:
        raise ValueError("measure_inference needs at least one batch, got none")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    method = model.resolve_decoder(method)
    device = model_device(model)
    on_device = [b.to(device) for b in batches]
    was_training = model.training
    model.eval()

    def one_pass() -> float:
        synchronize(device)
        t0 = time.perf_counter()
        for batch in on_device:
            model.decode(batch, method=method)
        synchronize(device)
        return time.perf_counter() - t0

    try:
        with torch.no_grad():
            for _ in range(warmup):
                one_pass()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            times = [one_pass() for _ in range(repeats)]
    finally:
        model.train(was_training)
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device) / 2**20, "cuda_allocator"
    else:
        peak, kind = process_peak_rss_mb(), "process_peak_rss"
    median = statistics.median(times)
    n_sentences = sum(b.size for b in batches)
    n_tokens = sum(b.num_tokens for b in batches)
    return {
        "method": method,
        "tokens_per_s": n_tokens / median if median > 0 else float("inf"),
        "ms_per_sentence": 1000.0 * median / n_sentences,
        "seconds_median": median,
        "seconds_all": times,
        "peak_memory_mb": peak,
        "memory_kind": kind,
        "device": _describe(device),
        "threads": torch.get_num_threads(),
        "batch_size": max(b.size for b in batches),
        "n_sentences": n_sentences,
        "n_tokens": n_tokens,
        "repeats": repeats,
        "warmup": warmup,
    }


def training_cost(result: Any) -> dict[str, Any]:
    """The training-cost figures of a ``lab.training.fit.FitResult``: tokens/s, wall time in
    total and to the best dev score, epochs run and best epoch, with the device, thread
    count and batch size they were taken with."""
    return {
        "train_tokens_per_s": result.train_tokens_per_s,
        "train_seconds": result.train_seconds,
        "seconds_to_best": result.seconds_to_best,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "stopped_reason": result.stopped_reason,
        "device": result.device,
        "threads": result.threads,
        "batch_size": result.batch_size,
    }
