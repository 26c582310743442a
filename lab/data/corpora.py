"""Corpora by name or by path: the real corpora in the shared data folder, the built-in
synthetic corpora, and the corpus specs the commands accept.

A spec is one of: a file path (CoNLL-U or CoNLL columns, gz or not), ``NAME:N`` (a
built-in synthetic corpus of N sentences: ``synthetic-hmm``, ``synthetic-hmm-flat``,
``long-range-k<LAG>``, ``word-order``, ``translation``) or ``NAME:SPLIT`` (a real corpus:
``ud_ewt:train``). ``builtin_corpus`` returns ``list[Sentence]`` for tagging corpora,
``(tokens, label)`` pairs for ``word-order`` and ``(source, target)`` pairs for
``translation``; ``builtin_kind`` says which.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import numpy as np

from lab.data.readers import read_corpus, token_lines
from lab.data.sentence import Sentence
from lab.data.synthetic.hmm import synthetic_hmm
from lab.data.synthetic.long_range import long_range_corpus
from lab.data.synthetic.translation import translation_pairs
from lab.data.synthetic.word_order import word_order_corpus

ENV_VAR = "LAB_DATA_DIR"

# name -> (folder under the data dir, {split: file name})
REAL_CORPORA: dict[str, tuple[str, dict[str, str]]] = {
    "ud_ewt": (
        "ud_english_ewt",
        {
            "train": "en_ewt-ud-train.conllu.gz",
            "dev": "en_ewt-ud-dev.conllu.gz",
            "test": "en_ewt-ud-test.conllu.gz",
        },
    ),
    "wnut17": (
        "wnut17",
        {
            "train": "wnut17train.conll.gz",
            "dev": "emerging.dev.conll.gz",
            "test": "emerging.test.annotated.gz",
        },
    ),
}


def _candidates() -> list[Path]:
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env)]
    repo_root = Path(__file__).resolve().parents[2]
    return [repo_root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]


def shared_data_dir() -> Path | None:
    """The real-corpora folder: ``$LAB_DATA_DIR`` when set, else ``<repo root>/../shared/data``,
    else ``./../shared/data``; None when the chosen folder does not exist."""
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate
    return None


def real_corpus(name: str) -> dict[str, Path]:
    """The ``{"train", "dev", "test"}`` file paths of a real corpus (``"ud_ewt"``,
    ``"wnut17"``). Raises ValueError for an unknown name and FileNotFoundError naming the
    expected location when the data folder or a file is missing."""
    if name not in REAL_CORPORA:
        raise ValueError(f"unknown real corpus {name!r}; expected one of {sorted(REAL_CORPORA)}")
    folder, files = REAL_CORPORA[name]
    root = shared_data_dir()
    if root is None:
        looked = ", ".join(str(c) for c in _candidates())
        raise FileNotFoundError(
            f"corpus {name!r} needs the shared data folder; looked in {looked} "
            f"(set ${ENV_VAR} to the folder holding {folder}/)"
        )
    paths = {split: root / folder / file for split, file in files.items()}
    for split, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f"corpus {name!r}: {split} split expected at {path}")
    return paths


def load_real_corpus(name: str, **reader_kwargs: object) -> dict[str, list[Sentence]]:
    """Read every split of a real corpus: ``{"train": [...], "dev": [...], "test": [...]}``."""
    return {split: read_corpus(path, **reader_kwargs) for split, path in real_corpus(name).items()}


# --- built-in synthetic corpora ----------------------------------------------------

_LONG_RANGE = re.compile(r"long-range-k([1-9][0-9]*)")
SPLITS = ("train", "dev", "test")

# name -> (kind, generator(n, seed), one-line description)
_FIXED: dict[str, tuple[str, Callable[[int, int], list], str]] = {
    "synthetic-hmm": (
        "tagging",
        lambda n, seed: synthetic_hmm(n, seed=seed)[0],
        "HMM, 8 tags, 200 words, sharp transitions (Dirichlet 0.3), 3 tags per word",
    ),
    "synthetic-hmm-flat": (
        "tagging",
        lambda n, seed: synthetic_hmm(n, seed=seed, concentration=5.0)[0],
        "as synthetic-hmm with near-uniform transitions (Dirichlet 5): context helps little",
    ),
    "word-order": (
        "classification",
        word_order_corpus,
        "'the man ate the hot dog' / 'the hot dog ate the man': who eats (n even)",
    ),
    "translation": (
        "translation",
        translation_pairs,
        "SVO source -> SOV target, adjectives after the noun, own lexicon",
    ),
}


def builtin_names() -> list[str]:
    """The valid names; ``long-range-k<LAG>`` accepts any positive LAG."""
    return [*_FIXED, "long-range-k<LAG>"]


def _lookup(name: str) -> tuple[str, Callable[[int, int], list]]:
    if name in _FIXED:
        kind, generate, _ = _FIXED[name]
        return kind, generate
    match = _LONG_RANGE.fullmatch(name)
    if match:
        lag = int(match.group(1))
        return "tagging", lambda n, seed: long_range_corpus(n, lag, seed=seed)
    raise ValueError(
        f"unknown built-in corpus {name!r}; expected one of {builtin_names()} (e.g. long-range-k10)"
    )


def builtin_kind(name: str) -> str:
    """``"tagging"``, ``"classification"`` or ``"translation"``."""
    return _lookup(name)[0]


def builtin_corpus(name: str, n: int, seed: int = 0) -> list:
    """``n`` examples of the built-in corpus ``name``, deterministic for ``seed``."""
    return _lookup(name)[1](n, seed)


def split_seed(seed: int, split: str) -> int:
    """The sample seed of one split: independent streams for train, dev and test."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return int(np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1)[0])


