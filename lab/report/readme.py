"""``results/README.md``: per claim, the key figures, the verdict, the rule that produced
it, and how the results were made (command, scale, seeds, device, commit, wall time).

Each ``lab reproduce`` run merges its experiments' summaries into
``results/summary.json`` (so ``--only X`` updates X and keeps the others) and rewrites
the README from that file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lab.atomic import write_atomic
from lab.runs.provenance import now
from lab.runs.records import results_path

SUMMARY_FILE = "summary.json"
README_FILE = "README.md"

# The fields one experiment's entry holds (what summarize returned + how it was made;
# ``headline``: Markdown an experiment puts right under its verdict, e.g. a table).
ENTRY_FIELDS = (
    "name",
    "claim",
    "verdict",
    "rule",
    "key_figures",
    "figures",
    "command",
    "scale",
    "seeds",
    "device",
    "commit",
    "wall_s",
    "compute_s",
    "runs",
    "failed",
    "date",
    "files",
    "key_plot",
    "headline",
)


def _tables_and_plots(folder: Path) -> list[str]:
    """The .md/.png files of ``folder`` and of its subfolders that hold runs of their own
    (a companion experiment's, e.g. ``cost/``), as paths relative to ``folder``."""
    if not folder.is_dir():
        return []
    files = sorted(p.name for p in folder.iterdir() if p.suffix in (".md", ".png"))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and results_path(p).is_file()):
        files += sorted(
            f"{sub.name}/{p.name}" for p in sub.iterdir() if p.suffix in (".md", ".png")
        )
    return files


def entry(result, folder: str | os.PathLike, wall_s: float | None) -> dict:
    """One experiment's README entry from its ``ExperimentResult`` (lab.pipeline.run_experiment):
    what summarize returned and how the results were made. ``wall_s``: this invocation's
    wall time, None when it ran nothing (``lab report`` of a folder of claims)."""
    context = result.context
    folder = Path(folder)
    files = _tables_and_plots(folder)
    return {
        "name": result.name,
        "claim": result.claim,
        **result.summary,
        "command": context.get("command"),
        "scale": context.get("scale"),
        "seeds": context.get("seeds"),
        "device": context.get("device"),
        "commit": context.get("commit"),
        "wall_s": None if wall_s is None else round(wall_s, 1),
        # the runs' own time, summed: what the results cost, also when this invocation
        # only resumed a sweep whose runs were already done
        "compute_s": round(sum(float(r.get("wall_s") or 0.0) for r in result.records), 1),
        "runs": len(result.records),
        "failed": len(result.failed),
        "date": now(),
        "files": files,
        # the plot shown under the verdict: the summary's choice, else the first PNG
        "key_plot": result.summary.get("key_plot")
        or next((f for f in files if f.endswith(".png")), None),
    }


def load_summary(out_dir: str | os.PathLike) -> dict[str, dict]:
    """The entries recorded so far, by experiment name ({} when there is none)."""
    path = Path(out_dir) / SUMMARY_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of entries, got {type(data).__name__}")
    return data


def update_summary(out_dir: str | os.PathLike, entry: dict) -> dict[str, dict]:
    """Merge one experiment's entry into ``summary.json``; returns all entries."""
    missing = [f for f in ("name", "verdict", "rule", "key_figures") if f not in entry]
    if missing:
        raise ValueError(f"a results entry needs {missing}; got fields {sorted(entry)}")
    entries = load_summary(out_dir)
    entries[entry["name"]] = {k: entry.get(k) for k in ENTRY_FIELDS}
    write_atomic(Path(out_dir) / SUMMARY_FILE, json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries


def render(entries: dict[str, dict], order: tuple[str, ...] = ()) -> str:
    """The README's Markdown for ``entries`` (claims in ``order``, then the rest)."""
    names = [n for n in order if n in entries] + sorted(n for n in entries if n not in order)
    lines = [
        "# Results: the lecture's claims, tested",
        "",
        "Written by `lab reproduce` (or `lab report` of this folder, from the records); "
        "do not edit by hand. Each verdict is computed from "
        "the runs by the rule printed beside it (`experiments/<name>.py`: `RULE`, "
        "`rule()`). Tables (Markdown + CSV) and plots (PNG) are in each experiment's "
        "folder, each stating how it was made.",
        "",
        "| # | claim | verdict | scale | runs | wall time | run time, summed |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, name in enumerate(names, start=1):
        e = entries[name]
        runs = f"{e.get('runs', '?')}" + (f" ({e['failed']} failed)" if e.get("failed") else "")
        lines.append(
            f"| {i} | [{name}]({name}/) | **{e['verdict']}** | {e.get('scale', '?')} | "
            f"{runs} | {_duration(e.get('wall_s'))} | {_duration(e.get('compute_s'))} |"
        )
    compute = sum(float(entries[n].get("compute_s") or 0.0) for n in names)
    if all(entries[n].get("wall_s") is not None for n in names):
        total = sum(float(entries[n]["wall_s"]) for n in names)
        lines += ["", f"Total wall time of the listed experiments: {_duration(total)}.", ""]
    else:  # written by `lab report` from records: no wall time of its own to state
        text = f"The runs' own time, summed: {_duration(compute)} (written from the records)."
        lines += ["", text, ""]
    if any(entries[n].get("scale") in ("tiny", "quick") for n in names):
        lines += [
            "Small scales (tiny, quick) use few seeds and small models so that they run on a "
            "CPU in minutes: a verdict says 'insufficient' where its runs cannot decide, and "
            "every figure is to be read with its confidence interval and seed count. "
            "`--standard` and `--full` run the grids the claims deserve.",
            "",
        ]
    for i, name in enumerate(names, start=1):
        e = entries[name]
        seeds = e.get("seeds")
        seeds_text = ", ".join(str(s) for s in seeds) if isinstance(seeds, list) else seeds
        lines += [
            f"## {i}. {name}",
            "",
            f"**Claim.** {e.get('claim') or '(not stated)'}",
            "",
            f"**Verdict: {e['verdict']}.**",
            "",
        ]
        if e.get("headline"):  # an experiment's answer at a glance (claim 2: per corpus)
            lines += [e["headline"], ""]
        lines += [
            f"**Rule.** {e['rule']}",
            "",
            f"**Key figures.** {e['key_figures']}",
            "",
        ]
        if e.get("key_plot"):
            lines += [f"![{name}: {e['key_plot']}]({name}/{e['key_plot']})", ""]
        lines += [
            f"- command: `{e.get('command', '?')}` (scale `{e.get('scale', '?')}`)",
            f"- seeds: {seeds_text}",
            f"- device: {e.get('device', '?')}",
            f"- commit: {e.get('commit', '?')}",
            f"- wall time: {_duration(e.get('wall_s'))} (the runs' own time, summed: "
            f"{_duration(e.get('compute_s'))}); runs: {e.get('runs', '?')}, "
            f"failed: {e.get('failed', 0)}; written {e.get('date', '?')}",
        ]
        if e.get("files"):
            links = ", ".join(f"[{f}]({name}/{f})" for f in e["files"])
            lines.append(f"- tables and plots: {links}")
        lines.append("")
    return "\n".join(lines)


def write_readme(
    out_dir: str | os.PathLike, entries: dict[str, dict], order: tuple[str, ...] = ()
) -> Path:
    """Write ``out_dir/README.md`` from ``entries``; returns its path."""
    return write_atomic(Path(out_dir) / README_FILE, render(entries, order))


def _duration(seconds: object) -> str:
    if seconds is None:
        return "?"
    s = float(seconds)
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"
