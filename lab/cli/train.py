"""``lab train``: train one model on a corpus, save the best checkpoint and its metrics.

    lab train --model encoder=lstm,bidirectional=true,head=crf \\
              --train synthetic-hmm:1000 --dev synthetic-hmm:300 --out runs/crf

CONFIG (``--model``, ``--train-config``): a JSON file, or inline ``key=value,...`` with
values typed by the config's fields (``true``/``false``, numbers, ``none``).
DIR (``--out``): a new or empty folder, or (``--overwrite``) one holding an earlier run.
The run is written into a hidden sibling folder and renamed into place when it ends, so
DIR holds the old run or the new one, complete, never a mix. Exit status: 0 done, 2 a
user error (found before training: data, tags, options, device, DIR), 3 the loss became
non-finite, 130 interrupted (the best state so far is saved).
F (``--train``, ``--dev``, ``--test``): a CoNLL-U or column file (format by extension,
then by content: CoNLL-U of any name is read as CoNLL-U; ``--format`` overrides), a
built-in synthetic corpus ``NAME:N`` (e.g. ``synthetic-hmm:1000``; each split draws its
own sample from the same generator), or a real corpus split ``NAME:SPLIT`` (e.g.
``ud_ewt:train``, ``wnut17:dev``). Every split is read, and its tags checked against
train's, before training starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from lab.cli.common import check_out_folder
from lab.configs import parse_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("--model", required=True, metavar="CONFIG", help="the ModelConfig")
    parser.add_argument("--train", required=True, metavar="F", help="training corpus")
    parser.add_argument("--dev", required=True, metavar="F", help="dev corpus (early stopping)")
    parser.add_argument("--test", metavar="F", help="test corpus, evaluated once at the end")
    parser.add_argument("--out", required=True, metavar="DIR", help="where model.pt etc. go")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    parser.add_argument("--train-config", metavar="CONFIG", default="", help="TrainConfig fields")
    from lab.cli.common import add_data_arguments

    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=None, help="max_epochs")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=None, help="wall-time budget")
    parser.add_argument("--min-freq", type=int, default=1, help="word vocabulary cut-off")
    parser.add_argument("--lower", action="store_true", help="lower-case the word vocabulary")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _train_config(args: argparse.Namespace) -> Any:
    from lab.training.config import TrainConfig

    config = parse_config(args.train_config, TrainConfig) if args.train_config else TrainConfig()
    overrides = {
        "max_epochs": args.epochs,
        "lr": args.lr,
        "patience": args.patience,
        "seed": args.seed,
        "max_seconds": args.max_seconds,
        "batch_size": args.batch_size,
        "device": args.device,
        "progress": False if args.no_progress else None,
    }
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _setup_logging() -> None:
    import logging

    class StderrHandler(logging.StreamHandler):
        """Writes to the sys.stderr of the moment, not of the first call (tests and
        callers of lab.cli.main may swap it between runs)."""

        @property
        def stream(self):  # type: ignore[override]
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    logger = logging.getLogger("lab.training.fit")
    if not logger.handlers:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


# What a run folder holds (fit writes model.pt and fit.json, lab train metrics.json);
# model.pt.tmp is a save that an older lab left behind when killed.
RUN_FILES = ("model.pt", "fit.json", "metrics.json")
_RUN_LEFTOVERS = ("model.pt.tmp",)


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that would lose something: a file, a folder holding an earlier
    run (unless ``overwrite``), a folder holding anything but a run's files."""
    from lab.errors import UsageError

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; expected a folder for the run")
    if not out.is_dir():
        return
    entries = sorted(p.name for p in out.iterdir())
    others = [e for e in entries if e not in RUN_FILES + _RUN_LEFTOVERS]
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise UsageError(
            f"--out {out} holds files that are not a run's ({shown}); lab train writes a "
            "folder of its own: give a new or empty folder"
        )
    run = [e for e in entries if e in RUN_FILES]
    if run and not overwrite:
        raise UsageError(
            f"--out {out} already holds a run ({', '.join(run)}); pass --overwrite to "
            "replace it, or give another --out"
        )


def _out_lock(out: Path):
    """An exclusive lock on ``--out`` (a hidden sibling file, removed afterwards) for as
    long as the run trains and installs: a second lab train into the same folder is
    refused, not raced (one would silently replace the other)."""
    from lab.atomic import exclusive_lock

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = out.parent / f".{out.name}.lock"
        lock.touch()
    except PermissionError as e:
        raise PermissionError(f"--out {out}: cannot write in {out.parent} ({e.strerror})") from None
    return exclusive_lock(
        lock, f"--out {out}: another lab train is writing this folder now", remove=True
    )


def _clean_leftovers(out: Path) -> None:
    """Remove the staging folders that a killed lab train left beside ``out`` (hidden
    ``.<name>.*.tmp`` / ``.old``): with the lock held, no live run owns them."""
    import shutil

    for leftover in list(out.parent.glob(f".{out.name}.*.tmp")) + list(
        out.parent.glob(f".{out.name}.*.old")
    ):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
            print(f"lab train: removed {leftover.name}, left by a run that was killed",
                  file=sys.stderr)  # fmt: skip


