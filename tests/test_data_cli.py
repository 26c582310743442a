"""``lab data`` (through ``lab.cli.main``), corpus statistics and the package's API."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from collections import Counter

import pytest

import lab.cli
import lab.data
from lab.data import Sentence, corpus_stats, oov_rate

TRAIN = "the\tD\ndog\tN\n\nthe\tD\ncat\tN\nran\tV\n"
DEV = "a\tD\ndog\tN\nran\tV\nfast\tR\n"


@pytest.fixture
def lab_main(monkeypatch):
    """``lab.cli.main`` with only the ``data`` command, so these tests do not depend on
    other commands' modules."""
    monkeypatch.setattr(lab.cli, "COMMANDS", {"data": lab.cli.COMMANDS["data"]})
    return lab.cli.main


def test_corpus_stats_and_oov_rate():
    train = [Sentence(("the", "dog"), ("D", "N")), Sentence(("the", "cat", "ran"), ("D", "N", "V"))]
    dev = [Sentence(("A", "dog", "ran", "fast"), ("D", "N", "V", "R"))]
    stats = corpus_stats(train)
    assert (stats.sentences, stats.tokens, stats.types, stats.max_length) == (2, 5, 4, 3)
    assert stats.mean_length == 2.5
    assert stats.tag_counts == {"D": 2, "N": 2, "V": 1}
    assert list(stats.tag_counts) == ["D", "N", "V"]
    assert oov_rate(train, dev) == 0.5  # "A" and "fast"
    assert oov_rate(train + [Sentence(("a",), ("D",))], dev, lower=True) == 0.25
    with pytest.raises(ValueError, match="at least one token"):
        oov_rate(train, [])


def test_stats_command_on_files(lab_main, tmp_path, capsys):
    (tmp_path / "train.conll").write_text(TRAIN)
    (tmp_path / "dev.conll").write_text(DEV)
    assert (
        lab_main(["data", "stats", str(tmp_path / "train.conll"), str(tmp_path / "dev.conll")]) == 0
    )
    out = capsys.readouterr().out
    assert "sentences    2\n" in out and "tokens       5\n" in out
    assert "mean 2.50, max 3" in out and "tags (3)     D 2, N 2, V 1" in out
    assert "mean 4.00, max 4" in out
    assert "dev.conll against" in out and "50.00% of tokens" in out


def test_stats_command_on_real_ud(shared_data, ud_ewt, lab_main, capsys):
    folder = shared_data / "ud_english_ewt"
    train, dev = folder / "en_ewt-ud-train.conllu.gz", folder / "en_ewt-ud-dev.conllu.gz"
    assert lab_main(["data", "stats", str(train), str(dev)]) == 0
    out = capsys.readouterr().out
    assert "sentences    12,544" in out and "tokens       204,577" in out
    assert "sentences    2,001" in out and "tags (17)" in out
    # the printed figures agree with a direct computation from the files
    train_s, dev_s = ud_ewt["train"], ud_ewt["dev"]
    known = {w for s in train_s for w in s.tokens}
    dev_tokens = [w for s in dev_s for w in s.tokens]
    expected_oov = 100 * sum(w not in known for w in dev_tokens) / len(dev_tokens)
    assert f"{expected_oov:.2f}% of tokens" in out
    lengths = [len(s) for s in train_s]
    assert f"mean {sum(lengths) / len(lengths):.2f}, max {max(lengths)}" in out
    tag_counts = Counter(t for s in train_s for t in s.tags).most_common(2)
    assert ", ".join(f"{tag} {count:,}" for tag, count in tag_counts) in out


def test_stats_command_defaults_to_builtin_synthetic(lab_main, capsys):
    assert lab_main(["data", "stats", "-n", "40"]) == 0
    out = capsys.readouterr().out
    assert "synthetic-hmm train (seed 0)" in out and "sentences    40\n" in out
    assert "synthetic-hmm dev (seed 0)" in out and "sentences    10\n" in out
    assert "OOV rate" in out


def test_stats_command_reports_errors(lab_main, tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("a\tO\nb\tx\tO\n")
    assert lab_main(["data", "stats", str(bad)]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert lab_main(["data", "stats", "--synthetic", "word-order"]) == 2
    assert "needs a tagging corpus" in capsys.readouterr().err
    assert lab_main(["data", "stats", str(bad), "--tag-column", "xpos"]) == 2
    assert "must be an integer index" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("synthetic-hmm", lambda line: all("/T" in item for item in line.split())),
        ("long-range-k3", lambda line: "?/K" in line),
        ("word-order", lambda line: line.split("\t")[0] in ("person", "food")),
        ("translation", lambda line: "\t=>\t" in line),
    ],
)
def test_synth_command_prints_examples(lab_main, capsys, name, check):
    assert lab_main(["data", "synth", name, "-n", "4", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(check(line) for line in lines)


def test_synth_command_unknown_name(lab_main, capsys):
    assert lab_main(["data", "synth", "nope"]) == 2
    assert "expected one of" in capsys.readouterr().err


def test_every_public_name_resolves_to_its_object():
    for module in ("batch", "batching", "corpora", "synthetic.hmm", "synthetic.long_range"):
        importlib.import_module(f"lab.data.{module}")  # a submodule must not shadow a name
    for name in lab.data.__all__:
        assert not isinstance(getattr(lab.data, name), types.ModuleType), name


def test_importing_the_cli_module_does_not_load_torch():
    code = "import sys, lab.cli.data; sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
