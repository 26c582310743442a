"""The experiment protocol: what one script in ``experiments/`` provides.

An experiment module (``experiments/<name>.py``) defines:

    NAME: str                 the experiment's name (= file stem)
    CLAIM: str                the lecture claim it tests, one sentence
    def grid(scale: str) -> list[dict]
        the runs at a scale ("tiny" for tests, "quick", "standard", "full"); each dict is a
        JSON-serialisable config holding everything that run needs, its "seed" included
    def run(config: dict) -> dict
        one run: returns a JSON-serialisable dict of metrics and costs
    def summarize(records: list[dict], out_dir: Path, context: dict) -> dict
        tables (Markdown + CSV) and plots into out_dir, from the finished records;
        returns {"verdict": "supported"|"not supported"|"mixed"|"insufficient"|"skipped",
                 "rule": str, "key_figures": str}
        ``context`` holds how the results were made: command, seeds, device, commit.

The sweep runner (lab.runs.sweep) expands the grid, runs what is not done, and appends one
record per run; ``lab report`` and ``lab reproduce`` call ``summarize``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

REQUIRED = ("NAME", "CLAIM", "grid", "run", "summarize")
ENV_VAR = "LAB_EXPERIMENTS_DIR"

# The scales, smallest first: tiny (seconds, for tests), quick (a CPU in minutes),
# standard (a CPU in tens of minutes: models trained to the point each claim is about;
# not every experiment has it), full (the grids the claims deserve).
SCALES = ("tiny", "quick", "standard", "full")


def check_scale(scale: str) -> str:
    """``scale`` if it is one of SCALES, else ValueError."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {list(SCALES)}")
    return scale


def experiments_dir() -> Path:
    """Where experiment scripts live: $LAB_EXPERIMENTS_DIR, else the ``experiments``
    package's folder."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    spec = importlib.util.find_spec("experiments")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the experiments package is not importable: run `pip install -e .`")
    return Path(next(iter(spec.submodule_search_locations)))


def available() -> list[str]:
    """Names of the experiment scripts found."""
    d = experiments_dir()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.py") if not p.stem.startswith("_"))


def load(name: str) -> ModuleType:
    """Import ``experiments/<name>.py``; a clear error for an unknown name or a script
    missing part of the protocol."""
    path = experiments_dir() / f"{name}.py"
    if not (isinstance(name, str) and name.isidentifier()) or not path.is_file():
        raise ValueError(
            f"unknown experiment {name!r}: expected one of {available()} (in {experiments_dir()})"
        )
    if os.environ.get(ENV_VAR):
        spec = importlib.util.spec_from_file_location(f"lab_experiments.{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(f"experiments.{name}")
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise ValueError(f"experiment script {path} lacks {missing} (see lab.runs.experiment)")
    return module
