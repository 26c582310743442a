"""lab.runs.sweep and lab.runs.records: grids, ids, durable records, resume, failures, executors.

Toy experiment scripts are written into tmp_path and found through LAB_EXPERIMENTS_DIR,
so these tests do not depend on the real experiments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab.errors import UsageError
from lab.runs import experiment
from lab.runs.records import TornLineWarning, append_record, load_records, read_records
from lab.runs.sweep import canonical_json, expand_grid, run_id, run_sweep

TOY = """
import os, signal, time
from pathlib import Path

NAME = "{name}"
CLAIM = "a toy for the sweep tests"

def grid(scale):
    seeds = [0, 1] if scale == "tiny" else [0, 1, 2]
    return [{{"model": m, "size": n, "seed": s}} for m in ["a", "b"] for n in [10, 100]
            for s in seeds]

def run(config):
    # A side channel: every call is logged, so a test can count how often a config ran.
    log = os.environ.get("TOY_CALL_LOG")
    if log:
        with open(log, "a") as f:
            f.write(str(config.get("size")) + "/" + str(config.get("seed")) + "\\n")
    if config.get("fail"):
        raise RuntimeError("this run fails on purpose")
    kill_marker = config.get("kill_once")
    if kill_marker and os.path.exists(kill_marker):
        os.unlink(kill_marker)
        os.kill(os.getpid(), signal.SIGKILL)
    if config.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(config.get("sleep", 0.0))
    return {{"acc": config["size"] / 1000 + config["seed"] / 100, "pid": os.getpid()}}

def summarize(records, out_dir, context):
    (Path(out_dir) / "summary.txt").write_text(str(len(records)))
    return {{"verdict": "skipped", "rule": "toy", "key_figures": str(len(records))}}
