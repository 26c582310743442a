"""``lab data``: corpus statistics and samples of the built-in synthetic corpora.

lab data stats [FILE ...]        per file: sentences, tokens, tags, lengths; with two
                                 or more files, the OOV rate of each later file
                                 against the first (train). No FILE: the built-in
                                 synthetic-hmm corpus (or --synthetic NAME).
lab data synth NAME [-n N]       print N examples of a built-in corpus
"""

from __future__ import annotations

import argparse

DEFAULT_SYNTHETIC = "synthetic-hmm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True

    stats = sub.add_parser("stats", help="corpus statistics and dev OOV rate")
    stats.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="corpus files (CoNLL-U or columns, .gz allowed); the first is the train set",
    )
    stats.add_argument(
        "--format", default="auto", choices=["auto", "conllu", "columns"], help="file format"
    )
    stats.add_argument(
        "--tag-column",
        default=None,
        help="CoNLL-U: upos (default) or xpos; columns: an index (default -1, the last)",
    )
    stats.add_argument(
        "--synthetic",
        metavar="NAME",
        help=f"a built-in tagging corpus instead of files (default {DEFAULT_SYNTHETIC})",
    )
    stats.add_argument("-n", type=int, default=2000, help="synthetic train size (dev: n/4)")
    stats.add_argument("--seed", type=int, default=0, help="synthetic sample seed")
    stats.add_argument("--lower", action="store_true", help="lower-case words for the OOV rate")

    synth = sub.add_parser("synth", help="print examples of a built-in synthetic corpus")
    synth.add_argument("name", help="e.g. synthetic-hmm, long-range-k10, word-order, translation")
    synth.add_argument("-n", type=int, default=6, help="number of examples")
    synth.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    # errors go to lab.cli.main: one line "lab data stats: error: ...", exit 2
    if args.data_command == "stats":
        return _stats(args)
    return _synth(args)


def _reader_kwargs(path: str, fmt: str, tag_column: str | None) -> dict:
    from lab.data.readers import detect_format

    if tag_column is None:
        return {}
    if (detect_format(path) if fmt == "auto" else fmt) == "conllu":
        return {"tag_column": tag_column}
    try:
        return {"tag_column": int(tag_column)}
    except ValueError:
        raise ValueError(
            f"--tag-column for the column file {path} must be an integer index, got {tag_column!r}"
        ) from None


def _stats(args: argparse.Namespace) -> int:
    from lab.data.corpora import builtin_kind, builtin_splits
    from lab.data.readers import read_corpus
    from lab.data.stats import corpus_stats, oov_rate

    if args.files and args.synthetic:
        raise ValueError("give corpus files or --synthetic NAME, not both")
    if args.files:
        corpora = [
            (
                path,
                read_corpus(
                    path, args.format, **_reader_kwargs(path, args.format, args.tag_column)
                ),
            )
            for path in args.files
        ]
    else:
        name = args.synthetic or DEFAULT_SYNTHETIC
        if builtin_kind(name) != "tagging":
            raise ValueError(f"stats needs a tagging corpus; {name!r} is {builtin_kind(name)}")
        sizes = {"train": args.n, "dev": max(1, args.n // 4)}
        splits = builtin_splits(name, sizes, seed=args.seed)
        corpora = [(f"{name} {split} (seed {args.seed})", s) for split, s in splits.items()]

    for label, sentences in corpora:
        print(corpus_stats(sentences).format(label))
        print()
    train_label, train = corpora[0]
    for label, sentences in corpora[1:]:
        rate = oov_rate(train, sentences, lower=args.lower)
        print(f"OOV rate of {label} against {train_label}: {100 * rate:.2f}% of tokens")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from lab.data.corpora import builtin_corpus, builtin_kind

    kind = builtin_kind(args.name)
    for example in builtin_corpus(args.name, args.n, seed=args.seed):
        if kind == "tagging":
            print(" ".join(f"{w}/{t}" for w, t in zip(example.tokens, example.tags, strict=True)))
        elif kind == "classification":
            tokens, label = example
            print(f"{label}\t{' '.join(tokens)}")
        else:
            source, target = example
            print(f"{' '.join(source)}\t=>\t{' '.join(target)}")
    return 0
