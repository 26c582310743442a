"""``lab run EXPERIMENT --set key=value`` (lab.runs.overrides): scalars set a key in every
run, lists set an axis; only the grid's keys, in the grid's types; recorded in every
config (so in run ids) and named in the tables' "how this was made"; an unknown key
fails before any run or folder."""

from __future__ import annotations

import json

import pytest

from lab.cli import main as lab_main
from lab.errors import UsageError
from lab.runs.overrides import apply_overrides, parse_overrides

GRID = [{"cell": c, "lag": k, "hidden": 32, "lr": 3e-3, "seed": 0}
        for c in ("elman", "lstm") for k in (5, 10, 20)]  # fmt: skip


def test_parse_scalars_lists_and_strings() -> None:
    got = parse_overrides(["hidden=16", "lag=5,10", "gate_init=bias:1", "flag=true", "x=[1,2]"])
    assert got == {"hidden": 16, "lag": [5, 10], "gate_init": "bias:1", "flag": True, "x": [1, 2]}
    with pytest.raises(UsageError, match="expected key=value"):
        parse_overrides(["hidden"])
    with pytest.raises(UsageError, match="given twice"):
        parse_overrides(["hidden=1", "hidden=2"])


def test_a_scalar_sets_every_run_and_a_list_sets_an_axis() -> None:
    assert all(c["hidden"] == 16 for c in apply_overrides(GRID, {"hidden": 16}))
    lags = apply_overrides(GRID, {"lag": [5, 50]})
    assert [(c["cell"], c["lag"]) for c in lags] == [
        ("elman", 5), ("elman", 50), ("lstm", 5), ("lstm", 50)
    ]  # fmt: skip
    assert apply_overrides(GRID, {"lr": 1})[0]["lr"] == 1.0  # an int where floats are
    assert apply_overrides(GRID, {}) == GRID


def test_unknown_keys_and_wrong_types_are_refused() -> None:
    with pytest.raises(UsageError, match=r"not a key of this grid; its keys: \['cell', 'hidden'"):
        apply_overrides(GRID, {"hiden": 16})
    with pytest.raises(UsageError, match="expected a int like the grid's values"):
        apply_overrides(GRID, {"hidden": 1.5})


def test_lab_run_set_records_the_override_and_says_so(tmp_path, capsys) -> None:
    out = tmp_path / "vg"
    argv = ["run", "vanishing_gradients", "--scale", "tiny", "--set", "hidden=12",
            "--set", "lag=3", "--device", "cpu", "--no-progress", "--out", str(out)]  # fmt: skip
    assert lab_main(argv) == 0
    configs = [json.loads(line)["config"] for line in (out / "results.jsonl").open()]
    assert configs and all(c["hidden"] == 12 and c["lag"] == 3 for c in configs)
    assert "overrides: hidden=12, lag=3" in (out / "long_range_accuracy.md").read_text()
    # lab report of the folder still names them
    assert lab_main(["report", str(out)]) == 0
    assert "overrides: hidden=12, lag=3" in (out / "long_range_accuracy.md").read_text()


def test_lab_run_set_unknown_key_fails_before_any_run(tmp_path, capsys) -> None:
    out = tmp_path / "never"
    argv = ["run", "vanishing_gradients", "--scale", "tiny", "--set", "hiddn=12", "--out", str(out)]
    assert lab_main(argv) == 2
    err = capsys.readouterr().err
    assert "--set hiddn: not a key of this grid" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
