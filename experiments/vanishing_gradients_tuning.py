"""The tuning behind claim 4 (``vanishing_gradients``): the same small grid for every cell,
on seeds of its own and dev query accuracy only, so that no cell's verdict rests on a
configuration the others were denied.

Not a lecture claim: a choice. Per cell, four configurations: the learning rate
(``LRS``) x one initialisation choice, the field's standard practice for that cell:
the gated cells (the lecture's lambda gate, the LSTM, the GRU) a keep-gate bias of 1
(Jozefowicz et al. 2015; Keras's ``unit_forget_bias``) against torch's draw, the Elman
and residual cells an orthogonal recurrent matrix (Saxe et al. 2014) against torch's
draw. Each runs at ``TUNING_LAGS`` on ``TUNING_SEEDS`` under the claim's own budget and
stopping rule. The choice (``choose``): most runs that learned their lag on dev, then
fewest updates to learn (a run that never learned counts the whole budget), then the
highest mean dev query accuracy, then the earlier candidate. The claim's grid runs
``vanishing_gradients.TUNED``; its summary says whether that is what these records
choose (a folder ``tuning`` beside its records).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from experiments import _common as common
from experiments import vanishing_gradients as vg
from lab.report import verdict

NAME = "vanishing_gradients_tuning"
CLAIM = (
    "Not a claim: the configuration of each of claim 4's cells, chosen by the same grid "
    "for every cell on seeds of its own (dev query accuracy only)."
)
LRS = (1e-3, 3e-3)
TUNING_SEEDS = (100, 101)  # never the reported seeds: choosing on them would keep their luck
# one initialisation choice per cell, beside torch's draw: (gate_init, recurrent_init)
INIT_CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "elman": (("default", "default"), ("default", "orthogonal")),
    "residual": (("default", "default"), ("default", "orthogonal")),
    "gated": (("default", "default"), ("bias:1", "default")),
    "lstm": (("default", "default"), ("bias:1", "default")),
    "gru": (("default", "default"), ("bias:1", "default")),
}


def tuning_lags(scale: str) -> list[int]:
    """Lags where the choice matters: where the Elman RNN fails and the gated cells
    differ (the standard scale's 20 and 50)."""
    return common.pick(scale, [8], [20], [20, 50], standard=[20, 50])


def candidates(cell: str) -> list[dict]:
    """The configurations tried for ``cell``, in order (ties go to the earlier)."""
    return [
        {"lr": lr, "gate_init": gate, "recurrent_init": recurrent}
        for gate, recurrent in INIT_CHOICES[cell]
        for lr in LRS
    ]


def grid(scale: str) -> list[dict]:
    cells = vg.CELLS if scale != "tiny" else ("elman", "gated")
    seeds = TUNING_SEEDS if scale != "tiny" else TUNING_SEEDS[:1]
    return [
        {"cell": cell, "lag": lag, "seed": s, **candidate, **vg.budget(scale)}
        for cell in cells
        for candidate in candidates(cell)
        for lag in tuning_lags(scale)
        for s in seeds
    ]


def run(config: dict) -> dict:
    return vg.run(config)


def _key(config: dict) -> tuple:
    return (float(config["lr"]), str(config["gate_init"]), str(config["recurrent_init"]))


def choose(records: Sequence[dict]) -> dict[str, dict]:
    """Per cell, the chosen configuration {lr, gate_init, recurrent_init} and its
    scores (``learned``: runs that reached LEARNED on dev, ``runs``, ``mean_updates``,
    ``mean_dev``), from finished tuning records."""
    by_cell: dict[str, dict[tuple, list[dict]]] = {}
    for r in common.ok_records(records):
        by_cell.setdefault(r["config"]["cell"], {}).setdefault(_key(r["config"]), []).append(r)
    chosen = {}
    for cell, groups in by_cell.items():
        order = {_key(c): i for i, c in enumerate(candidates(cell))}
        scored = []
        for key, runs in groups.items():
            updates = [
                m["updates_to_learn"] if m.get("updates_to_learn") is not None
                else m["budget_updates"]
                for m in (r["metrics"] for r in runs)
            ]  # fmt: skip
            learned = sum(r["metrics"].get("updates_to_learn") is not None for r in runs)
            mean_dev = sum(r["metrics"]["dev_query_accuracy"] for r in runs) / len(runs)
            score = {
                "lr": key[0], "gate_init": key[1], "recurrent_init": key[2],
                "learned": learned, "runs": len(runs),
                "mean_updates": sum(updates) / len(updates), "mean_dev": mean_dev,
            }  # fmt: skip
            rank = (-learned, score["mean_updates"], -mean_dev, order.get(key, len(order)))
            scored.append((rank, score))
        chosen[cell] = min(scored, key=lambda item: item[0])[1]
    return chosen


def scores_frame(records: Sequence[dict]):
    """One row per (cell, configuration): its tuning scores, the chosen one marked."""
    import pandas as pd

    chosen = choose(records)
    rows = []
    for cell in vg.CELLS:
        groups: dict[tuple, list[dict]] = {}
        for r in common.ok_records(records):
            if r["config"]["cell"] == cell:
                groups.setdefault(_key(r["config"]), []).append(r)
        for key in [_key(c) for c in candidates(cell)]:
            runs = groups.get(key, [])
            if not runs:
                continue
            pick = chosen.get(cell, {})
            metrics = [r["metrics"] for r in runs]
            rows.append(
                {
                    "cell": cell,
                    "lr": key[0],
                    "gate_init": key[1],
                    "recurrent_init": key[2],
                    "dev_learned": f"{sum(m.get('updates_to_learn') is not None for m in metrics)}"
                    f"/{len(runs)}",
                    "mean_dev_query_accuracy": round(
                        sum(m["dev_query_accuracy"] for m in metrics) / len(metrics), 3
                    ),
                    "updates_to_learn": ", ".join(
                        f"{m['updates_to_learn']:,}"
                        if m.get("updates_to_learn") is not None
                        else "never"
                        for m in metrics
                    ),  # fmt: skip
                    "chosen": "yes" if _key(pick) == key else "",
                }
            )
    return pd.DataFrame(rows)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import json

    from lab.atomic import write_atomic

    if not common.ok_records(records):
        return verdict.skipped("no finished runs").as_dict()
    table = scores_frame(records)
    common.write_table(
        table,
        out_dir,
        "tuning",
        context,
        f"Claim 4's tuning: per cell and configuration, the runs (lags "
        f"{sorted({r['config']['lag'] for r in records})}, seeds {list(TUNING_SEEDS)}) whose "
        f"dev query accuracy reached {vg.LEARNED:g}, the mean best dev query accuracy, the "
        "updates each took to learn; the chosen configuration per cell (most learned, then "
        "fewest updates, a run that never learned counting the whole budget).",
    )
    chosen = choose(records)
    write_atomic(Path(out_dir) / "chosen.json", json.dumps(chosen, indent=2) + "\n")
    text = "; ".join(
        f"{c}: lr {v['lr']:g}, gate {v['gate_init']}, recurrent {v['recurrent_init']} "
        f"({v['learned']}/{v['runs']} learned)"
        for c, v in chosen.items()
    )
    return verdict.skipped(f"not a claim: the tuning; chosen {text}").as_dict()
