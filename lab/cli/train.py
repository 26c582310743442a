"""``lab train``: train one model on a corpus, save the best checkpoint and its metrics.

    lab train --model encoder=lstm,bidirectional=true,head=crf \\
              --train synthetic-hmm:1000 --dev synthetic-hmm:300 --out runs/crf

CONFIG (``--model``, ``--train-config``): a JSON file, or inline ``key=value,...`` with
values typed by the config's fields (``true``/``false``, numbers, ``none``).
F (``--train``, ``--dev``, ``--test``): a CoNLL-U or column file (format by extension,
``--format`` to override), a built-in synthetic corpus ``NAME:N`` (e.g.
``synthetic-hmm:1000``; each split draws its own sample from the same generator), or a
real corpus split ``NAME:SPLIT`` (e.g. ``ud_ewt:train``, ``wnut17:dev``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


def _coerce(value: str, type_name: str, key: str) -> Any:
    """``value`` as the field type ``type_name`` (a string annotation, e.g. 'float | None')."""
    text = value.strip()
    if "None" in type_name and text.lower() in ("none", "null"):
        return None
    try:
        if type_name.startswith("bool"):
            lowered = text.lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise ValueError
        if type_name.startswith("int"):
            return int(text)
        if type_name.startswith("float"):
            return float(text)
    except ValueError:
        raise ValueError(f"{key}={value!r}: expected a value of type {type_name}") from None
    return text


def parse_config(text: str, cls: type) -> Any:
    """A frozen config dataclass (with ``from_dict``) from a JSON file path or an inline
    ``key=value,key=value`` string; ValueError naming a bad key or value."""
    path = Path(text)
    if text.endswith(".json") or path.is_file():
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
        return cls.from_dict(data)
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    data: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"expected key=value in {text!r}, got {item!r}")
        if key not in types:
            raise ValueError(f"unknown {cls.__name__} key {key!r}; valid keys: {list(types)}")
        data[key] = _coerce(value, types[key], key)
    return cls.from_dict(data)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default="auto",
        help="corpus file format: auto (by extension), conllu or columns",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="sentences per batch")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda[:i], mps")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("--model", required=True, metavar="CONFIG", help="the ModelConfig")
    parser.add_argument("--train", required=True, metavar="F", help="training corpus")
    parser.add_argument("--dev", required=True, metavar="F", help="dev corpus (early stopping)")
    parser.add_argument("--test", metavar="F", help="test corpus, evaluated once at the end")
    parser.add_argument("--out", required=True, metavar="DIR", help="where model.pt etc. go")
    parser.add_argument("--train-config", metavar="CONFIG", default="", help="TrainConfig fields")
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

    logger = logging.getLogger("lab.training.fit")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(args: argparse.Namespace) -> int:
    from lab.atomic import write_atomic
    from lab.cli.evaluate import format_table
    from lab.data import Vocabs
    from lab.data.corpora import load_sentences
    from lab.models import ModelConfig, build_tagger
    from lab.runs.provenance import collect
    from lab.seeding import seed_everything
    from lab.training.evaluate import evaluate
    from lab.training.fit import fit

    try:
        model_config = parse_config(args.model, ModelConfig)
        train_config = _train_config(args)
        train = load_sentences(args.train, "train", args.format, train_config.seed)
        dev = load_sentences(args.dev, "dev", args.format, train_config.seed)
        test = (
            load_sentences(args.test, "test", args.format, train_config.seed) if args.test else None
        )
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"lab train: {e}", file=sys.stderr)
        return 2
    _setup_logging()
    vocabs = Vocabs.build(
        train, min_freq=args.min_freq, lower=args.lower, chars=model_config.char_features
    )
    seed_everything(train_config.seed)  # the initial weights depend on it
    model = build_tagger(model_config, vocabs)
    out = Path(args.out)
    print(
        f"training {model_config.encoder}+{model_config.head} on {len(train)} sentences "
        f"({len(vocabs.words)} words, {len(vocabs.tags)} tags), dev {len(dev)}; -> {out}",
        file=sys.stderr,
    )
    result = fit(model, train, dev, train_config, vocabs=vocabs, out_dir=out)
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
    write_atomic(out / "metrics.json", json.dumps(summary, indent=2) + "\n")
    print(
        f"best dev {result.dev_metric} {result.best_dev_metric:.4f} at epoch "
        f"{result.best_epoch}/{result.epochs} ({result.stopped_reason}); "
        f"{result.train_seconds:.1f}s, {result.train_tokens_per_s:.0f} tokens/s"
    )
    print(format_table(columns))
    print(f"checkpoint: {out / 'model.pt'}")
    return 0
