"""Issue 16: nothing lost, nothing silently wrong. One test per bad input or fault: the
exit status, the one-line message (file:line where there is one), and that what existed
before is intact. The CLI runs in-process (``lab.cli.main``), except where a signal or
file permissions need a process of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lab.cli import main as lab_main
from lab.runs.records import append_record

TINY = ["--model", "encoder=lstm,head=crf,embedding_dim=8,hidden=8", "--no-progress"]
TINY += ["--device", "cpu", "--epochs", "1"]
SYNTH = ["--train", "synthetic-hmm:40", "--dev", "synthetic-hmm:10"]

TOY = """
import os
from pathlib import Path

NAME = "toy"
CLAIM = "a toy"

def grid(scale):
    return [{"seed": s} for s in (0, 1)]

def run(config):
    log = os.environ.get("TOY_CALL_LOG")
    if log:
        with open(log, "a") as f:
            f.write("ran\\n")
    return {"acc": 0.5}

def summarize(records, out_dir, context):
    return {"verdict": "skipped", "rule": "toy", "key_figures": str(len(records))}
"""


def lab(capsys, *argv: str) -> tuple[int, str]:
    """Exit status and stderr of ``lab ARGV`` run in this process."""
    rc = lab_main(list(argv))
    return rc, capsys.readouterr().err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_user_error(rc: int, err: str, command: str, *fragments: str) -> None:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"lab {command}: error: "), err
    assert "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[-1], err


@pytest.fixture
def corpora(tmp_path: Path) -> Path:
    (tmp_path / "train.tsv").write_text("a\tX\nb\tY\n\nc\tX\n")
    (tmp_path / "dev.tsv").write_text("a\tX\n\nb\tY\nc\tZ\n")  # Z: line 4, not in train
    (tmp_path / "bio.tsv").write_text("Ann\tB-PER\nsaw\tO\n\nBob\tB-PER\nLee\tI-PER\n")
    return tmp_path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny trained model, made once for the evaluate cases."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert lab_main(["train", *TINY, *SYNTH, "--out", str(out)]) == 0
    return out / "model.pt"


@pytest.fixture
def prior_run(tmp_path: Path) -> Path:
    """A run folder as an earlier ``lab train`` left it (contents need not be real)."""
    out = tmp_path / "run"
    out.mkdir()
    for name, text in (("model.pt", "old weights"), ("fit.json", "{}"), ("metrics.json", "{}")):
        (out / name).write_text(text)
    return out


@pytest.fixture
def toy(tmp_path: Path, monkeypatch) -> Path:
    exp_dir = tmp_path / "experiments"
    exp_dir.mkdir()
    (exp_dir / "toy.py").write_text(TOY)
    monkeypatch.setenv("LAB_EXPERIMENTS_DIR", str(exp_dir))
    return exp_dir


@pytest.fixture
def shared_tmp():
    """A folder another user can enter (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="lab-test-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


def lab_unprivileged(cwd: Path, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``lab ARGV`` in a process of its own, as user nobody when this is root (root may
    write anywhere, so a read-only folder would not be read-only to it)."""
    command = [sys.executable, "-m", "lab", *argv]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: no way to drop to an unprivileged user")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


# ----------------------------------------------------------------------------- lab train


def test_train_dev_tag_unseen_in_train_names_file_and_line(corpora, capsys):
    out = corpora / "run"
    rc, err = lab(capsys, "train", *TINY, "--train", str(corpora / "train.tsv"),
                  "--dev", str(corpora / "dev.tsv"), "--out", str(out))  # fmt: skip
    assert_user_error(rc, err, "train", f"{corpora / 'dev.tsv'}:4:", "dev tag 'Z'")
    assert not out.exists()


def test_train_test_tag_unseen_in_train_refused_before_training(corpora, capsys):
    out = corpora / "run"
    rc, err = lab(capsys, "train", *TINY, "--train", str(corpora / "train.tsv"),
                  "--dev", str(corpora / "train.tsv"), "--test", str(corpora / "dev.tsv"),
                  "--out", str(out))  # fmt: skip
    assert_user_error(rc, err, "train", f"{corpora / 'dev.tsv'}:4:", "test tag 'Z'")
    assert "epoch" not in err and not out.exists()  # no compute was spent


def test_train_span_f1_needs_bio_tags(tmp_path, capsys):
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--train-config", "dev_metric=span_f1",
                  "--out", str(tmp_path / "run"))  # fmt: skip
    assert_user_error(rc, err, "train", "dev_metric=span_f1 needs BIO tags", "T0")
    assert "epoch" not in err and not (tmp_path / "run").exists()


def test_train_bio_constraints_need_bio_tags(tmp_path, capsys):
    model = "encoder=lstm,head=crf,embedding_dim=8,hidden=8,bio_constraints=true"
    rc, err = lab(capsys, "train", *TINY, "--model", model, *SYNTH,
                  "--out", str(tmp_path / "run"))  # fmt: skip
    assert_user_error(rc, err, "train", "bio_constraints=true needs BIO tags")
    assert not (tmp_path / "run").exists()


def test_train_bio_constraints_on_bio_tags_still_train(corpora, capsys):
    model = "encoder=lstm,head=crf,embedding_dim=8,hidden=8,bio_constraints=true"
    bio = str(corpora / "bio.tsv")
    rc, err = lab(capsys, "train", *TINY, "--model", model, "--train", bio, "--dev", bio,
                  "--train-config", "dev_metric=span_f1",
                  "--out", str(corpora / "run"))  # fmt: skip
    assert rc == 0, err
    assert (corpora / "run" / "model.pt").is_file()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_train_cuda_without_cuda_refused(tmp_path, capsys):
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--device", "cuda",
                  "--out", str(tmp_path / "run"))  # fmt: skip
    assert_user_error(rc, err, "train", "CUDA is not available")
    assert not (tmp_path / "run").exists()


def test_train_fp16_on_the_cpu_refused(tmp_path, capsys):
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--train-config", "amp=fp16",
                  "--out", str(tmp_path / "run"))  # fmt: skip
    assert_user_error(rc, err, "train", "amp=fp16 needs a CUDA device")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("native", [True, False])
def test_train_bf16_warns_where_the_cpu_emulates_it(tmp_path, capsys, monkeypatch, native):
    from lab import device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    # a GRU: autocast leaves it in fp32 on any CPU (an LSTM would take oneDNN's bf16
    # kernel, which a CPU pretending to have it here may lack)
    gru = ["--model", "encoder=gru,head=crf,embedding_dim=8,hidden=8", *TINY[2:]]
    rc, err = lab(capsys, "train", *gru, *SYNTH, "--train-config", "amp=bf16",
                  "--out", str(tmp_path / "run"))  # fmt: skip
    assert rc == 0, err
    assert ("amp=bf16 runs emulated" in err) is not native


def test_train_out_is_an_existing_file(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(out))
    assert_user_error(rc, err, "train", f"--out {out} is a file")
    assert out.read_text() == "keep me"


def test_train_out_in_a_read_only_folder(shared_tmp):
    readonly = shared_tmp / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    done = lab_unprivileged(shared_tmp, "train", *TINY, *SYNTH, "--out", str(readonly / "run"))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "epoch" not in done.stderr
    assert f"lab train: error: --out {readonly / 'run'}: cannot write in {readonly}" in done.stderr
    assert list(readonly.iterdir()) == []


def test_train_refuses_an_existing_run_folder(prior_run, capsys):
    before = snapshot(prior_run)
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(prior_run))
    assert_user_error(rc, err, "train", "already holds a run", "--overwrite")
    assert snapshot(prior_run) == before


def test_train_refuses_a_folder_holding_other_files(tmp_path, capsys):
    (tmp_path / "paper.tex").write_text("draft")
    before = snapshot(tmp_path)
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(tmp_path), "--overwrite")
    assert_user_error(rc, err, "train", "not a run's (paper.tex)")
    assert snapshot(tmp_path) == before


def test_train_overwrite_replaces_the_whole_run(prior_run, capsys):
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(prior_run), "--overwrite")
    assert rc == 0, err
    assert sorted(p.name for p in prior_run.iterdir()) == ["fit.json", "metrics.json", "model.pt"]
    assert (prior_run / "model.pt").read_bytes() != b"old weights"
    fit = json.loads((prior_run / "fit.json").read_text())
    assert fit["checkpoint"] == str(prior_run / "model.pt")  # not the staging folder's
    assert sorted(p.name for p in prior_run.parent.iterdir()) == ["run"]  # nothing left aside
    assert (prior_run / "metrics.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_train_failing_rerun_leaves_the_old_run_intact(prior_run, capsys, monkeypatch):
    import lab.training.fit as fit_module

    real_fit = fit_module.fit

    def fit_then_fail(*args, **kwargs):
        real_fit(*args, **kwargs)  # model.pt and fit.json written (into the staging folder)
        raise RuntimeError("a bug after training")

    monkeypatch.setattr(fit_module, "fit", fit_then_fail)
    before = snapshot(prior_run)
    with pytest.raises(RuntimeError, match="a bug after training"):  # internal: traceback
        lab_main(["train", *TINY, *SYNTH, "--out", str(prior_run), "--overwrite"])
    assert snapshot(prior_run) == before
    assert sorted(p.name for p in prior_run.parent.iterdir()) == ["run"]  # no staging left


def test_train_nonfinite_from_the_start_exits_3_keeping_the_old_run(prior_run, capsys):
    before = snapshot(prior_run)
    rc, err = lab(capsys, "train", "--model", "head=crf,embedding_dim=8,hidden=8", "--no-progress",
                  "--device", "cpu", "--train-config", "clip_norm=none", "--lr", "1e12",
                  "--train", "synthetic-hmm:200", "--dev", "synthetic-hmm:50", "--epochs", "2",
                  "--out", str(prior_run), "--overwrite")  # fmt: skip
    assert rc == 3, err
    assert "lab train: error: " in err and "non-finite" in err and "Traceback" not in err
    assert f"--out {prior_run} untouched" in err
    assert snapshot(prior_run) == before
    assert sorted(p.name for p in prior_run.parent.iterdir()) == ["run"]  # no staging left


def test_train_nonfinite_after_a_finite_epoch_exits_3_keeping_it(tmp_path, capsys, monkeypatch):
    import lab.training.fit as fit_module

    real_fit = fit_module.fit

    def fit_ending_nonfinite(*args, **kwargs):  # as fit returns when a later epoch is NaN
        result = real_fit(*args, **kwargs)
        result.stopped_reason = "nonfinite_loss"
        return result

    monkeypatch.setattr(fit_module, "fit", fit_ending_nonfinite)
    out = tmp_path / "run"
    rc, err = lab(capsys, "train", *TINY, *SYNTH, "--out", str(out))
    assert rc == 3, err
    assert "lab train: error: the loss became non-finite in epoch 1; kept the best state" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fit"]["stopped_reason"] == "nonfinite_loss"
    assert (out / "model.pt").is_file()


def test_train_sigint_after_epoch_one_exits_130_keeping_the_best(tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "lab", "train", *TINY[:-2], "--epochs", "10000",
            "--patience", "10000", *SYNTH, "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stderr:  # wait for the first finished epoch
            if line.startswith("epoch 1:"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted after epoch" in err and "kept the best state" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fit"]["stopped_reason"] == "interrupted" and metrics["fit"]["best_epoch"] >= 1
    assert (out / "model.pt").is_file()


def test_train_directory_as_corpus(tmp_path, capsys):
    rc, err = lab(capsys, "train", *TINY, "--train", str(tmp_path), "--dev", "synthetic-hmm:5",
                  "--out", str(tmp_path / "run"))  # fmt: skip
    assert_user_error(rc, err, "train", f"{tmp_path} is a directory; expected a corpus file")
    assert not (tmp_path / "run").exists()


def test_train_conllu_by_any_name_is_read_as_conllu(tmp_path, capsys):
    corpus = tmp_path / "ud.txt"
    word = "{}\t{}\t_\t{}\t_\t_\t_\t_\tSpaceAfter=No\t_\n"
    corpus.write_text("# text = a b\n" + word.format(1, "a", "DET") + word.format(2, "b", "NOUN"))
    rc, err = lab(capsys, "train", *TINY, "--train", str(corpus), "--dev", str(corpus),
                  "--out", str(tmp_path / "run"))  # fmt: skip
    assert rc == 0, err
    vocab = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # <pad>, <unk>, a, b; tags DET, NOUN (as columns: tokens 1, 2 and tags _ / SpaceAfter=No)
    assert "(4 words, 2 tags)" in err
    assert vocab["dev"]["token_accuracy"] >= 0


# ----------------------------------------------------------------------------- lab evaluate


def test_evaluate_batch_size_zero_refused(checkpoint, capsys):
    rc, err = lab(capsys, "evaluate", str(checkpoint), "--data", "synthetic-hmm:5",
                  "--batch-size", "0")  # fmt: skip
    assert_user_error(rc, err, "evaluate", "--batch-size must be >= 1")


def test_evaluate_directory_as_data(checkpoint, tmp_path, capsys):
    rc, err = lab(capsys, "evaluate", str(checkpoint), "--data", str(tmp_path))
    assert_user_error(rc, err, "evaluate", f"{tmp_path} is a directory")


def test_evaluate_tag_unseen_in_training_names_file_and_line(checkpoint, tmp_path, capsys):
    data = tmp_path / "test.tsv"
    data.write_text("w1\tT0\n\nw2\tT1\nw3\tNOUN\n")
    rc, err = lab(capsys, "evaluate", str(checkpoint), "--data", str(data))
    assert_user_error(rc, err, "evaluate", f"{data}:4:", "test tag 'NOUN'", str(checkpoint))


def test_evaluate_unknown_decoder_refused(checkpoint, capsys):
    rc, err = lab(capsys, "evaluate", str(checkpoint), "--data", "synthetic-hmm:5",
                  "--decoder", "nope")  # fmt: skip
    assert_user_error(rc, err, "evaluate", "'nope'", "viterbi")


# ----------------------------------------------------------------------------- lab data


def test_data_stats_directory(tmp_path, capsys):
    rc, err = lab(capsys, "data", "stats", str(tmp_path))
    assert_user_error(rc, err, "data stats", f"{tmp_path} is a directory")


# ----------------------------------------------------------------------------- lab run


def test_run_unknown_experiment(tmp_path, toy, capsys):
    rc, err = lab(capsys, "run", "nope", "--out", str(tmp_path / "res"))
    assert_user_error(rc, err, "run", "unknown experiment 'nope'", "toy")
    assert not (tmp_path / "res").exists()


def test_run_workers_zero(tmp_path, toy, capsys):
    rc, err = lab(capsys, "run", "toy", "--workers", "0", "--out", str(tmp_path / "res"))
    assert_user_error(rc, err, "run", "--workers must be >= 1, got 0")
    assert not (tmp_path / "res").exists()


def test_run_second_concurrent_sweep_refused(tmp_path, toy, capsys):
    import fcntl

    out = tmp_path / "res"
    append_record(out, {"id": "x", "experiment": "toy", "status": "ok"})
    before = snapshot(out)
    with open(out / ".sweep.lock", "a") as held:  # as a running sweep holds it
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        rc, err = lab(capsys, "run", "toy", "--scale", "tiny", "--out", str(out), "--no-progress")
    assert_user_error(rc, err, "run", "another sweep is running into")
    assert snapshot(out) == {**before, ".sweep.lock": b""}


def test_run_corrupt_complete_line(tmp_path, toy, capsys):
    out = tmp_path / "res"
    out.mkdir()
    (out / "results.jsonl").write_text('{"id": "a"}\n{not json\n')
    before = snapshot(out)
    rc, err = lab(capsys, "run", "toy", "--scale", "tiny", "--out", str(out), "--no-progress")
    assert_user_error(rc, err, "run", f"{out / 'results.jsonl'}:2: not a JSON record")
    assert {k: v for k, v in snapshot(out).items() if k != ".sweep.lock"} == before


def test_run_read_only_results_refused_before_any_run(shared_tmp):
    exp_dir = shared_tmp / "experiments"
    exp_dir.mkdir()
    (exp_dir / "toy.py").write_text(TOY)
    out = shared_tmp / "res"
    out.mkdir()
    out.chmod(0o777)  # the lock can be taken; only the records file is read-only
    results = out / "results.jsonl"
    results.write_text('{"id": "old", "experiment": "toy", "status": "ok"}\n')
    results.chmod(0o444)
    calls = shared_tmp / "calls.log"
    calls.touch()
    calls.chmod(0o666)
    env = {"LAB_EXPERIMENTS_DIR": str(exp_dir), "TOY_CALL_LOG": str(calls)}
    done = lab_unprivileged(shared_tmp, "run", "toy", "--scale", "tiny", "--out", str(out),
                            "--no-progress", "--device", "cpu", env=env)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"lab run: error: {results} is not writable" in done.stderr
    assert "Traceback" not in done.stderr
    assert calls.read_text() == ""  # no run was computed
    assert results.read_text() == '{"id": "old", "experiment": "toy", "status": "ok"}\n'


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("ray") is not None, reason="Ray is installed"
)
def test_run_ray_without_ray_makes_no_folder(tmp_path, toy, capsys):
    out = tmp_path / "res"
    rc, err = lab(capsys, "run", "toy", "--executor", "ray", "--out", str(out), "--no-progress")
    assert_user_error(rc, err, "run", "the ray executor needs Ray", "pip install")
    assert not out.exists()


# ----------------------------------------------------------------------------- lab report


def test_report_nonexistent_folder(tmp_path, toy, capsys):
    rc, err = lab(capsys, "report", str(tmp_path / "missing"))
    assert_user_error(rc, err, "report", "no such results directory")
    assert not (tmp_path / "missing").exists()


def test_report_empty_folder(tmp_path, toy, capsys):
    (tmp_path / "res").mkdir()
    rc, err = lab(capsys, "report", str(tmp_path / "res"))
    assert_user_error(rc, err, "report", "no records in", "lab run EXPERIMENT")
    assert list((tmp_path / "res").iterdir()) == []


def test_report_a_jsonl_file(tmp_path, toy, capsys):
    out = tmp_path / "res"
    append_record(out, {"id": "a", "experiment": "toy", "status": "ok"})
    before = snapshot(out)
    rc, err = lab(capsys, "report", str(out / "results.jsonl"))
    assert_user_error(rc, err, "report", "is a file: expected a results directory", str(out))
    assert snapshot(out) == before


def test_report_corrupt_complete_line(tmp_path, toy, capsys):
    out = tmp_path / "res"
    out.mkdir()
    (out / "results.jsonl").write_text("[1, 2]\n")
    rc, err = lab(capsys, "report", str(out))
    assert_user_error(rc, err, "report", "results.jsonl:1: expected a JSON object")
    assert (out / "results.jsonl").read_text() == "[1, 2]\n"


# ----------------------------------------------------------------------------- the convention


def test_debug_flag_shows_the_traceback(tmp_path, toy, capsys):
    rc, err = lab(capsys, "--debug", "report", str(tmp_path / "missing"))
    assert rc == 2 and "Traceback" in err and "FileNotFoundError" in err
    assert err.strip().splitlines()[-1].startswith("lab report: error: ")


def test_lab_debug_environment_variable_shows_the_traceback(tmp_path, toy, capsys, monkeypatch):
    monkeypatch.setenv("LAB_DEBUG", "1")
    rc, err = lab(capsys, "run", "nope", "--out", str(tmp_path / "res"))
    assert rc == 2 and "Traceback" in err and "unknown experiment" in err


def _umask() -> int:
    from lab.atomic import umask

    return umask()
