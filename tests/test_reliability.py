"""Issue 25, round two of "nothing lost, nothing silently wrong": one test per finding
fixed, grouped by class: the exit status, the one-line message, and that what existed is
intact. (Helpers and fixtures from tests/test_cli_errors.py.)"""

from __future__ import annotations

import json
import os

import pytest
from test_cli_errors import SYNTH, TINY, assert_user_error, lab, snapshot, toy  # noqa: F401

# --- every numeric option and config value checked, types included -----------------


def test_json_model_config_string_for_a_bool_is_refused(tmp_path, capsys) -> None:
    config = tmp_path / "m.json"
    config.write_text(json.dumps({"encoder": "lstm", "bidirectional": "false"}))
    rc, err = lab(capsys, "train", "--model", str(config), *SYNTH, "--out", str(tmp_path / "r"))
    assert_user_error(rc, err, "train", "bidirectional: expected a bool, got 'false'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--lr", "inf"], "lr must be a finite number > 0, got inf"),
        (["--train-config", "weight_decay=inf"], "weight_decay: expected a finite float, got inf"),
        (["--train-config", "clip_norm=inf"], "clip_norm: expected a finite float | None, got inf"),
    ],
)
def test_infinite_numbers_are_refused_before_training(tmp_path, capsys, option, message):
    rc, err = lab(capsys, "train", *TINY, *SYNTH, *option, "--out", str(tmp_path / "r"))
    assert_user_error(rc, err, "train", message)
    assert not (tmp_path / "r").exists()


# --- a folder a command writes into holds one experiment at one scale -------------------


def test_run_into_another_experiments_folder_is_refused(tmp_path, capsys) -> None:
    folder = tmp_path / "vg"
    assert lab(capsys, "run", "vanishing_gradients", "--scale", "tiny", "--set", "lag=3",
               "--out", str(folder), "--no-progress")[0] == 0  # fmt: skip
    before = snapshot(folder)
    rc, err = lab(capsys, "run", "word_order", "--scale", "tiny", "--out", str(folder))
    assert_user_error(rc, err, "run", "holds runs of vanishing_gradients, not of word_order")
    assert snapshot(folder) == before


def test_run_of_another_scale_into_a_folder_is_refused(tmp_path, toy, capsys) -> None:  # noqa: F811
    folder = tmp_path / "res"
    assert lab(capsys, "run", "toy", "--scale", "tiny", "--out", str(folder))[0] == 0
    before = snapshot(folder)
    rc, err = lab(capsys, "run", "toy", "--quick", "--out", str(folder))
    assert_user_error(rc, err, "run", "holds tiny-scale runs of toy")
    assert snapshot(folder) == before


def test_reproduce_resume_continues_at_the_scale_of_the_folder(tmp_path) -> None:
    import argparse

    from lab.cli.reproduce import add_arguments, resolve_scale

    folder = tmp_path / "reproduce-tiny-20261207-000000"
    (folder / "word_order").mkdir(parents=True)
    (folder / "word_order" / "summary.json").write_text(json.dumps({"context": {"scale": "tiny"}}))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert resolve_scale(parser.parse_args(["--resume", str(folder)])) == "tiny"
    with pytest.raises(ValueError, match="a tiny-scale reproduction; resuming it at the quick"):
        resolve_scale(parser.parse_args(["--resume", str(folder), "--quick"]))


# --- records validated when read: named with file:line, never dropped, never a crash ------


