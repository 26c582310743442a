"""ARCHITECTURE.md's one rule, kept true: imports go down the flow, never up.

Every ``import lab...`` and ``from lab... import`` of the package (module-level and inside
functions alike) and of ``experiments/`` is read off the source with ``ast`` and checked
against the layers' order. ``experiments/`` sits between ``report`` and ``pipeline``: it
uses everything below, and the pipeline loads it by name (lab.runs.experiment.load), an
import this test cannot see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. A module may import its own layer and any layer below it.
LAYERS = (
    ("atomic", "configs", "device", "errors", "seeding"),  # small shared utilities
    ("data",),
    ("structured",),
    ("models",),
    ("training",),
    ("runs",),
    ("report",),
    ("experiments",),
    ("pipeline",),
    ("bench",),
    ("cli", "__main__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> str:
    """``lab.models.heads`` -> ``models``; ``lab.device`` -> ``device``;
    ``experiments.learning_curve`` -> ``experiments``."""
    parts = module.split(".")
    if parts[0] == "experiments":
        return "experiments"
    if parts[0] != "lab" or len(parts) < 2:
        raise ValueError(f"not a lab module: {module}")
    return parts[1]


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every absolute import of lab or experiments in ``path``; ``from
    lab import x`` counts as ``lab.x`` (x may be a module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lab":
                found += [(f"lab.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((node.module, node.lineno))
    return [(m, line) for m, line in found if m.split(".")[0] in ("lab", "experiments")]


def upward_imports(root: Path) -> list[str]:
    """``path:line: layer -> layer (module)`` for every import that runs up the flow in
    ``root/lab`` and ``root/experiments``; an unknown layer is reported too."""
    problems = []
    for folder in ("lab", "experiments"):
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root)
            source = layer_of(".".join(relative.with_suffix("").parts))
            for module, line in imported_modules(path):
                target = layer_of(module)
                where = f"{relative}:{line}"
                if source not in RANK or target not in RANK:
                    problems.append(f"{where}: unknown layer ({source} -> {target})")
                elif RANK[target] > RANK[source]:
                    problems.append(f"{where}: {source} -> {target} ({module})")
    return problems


def test_every_import_goes_down_the_flow() -> None:
    assert upward_imports(ROOT) == []


def test_every_folder_of_lab_has_a_layer() -> None:
    names = {p.stem if p.is_file() else p.name for p in (ROOT / "lab").iterdir()}
    names = {n for n in names if not n.startswith("_") or n == "__main__"} - {"__pycache__"}
    assert names <= set(RANK), names - set(RANK)


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("lab/data/planted.py", "def f():\n    from lab.training.fit import fit\n"),
        ("lab/models/planted.py", "import lab.runs.sweep\n"),
        ("lab/device.py", "from lab import runs\n"),
        ("experiments/planted.py", "from lab.pipeline import run_experiment\n"),
    ],
)
def test_a_planted_upward_import_is_caught(tmp_path, path: str, source: str) -> None:
    for folder in ("lab/data", "lab/models", "experiments"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(source)
    problems = upward_imports(tmp_path)
    assert len(problems) == 1 and path in problems[0], problems
