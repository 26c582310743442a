"""lab.report.tables, lab.runs.provenance and `lab report`: numbers against hand computation, tables
and plots written with how they were made."""

from __future__ import annotations

import argparse
import json
import math
import re

import pandas as pd
import pytest

from lab.device import device_name
from lab.report.plots import plot_lines
from lab.report.stats import t_quantile_975
from lab.report.tables import (
    aggregate,
    context_from_records,
    format_provenance,
    records_frame,
    write_table,
)
from lab.runs import provenance
from lab.runs.records import append_record

# acc per (model, size) over seeds 0, 1, 2; ("b", 100) has one seed only.
ACC = {
    ("a", 10): [0.5, 0.6, 0.9],
    ("a", 100): [0.8, 0.8, 0.8],
    ("b", 10): [0.4, 0.5, 0.6],
    ("b", 100): [0.7],
}


def fixture_records() -> list[dict]:
    records = []
    for (model, size), values in ACC.items():
        for seed, acc in enumerate(values):
            records.append(
                {
                    "id": f"{model}-{size}-{seed}",
                    "experiment": "toy",
                    "config": {"model": model, "size": size, "seed": seed, "opt": {"lr": 0.1}},
                    "metrics": {"acc": acc, "ms": 10.0 * size},
                    "status": "ok",
                    "wall_s": 1.0,
                    "device": "cpu (test)",
                    "commit": "0123456789abcdef0123",
                    "dirty": True,
                    "command": "lab run toy --quick",
                    "finished": f"2026-01-0{seed + 1}T00:00:00+00:00",
                }
            )
    records.append(
        {
            "id": "failed",
            "experiment": "toy",
            "config": {"model": "a", "size": 10, "seed": 9},
            "metrics": None,
            "status": "failed",
            "error": "Traceback ...",
        }
    )
    return records


CONTEXT = {"command": "lab run toy --quick", "seeds": [0, 1, 2], "sizes": [10, 100]}


# ----------------------------------------------------------------------------- numbers


def test_t_quantile_matches_known_values():
    assert t_quantile_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile_975(2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile_975(30) == pytest.approx(2.0423, abs=1e-4)
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=1e-4)
    assert t_quantile_975(120) == pytest.approx(1.9799, abs=1e-4)
    assert t_quantile_975(10**6) == pytest.approx(1.95996, abs=1e-5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            t_quantile_975(bad)


def test_t_quantile_agrees_with_scipy_where_installed():
    stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 60), 100, 500, 5000]:
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), rel=2e-6), df


def test_records_frame_has_config_and_metrics_columns_and_drops_failed_runs():
    records = fixture_records()
    df = records_frame(records)
    assert len(df) == 10 and len(records) == 11
    for col in ("model", "size", "seed", "opt", "acc", "run_id", "wall_s"):
        assert col in df.columns, col
    ok_ids = {r["id"] for r in records if r["status"] == "ok"}
    assert set(df["run_id"]) == ok_ids
    with pytest.raises(TypeError):
        records_frame(["not a record"])


def test_aggregate_equals_a_hand_computation():
    df = records_frame(fixture_records())
    table = aggregate(df, by=["model", "size"], metrics=["acc", "ms"])
    assert list(table.columns) == [
        "model", "size", "n",
        "acc_mean", "acc_std", "acc_ci95", "ms_mean", "ms_std", "ms_ci95",
    ]  # fmt: skip
    assert list(zip(table["model"], table["size"], strict=True)) == list(ACC)
    assert list(table["n"]) == [3, 3, 3, 1]
    a10 = table.iloc[0]
    # 0.5, 0.6, 0.9: mean 2/3; variance (1/36 + 1/225 + 49/900) / 2 = 39/900;
    # CI half-width t(0.975, 2) * sqrt(39)/30 / sqrt(3) = 4.302653 * sqrt(13) / 30.
    assert a10["acc_mean"] == pytest.approx(2 / 3)
    assert a10["acc_std"] == pytest.approx(math.sqrt(39) / 30)
    assert a10["acc_ci95"] == pytest.approx(0.5171145, abs=1e-6)
    a100 = table.iloc[1]
    assert (a100["acc_mean"], a100["acc_std"], a100["acc_ci95"]) == pytest.approx((0.8, 0, 0))
    b10 = table.iloc[2]
    assert b10["acc_std"] == pytest.approx(0.1)
    assert b10["acc_ci95"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3))
    b100 = table.iloc[3]
    assert b100["acc_mean"] == pytest.approx(0.7)
    assert math.isnan(b100["acc_std"]) and math.isnan(b100["acc_ci95"])
    assert table["ms_mean"].tolist() == [100.0, 1000.0, 100.0, 1000.0]