@pytest.mark.parametrize("metrics", ["oops", {}])
def test_a_record_with_bad_metrics_is_named_not_dropped(tmp_path, capsys, metrics) -> None:
    folder = tmp_path / "vg"
    assert lab(capsys, "run", "vanishing_gradients", "--scale", "tiny", "--set", "lag=3",
               "--out", str(folder), "--no-progress")[0] == 0  # fmt: skip
    lines = (folder / "results.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    record["metrics"] = metrics
    lines[1] = json.dumps(record)
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    before = snapshot(folder)
    rc, err = lab(capsys, "report", str(folder))
    assert_user_error(rc, err, "report", "results.jsonl:2: not a run record: a finished run's "
                      "'metrics' is")  # fmt: skip
    assert snapshot(folder) == before


# --- no hang: a FIFO is not a corpus ----------------------------------------------------------


def test_a_fifo_as_corpus_is_refused_at_once(tmp_path, capsys) -> None:
    fifo = tmp_path / "train.fifo"
    os.mkfifo(fifo)
    rc, err = lab(capsys, "train", *TINY, "--train", str(fifo), "--dev", "synthetic-hmm:5",
                  "--out", str(tmp_path / "r"))  # fmt: skip
    assert_user_error(rc, err, "train", "not a regular file (a FIFO or a device)")


# --- errors found before compute, not after it ----------------------------------------------


def test_bio_constraints_on_gold_data_that_breaks_bio_names_the_line(tmp_path, capsys) -> None:
    corpus = tmp_path / "ner.tsv"
    corpus.write_text("Ann\tB-PER\nsaw\tO\n\nthe\tO\nLee\tI-PER\n")  # O then I-PER: line 5
    rc, err = lab(capsys, "train", "--model", "encoder=lstm,head=crf,hidden=8,embedding_dim=8,"
                  "bio_constraints=true", "--train", str(corpus), "--dev", str(corpus),
                  "--out", str(tmp_path / "r"))  # fmt: skip
    assert_user_error(rc, err, "train", f"{corpus}:5: 'I-PER' after 'O' breaks BIO")
    assert not (tmp_path / "r").exists()


def test_exact_decoding_beyond_its_limit_is_refused_before_training(tmp_path, capsys) -> None:
    rc, err = lab(capsys, "train", "--model", "encoder=lstm,head=autoregressive,decoder=exact,"
                  "hidden=8,embedding_dim=8", "--train", "synthetic-hmm:20", "--dev",
                  "synthetic-hmm:20", "--out", str(tmp_path / "r"))  # fmt: skip
    assert_user_error(rc, err, "train", "decoder=exact enumerates C^T tag sequences")
    assert not (tmp_path / "r").exists()


# --- tracebacks for user errors become one line ---------------------------------------------


def test_reproduce_with_a_bad_device_runs_nothing(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc, err = lab(capsys, "reproduce", "--scale", "tiny", "--only", "word_order",
                  "--device", "nonsense")  # fmt: skip
    assert_user_error(rc, err, "reproduce", "unknown device 'nonsense'")
    assert not (tmp_path / "runs").exists()


def test_bench_with_negative_threads_is_a_user_error(capsys) -> None:
    rc, err = lab(capsys, "bench", "crf", "--threads", "-1", "--output", "/nonexistent/x.md")
    assert_user_error(rc, err, "bench crf", "--threads: expected >= 0")


def test_run_of_a_path_not_a_name(capsys) -> None:
    rc, err = lab(capsys, "run", "../lab/cli/train")
    assert_user_error(rc, err, "run", "unknown experiment '../lab/cli/train'")


def test_out_of_memory_names_the_size_options(tmp_path, capsys) -> None:
    rc, err = lab(capsys, "train", "--model", "encoder=lstm,hidden=100000,embedding_dim=100000",
                  *SYNTH, "--out", str(tmp_path / "r"))  # fmt: skip
    assert_user_error(rc, err, "train", "out of memory: an allocation of", "a size option")


# --- cosmetic: the option named, strict JSON, a closed pipe -----------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--seed", "-1"], "seed must be an int in [0, 2^32), got -1"),
        (["--dev", "synthetic-hmm:0"], "--dev synthetic-hmm:0: no sentences"),
    ],
)
def test_the_option_is_named(tmp_path, capsys, option, message) -> None:
    argv = ["train", *TINY, "--train", "synthetic-hmm:20", "--dev", "synthetic-hmm:5",
            "--out", str(tmp_path / "r")]  # fmt: skip
    if option[0] == "--dev":
        argv[argv.index("--dev") + 1] = option[1]
    else:
        argv += option
    rc, err = lab(capsys, *argv)
    assert_user_error(rc, err, "train", message)


def test_evaluate_json_is_strict(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert lab(capsys, "train", *TINY, *SYNTH, "--out", str(out))[0] == 0
    from lab.cli import main as lab_main

    capsys.readouterr()
    assert lab_main(["evaluate", str(out / "model.pt"), "--data", "synthetic-hmm:5", "--json"]) == 0
    text = capsys.readouterr().out
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))


def test_a_closed_pipe_is_no_traceback(tmp_path) -> None:
    import subprocess
    import sys

    command = f"{sys.executable} -m lab data synth synthetic-hmm -n 20000 | head -1"
    done = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert done.stdout.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


# --- one lab train per --out; an abort keeps what it aborted; leftovers cleaned ---------------


def test_a_second_train_into_the_same_out_is_refused_while_one_runs(tmp_path, capsys) -> None:
    from lab.cli.train import _out_lock

    out = tmp_path / "race"
    with _out_lock(out):  # another lab train, mid-run
        rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(out))
    assert_user_error(rc, err, "train", "another lab train is writing this folder now")
    assert not out.exists()
    assert lab(capsys, "train", *TINY, *SYNTH, "--out", str(out))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race"]  # no lock file left


def test_an_interrupted_overwrite_keeps_the_old_run(tmp_path, capsys, monkeypatch) -> None:
    import lab.training.fit as fit_module

    out = tmp_path / "run"
    assert lab(capsys, "train", *TINY, *SYNTH, "--out", str(out))[0] == 0
    before = snapshot(out)
    real_fit = fit_module.fit

    def interrupted(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        result.stopped_reason = "interrupted"  # as Ctrl-C after an epoch leaves it
        return result

    monkeypatch.setattr(fit_module, "fit", interrupted)
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(out), "--overwrite")
    assert rc == 130 and "the earlier run" in err and "run.interrupted" in err, err
    assert snapshot(out) == before
    assert (tmp_path / "run.interrupted" / "model.pt").is_file()