def builtin_splits(name: str, sizes: dict[str, int], seed: int = 0) -> dict[str, list]:
    """``{split: examples}`` for splits among train/dev/test, e.g.
    ``builtin_splits("synthetic-hmm", {"train": 1000, "dev": 500, "test": 500}, seed=0)``.
    Each split has its own sample seed (``split_seed``); for the HMM corpora all splits
    and all seeds share one HMM (its parameter seed is fixed)."""
    return {split: builtin_corpus(name, n, split_seed(seed, split)) for split, n in sizes.items()}


# --- specs ---------------------------------------------------------------------------


_BUILTIN_SPEC = re.compile(r"([a-z][a-z0-9-]*):([0-9]+)")
_REAL_SPEC = re.compile(r"([a-z][a-z0-9_]*):(train|dev|test)")


def load_sentences(spec: str, split: str, fmt: str = "auto", seed: int = 0) -> list:
    """The tagged sentences ``spec`` names (a file, ``NAME:N`` built-in, or
    ``NAME:SPLIT`` real corpus); ``split`` and ``seed`` pick a built-in corpus's sample."""
    path = Path(spec)
    if path.exists():
        return read_corpus(path, fmt=fmt)
    builtin = _BUILTIN_SPEC.fullmatch(spec)
    if builtin:
        name, n = builtin.group(1), int(builtin.group(2))
        if builtin_kind(name) != "tagging":
            raise ValueError(f"built-in corpus {name!r} is not a tagging corpus")
        return builtin_corpus(name, n, split_seed(seed, split))
    real = _REAL_SPEC.fullmatch(spec)
    if real and real.group(1) in REAL_CORPORA:
        return read_corpus(real_corpus(real.group(1))[real.group(2)], fmt=fmt)
    raise ValueError(
        f"{spec!r} is neither an existing file, a built-in corpus NAME:N (names: "
        f"{builtin_names()}), nor a real corpus NAME:SPLIT (names: "
        f"{sorted(REAL_CORPORA)})"
    )


def corpus_file(spec: str) -> Path | None:
    """The file a spec reads: the path itself, a real corpus split's file, or None for a
    built-in synthetic corpus."""
    if Path(spec).exists():
        return Path(spec)
    real = _REAL_SPEC.fullmatch(spec)
    if real and real.group(1) in REAL_CORPORA:
        return real_corpus(real.group(1))[real.group(2)]
    return None


