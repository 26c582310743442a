"""``lab reproduce`` and the results README, on stub experiments (fast and exact)."""

from __future__ import annotations

import argparse
import json
import textwrap

import pytest

from lab.cli import main as lab_main
from lab.cli.reproduce import CLAIMS, add_arguments, selected
from lab.report import readme as results_readme

STUB = """
NAME = "{name}"
CLAIM = "A stub claim used by the tests of lab reproduce, long enough to read."


def grid(scale):
    if scale not in ("tiny", "quick", "full"):
        raise ValueError("unknown scale " + repr(scale))
    return [{{"x": x, "seed": s}} for x in (1, 2) for s in (0, 1)]


def run(config):
    if config["x"] == {fail_at}:
        raise RuntimeError("this run fails on purpose")
    return {{"y": 2 * config["x"]}}


def summarize(records, out_dir, context):
    from lab.report.verdict import Verdict
    ys = [r["metrics"]["y"] for r in records if r["status"] == "ok"]
    (out_dir / "table.md").write_text("made by " + context["command"])
    (out_dir / "curve.png").write_bytes(b"not really a png")
    verdict = "supported" if sum(ys) == 12 else "mixed"
    return Verdict(verdict, "supported if the ys sum to 12", "sum of y = %d" % sum(ys)).as_dict()
"""


@pytest.fixture
def stubs(tmp_path, monkeypatch):
    folder = tmp_path / "experiments"
    folder.mkdir()
    for name, fail_at in (("stub_a", 0), ("stub_b", 0), ("stub_fail", 2)):
        (folder / f"{name}.py").write_text(textwrap.dedent(STUB.format(name=name, fail_at=fail_at)))
    monkeypatch.setenv("LAB_EXPERIMENTS_DIR", str(folder))
    return tmp_path / "results"


def reproduce(out, *args: str, where: str = "--into") -> int:
    argv = ["reproduce", "--scale", "tiny", where, str(out), "--workers", "1", "--no-progress"]
    reference = [] if "--reference" in args else ["--reference", str(out)]
    return lab_main([*argv, *reference, *args])