def test_staging_folders_of_a_killed_train_are_cleaned_by_the_next(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    stale = tmp_path / ".run.abc123.tmp"  # what kill -9 mid-training leaves
    stale.mkdir()
    (stale / "model.pt").write_text("half")
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(out))
    assert rc == 0 and not stale.exists() and "left by a run that was killed" in err


def test_out_as_a_symlink_to_an_empty_folder_trains_into_it(tmp_path, capsys) -> None:
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    assert lab(capsys, "train", *TINY, *SYNTH, "--out", str(link))[0] == 0
    assert (target / "model.pt").is_file() and link.is_symlink()


# --- signals end the workers a sweep started -----------------------------------------

SLEEPY = """
import time
NAME = "sleepy"
CLAIM = "a sweep ends its workers when it is stopped"
def grid(scale):
    return [{"seed": s, "sleep": 120} for s in range(4)]
def run(config):
    time.sleep(config["sleep"])
    return {"ok": 1}
def summarize(records, out_dir, context):
    return {"verdict": "skipped", "rule": "sleepy", "key_figures": ""}
"""


def _children(pid: int) -> set[int]:
    """Pids of the live processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read()
    except OSError:  # it ended in between
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_stopped_pool_sweep_takes_its_workers_with_it(tmp_path, sig: str) -> None:
    """`lab run --workers 2` ended by SIGTERM (as Ctrl-C: exit 130, a message) or
    kill -9: its worker processes, each mid-run for minutes, end within seconds."""
    import signal
    import subprocess
    import sys
    import time

    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "sleepy.py").write_text(SLEEPY)
    out = tmp_path / "out"
    env = {**os.environ, "LAB_EXPERIMENTS_DIR": str(experiments)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from lab.cli import main; sys.exit(main(sys.argv[1:]))",
         "run", "sleepy", "--scale", "tiny", "--workers", "2", "--out", str(out),
         "--no-progress"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2:
        assert proc.poll() is None, proc.communicate()[1]
        # the spawn context's resource tracker is a child too; workers are the others
        workers = {p for p in _children(proc.pid) if "resource_tracker" not in _cmdline(p)}
        time.sleep(0.2)
    assert len(workers) >= 2, "the pool's workers did not start"
    time.sleep(1.0)  # the workers are inside their runs
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=30)
    if sig == "SIGTERM":
        assert proc.returncode == 130 and "lab run: interrupted" in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), "a worker outlived its sweep"


def test_progress_into_a_redirected_stderr_is_plain_lines(tmp_path, toy, capsys) -> None:  # noqa: F811
    """`lab run ... 2> log`: the log gets plain lines (the count, failures, the time),
    not a bar redrawn with carriage returns."""
    rc, err = lab(capsys, "run", "toy", "--scale", "tiny", "--out", str(tmp_path / "o"))
    assert rc == 0
    assert "\r" not in err
    assert "runs done (0 failed)" in err


def test_results_jsonl_follows_the_umask_like_its_siblings(tmp_path, toy, capsys) -> None:  # noqa: F811
    before = os.umask(0o002)
    try:
        assert lab(capsys, "run", "toy", "--scale", "tiny", "--out", str(tmp_path / "o"))[0] == 0
    finally:
        os.umask(before)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "o").iterdir() if p.is_file()}
    assert modes["results.jsonl"] == 0o664, modes
    assert set(modes.values()) == {0o664}, modes


@pytest.mark.parametrize("command", ["run", "reproduce", "train"])
def test_out_under_a_file_names_the_option_and_the_file(tmp_path, capsys, command) -> None:
    afile = tmp_path / "afile"
    afile.write_text("kept")
    out = str(afile / "sub")
    argv = {
        "run": ["run", "exact_inference", "--scale", "tiny", "--out", out],
        "reproduce": ["reproduce", "--scale", "tiny", "--into", out],
        "train": ["train", "--model", "encoder=lstm,head=crf,hidden=8,embedding_dim=8",
                  "--train", "synthetic-hmm:50", "--dev", "synthetic-hmm:20", "--out", out],
    }[command]  # fmt: skip
    rc, err = lab(capsys, *argv)
    option = "--into" if command == "reproduce" else "--out"
    assert_user_error(rc, err, command, f"{option} {out}: cannot be made, {afile} is a file")
    assert afile.read_text() == "kept"


def test_records_state_their_scale(tmp_path, toy, capsys) -> None:  # noqa: F811
    """Every new record carries the scale it ran at; the folder's scale is read from it
    (the command only where older records lack it)."""
    folder = tmp_path / "res"
    assert lab(capsys, "run", "toy", "--scale", "tiny", "--out", str(folder))[0] == 0
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert records and {r["scale"] for r in records} == {"tiny"}
    (folder / "summary.json").unlink()  # no summary to fall back on: the records decide
    # a command that names no scale reads as quick: only the records' field says tiny
    lines = [json.dumps({**r, "command": "lab run toy"}) for r in records]
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    rc, err = lab(capsys, "run", "toy", "--quick", "--out", str(folder))
    assert_user_error(rc, err, "run", "holds tiny-scale runs of toy")
