"""An append-only JSON-lines store of run records that a crash cannot corrupt.

One record per line. A writer takes an exclusive ``flock`` on the file, repairs a torn
tail left by a writer killed mid-line (it cuts the file back to its last newline), then
writes the whole line with one ``write`` and ``flush`` + ``fsync`` before releasing the
lock. A line is therefore either complete (ends in a newline) or the torn tail of a
killed writer; the reader skips such a tail with a warning and never lets it break a
report. An unparsable *complete* line is real corruption and raises, naming the line.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere a single writer process is assumed.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

RESULTS_FILE = "results.jsonl"


class TornLineWarning(UserWarning):
    """The file ended in a partial line (a writer killed mid-write); it was skipped."""


def results_path(out_dir: str | os.PathLike) -> Path:
    """``out_dir/results.jsonl``; ``out_dir`` may also name the file itself."""
    path = Path(out_dir)
    return path if path.suffix == ".jsonl" else path / RESULTS_FILE


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _cut_torn_tail(fd: int) -> int:
    """Truncate the file back to just after its last newline; return bytes removed."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return 0
    if os.pread(fd, 1, size - 1) == b"\n":
        return 0
    # Scan backwards in blocks for the last newline.
    end, block = size, 4096
    while end > 0:
        start = max(0, end - block)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            keep = start + cut + 1
            os.ftruncate(fd, keep)
            return size - keep
        end = start
    os.ftruncate(fd, 0)
    return size


def append_record(out_dir: str | os.PathLike, record: dict) -> None:
    """Append one record as one line, durably (write + flush + fsync under a lock).

    Raises TypeError if the record is not JSON-serialisable (nothing is written then)."""
    if not isinstance(record, dict):
        raise TypeError(f"a record must be a dict, got {type(record).__name__}")
    try:
        line = json.dumps(record, sort_keys=True, allow_nan=True) + "\n"
    except (TypeError, ValueError) as err:
        raise TypeError(f"record is not JSON-serialisable: {err}") from err
    path = results_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = line.encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)  # less the umask, as open()
    try:
        with _locked(fd):
            removed = _cut_torn_tail(fd)
            if removed:
                warnings.warn(
                    f"{path}: removed a torn last line ({removed} bytes) left by a "
                    "writer killed mid-write",
                    TornLineWarning,
                    stacklevel=2,
                )
            written = 0
            while written < len(data):  # os.write may write less than asked
                written += os.write(fd, data[written:])
            os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(out_dir: str | os.PathLike) -> None:
    """Raise PermissionError naming the file unless a record can be appended to
    ``out_dir/results.jsonl`` (created empty if missing): a sweep checks this before it
    computes runs whose records it could not keep."""
    path = results_path(out_dir)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666))
    except PermissionError:
        raise PermissionError(
            f"{path} is not writable, so no run's record could be kept: fix its "
            "permissions or use another --out"
        ) from None


def read_records(path: str | os.PathLike) -> list[dict]:
    """All records in ``path`` (a results.jsonl file or the directory holding one), in
    file order. A missing file gives []. A torn last line (no final newline) is skipped
    with a :class:`TornLineWarning`; any other bad line raises ValueError with the path
    and line number."""
    path = results_path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail is b"" when the file ends in "\n"
    records: list[dict] = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        records.append(_parse(line, path, number))
    if tail.strip():
        # No final newline: a writer was killed mid-line. Even if the bytes happen to
        # parse, the next append cuts them off, so they never count as a record.
        warnings.warn(
            f"{path}:{len(lines)}: skipped a torn last line ({len(tail)} bytes) left by "
            "a writer killed mid-write; that run will be redone on resume",
            TornLineWarning,
            stacklevel=2,
        )
    return records


def _parse(line: bytes, path: Path, number: int) -> dict:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}:{number}: not a JSON record ({err})") from err
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    problem = _invalid(record)
    if problem:
        raise ValueError(f"{path}:{number}: not a run record: {problem}")
    return record


def _invalid(record: dict) -> str:
    """What makes ``record`` unusable ("" when nothing): no id, a config that is not an
    object, an unknown status, or a finished run whose metrics are not a non-empty object
    (a summary would drop it silently, or crash on it)."""
    if not isinstance(record.get("id"), str) or not record["id"]:
        return "no 'id'"
    if "config" in record and not isinstance(record["config"], dict):
        return f"'config' is {type(record['config']).__name__}, expected an object"
    if "status" in record and record["status"] not in ("ok", "failed"):
        return f"'status' is {record['status']!r}, expected 'ok' or 'failed'"
    metrics = record.get("metrics")
    if (
        record.get("status") == "ok"
        and "metrics" in record
        and not (isinstance(metrics, dict) and metrics)
    ):
        return f"a finished run's 'metrics' is {metrics!r}, expected a non-empty object"
    return ""


def latest_by_id(records: list[dict]) -> dict[str, dict]:
    """The last record of each run id (a failed run retried later is superseded)."""
    latest: dict[str, dict] = {}
    for record in records:
        if "id" not in record:  # records read from a file were checked with their line
            raise ValueError(f"record without an 'id': {sorted(record)}")
        latest[record["id"]] = record
    return latest


def load_records(out_dir: str | os.PathLike) -> list[dict]:
    """The records of ``out_dir/results.jsonl``, one per run id (the latest, so a failed
    run that was retried counts once), in order of first appearance."""
    return list(latest_by_id(read_records(out_dir)).values())
