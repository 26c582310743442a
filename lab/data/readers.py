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
    if path.is_dir():  # a clear one-line error, not "[Errno 21] Is a directory"
        raise IsADirectoryError(
            f"{path} is a directory; expected a corpus file (CoNLL-U or columns, .gz allowed)"
        )
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
    path = Path(path)
    sentences = [s for s, _ in _conllu_sentences(path, tag_column)]
    if not sentences:
        raise ValueError(f"{path}: no sentences found; expected CoNLL-U word lines")
    return sentences


def _conllu_sentences(path: Path, tag_column: str = "upos") -> Iterator[tuple[Sentence, list[int]]]:
    """``(sentence, line number of each token)`` for each sentence of a CoNLL-U file."""
    if tag_column not in CONLLU_TAG_COLUMNS:
        raise ValueError(
            f"tag_column must be one of {sorted(CONLLU_TAG_COLUMNS)}, got {tag_column!r}"
        )
    column = CONLLU_TAG_COLUMNS[tag_column]
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    block_start: int | None = None  # line where the current sentence block began

    def finish(lineno: int) -> tuple[Sentence, list[int]] | None:
        nonlocal tokens, tags, lines, block_start
        if block_start is None:
            return None
        if not tokens:
            raise ValueError(
                f"{path}:{block_start}: sentence (lines {block_start}-{lineno - 1}) has no "
                "word lines; expected at least one token"
            )
        done = Sentence(tuple(tokens), tuple(tags)), lines
        tokens, tags, lines, block_start = [], [], [], None
        return done

    lineno = 0
    for lineno, line in iter_lines(path):  # noqa: B007 (used after the loop)
        if not line.strip():
            done = finish(lineno)
            if done is not None:
                yield done
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
                f"{len(fields)}: {line!r} (for a column file, use --format columns)"
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
        lines.append(lineno)
    done = finish(lineno + 1)
    if done is not None:
        yield done


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
    sentences = [s for s, _ in _column_sentences(path, token_column, tag_column)]
    if not sentences:
        raise ValueError(f"{path}: no sentences found; expected lines of token and tag columns")
    return sentences


def _column_sentences(
    path: Path, token_column: int = 0, tag_column: int = -1
) -> Iterator[tuple[Sentence, list[int]]]:
    """``(sentence, line number of each token)`` for each sentence of a column file."""
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    num_columns: int | None = None  # fixed by the first token line
    first_line = ""
    token_index = tag_index = 0

    def finish() -> tuple[Sentence, list[int]] | None:
        nonlocal tokens, tags, lines
        done = (Sentence(tuple(tokens), tuple(tags)), lines) if tokens else None
        tokens, tags, lines = [], [], []
        return done

    for lineno, line in iter_lines(path):
        fields = _split_columns(line) if line.strip() else None
        if fields is None or fields[0] == DOCSTART:
            # a blank line ends a sentence; a document boundary is also a sentence boundary
            done = finish()
            if done is not None:
                yield done
            continue
        if num_columns is None:
            num_columns, first_line = len(fields), line
            token_index, tag_index = _resolve_columns(
                num_columns, token_column, tag_column, f"{path}:{lineno}", line
            )
        elif len(fields) != num_columns:
            # e.g. CoNLL-U with comments that format detection could not recognise
            hint = (
                "; this looks like CoNLL-U: use --format conllu"
                if _is_conllu_word_line(line.split("\t")) or first_line.startswith("#")
                else ""
            )
            raise ValueError(
                f"{path}:{lineno}: expected {num_columns} columns (as on the first token "
                f"line), got {len(fields)}: {line!r}{hint}"
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
        lines.append(lineno)
    done = finish()
    if done is not None:
        yield done


def read_corpus(path: str | Path, fmt: str = "auto", **kwargs: object) -> list[Sentence]:
    """Read a corpus file. ``fmt="auto"`` picks the format with ``detect_format`` (by
    extension, then by content); ``kwargs`` go to the reader (``tag_column`` for
    CoNLL-U; ``token_column``, ``tag_column`` for columns)."""
    return [s for s, _ in _sentences(path, fmt, **kwargs)]


def token_lines(path: str | Path, fmt: str = "auto", **kwargs: object) -> list[list[int]]:
    """The 1-based line number of every token of ``path``, sentence by sentence (as
    ``read_corpus`` reads it), so that a later check can name file:line. It reads the
    file again: meant for the error path, not for every read."""
    return [lines for _, lines in _sentences(path, fmt, **kwargs)]


def _sentences(path: str | Path, fmt: str, **kwargs: object) -> list[tuple[Sentence, list[int]]]:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO: the read blocks
        raise ValueError(f"{path}: not a regular file (a FIFO or a device); expected a corpus file")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "conllu":
        read = list(_conllu_sentences(path, **kwargs))  # type: ignore[arg-type]
        what = "CoNLL-U word lines"
    else:
        read = list(_column_sentences(path, **kwargs))  # type: ignore[arg-type]
        what = "lines of token and tag columns"
    if not read:
        raise ValueError(f"{path}: no sentences found; expected {what}")
    return read


def detect_format(path: str | Path) -> str:
    """``"conllu"`` for ``*.conllu`` or ``*.conllu.gz``, or for a file of any name whose
    first word line is CoNLL-U's (10 tab-separated columns, a token id first); else
    ``"columns"``. Without this a CoNLL-U file named ``.txt`` would be read as columns:
    the ID column as tokens and MISC as tags."""
    name = Path(path).name
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    if name.endswith(".conllu"):
        return "conllu"
    return "conllu" if looks_like_conllu(path) else "columns"


def looks_like_conllu(path: str | Path) -> bool:
    """True when the first line of ``path`` that is neither blank nor a ``#`` comment
    has CoNLL-U's 10 tab-separated columns and a token id (``1``, ``1-2``, ``8.1``) first.
    Reads at most the first 64 KiB (decompressed); False for a missing or unreadable file
    (the reader then says what is wrong)."""
    for line in _head_lines(Path(path)):
        if not line.strip() or line.startswith("#"):
            continue
        return _is_conllu_word_line(line.split("\t"))
    return False


def _is_conllu_word_line(fields: list[str]) -> bool:
    return len(fields) == CONLLU_COLUMNS and any(
        pattern.fullmatch(fields[0]) for pattern in (_WORD_ID, _RANGE_ID, _EMPTY_NODE_ID)
    )


_SNIFF_BYTES = 1 << 16


def _head_lines(path: Path) -> list[str]:
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
        if head[:2] == _GZIP_MAGIC:
            with gzip.open(path, "rb") as g:
                head = g.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error):
        return []
    full = len(head) < _SNIFF_BYTES  # else the last line may be cut short
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    lines = head.decode("utf-8", errors="replace").split("\n")
    return [line.rstrip("\r") for line in (lines if full else lines[:-1])]


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