"""


@pytest.fixture
def toy_dir(tmp_path, monkeypatch):
    exp_dir = tmp_path / "experiments"
    exp_dir.mkdir()
    (exp_dir / "toy.py").write_text(TOY.format(name="toy"))
    monkeypatch.setenv("LAB_EXPERIMENTS_DIR", str(exp_dir))
    return exp_dir


def toy_configs(**extra) -> list[dict]:
    return [{**c, **extra} for c in experiment.load("toy").grid("tiny")]


# ----------------------------------------------------------------------------- grid and ids


def test_expand_grid_is_the_cartesian_product_in_stable_order():
    grid = expand_grid({"lr": 0.1}, model=["a", "b"], seed=[0, 1, 2])
    assert grid == [{"lr": 0.1, "model": m, "seed": s} for m in ["a", "b"] for s in [0, 1, 2]]
    assert expand_grid({"x": 1}) == [{"x": 1}]


@pytest.mark.parametrize(
    "axes, error",
    [
        ({"seed": "012"}, TypeError),
        ({"seed": 3}, TypeError),
        ({"seed": []}, ValueError),
        ({"lr": [0.1]}, ValueError),  # also a key of base
    ],
)
def test_expand_grid_rejects_bad_axes(axes, error):
    with pytest.raises(error):
        expand_grid({"lr": 0.1}, **axes)


def test_run_id_is_stable_and_ignores_key_order():
    config = {"model": "lstm", "size": 1000, "seed": 3, "lr": 0.001, "layers": [1, 2]}
    # A regression check: computed once; must never change, or resumes would rerun all.
    assert run_id(config) == "56c6125748fade60"
    assert run_id(dict(reversed(list(config.items())))) == run_id(config)
    assert run_id({**config, "seed": 4}) != run_id(config)
    assert run_id({"x": 1}) != run_id({"x": 1.0})
    assert canonical_json({"b": 1, "a": [1, "x"]}) == '{"a":[1,"x"],"b":1}'


def test_run_id_is_the_same_in_another_process():
    config = {"model": "gru", "size": 300, "seed": 1, "nested": {"z": 1, "a": None}}
    code = f"from lab.runs.sweep import run_id; print(run_id({config!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == run_id(config)


@pytest.mark.parametrize("config", [{"x": float("nan")}, {"x": object()}, ["not", "a dict"]])
def test_run_id_rejects_what_json_cannot_hold(config):
    with pytest.raises(TypeError):
        run_id(config)


# ----------------------------------------------------------------------------- records


def test_records_round_trip_and_torn_last_line_is_skipped_then_repaired(tmp_path):
    append_record(tmp_path, {"id": "a", "status": "ok"})
    append_record(tmp_path, {"id": "b", "status": "ok"})
    path = tmp_path / "results.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"id": "c", "sta')  # a writer killed mid-line
    with pytest.warns(TornLineWarning, match="torn last line"):
        assert [r["id"] for r in read_records(tmp_path)] == ["a", "b"]
    # The next append cuts the torn tail off instead of gluing onto it.
    with pytest.warns(TornLineWarning, match="removed a torn last line"):
        append_record(tmp_path, {"id": "c", "status": "ok"})
    assert [r["id"] for r in read_records(tmp_path)] == ["a", "b", "c"]
    assert path.read_bytes().endswith(b"\n")


def test_a_torn_tail_that_parses_still_does_not_count(tmp_path):
    # A line written whole except its newline is still torn: the next append removes it.
    (tmp_path / "results.jsonl").write_bytes(b'{"id": "a"}\n{"id": "b"}')
    with pytest.warns(TornLineWarning):
        assert [r["id"] for r in read_records(tmp_path)] == ["a"]


def test_a_corrupt_complete_line_raises_with_path_and_line_number(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"results.jsonl:2"):
        read_records(tmp_path)


def test_load_records_keeps_the_latest_record_per_id(tmp_path):
    append_record(tmp_path, {"id": "a", "status": "failed"})
    append_record(tmp_path, {"id": "b", "status": "ok"})
    append_record(tmp_path, {"id": "a", "status": "ok"})
    assert [(r["id"], r["status"]) for r in load_records(tmp_path)] == [("a", "ok"), ("b", "ok")]
    assert load_records(tmp_path / "missing") == []


def test_append_record_rejects_what_json_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        append_record(tmp_path, {"id": "a", "x": object()})
    assert read_records(tmp_path) == []


# ----------------------------------------------------------------------------- sweeps


def test_sweep_records_every_run_then_skips_them(toy_dir, tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("TOY_CALL_LOG", str(log))
    configs = toy_configs()
    out = tmp_path / "out"
    records = run_sweep("toy", configs, out, progress=False)
    assert [r["id"] for r in records] == [run_id(c) for c in configs]
    first = records[0]
    assert first["status"] == "ok" and first["experiment"] == "toy"
    assert first["config"] == configs[0]
    assert first["metrics"]["acc"] == pytest.approx(configs[0]["size"] / 1000)
    for key in ("wall_s", "device", "versions", "commit", "started", "finished", "threads"):
        assert key in first, key
    assert "torch" in first["versions"]
    assert len(log.read_text().splitlines()) == len(configs)

    again = run_sweep("toy", configs, out, progress=False)
    assert again == records
    assert len(log.read_text().splitlines()) == len(configs)  # nothing ran twice
    assert len(read_records(out)) == len(configs)


def test_a_failing_run_is_recorded_and_the_sweep_goes_on_then_retried(toy_dir, tmp_path):
    configs = toy_configs()
    configs[1] = {**configs[1], "fail": True}
    out = tmp_path / "out"
    records = run_sweep("toy", configs, out, progress=False)
    assert [r["status"] for r in records].count("ok") == len(configs) - 1
    failed = records[1]
    assert failed["status"] == "failed" and failed["metrics"] is None
    assert "RuntimeError: this run fails on purpose" in failed["error"]
    assert "Traceback" in failed["error"]
    # A rerun retries the failed one only (and it fails again: one more line).
    run_sweep("toy", configs, out, progress=False)
    lines = read_records(out)
    assert len(lines) == len(configs) + 1
    assert [r["id"] for r in lines[-1:]] == [failed["id"]]


def test_sweep_accepts_a_module_and_rejects_bad_arguments(toy_dir, tmp_path):
    module = experiment.load("toy")
    configs = toy_configs()
    assert len(run_sweep(module, configs[:2], tmp_path / "o", progress=False)) == 2
    with pytest.raises(ValueError, match="identical"):
        run_sweep(module, [configs[0], dict(configs[0])], tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="executor"):
        run_sweep(module, configs, tmp_path / "o", executor="threads", progress=False)
    with pytest.raises(ValueError, match="workers"):
        run_sweep(module, configs, tmp_path / "o", workers=0, progress=False)
    with pytest.raises(ValueError, match="unknown experiment"):
        run_sweep("nope", configs, tmp_path / "o", progress=False)
    with pytest.raises(TypeError, match="config 0"):
        run_sweep(module, [("a", 1)], tmp_path / "o", progress=False)


def _sweep_script(out: Path, configs: list[dict], executor: str = "local", workers: int = 1):
    return textwrap.dedent(
        f"""
        from lab.runs.sweep import run_sweep
        run_sweep("toy", {configs!r}, {str(out)!r}, executor={executor!r},
                  workers={workers}, progress=False)
        """
    )


def _check_complete(out: Path, configs: list[dict]) -> list[dict]:
    lines = read_records(out)
    ids = [r["id"] for r in lines]
    assert len(ids) == len(set(ids)), "a record was duplicated"
    assert sorted(ids) == sorted(run_id(c) for c in configs), "a record was lost"
    assert all(r["status"] == "ok" for r in lines)
    return lines


def test_a_sweep_killed_by_sigkill_resumes_without_loss_or_duplication(toy_dir, tmp_path):
    # The 4th run SIGKILLs the whole sweep process (in-process executor) the first time.
    marker = tmp_path / "kill-once"
    marker.touch()
    configs = toy_configs()
    configs[3] = {**configs[3], "kill_once": str(marker)}
    out = tmp_path / "out"
    script = _sweep_script(out, configs)
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert first.returncode == -signal.SIGKILL, first.stderr
    before = read_records(out)
    assert [r["id"] for r in before] == [run_id(c) for c in configs[:3]]

    resumed = run_sweep("toy", configs, out, progress=False)
    assert len(resumed) == len(configs)
    lines = _check_complete(out, configs)
    assert lines[:3] == before  # finished records were kept, not redone


def test_a_sweep_killed_from_outside_mid_way_resumes(toy_dir, tmp_path):
    configs = toy_configs(sleep=0.15)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", _sweep_script(out, configs)])
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if len(read_records(out)) >= 2:
                break
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("no records appeared within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = len(read_records(out))
    assert 2 <= done_before < len(configs)
    run_sweep("toy", configs, out, progress=False)
    _check_complete(out, configs)


def test_pool_executor_runs_in_workers_and_survives_a_killed_worker(toy_dir, tmp_path):
    configs = toy_configs()
    configs[2] = {**configs[2], "die": True}  # SIGKILLs its worker every time
    out = tmp_path / "out"
    records = run_sweep("toy", configs, out, executor="pool", workers=2, progress=False)
    statuses = [r["status"] for r in records]
    assert statuses[2] == "failed" and "worker process died" in records[2]["error"]
    assert statuses.count("ok") == len(configs) - 1  # the innocent runs in flight were redone
    assert len({r["metrics"]["pid"] for r in records if r["status"] == "ok"}) >= 2
    assert {r["metrics"]["pid"] for r in records if r["status"] == "ok"}.isdisjoint({os.getpid()})
    ids = [r["id"] for r in read_records(out)]
    assert len(ids) == len(set(ids)) == len(configs)
    assert all(r["threads"] == max(1, len(os.sched_getaffinity(0)) // 2) for r in records[3:])


def test_pool_executor_needs_a_script_loadable_by_name(toy_dir, tmp_path):
    module = experiment.load("toy")
    module.NAME = "not_a_script"
    with pytest.raises(ValueError, match="loads experiments by name"):
        run_sweep(module, toy_configs(), tmp_path / "o", executor="pool", progress=False)


@pytest.mark.slow
def test_ray_executor_on_a_local_runtime(toy_dir, tmp_path):
    pytest.importorskip("ray")
    configs = toy_configs()
    configs[0] = {**configs[0], "fail": True}
    out = tmp_path / "out"
    records = run_sweep("toy", configs, out, executor="ray", workers=2, progress=False)
    assert [r["status"] for r in records] == ["failed"] + ["ok"] * (len(configs) - 1)
    assert {r["metrics"]["pid"] for r in records[1:]}.isdisjoint({os.getpid()})
    again = run_sweep("toy", configs, out, executor="ray", workers=2, progress=False)
    assert [r["id"] for r in again] == [r["id"] for r in records]
    assert len(read_records(out)) == len(configs) + 1  # only the failed run was retried


# ----------------------------------------------------------------------------- the CLI


def test_lab_run_cli_runs_resumes_and_summarizes(toy_dir, tmp_path, capsys):
    from lab.cli import run as sweep_cli

    out = tmp_path / "res"
    parser = __import__("argparse").ArgumentParser()
    sweep_cli.add_arguments(parser)
    args = parser.parse_args(["toy", "--scale", "tiny", "--out", str(out), "--no-progress"])
    assert sweep_cli.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "skipped" and summary["context"]["seeds"] == [0, 1]
    assert (out / "summary.txt").read_text() == "8"
    # quick runs into a folder of tiny ones would be pooled with them: refused (issue 25)
    args = parser.parse_args(["toy", "--quick", "--out", str(out), "--no-progress"])
    from lab.errors import UsageError

    with pytest.raises(UsageError, match="holds tiny-scale runs of toy"):
        sweep_cli.main(args)
    assert len(read_records(out)) == 8  # nothing was run or appended
    with pytest.raises(SystemExit):
        parser.parse_args(["toy", "--quick", "--full"])


def test_pool_workers_that_cannot_start_fail_the_sweep_clearly(toy_dir, tmp_path):
    # An unguarded main script: each spawned worker re-runs it and dies while starting.
    script = tmp_path / "unguarded.py"
    script.write_text(_sweep_script(tmp_path / "out", toy_configs(), executor="pool", workers=2))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "if __name__ == '__main__':" in out.stderr
    assert read_records(tmp_path / "out") == []


def test_two_sweeps_into_one_directory_at_once_are_refused(toy_dir, tmp_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".sweep.lock", "a") as held:  # as a running sweep holds it
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UsageError, match="another sweep is running"):
            run_sweep("toy", toy_configs(), out, progress=False)
    assert len(run_sweep("toy", toy_configs(), out, progress=False)) == 8


def test_lab_run_keeps_each_scale_in_its_own_folder(toy_dir, tmp_path, monkeypatch, capsys):
    from lab.cli import main as lab_main

    monkeypatch.chdir(tmp_path)
    assert lab_main(["run", "toy", "--quick", "--no-progress"]) == 0
    assert lab_main(["run", "toy", "--standard", "--no-progress"]) == 0
    capsys.readouterr()
    assert len(load_records(tmp_path / "results" / "toy")) == 12
    assert len(load_records(tmp_path / "results" / "standard" / "toy")) == 12


def test_a_run_pinned_to_its_own_threads_records_them(toy_dir, tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the process's count, which the run pins to 1 while it runs
    try:
        records = run_sweep("toy", toy_configs(threads=1)[:1], tmp_path / "out", progress=False)
    finally:
        torch.set_num_threads(before)
    assert records[0]["threads"] == 1
    assert "1 threads" in records[0]["device"], records[0]["device"]
