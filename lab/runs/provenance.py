"""How a result was made: command line, git commit (+ dirty flag), library versions,
device, thread count and date. Every record, table and plot carries these.

torch is imported lazily (only by :func:`describe_device`, :func:`thread_count` and
:func:`library_versions`), so importing this module is cheap.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from lab.device import device_name

REPO_ROOT = Path(__file__).resolve().parents[2]

# Where new, uncommitted code makes a result irreproducible from its commit.
SOURCE_DIRS = ("lab", "experiments", "pyproject.toml")

# Libraries whose versions can change a number in a table.
TRACKED_LIBRARIES = ("lab", "torch", "torch-struct", "numpy", "pandas", "matplotlib", "ray")


def command_line(argv: list[str] | None = None) -> str:
    """The command as a user would type it: ``lab run X --quick`` rather than the path of
    the console script."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        prog = Path(argv[0]).name
        argv[0] = "lab" if prog in ("lab", "__main__.py", "cli.py") else prog
    return shlex.join(argv)


@lru_cache(maxsize=1)
def git_commit(repo: str | os.PathLike | None = None) -> dict:
    """``{"sha": str | None, "dirty": bool | None}`` for the repository holding ``lab``
    (None where git or the repository is missing, e.g. an installed wheel)."""
    cwd = Path(repo) if repo is not None else REPO_ROOT

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    if sha is None:
        return {"sha": None, "dirty": None}
    # Dirty: a tracked file changed anywhere but in results/ (what the code writes is not
    # code: a reproduction rewriting results/README.md must not call its own later runs
    # dirty), or new (untracked) code in the package or the experiments, which the commit
    # would not reproduce.
    tracked = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    new_code = git("status", "--porcelain", "--untracked-files=all", "--", *SOURCE_DIRS)
    if tracked is None or new_code is None:
        return {"sha": sha.strip(), "dirty": None}
    return {"sha": sha.strip(), "dirty": bool(tracked.strip() or new_code.strip())}


def describe_commit(commit: dict | None = None) -> str:
    """``"bfaa59fc1a2b (dirty)"``, or ``"unknown"``."""
    commit = git_commit() if commit is None else commit
    sha = commit.get("sha")
    if not sha:
        return "unknown"
    return sha[:12] + (" (dirty)" if commit.get("dirty") else "")


def library_versions(names: tuple[str, ...] = TRACKED_LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries that matter, plus Python's (missing ones left out)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def thread_count() -> int:
    """torch's intra-op thread count (what a CPU timing ran with)."""
    import torch

    return torch.get_num_threads()


def describe_device(device: str = "auto", threads: int | None = None) -> str:
    """A one-line description: ``"cpu (x86_64, 2 cores, 1 threads)"`` or
    ``"cuda:0 (NVIDIA H100 80GB HBM3)"``; ``threads``: the CPU threads to state (default:
    torch's current count)."""
    resolved = device_name(device)
    if resolved.startswith("cuda"):
        import torch

        index = torch.device(resolved).index or 0
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if resolved == "cpu":
        return (
            f"cpu ({platform.machine() or 'unknown'}, {os.cpu_count()} cores, "
            f"{threads or thread_count()} threads)"
        )
    return resolved


def now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def collect(device: str = "auto", argv: list[str] | None = None) -> dict:
    """Everything above in one JSON-serialisable dict: command, commit (sha, dirty),
    versions, device, threads, host, date."""
    commit = git_commit()
    return {
        "command": command_line(argv),
        "commit": commit["sha"],
        "dirty": commit["dirty"],
        "versions": library_versions(),
        "device": describe_device(device),
        "threads": thread_count(),
        "host": platform.node(),
        "date": now(),
    }
