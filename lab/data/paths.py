"""Where the real corpora live: the shared data folder beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

from lab.data.readers import read_corpus
from lab.data.sentence import Sentence

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