def check_tags(
    sentences: Sequence[Sentence],
    known: Collection[str],
    spec: str,
    split: str,
    fmt: str = "auto",
    against: str = "the training data",
) -> None:
    """Raise ValueError naming where (``file:line``, or sentence and token of a built-in
    corpus) the first tag of ``sentences`` that is not in ``known`` is, so that a model
    is never trained or evaluated only to fail on it at the end."""
    for i, sentence in enumerate(sentences):
        for j, tag in enumerate(sentence.tags):
            if tag in known:
                continue
            path = corpus_file(spec)
            if path is not None:  # re-read for the line: only on this error path
                where = f"{path}:{token_lines(path, fmt)[i][j]}"
            else:
                where = f"{spec} ({split} sample), sentence {i + 1}, token {j + 1}"
            names = sorted(known)
            shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
            raise ValueError(
                f"{where}: {split} tag {tag!r} (token {sentence.tokens[j]!r}) was not seen in "
                f"{against}; known tags: {shown}"
            )


# --- corpora given by path (lab run EXPERIMENT --corpus NAME=TRAIN,DEV,TEST) ----------

CORPUS_SPLITS = ("train", "dev", "test")
_CORPUS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def parse_corpus_arg(text: str) -> tuple[str, dict[str, str] | None]:
    """``NAME=TRAIN,DEV,TEST`` -> (NAME, {"train", "dev", "test", "format": "auto"}); a
    bare ``NAME`` -> (NAME, None): a built-in corpus of the experiment. ValueError saying
    what was expected otherwise."""
    name, sep, files = text.partition("=")
    name = name.strip()
    if not _CORPUS_NAME.fullmatch(name):
        raise ValueError(
            f"--corpus {text!r}: expected NAME=TRAIN,DEV,TEST (NAME letters, digits, _ or -)"
        )
    if not sep:
        return name, None
    paths = [p.strip() for p in files.split(",")]
    if len(paths) != 3 or not all(paths):
        missing = CORPUS_SPLITS[len([p for p in paths if p]) :] or CORPUS_SPLITS
        raise ValueError(
            f"--corpus {text!r}: expected three comma-separated files TRAIN,DEV,TEST; "
            f"missing {', '.join(missing)}"
        )
    return name, {"train": paths[0], "dev": paths[1], "test": paths[2], "format": "auto"}


def read_corpora_file(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """A TOML file of corpora, one table each; relative paths are relative to the file::

    [mytb]
    train = "data/train.conllu"
    dev = "data/dev.conllu"
    test = "data/test.conllu"
    format = "conllu"        # optional: auto (default), conllu, columns
    """
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"corpora file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    corpora = {}
    for name, table in data.items():
        if not isinstance(table, dict) or not _CORPUS_NAME.fullmatch(name):
            raise ValueError(f"{path}: [{name}] must be a table of train, dev and test files")
        missing = [s for s in CORPUS_SPLITS if s not in table]
        unknown = sorted(set(table) - {*CORPUS_SPLITS, "format"})
        if missing or unknown:
            raise ValueError(
                f"{path}: [{name}] lacks {missing} / has unknown keys {unknown}; expected "
                f"{list(CORPUS_SPLITS)} and optionally format"
            )
        spec = {s: str((path.parent / str(table[s])).resolve()) for s in CORPUS_SPLITS}
        spec["format"] = str(table.get("format", "auto"))
        corpora[name] = spec
    return corpora


def check_corpus(name: str, spec: dict[str, str]) -> dict[str, list[Sentence]]:
    """Read and check every split of a corpus given by path, before any compute: each
    file exists and parses (the reader names path:line of a bad line), no split is
    empty, and every dev and test tag was seen in train (named with its file:line).
    Returns the splits."""
    fmt = spec.get("format", "auto")
    if fmt not in ("auto", "conllu", "columns"):
        raise ValueError(f"corpus {name!r}: format must be auto, conllu or columns, got {fmt!r}")
    splits = {}
    for split in CORPUS_SPLITS:
        path = Path(spec[split])
        if not path.exists():
            raise FileNotFoundError(f"corpus {name!r}: {split} file {path} does not exist")
        splits[split] = read_corpus(path, fmt=fmt)
        if not splits[split]:
            raise ValueError(f"corpus {name!r}: the {split} split {path} holds no sentence")
    known = {tag for sentence in splits["train"] for tag in sentence.tags}
    for split in ("dev", "test"):
        check_tags(splits[split], known, spec[split], split, fmt, against=spec["train"])
    return splits