def test_aggregate_leaves_missing_values_out_and_checks_names():
    df = pd.DataFrame({"m": ["x", "x", "x"], "acc": [1.0, None, 3.0]})
    table = aggregate(df, by=["m"], metrics=["acc"])
    assert table.loc[0, "n"] == 3
    assert table.loc[0, "acc_mean"] == pytest.approx(2.0)
    assert table.loc[0, "acc_std"] == pytest.approx(math.sqrt(2))
    assert aggregate(df, by=[], metrics=["acc"]).loc[0, "acc_mean"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no column 'nope'"):
        aggregate(df, by=["nope"], metrics=["acc"])
    with pytest.raises(ValueError, match="not numeric"):
        aggregate(pd.DataFrame({"m": ["x"], "acc": ["high"]}), by=["m"], metrics=["acc"])
    with pytest.raises(TypeError):
        aggregate(df, by="m", metrics=["acc"])


# ----------------------------------------------------------------------------- provenance


def test_context_from_records_says_how_the_records_were_made():
    context = context_from_records(fixture_records())
    assert context["seeds"] == [0, 1, 2, 9]
    assert context["sizes"] == [10, 100]
    assert context["commit"] == "0123456789ab (dirty)"
    assert context["command"] == "lab run toy --quick"
    assert context["device"] == "cpu (test)"
    assert context["runs"] == 11 and context["failed"] == 1
    assert context["date"] == "2026-01-01T00:00:00+00:00 .. 2026-01-03T00:00:00+00:00"
    line = format_provenance(context)
    assert "command: `lab run toy --quick`" in line and "seeds: 0, 1, 2, 9" in line


def test_provenance_collects_commit_versions_device_threads_date():
    info = provenance.collect(device="cpu", argv=["/x/bin/lab", "run", "toy", "--quick"])
    assert info["command"] == "lab run toy --quick"
    assert info["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", info["commit"])
    assert info["dirty"] in (True, False, None)
    assert {"python", "torch", "numpy", "pandas"} <= set(info["versions"])
    assert info["device"].startswith("cpu (") and info["threads"] >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", info["date"])
    assert provenance.describe_commit({"sha": None, "dirty": None}) == "unknown"
    assert device_name("cpu") == "cpu"
    assert device_name("auto") in ("cpu", "cuda", "mps")


# ----------------------------------------------------------------------------- tables, plots


def test_write_table_writes_markdown_headed_by_provenance_and_a_plain_csv(tmp_path):
    table = aggregate(records_frame(fixture_records()), ["model", "size"], ["acc"])
    md, csv = write_table(table, tmp_path / "sub" / "acc", CONTEXT, title="Accuracy")
    text = md.read_text()
    assert text.startswith("# Accuracy\n")
    assert "command: `lab run toy --quick`" in text and "seeds: 0, 1, 2" in text
    # one readable cell per result, in percent (acc is a fraction), +- the 95% CI
    assert "| model | size | n | acc |" in text and "95% CI half-width" in text
    assert "| a | 10 | 3 | 66.7 +- 51.7 |" in text
    assert "| b | 100 | 1 | 70.0 |" in text  # one seed: no CI
    back = pd.read_csv(csv)
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["acc.csv", "acc.md", "acc.tex"]
    tex = (tmp_path / "sub" / "acc.tex").read_text()
    assert "\\toprule" in tex and "$66.7 \\pm 51.7$" in tex and "seeds: 0, 1, 2" in tex


def test_learning_curves_are_written_as_png_and_svg_with_labels(tmp_path):
    df = records_frame(fixture_records())
    paths = plot_lines(
        df,
        x="size",
        y="acc",
        hue="model",
        path_stem=tmp_path / "curve",
        provenance=CONTEXT,
        hline=(0.95, "Bayes-optimal"),
        logx=True,
        xlabel="training sentences",
        ylabel="token accuracy (fraction)",
    )
    assert [p.name for p in paths] == ["curve.png", "curve.svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    text = svg.read_text()
    for label in ("training sentences", "token accuracy (fraction)", "Bayes-optimal", "model"):
        assert label in text, label
    assert "lab run toy --quick" in text  # the caption states how it was made
    # a fraction's band stays in [0, 1] (model a's CI over 3 seeds reaches past 1), and
    # every run is drawn beside the mean
    assert "clipped to [0, 1]" in text and "dots: every run" in text


def test_plot_lines_from_an_aggregated_frame(tmp_path):
    table = aggregate(records_frame(fixture_records()), ["model", "size"], ["ms"])
    paths = plot_lines(
        table,
        x="size",
        y="ms",
        hue="model",
        path_stem=tmp_path / "cost",
        provenance=CONTEXT,
        logx=True,
        logy=True,
        ylabel="time per sentence (ms)",
        formats=("png",),
    )
    assert len(paths) == 1 and paths[0].stat().st_size > 5000
    with pytest.raises(ValueError, match="empty"):
        plot_lines(pd.DataFrame(), x="size", y="ms", path_stem=tmp_path / "e")


# ----------------------------------------------------------------------------- lab report

TOY = """
from pathlib import Path
NAME = "toy"
CLAIM = "toy"
def grid(scale):
    return []
def run(config):
    return {}
def summarize(records, out_dir, context):
    from lab.report.tables import aggregate, records_frame, write_table
    table = aggregate(records_frame(records), ["model", "size"], ["acc"])
    write_table(table, Path(out_dir) / "acc", context)
    ok = [r for r in records if r["status"] == "ok"]
    return {"verdict": "mixed", "rule": "toy", "key_figures": f"{len(ok)} of {len(records)}"}
"""


def test_lab_report_calls_the_experiments_summarize(tmp_path, monkeypatch, capsys):
    from lab.cli import report as report_cli

    exp_dir = tmp_path / "experiments"
    exp_dir.mkdir()
    (exp_dir / "toy.py").write_text(TOY)
    monkeypatch.setenv("LAB_EXPERIMENTS_DIR", str(exp_dir))
    out = tmp_path / "results"
    for record in fixture_records():
        append_record(out, record)
    parser = argparse.ArgumentParser()
    report_cli.add_arguments(parser)
    assert report_cli.main(parser.parse_args([str(out)])) == 0
    assert json.loads(capsys.readouterr().out)["key_figures"] == "10 of 11"  # all records in
    assert "| a | 10 | 3 | 66.7 +- 51.7 |" in (out / "acc.md").read_text()
    assert json.loads((out / "summary.json").read_text())["verdict"] == "mixed"

    append_record(out, {**fixture_records()[0], "id": "other", "experiment": "other"})
    with pytest.raises(ValueError, match="mixes experiments"):
        report_cli.main(parser.parse_args([str(out)]))
    with pytest.raises(FileNotFoundError, match="no such results directory"):
        report_cli.main(parser.parse_args([str(tmp_path / "missing")]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no records"):
        report_cli.main(parser.parse_args([str(tmp_path / "empty")]))


def test_readable_tables_stay_within_the_column_budget():
    from lab.report.tables import MAX_COLUMNS, mean_ci_cell, readable

    df = records_frame(fixture_records())
    table = aggregate(df, ["model", "size"], ["acc", "ms"])
    assert len(table.columns) == 9  # model, size, n and three columns per metric
    shown, collapsed = readable(table)
    assert collapsed and list(shown.columns) == ["model", "size", "n", "acc", "ms"]
    assert len(shown.columns) <= MAX_COLUMNS
    assert mean_ci_cell(0.953, 0.005, percent=True) == "95.3 +- 0.5"
    assert mean_ci_cell(12.3456, 0.51) == "12.3 +- 0.51"
    assert mean_ci_cell(float("nan"), 0.1) == "-"


def test_outputs_in_results_do_not_make_the_code_dirty(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "lab").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "lab" / "x.py").write_text("x = 1\n")
    (tmp_path / "results" / "README.md").write_text("old\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")

    def dirty() -> bool | None:
        provenance.git_commit.cache_clear()  # read once per process otherwise
        return provenance.git_commit(tmp_path)["dirty"]

    assert dirty() is False
    (tmp_path / "results" / "README.md").write_text("rewritten by a reproduction\n")
    assert dirty() is False
    (tmp_path / "lab" / "x.py").write_text("x = 2  # a longer line: no racy same-size rewrite\n")
    assert dirty() is True
    provenance.git_commit.cache_clear()


def test_fisher_exact_one_sided_on_known_tables():
    from lab.report.stats import fisher_greater

    assert fisher_greater(5, 5, 0, 5) == pytest.approx(1 / 252)
    assert fisher_greater(3, 3, 0, 3) == pytest.approx(1 / 20)
    assert fisher_greater(0, 5, 0, 5) == 1.0
    # 4 of 5 against 0 of 5: (C(4,4) C(6,1) + C(4,... )) / C(10,5) = 6/252
    assert fisher_greater(4, 5, 0, 5) == pytest.approx(6 / 252)
    with pytest.raises(ValueError, match="successes exceed trials"):
        fisher_greater(6, 5, 0, 5)


def test_clopper_pearson_closed_forms():
    from lab.report.stats import clopper_pearson

    for n in (3, 5, 10):
        low, high = clopper_pearson(0, n)
        assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / n), abs=1e-9)
        low, high = clopper_pearson(n, n)
        assert high == 1.0 and low == pytest.approx(0.025 ** (1 / n), abs=1e-9)
    low, high = clopper_pearson(3, 5)
    assert low < 0.6 < high
