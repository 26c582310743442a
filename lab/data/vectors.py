"""Pretrained word vectors by path, as NCRF++, flair and AllenNLP take them: GloVe text
(``word v1 ... vD`` per line) or word2vec text (the same after a ``count D`` header), gz
or not. Read once, checked line by line (a bad line is ``path:line``), with the file's
content hash for the records. No vectors ship with the lab.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class WordVectors:
    """words (N,) and their vectors (N, D) float32; ``sha256`` of the file's bytes."""

    path: str
    words: tuple[str, ...]
    matrix: np.ndarray
    sha256: str

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def index(self, lower: bool = False) -> dict[str, int]:
        """word (lower-cased if ``lower``) -> row, the first row where a word repeats."""
        out: dict[str, int] = {}
        for i, w in enumerate(self.words):
            out.setdefault(w.lower() if lower else w, i)
        return out


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_vectors(path: str | Path, dim: int | None = None) -> WordVectors:
    """The vectors in ``path`` (module doc); ``dim``: the dimension they must have (the
    model's embedding_dim). ValueError naming ``path:line`` for a bad line, a dimension
    that disagrees, or a file without vectors; FileNotFoundError for a missing file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"vectors file {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    words: list[str] = []
    rows: list[list[float]] = []
    width = dim
    with opener(path, "rt", encoding="utf-8", errors="strict") as f:
        try:
            for number, line in enumerate(f, start=1):
                parts = line.rstrip("\n").rstrip().split(" ")
                if not parts or parts == [""]:
                    continue
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    header = int(parts[1])  # word2vec text: "count dim"
                    if width is not None and header != width:
                        raise ValueError(
                            f"{path}:1: the file's vectors have {header} dimensions, "
                            f"the model's embedding_dim is {width}"
                        )
                    width = header
                    continue
                values = parts[1:]
                if width is None:
                    width = len(values)
                if not rows and dim is not None and len(values) != dim:
                    raise ValueError(
                        f"{path}:{number}: the file's vectors have {len(values)} dimensions, "
                        f"the model's embedding_dim is {dim}"
                    )
                if len(values) != width:
                    raise ValueError(f"{path}:{number}: expected a word and {width} numbers, "
                                     f"got {len(values)} numbers")  # fmt: skip
                try:
                    row = [float(v) for v in values]
                except ValueError:
                    raise ValueError(f"{path}:{number}: not a number among the vector's "
                                     "values") from None  # fmt: skip
                if not all(math.isfinite(v) for v in row):
                    raise ValueError(f"{path}:{number}: a non-finite value in the vector")
                words.append(parts[0])
                rows.append(row)
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err.reason})") from None
    if not rows:
        raise ValueError(f"{path}: no vectors in the file")
    if dim is not None and width != dim:
        raise ValueError(f"{path}:1: the file's vectors have {width} dimensions, the model's "
                         f"embedding_dim is {dim}")  # fmt: skip
    matrix = np.asarray(rows, dtype=np.float32)
    return WordVectors(str(path), tuple(words), matrix, file_sha256(path))