def _staging_dir(out: Path) -> Path:
    """A new hidden sibling of ``out`` to train into; making it proves the folder is
    writable before any compute."""
    import tempfile

    from lab.atomic import umask

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except PermissionError as e:  # name the folder the user gave, not the hidden one
        raise PermissionError(f"--out {out}: cannot write in {out.parent} ({e.strerror})") from None
    os.chmod(staging, 0o777 & ~umask())  # mkdtemp makes 0700; a run folder is like any other
    return staging


def _install(staging: Path, out: Path) -> None:
    """Move the finished run in ``staging`` to ``out``. An earlier run there is first
    renamed aside and removed only once the new one is in place."""
    import shutil
    import tempfile

    if out.is_dir() and any(out.iterdir()):
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, aside)  # onto the empty folder mkdtemp made
        os.replace(staging, out)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(staging, out)  # onto nothing, or onto an empty folder


def check_options(train_config: Any, model_config: Any, tag_names: list[str]) -> None:
    """Options that cannot apply to this data are refused, not ignored."""
    from lab.data.tagset import is_bio_tagset
    from lab.errors import UsageError

    if not is_bio_tagset(tag_names):
        shown = ", ".join(tag_names[:8]) + (", ..." if len(tag_names) > 8 else "")
        if train_config.dev_metric == "span_f1":
            raise UsageError(
                f"dev_metric=span_f1 needs BIO tags (O, B-X, I-X); the training tags are "
                f"{shown}: use dev_metric=token_accuracy"
            )
        if model_config.bio_constraints:
            raise UsageError(
                f"bio_constraints=true needs BIO tags (O, B-X, I-X); the training tags are "
                f"{shown}: drop bio_constraints"
            )


def check_bio_data(model_config: Any, sentences: list, spec: str, fmt: str) -> None:
    """With bio_constraints, a gold sentence that breaks BIO (O then I-X) has likelihood 0:
    refused now, naming its file:line, rather than as an infinite loss an epoch later."""
    from lab.data.corpora import corpus_file
    from lab.data.readers import token_lines
    from lab.data.tagset import first_invalid_bio
    from lab.errors import UsageError

    if not model_config.bio_constraints:
        return
    found = first_invalid_bio(s.tags for s in sentences)
    if found is None:
        return
    i, t, previous, tag = found
    path = corpus_file(spec)
    where = f"{spec}: sentence {i + 1}, token {t + 1}"
    if path is not None:
        where = f"{path}:{token_lines(path, fmt)[i][t]}"
    raise UsageError(
        f"{where}: {tag!r} after {previous!r} breaks BIO, which bio_constraints=true forbids "
        "(that sentence would have likelihood 0, the loss inf): drop bio_constraints or fix "
        "the tags"
    )


def check_exact_decoder(model_config: Any, dev: list, num_tags: int) -> None:
    """decoder=exact enumerates C^T tag sequences per sentence: refused now where a dev
    sentence is beyond its limit, not after an epoch of training."""
    from lab.errors import UsageError
    from lab.models.heads import EXACT_DECODE_LIMIT

    if model_config.head != "autoregressive" or model_config.resolved_decoder != "exact":
        return
    longest = max((len(s) for s in dev), default=0)
    if longest and num_tags**longest > EXACT_DECODE_LIMIT:
        raise UsageError(
            f"decoder=exact enumerates C^T tag sequences: {num_tags}^{longest} for the longest "
            f"dev sentence is past its limit of {EXACT_DECODE_LIMIT:,}; use decoder=greedy "
            "or decoder=beam"
        )


def check_device(train_config: Any) -> Any:
    """The torch device ``train_config`` asks for, refused now (not after the data is read)
    if this machine lacks it or its ``amp`` cannot run on it."""
    import sys

    from lab.device import cpu_has_native_bf16, resolve_device
    from lab.errors import UsageError

    device = resolve_device(train_config.device)
    # fp16 autocast with loss scaling is CUDA-only (fit refuses it elsewhere, later);
    # bf16 autocast does run on the CPU (matmuls and LSTMs in bf16), so it is allowed.
    if train_config.amp == "fp16" and device.type != "cuda":
        raise UsageError(f"amp=fp16 needs a CUDA device, got {device}: use amp=bf16 or amp=none")
    if train_config.amp == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        print("lab train: warning: this CPU has no native bf16 (AVX512-BF16 or AMX): amp=bf16 "
              "runs emulated, several times slower than amp=none", file=sys.stderr)  # fmt: skip
    return device


