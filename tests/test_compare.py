"""``lab compare SPEC.toml`` (lab.pipeline.compare, experiments/comparison.py): end to end
at a tiny size on a corpus given by path (tables md/csv/tex and a plot), resumed after an
interruption without rerunning what finished, the calls and seeds-needed by simulation,
and every bad spec a one-line error with exit 2 before any run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_learning_curve import write_conllu

from experiments import comparison
from lab.cli import main as lab_main
from lab.pipeline.compare import EXAMPLE, SpecError, configs, read_spec

SPEC = """\
title = "heads on a tiny treebank"
baseline = "bilstm-softmax"
margin = 1.0
sizes = [20, 60]
seeds = [0, 1]

[models]
bilstm-softmax = "bilstm-softmax"
bilstm-crf = "bilstm-crf"
gru-crf = "encoder=gru,bidirectional=false,head=crf,hidden=8,embedding_dim=8"

[corpora]
mytb = {{ train = "{train}", dev = "{dev}", test = "{test}" }}

[train]
max_epochs = 2
patience = 2
lr = 1e-2
epoch_sentences = 20
hidden = 8
embedding_dim = 8
"""


@pytest.fixture
def treebank(tmp_path) -> dict:
    files = {}
    for i, split in enumerate(("train", "dev", "test")):
        files[split] = tmp_path / f"tb-{split}.conllu"
        write_conllu(files[split], 80 if split == "train" else 20, seed=i)
    return {k: str(v) for k, v in files.items()}


def write_spec(tmp_path, treebank, text: str = SPEC, **changes) -> str:
    body = text.format(**treebank)
    for old, new in changes.items():
        body = body.replace(old.replace("__", " "), new)
    path = tmp_path / "spec.toml"
    path.write_text(body)
    return str(path)


def test_compare_end_to_end_then_resumed(tmp_path, treebank, capsys) -> None:
    spec_path, out = write_spec(tmp_path, treebank), tmp_path / "out"
    argv = ["compare", spec_path, "--out", str(out), "--device", "cpu", "--no-progress"]
    assert lab_main(argv) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").open()]
    assert len(records) == 3 * 2 * 2 and all(r["status"] == "ok" for r in records)
    for stem in ("mytb_scores", "mytb_vs_bilstm-softmax", "mytb_cost"):
        for ext in ("md", "csv", "tex"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0, (stem, ext)
    assert (out / "mytb_token_accuracy.png").stat().st_size > 5000
    table = (out / "mytb_vs_bilstm-softmax.md").read_text()
    assert "| gru-crf | 60 |" in table and "wins" in table and "seeds needed" in table
    assert "decode tok/s" in (out / "mytb_cost.md").read_text()
    # interrupted: the last four records lost; a rerun runs those four only
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:-4]))
    assert lab_main(argv) == 0
    again = [json.loads(line) for line in (out / "results.jsonl").open()]
    assert len(again) == len(records)
    assert [r["id"] for r in again[:-4]] == [r["id"] for r in records[:-4]]
    assert sorted(r["id"] for r in again[-4:]) == sorted(r["id"] for r in records[-4:])
    # lab report of the folder summarises it again from the records and the spec
    assert lab_main(["report", str(out)]) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"margin = 1.0": "margn = 1.0"}, "spec.toml:3: margn: unknown key"),
        ({'"encoder=gru': '"encoder=grux'}, "spec.toml:10: models.gru-crf: unknown encoder"),
        ({'"bilstm-crf"': '"bilstm-cfr"'}, "spec.toml:9: models.bilstm-crf: unknown model"),
        ({"sizes = [20, 60]": "sizes = [20, 600]"}, "spec.toml:4: sizes: 600 exceeds corpus"),
        ({"tb-test.conllu": "missing.conllu"}, "spec.toml:13: corpora.mytb: "),
        ({'baseline = "bilstm-softmax"': 'baseline = "crf"'}, "baseline: 'crf' is not a model"),
        ({"seeds = [0, 1]": "seeds = [0]"}, "seeds: at least 2 seeds"),
        ({"lr = 1e-2": "lr = -1.0"}, "train.lr: expected a float >= 0"),
        ({"max_epochs = 2": "max_epochs = 2.5"}, "train.max_epochs: expected a int"),
        ({"[train]": "[train"}, "spec.toml:15: not valid TOML"),
    ],
)
def test_bad_specs_are_one_line_errors_before_any_run(tmp_path, treebank, capsys, change, message):
    spec_path = write_spec(
        tmp_path, treebank, **{k.replace(" ", "__"): v for k, v in change.items()}
    )
    out = tmp_path / "out"
    assert lab_main(["compare", spec_path, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_the_example_spec_is_valid_and_printed(tmp_path, capsys) -> None:
    assert lab_main(["compare", "--example"]) == 0
    text = capsys.readouterr().out
    assert text == EXAMPLE
    path = tmp_path / "example.toml"
    path.write_text(text)
    spec = read_spec(path)
    runs = configs(spec)
    assert len(runs) == 3 * 2 * 3 and runs[0]["model"] == spec.baseline
    assert {r["model_config"]["head"] for r in runs} == {"softmax", "crf"}
    with pytest.raises(SpecError, match="no such spec file"):
        read_spec(tmp_path / "absent.toml")


def test_calls_both_ways_and_seeds_needed_by_simulation() -> None:
    got = comparison.calls(
        np.array([[0.05, 0.06, 0.055], [-0.05, -0.06, -0.055], [0.001, -0.001, 0.0],
                  [0.003, 0.004, 0.0035], [0.02, -0.03, 0.01]]),
        margin=0.01,
    )  # fmt: skip
    assert list(got) == ["better", "worse", "equivalent", "better, within the margin",
                         "undecided"]  # fmt: skip
    # a true gap of 0 with seed sd 1 point and a margin of 1 point: the count it names
    # decides in an independent simulation >= 80% of the time (within noise)
    n = int(comparison.seeds_needed([0.01, -0.01, 0.005, -0.005], 0.01))
    rng = np.random.default_rng(1)
    sd = float(np.std([0.01, -0.01, 0.005, -0.005], ddof=1))
    draws = sd * rng.standard_normal((4000, n))
    assert np.mean(comparison.calls(draws, 0.01) != "undecided") >= 0.8 - 0.02
    # seed sd 4.5 points against a 1-point margin: more than the ladder holds
    assert comparison.seeds_needed([0.05, -0.05, 0.04, -0.04, 0.005], 0.01) == "more than 50"


def test_ray_executor_runs_lab_run_and_lab_compare(tmp_path, treebank, capsys) -> None:
    """Both commands on a local Ray runtime (make test installs the ray extra); one
    runtime for both (a sweep reuses a runtime it finds), shut down at the end."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        _both_commands_on_ray(tmp_path, treebank)
    finally:
        ray.shutdown()


def _both_commands_on_ray(tmp_path, treebank) -> None:
    out = tmp_path / "vg"
    run = ["run", "vanishing_gradients", "--scale", "tiny", "--set", "lag=3", "--out", str(out),
           "--executor", "ray", "--workers", "2", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert lab_main(run) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    spec_path = write_spec(tmp_path, treebank, **{"sizes = [20, 60]": "sizes = [20]"})
    compare = ["compare", spec_path, "--out", str(tmp_path / "cmp"), "--executor", "ray",
               "--workers", "2", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert lab_main(compare) == 0
    records = [json.loads(line) for line in (tmp_path / "cmp" / "results.jsonl").open()]
    assert len(records) == 3 * 2 and all(r["status"] == "ok" for r in records)
