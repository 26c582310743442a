"""``run_experiment``: one experiment, start to verdict; what ``lab run``, ``lab report``
and ``lab reproduce`` all call, so that the same records give the same tables, headers,
failed-run figures and verdict whichever command made them.

    grid(scale) -> configs (+ device) -> run_sweep -> records -> summarize -> summary.json
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from lab.atomic import write_atomic
from lab.device import device_name
from lab.errors import UsageError
from lab.runs import experiment as experiments
from lab.runs import provenance
from lab.runs.records import load_records, results_path

SUMMARY_FILE = "summary.json"


@dataclass
class ExperimentResult:
    """What one experiment produced: its summary (verdict, rule, key figures), the context
    its tables state (command, scale, seeds, device, commit, runs, failed), its records."""

    name: str
    claim: str
    summary: dict
    context: dict
    records: list[dict] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r.get("status") != "ok"]


def workers_for(module: ModuleType, workers: int) -> int:
    """The parallel runs an experiment gets: one for a timing experiment (``SERIAL``), whose
    figures a concurrent run would slow, else ``workers``."""
    return 1 if getattr(module, "SERIAL", False) else workers


def grid_of(module: ModuleType, scale: str, corpora: dict | None = None) -> list[dict]:
    """``module.grid(scale)``, or ``module.grid(scale, corpora=...)`` after every corpus
    given by path is read and checked; a UsageError for an experiment that reads none."""
    if corpora is None:
        return module.grid(scale)
    import inspect

    if "corpora" not in inspect.signature(module.grid).parameters:
        raise UsageError(f"experiment {module.NAME!r} reads no real corpus: drop --corpus")
    from lab.data.corpora import check_corpus

    for corpus, spec in corpora.items():
        if spec is not None:
            check_corpus(corpus, spec)
    return module.grid(scale, corpora=corpora)


def run_experiment(
    name: str,
    scale: str,
    out_dir: str | Path,
    executor: str | None = None,
    workers: int = 1,
    device: str = "auto",
    progress: bool = True,
    address: str | None = None,
    command: str | None = None,
    corpora: dict[str, dict | None] | None = None,
    overrides: dict | None = None,
) -> ExperimentResult:
    """Run experiment ``name``'s grid at ``scale`` into ``out_dir`` (resumable: finished
    runs are skipped), then summarise it (tables, plots, ``summary.json``).

    ``device`` is resolved once and set as every run's config "device", so that every
    command shares run ids; ``executor`` defaults to "pool" with more than one worker.
    ``corpora`` (for an experiment whose ``grid`` takes them): ``{name: None}`` for a
    built-in corpus, ``{name: {"train", "dev", "test", "format"}}`` for one by path; each
    is read and checked before any run starts. ``overrides`` (``lab run --set``):
    lab.runs.overrides, applied to the grid before any run, stated in the context.
    """
    experiments.check_scale(scale)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    module = experiments.load(name)
    resolved = device_name(device)
    from lab.runs.overrides import apply_overrides

    grid = apply_overrides(grid_of(module, scale, corpora), overrides or {})
    configs = [{**config, "device": resolved} for config in grid]
    n_workers = workers_for(module, workers)
    executor = executor or ("pool" if n_workers > 1 else "local")
    from lab.runs.sweep import run_sweep

    check_folder(out_dir, module.NAME, scale)
    warn_other_commits(out_dir)
    start = time.perf_counter()
    records = run_sweep(
        module.NAME,
        configs,
        out_dir,
        executor=executor,
        workers=n_workers,
        address=address,
        progress=progress,
        scale=scale,
    )
    result = summarize_experiment(module, records, out_dir, scale, command, overrides)
    result.wall_s = time.perf_counter() - start
    return result


def check_folder(out_dir: str | Path, name: str, scale: str) -> None:
    """UsageError, before any run, when ``out_dir`` holds runs of another experiment or
    of another scale: a sweep there would append to them and its summary pool both."""
    out_dir = Path(out_dir)
    if not results_path(out_dir).is_file():
        return
    records = load_records(out_dir)
    others = sorted({str(r.get("experiment")) for r in records} - {name})
    if others:
        raise UsageError(
            f"{out_dir} holds runs of {', '.join(others)}, not of {name}: give --out a "
            "folder of its own"
        )
    stated = _stated_scale(out_dir, records)
    if stated is not None and stated != scale:
        raise UsageError(
            f"{out_dir} holds {stated}-scale runs of {name}; {scale}-scale runs there would "
            "be pooled with them: give --out another folder"
        )


def report_experiment(out_dir: str | Path, command: str | None = None) -> ExperimentResult:
    """Summarise the records already in ``out_dir`` (``lab report``); the experiment is
    the one its records name, the scale the one they state."""
    out_dir = Path(out_dir)
    if out_dir.is_file():
        raise NotADirectoryError(
            f"{out_dir} is a file: expected a results directory holding results.jsonl "
            f"(e.g. {out_dir.parent})"
        )
    if not out_dir.is_dir():
        raise FileNotFoundError(f"{out_dir}: no such results directory")
    records = load_records(out_dir)
    if not records:
        raise ValueError(f"no records in {results_path(out_dir)}: run `lab run EXPERIMENT` first")
    names = list(dict.fromkeys(r.get("experiment") for r in records))
    if None in names:
        raise ValueError(f"{results_path(out_dir)}: a record lacks its 'experiment' field")
    if len(names) > 1:
        raise ValueError(
            f"{results_path(out_dir)} mixes experiments {names}; expected one per directory"
        )
    module = experiments.load(names[0])
    scale = _stated_scale(out_dir, records)
    return summarize_experiment(module, records, out_dir, scale, command, _stated(out_dir))


def summarize_experiment(
    module: ModuleType,
    records: Sequence[dict],
    out_dir: str | Path,
    scale: str | None,
    command: str | None = None,
    overrides: dict | str | None = None,
) -> ExperimentResult:
    """``module.summarize`` over every record (failed ones included, so that a summary can
    count them), with the context read off the records (and the grid ``overrides``
    named); writes ``summary.json``."""
    from lab.report.tables import context_from_records
    from lab.runs.overrides import describe

    records = list(records)
    context = context_from_records(records, command=command)
    if scale is not None:
        context["scale"] = scale
    if overrides:
        context["overrides"] = overrides if isinstance(overrides, str) else describe(overrides)
    summary = module.summarize(records, Path(out_dir), context)
    write_summary(out_dir, module.NAME, summary, context)
    return ExperimentResult(module.NAME, getattr(module, "CLAIM", ""), summary, context, records)


def write_summary(out_dir: str | Path, name: str, summary: dict, context: dict) -> Path:
    """``out_dir/summary.json``: the verdict with how it was made."""
    path = Path(out_dir) / SUMMARY_FILE
    data = {"experiment": name, **(summary or {}), "context": context}
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
    return path


def _stated(out_dir: Path, key: str = "overrides") -> str | None:
    """What an earlier summary of ``out_dir`` stated under ``key`` in its context."""
    try:
        data = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        return data.get("context", {}).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def _stated_scale(out_dir: Path, records: Sequence[dict] = ()) -> str | None:
    """The scale the records state (their ``scale`` field), else the one an earlier
    summary of ``out_dir`` recorded, else the one the records' command named (``--scale
    NAME`` or ``--NAME``; the default ``quick`` when it named none), else None."""
    stated_by_records = [r["scale"] for r in records if isinstance(r.get("scale"), str)]
    if stated_by_records:
        return stated_by_records[-1]
    path = out_dir / SUMMARY_FILE
    try:
        stated = json.loads(path.read_text(encoding="utf-8")).get("context", {}).get("scale")
    except (OSError, ValueError, AttributeError):
        stated = None
    if stated or not records:
        return stated
    words = str(records[-1].get("command") or "").split()
    if words[:2] not in (["lab", "run"], ["lab", "reproduce"]):
        return None
    named = [w for i, w in enumerate(words) if i and words[i - 1] == "--scale"]
    named += [w[2:] for w in words if w.startswith("--") and w[2:] in experiments.SCALES]
    return named[0] if named else "quick"


def other_commit_records(out_dir: str | Path) -> dict[str, int]:
    """Finished records in ``out_dir`` made by another commit of the library (or from a
    dirty tree), by commit: a resume over them mixes code versions."""
    here = provenance.git_commit()
    counts: dict[str, int] = {}
    for record in load_records(out_dir):
        sha, dirty = record.get("commit"), bool(record.get("dirty"))
        if record.get("status") != "ok" or (sha == here["sha"] and not dirty):
            continue
        label = provenance.describe_commit({"sha": sha, "dirty": dirty})
        counts[label] = counts.get(label, 0) + 1
    return counts


def warn_other_commits(out_dir: str | Path) -> None:
    """Warn, naming them, when the records a resume would reuse came from other code."""
    counts = other_commit_records(out_dir)
    if counts:
        named = ", ".join(f"{n} from {c}" for c, n in sorted(counts.items()))
        print(
            f"warning: {out_dir} holds finished runs of other code ({named}); they are reused "
            "as they are: start a fresh folder to rerun them with this code",
            file=sys.stderr,
        )


def print_failures(result: ExperimentResult) -> None:
    """One line per failed run on stderr: its id, config and the error's last line."""
    for record in result.failed:
        last = (record.get("error") or "").strip().splitlines()[-1:] or ["?"]
        print(f"failed run {record.get('id')} {record.get('config')}: {last[0]}", file=sys.stderr)
