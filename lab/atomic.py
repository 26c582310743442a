"""``write_atomic``: the one way the lab writes a result file, so that a reader (or a
crash) sees the old file or the new one, never half of either; ``exclusive_lock``: one
writer of a folder at a time (a sweep, a ``lab train``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def umask() -> int:
    """The process's umask: from /proc on Linux (reading it there changes nothing), else
    by setting it and straight back."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (str as UTF-8) to ``path``, parents created: a temporary file in the
    same folder, flushed and fsynced, then renamed into place. The file gets the mode
    ``open`` would give it (0666 less the umask), not mkstemp's 0600. Returns the path."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, busy: str, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (made if missing) for the block;
    another holder makes it a UsageError saying ``busy``. The operating system drops the
    lock when its process dies (kill -9 too); ``remove`` deletes the file afterwards.
    Without fcntl (Windows) there is no guard."""
    from lab.errors import UsageError

    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = Path(path)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(busy) from None
        try:
            yield
        finally:
            if remove:
                path.unlink(missing_ok=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
