"""Corpus readers: CoNLL-U and column formats (CoNLL-2000/2003, WNUT 17), plain or gzip.

Every reader returns ``list[Sentence]`` and never lets bad input pass silently: a
malformed line raises ``ValueError`` naming the path, the line number and the text.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from lab.data.sentence import Sentence

# CoNLL-U has ten tab-separated columns; the tags we can read and their column index.
CONLLU_COLUMNS = 10
CONLLU_TAG_COLUMNS = {"upos": 3, "xpos": 4}
FORMATS = ("auto", "conllu", "columns")
DOCSTART = "-DOCSTART-"

_WORD_ID = re.compile(r"[1-9][0-9]*")
_RANGE_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*")  # multi-word token, e.g. "1-2"
_EMPTY_NODE_ID = re.compile(r"[0-9]+\.[1-9][0-9]*")  # empty node, e.g. "8.1"
_GZIP_MAGIC = b"\x1f\x8b"


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 file, gzip or plain.

    Gzip is recognised by its magic bytes, so the file name does not matter. Line ends
    (LF or CRLF) and a leading byte-order mark are removed. Undecodable bytes raise
    ``ValueError`` with the path, the 1-based line number and the offending bytes.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")  # whole file at once: much faster than line by line
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line_end = data.find(b"\n", e.start)
        line = data[line_start : None if line_end < 0 else line_end]
        lineno = data.count(b"\n", 0, e.start) + 1
        at = e.start - line_start
        raise ValueError(
            f"{path}:{lineno}: undecodable bytes (expected UTF-8) at byte {at} of the "
            f"line: {line[max(0, at - 60) : at + 60]!r}"
        ) from None
    lines = text.split("\n")  # not splitlines(): tokens may hold \x1c, \x85, \u2028
    if lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        yield lineno, line[:-1] if line.endswith("\r") else line


def read_conllu(path: str | Path, tag_column: str = "upos") -> list[Sentence]:
    """Read a CoNLL-U file (``.gz`` allowed) as tagged sentences.

    ``tag_column`` is ``"upos"`` (column 4) or ``"xpos"`` (column 5). Comment lines
    (``#``), multi-word token lines (``1-2``) and empty nodes (``8.1``) are skipped; a
    blank or whitespace-only line ends a sentence; the last sentence may lack one.
    Raises ``ValueError`` (path, line, text) for: a line without 10 tab-separated
    columns, a token id that is not an integer (or not the next one), an empty token or
    tag (``""`` or ``"_"``), a sentence block with no word lines, a file with no
    sentences, undecodable bytes.
    """
    if tag_column not in CONLLU_TAG_COLUMNS:
        raise ValueError(
            f"tag_column must be one of {sorted(CONLLU_TAG_COLUMNS)}, got {tag_column!r}"
        )
    column = CONLLU_TAG_COLUMNS[tag_column]
    path = Path(path)
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    block_start: int | None = None  # line where the current sentence block began

    def finish(lineno: int) -> None:
        nonlocal tokens, tags, block_start
        if block_start is None:
            return
        if not tokens:
            raise ValueError(
                f"{path}:{block_start}: sentence (lines {block_start}-{lineno - 1}) has no "
                "word lines; expected at least one token"
            )
        sentences.append(Sentence(tuple(tokens), tuple(tags)))
        tokens, tags, block_start = [], [], None

    lineno = 0
    for lineno, line in iter_lines(path):  # noqa: B007 (used after the loop)
        if not line.strip():
            finish(lineno)
            continue
        if block_start is None:
            block_start = lineno
        if line.startswith("#"):
            if tokens:
                raise ValueError(
                    f"{path}:{lineno}: comment line inside a sentence (after its word "
                    f"lines); expected comments only before the first word: {line!r}"
                )
            continue
        fields = line.split("\t")
        if len(fields) != CONLLU_COLUMNS:
            raise ValueError(
                f"{path}:{lineno}: expected {CONLLU_COLUMNS} tab-separated columns, got "
                f"{len(fields)}: {line!r}"
            )
        token_id = fields[0]
        if token_id != str(len(tokens) + 1):  # the next word id: the common, fast case
            if _RANGE_ID.fullmatch(token_id) or _EMPTY_NODE_ID.fullmatch(token_id):
                continue  # multi-word tokens and empty nodes carry no tag of their own
            if not _WORD_ID.fullmatch(token_id):
                raise ValueError(
                    f"{path}:{lineno}: token id {token_id!r} is not an integer (nor a range "
                    f"like 1-2 or an empty node like 8.1): {line!r}"
                )
            raise ValueError(
                f"{path}:{lineno}: expected token id {len(tokens) + 1}, got {token_id!r} "
                f"(ids must count 1, 2, ... within a sentence): {line!r}"
            )
        form, tag = fields[1], fields[column]
        if not form:
            raise ValueError(f"{path}:{lineno}: empty token (column 2): {line!r}")
        if tag in ("", "_"):
            raise ValueError(
                f"{path}:{lineno}: empty {tag_column} tag (column {column + 1}) for token "
                f"{form!r}: {line!r}"
            )
        tokens.append(form)
        tags.append(tag)
    finish(lineno + 1)
    if not sentences:
        raise ValueError(f"{path}: no sentences found; expected CoNLL-U word lines")
    return sentences


def read_columns(path: str | Path, token_column: int = 0, tag_column: int = -1) -> list[Sentence]:
    """Read a column file (CoNLL-2000/2003, WNUT 17; ``.gz`` allowed) as tagged sentences.

    Columns are tab-separated when a line holds a tab, else separated by spaces. The token
    is column ``token_column`` and the tag column ``tag_column`` (Python indexing, so -1 is
    the last). A blank or whitespace-only line ends a sentence; ``-DOCSTART-`` lines are
    skipped. Raises ``ValueError`` (path, line, text) for: a line whose number of
    columns differs from the file's first token line, or too few columns to hold the
    token and the tag apart; an empty token or tag; a file with no sentences;
    undecodable bytes.
    """
    path = Path(path)
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    num_columns: int | None = None  # fixed by the first token line
    token_index = tag_index = 0

    def finish() -> None:
        nonlocal tokens, tags
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags)))
        tokens, tags = [], []

    for lineno, line in iter_lines(path):
        if not line.strip():
            finish()
            continue
        fields = _split_columns(line)
        if fields[0] == DOCSTART:
            finish()  # a document boundary is also a sentence boundary
            continue
        if num_columns is None:
            num_columns = len(fields)
            token_index, tag_index = _resolve_columns(
                num_columns, token_column, tag_column, f"{path}:{lineno}", line
            )
        elif len(fields) != num_columns:
            raise ValueError(
                f"{path}:{lineno}: expected {num_columns} columns (as on the first token "
                f"line), got {len(fields)}: {line!r}"
            )
        token, tag = fields[token_index], fields[tag_index]
        if not token:
            raise ValueError(f"{path}:{lineno}: empty token (column {token_index + 1}): {line!r}")
        if not tag:
            raise ValueError(
                f"{path}:{lineno}: empty tag (column {tag_index + 1}) for token {token!r}: {line!r}"
            )
        tokens.append(token)
        tags.append(tag)
    finish()
    if not sentences:
        raise ValueError(f"{path}: no sentences found; expected lines of token and tag columns")
    return sentences


def read_corpus(path: str | Path, fmt: str = "auto", **kwargs: object) -> list[Sentence]:
    """Read a corpus file. ``fmt="auto"`` picks CoNLL-U for a name ending ``.conllu``
    (after removing ``.gz``) and the column format otherwise; ``kwargs`` go to the reader
    (``tag_column`` for CoNLL-U; ``token_column``, ``tag_column`` for columns)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "conllu":
        return read_conllu(path, **kwargs)  # type: ignore[arg-type]
    return read_columns(path, **kwargs)  # type: ignore[arg-type]


def detect_format(path: str | Path) -> str:
    """``"conllu"`` for ``*.conllu`` or ``*.conllu.gz``, else ``"columns"``."""
    name = Path(path).name
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    return "conllu" if name.endswith(".conllu") else "columns"


def _split_columns(line: str) -> list[str]:
    if "\t" in line:
        return [field.strip(" ") for field in line.split("\t")]
    return [field for field in line.split(" ") if field]


def _resolve_columns(
    num_columns: int, token_column: int, tag_column: int, where: str, line: str
) -> tuple[int, int]:
    """Turn possibly negative column indices into two distinct valid indices."""
    resolved = []
    for name, index in (("token_column", token_column), ("tag_column", tag_column)):
        if not isinstance(index, int):
            raise TypeError(f"{name} must be an int, got {type(index).__name__}")
        if not -num_columns <= index < num_columns:
            raise ValueError(
                f"{where}: {name}={index} but the line has {num_columns} column(s): {line!r}"
            )
        resolved.append(index % num_columns)
    if resolved[0] == resolved[1]:
        raise ValueError(
            f"{where}: token and tag would be the same column ({resolved[0] + 1} of "
            f"{num_columns}); expected at least two columns: {line!r}"
        )
    return resolved[0], resolved[1]