def test_reproduce_writes_results_and_readme(stubs, capsys) -> None:
    assert reproduce(stubs, "--only", "stub_a") == 0
    printed = capsys.readouterr().out
    assert "wall time per experiment" in printed and "stub_a" in printed and "total" in printed
    lines = (stubs / "stub_a" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert (stubs / "stub_a" / "table.md").read_text().startswith("made by lab reproduce")
    readme = (stubs / "README.md").read_text()
    expected = ["stub_a", "**supported**", "supported if the ys sum to 12", "sum of y = 12"]
    expected += ["seeds: 0, 1", "commit:", "device:", "A stub claim", "(stub_a/table.md)"]
    expected += ["![stub_a: curve.png](stub_a/curve.png)"]  # the key plot, inline
    for text in expected:
        assert text in readme, text
    entry = json.loads((stubs / "summary.json").read_text())["stub_a"]
    assert entry["runs"] == 4 and entry["failed"] == 0 and entry["scale"] == "tiny"
    records = [json.loads(line) for line in lines]
    assert entry["compute_s"] == pytest.approx(sum(r["wall_s"] for r in records), abs=0.1)


def test_rerun_resumes_and_only_updates_its_entry(stubs) -> None:
    assert reproduce(stubs, "--only", "stub_a") == 0
    assert reproduce(stubs, "--only", "stub_a,stub_b") == 0
    # resumed: no run was repeated
    assert len((stubs / "stub_a" / "results.jsonl").read_text().splitlines()) == 4
    assert reproduce(stubs, "--only", "stub_b") == 0
    readme = (stubs / "README.md").read_text()
    assert "stub_a" in readme and "stub_b" in readme


def test_failed_runs_are_reported_and_the_others_go_on(stubs, capsys) -> None:
    assert reproduce(stubs, "--only", "stub_fail,stub_a") == 1
    err = capsys.readouterr().err
    assert "this run fails on purpose" in err
    entries = json.loads((stubs / "summary.json").read_text())
    assert entries["stub_fail"]["failed"] == 2 and entries["stub_fail"]["verdict"] == "mixed"
    assert entries["stub_a"]["verdict"] == "supported"
    assert "2 failed" in (stubs / "README.md").read_text()


def test_unknown_experiment_is_a_clear_error(stubs) -> None:
    with pytest.raises(ValueError, match="unknown experiment"):
        selected("stub_a,no_such_claim")
    assert selected("") == list(CLAIMS)


def test_scale_flags() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    from lab.cli.reproduce import resolve_scale

    assert parser.parse_args([]).scale is None  # quick, or what a --resume folder states
    assert resolve_scale(parser.parse_args([])) == "quick"
    assert parser.parse_args(["--full"]).scale == "full"
    assert parser.parse_args(["--standard"]).scale == "standard"
    from lab.cli.reproduce import default_reference

    assert str(default_reference("quick")) == "results"
    assert str(default_reference("standard")) == "results/standard"
    assert parser.parse_args(["--scale", "tiny"]).scale == "tiny"
    with pytest.raises(SystemExit):
        parser.parse_args(["--quick", "--full"])


def test_readme_render_and_summary_validation(tmp_path) -> None:
    with pytest.raises(ValueError, match="needs"):
        results_readme.update_summary(tmp_path, {"name": "x"})
    entry = {"name": "b", "verdict": "mixed", "rule": "r", "key_figures": "f", "wall_s": 200.0}
    entries = results_readme.update_summary(tmp_path, entry)
    entries = results_readme.update_summary(tmp_path, {**entry, "name": "a", "wall_s": 10.0})
    text = results_readme.render(entries, order=("b",))
    assert text.index("[b]") < text.index("[a]")  # the given order first
    assert "3.5 min" in text  # total of 210 s
    (tmp_path / results_readme.SUMMARY_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected an object"):
        results_readme.load_summary(tmp_path)


def test_fresh_work_folder_is_compared_with_the_reference(stubs, tmp_path, monkeypatch, capsys):
    # the committed reference: stub_a supported at the tiny scale
    assert reproduce(stubs, "--only", "stub_a,stub_b") == 0
    monkeypatch.chdir(tmp_path)
    argv = ["reproduce", "--scale", "tiny", "--workers", "1", "--no-progress"]
    assert lab_main([*argv, "--only", "stub_a", "--reference", str(stubs)]) == 0
    out = capsys.readouterr().out
    folders = list((tmp_path / "runs").glob("reproduce-tiny-*"))
    assert len(folders) == 1 and f"writing to {folders[0].relative_to(tmp_path)}" in out
    comparison = (folders[0] / "comparison.md").read_text()
    assert "| stub_a | supported | supported | same |" in comparison
    assert "sum of y = 12" in comparison  # both key-figure texts side by side
    assert len((folders[0] / "stub_a" / "results.jsonl").read_text().splitlines()) == 4


def test_a_changed_verdict_exits_1(stubs, tmp_path, capsys):
    assert reproduce(stubs, "--only", "stub_a") == 0
    summary = json.loads((stubs / "summary.json").read_text())
    summary["stub_a"]["verdict"] = "not supported"  # a reference that disagrees
    (stubs / "summary.json").write_text(json.dumps(summary))
    work = tmp_path / "work"
    assert reproduce(work, "--only", "stub_a", "--reference", str(stubs)) == 1
    captured = capsys.readouterr()
    assert "verdicts changed from the reference: ['stub_a']" in captured.err
    assert "| stub_a | not supported | supported | **changed** |" in captured.out


def test_resume_skips_finished_runs_and_warns_on_another_commits_records(stubs, capsys):
    assert reproduce(stubs, "--only", "stub_a") == 0
    path = stubs / "stub_a" / "results.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["commit"] = "0" * 40  # made by other code
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    capsys.readouterr()
    assert reproduce(stubs, "--only", "stub_a", where="--resume") == 0
    assert len(path.read_text().splitlines()) == 4  # nothing rerun
    assert "1 from 000000000000" in capsys.readouterr().err
    assert reproduce(stubs / "missing", "--only", "stub_a", where="--resume") == 2
    assert "no such folder (nothing to continue)" in capsys.readouterr().err


def test_figures_agree_within_their_cis():
    from lab.report.compare import compare, figures_agree

    assert figures_agree({"value": 1.0, "ci": 0.2}, {"value": 1.3, "ci": 0.15})
    assert not figures_agree({"value": 1.0, "ci": 0.1}, {"value": 1.3, "ci": 0.1})
    assert figures_agree({"value": 3, "exact": True}, {"value": 3, "exact": True})
    assert not figures_agree({"value": 3, "exact": True}, {"value": 4, "exact": True})
    ref = {
        "c": {
            "verdict": "supported",
            "scale": "quick",
            "figures": [{"name": "gap", "value": 0.5, "ci": 0.1}],
        }
    }
    run = {"c": {"verdict": "supported", "figures": [{"name": "gap", "value": 0.9, "ci": 0.1}]}}
    result = compare(ref, run, "quick")
    assert result.changed == [] and "| gap | 0.5 +- 0.1 | 0.9 +- 0.1 | **differs** |" in (
        result.markdown
    )
    assert compare(ref, run, "standard").unmatched == ["c"]


def test_a_companion_runs_into_its_claims_folder_without_an_entry(stubs, monkeypatch):
    from lab.cli import reproduce as reproduce_cli

    monkeypatch.setattr(reproduce_cli, "COMPANIONS", {"stub_a": (("stub_b", "cost"),)})
    assert reproduce(stubs, "--only", "stub_a") == 0
    assert len((stubs / "stub_a" / "cost" / "results.jsonl").read_text().splitlines()) == 4
    assert set(json.loads((stubs / "summary.json").read_text())) == {"stub_a"}


def test_report_of_a_folder_of_claims_rewrites_its_readme_from_the_records(
    stubs, monkeypatch, capsys
):
    from lab.cli import reproduce as reproduce_cli

    monkeypatch.setattr(reproduce_cli, "CLAIMS", ("stub_b", "stub_a"))
    monkeypatch.setattr(reproduce_cli, "COMPANIONS", {"stub_a": (("stub_b", "cost"),)})
    assert reproduce(stubs, "--only", "stub_a") == 0
    for made in ("README.md", "summary.json", "stub_a/table.md", "stub_a/cost/table.md"):
        (stubs / made).unlink()
    records = (stubs / "stub_a" / "results.jsonl").read_text()
    assert lab_main(["report", str(stubs)]) == 0
    assert (stubs / "stub_a" / "results.jsonl").read_text() == records  # nothing was run
    assert (stubs / "stub_a" / "cost" / "table.md").exists()  # the companion reported too
    readme = (stubs / "README.md").read_text()
    assert "| 1 | [stub_a](stub_a/) | **supported** | tiny | 4 | ? |" in readme
    assert "written from the records" in readme and "stub_b](" not in readme
    assert "[cost/table.md](stub_a/cost/table.md)" in readme  # the companion's table linked
    assert set(json.loads((stubs / "summary.json").read_text())) == {"stub_a"}
    assert "stub_a: supported (4 runs)" in capsys.readouterr().out


def test_report_of_a_folder_without_claims_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "not_a_claim").mkdir()
    (tmp_path / "not_a_claim" / "results.jsonl").write_text("")
    assert lab_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no claim folder holding one" in err and str(tmp_path) in err