def main(args: argparse.Namespace) -> int:
    from lab.models import ModelConfig

    # Everything that can fail on the user's input fails here, before any compute.
    try:
        model_config = parse_config(args.model, ModelConfig)
        train_config = _train_config(args)
    except TypeError as e:  # a config value of the wrong type
        raise ValueError(str(e)) from e
    check_device(train_config)
    out = Path(args.out)
    if out.is_symlink():  # the run is renamed into place: onto the folder, not the link
        out = out.resolve()
    check_out_folder(out, "--out")
    check_out_dir(out, args.overwrite)
    with _out_lock(out):  # one lab train per --out
        _clean_leftovers(out)
        return _train(args, out, model_config, train_config)


def _train(args: argparse.Namespace, out: Path, model_config, train_config) -> int:
    """``lab train`` after its options are checked, with ``out`` locked: read and check
    the data, train into a staging folder, install it as ``out``."""
    import shutil

    from lab.atomic import write_atomic
    from lab.cli import EXIT_INTERRUPTED, EXIT_NONFINITE
    from lab.cli.common import format_table
    from lab.data import Vocabs
    from lab.data.corpora import check_tags, load_sentences
    from lab.errors import UsageError
    from lab.models import build_tagger
    from lab.runs.provenance import collect
    from lab.seeding import seed_everything
    from lab.training.evaluate import evaluate
    from lab.training.fit import NonFiniteTrainingError, fit

    seed = train_config.seed
    train = load_sentences(args.train, "train", args.format, seed)
    dev = load_sentences(args.dev, "dev", args.format, seed)
    test = load_sentences(args.test, "test", args.format, seed) if args.test else None
    for option, spec, sentences in (("--train", args.train, train), ("--dev", args.dev, dev),
                                    ("--test", args.test, test)):  # fmt: skip
        if sentences is not None and not sentences:
            raise UsageError(f"{option} {spec}: no sentences")
    vocabs = Vocabs.build(
        train, min_freq=args.min_freq, lower=args.lower, chars=model_config.char_features
    )
    known = set(vocabs.tags.names)
    check_tags(dev, known, args.dev, "dev", args.format, against=args.train)
    if test is not None:
        check_tags(test, known, args.test, "test", args.format, against=args.train)
    check_options(train_config, model_config, vocabs.tags.names)
    check_bio_data(model_config, train, args.train, args.format)
    check_exact_decoder(model_config, dev, len(vocabs.tags))
    seed_everything(seed)  # the initial weights depend on it
    model = build_tagger(model_config, vocabs)

    staging = _staging_dir(out)
    try:
        _setup_logging()
        print(
            f"training {model_config.encoder}+{model_config.head} on {len(train)} sentences "
            f"({len(vocabs.words)} words, {len(vocabs.tags)} tags), dev {len(dev)}; -> {out}",
            file=sys.stderr,
        )
        try:
            result = fit(model, train, dev, train_config, vocabs=vocabs, out_dir=staging)
        except NonFiniteTrainingError as e:  # no finite epoch: the old run (if any) stays
            print(f"lab train: error: {e}; --out {out} untouched", file=sys.stderr)
            return EXIT_NONFINITE
        interrupted_over_a_run = result.stopped_reason == "interrupted" and any(
            (out / name).exists() for name in RUN_FILES
        )
        if interrupted_over_a_run:  # an abort must not destroy the result it aborted
            out = out.with_name(out.name + ".interrupted")
            shutil.rmtree(out, ignore_errors=True)
        result.checkpoint = str(out / "model.pt")  # where it will be, not the staging path
        write_atomic(staging / "fit.json", json.dumps(result.to_dict(), indent=2) + "\n")
        columns = {"dev": evaluate(model, dev, vocabs, train_config.batch_size)}
        if test is not None:
            columns["test"] = evaluate(model, test, vocabs, train_config.batch_size)
        summary = {
            "model_config": model_config.to_dict(),
            "train_config": train_config.to_dict(),
            "fit": result.to_dict(),
            **columns,
            # how to make it again: the command, data, vocabulary, commit, versions, device
            "provenance": {
                **collect(train_config.device),
                "data": {"train": args.train, "dev": args.dev, "test": args.test},
                "vocabulary": {"min_freq": args.min_freq, "lower": args.lower},
            },
        }
        write_atomic(staging / "metrics.json", json.dumps(summary, indent=2) + "\n")
        _install(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when installed
    print(
        f"best dev {result.dev_metric} {result.best_dev_metric:.4f} at epoch "
        f"{result.best_epoch}/{result.epochs} ({result.stopped_reason}); "
        f"{result.train_seconds:.1f}s, {result.train_tokens_per_s:.0f} tokens/s"
    )
    print(format_table(columns))
    print(f"checkpoint: {out / 'model.pt'}")
    kept = f"kept the best state (epoch {result.best_epoch}) in {out}"
    if result.stopped_reason == "interrupted":
        where = f"; the earlier run in {args.out} is untouched" if interrupted_over_a_run else ""
        print(f"lab train: interrupted after epoch {result.epochs}; {kept}{where}",
              file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    if result.stopped_reason == "nonfinite_loss":
        print(
            f"lab train: error: the loss became non-finite in epoch {result.epochs}; {kept}",
            file=sys.stderr,
        )
        return EXIT_NONFINITE
    return 0
