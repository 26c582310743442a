"""``lab train`` and ``lab evaluate``: config strings, data specs, an end-to-end run."""

from __future__ import annotations

import json

import pytest

from lab.cli import main as lab_main
from lab.configs import parse_config
from lab.data.corpora import load_sentences
from lab.models import ModelConfig
from lab.training.config import TrainConfig


def test_parse_inline_config_types_each_field():
    config = parse_config(
        "encoder=gru, bidirectional=false,hidden=12,dropout=0.5,head=crf", ModelConfig
    )
    assert config == ModelConfig(
        encoder="gru", bidirectional=False, hidden=12, dropout=0.5, head="crf"
    )
    train = parse_config("clip_norm=none,max_seconds=2.5,lr_schedule=cosine", TrainConfig)
    assert train.clip_norm is None and train.max_seconds == 2.5 and train.lr_schedule == "cosine"


def test_parse_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown ModelConfig key 'hiden'"):
        parse_config("hiden=3", ModelConfig)
    with pytest.raises(ValueError, match="hidden='x': expected a value of type int"):
        parse_config("hidden=x", ModelConfig)
    with pytest.raises(ValueError, match="expected key=value"):
        parse_config("lstm", ModelConfig)
    with pytest.raises(ValueError, match="unknown encoder"):
        parse_config("encoder=transformer", ModelConfig)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        parse_config(str(bad), ModelConfig)


def test_parse_json_config(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"encoder": "elman", "hidden": 7}))
    assert parse_config(str(path), ModelConfig) == ModelConfig(encoder="elman", hidden=7)


def test_load_sentences_specs(tmp_path):
    train = load_sentences("synthetic-hmm:30", "train")
    dev = load_sentences("synthetic-hmm:30", "dev")
    assert len(train) == len(dev) == 30 and train != dev
    assert load_sentences("synthetic-hmm:30", "train") == train
    corpus = tmp_path / "tiny.tsv"
    corpus.write_text("the\tDET\ncat\tNOUN\n\nruns\tVERB\n")
    sentences = load_sentences(str(corpus), "train")
    assert [s.tags for s in sentences] == [("DET", "NOUN"), ("VERB",)]
    with pytest.raises(ValueError, match="neither an existing file"):
        load_sentences("no-such-thing", "train")
    with pytest.raises(ValueError, match="not a tagging corpus"):
        load_sentences("word-order:4", "train")


def test_train_then_evaluate_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc = lab_main(
        [
            "train",
            "--model",
            "encoder=lstm,head=crf,embedding_dim=8,hidden=8",
            "--train",
            "synthetic-hmm:60",
            "--dev",
            "synthetic-hmm:20",
            "--test",
            "synthetic-hmm:20",
            "--out",
            str(out),
            "--epochs",
            "2",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "token_accuracy" in printed and "test" in printed
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["fit"]["epochs"] == 2 and summary["train_config"]["max_epochs"] == 2
    made = summary["provenance"]
    assert made["data"]["train"] == "synthetic-hmm:60" and made["vocabulary"]["min_freq"] == 1
    assert {"command", "commit", "device", "threads", "versions"} <= set(made)
    assert (
        lab_main(["evaluate", str(out / "model.pt"), "--data", "synthetic-hmm:20", "--json"]) == 0
    )
    evaluated = json.loads(capsys.readouterr().out)
    # the same test sample (split seed) as lab train's --test: the same figures
    assert evaluated["default"]["token_accuracy"] == pytest.approx(
        summary["test"]["token_accuracy"]
    )
    assert lab_main(["evaluate", str(out / "metrics.json"), "--data", "synthetic-hmm:20"]) == 2
    assert "not a readable lab checkpoint" in capsys.readouterr().err
