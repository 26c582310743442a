"""Corpora given by path (lab run EXPERIMENT --corpus NAME=TRAIN,DEV,TEST / --corpora
FILE.toml): parsing, and every bad spec refused before any compute with its reason."""

from __future__ import annotations

import pytest

from lab.cli import main as lab_main
from lab.data.corpora import check_corpus, parse_corpus_arg, read_corpora_file

CONLLU = "1\tthe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_\n\n"


def write_splits(folder, train=CONLLU, dev=CONLLU, test=CONLLU, suffix=".conllu"):
    paths = {}
    for split, text in (("train", train), ("dev", dev), ("test", test)):
        paths[split] = folder / f"{split}{suffix}"
        paths[split].write_text(text)
    return paths


def spec_of(paths, fmt="auto"):
    return {**{k: str(v) for k, v in paths.items()}, "format": fmt}


def test_parse_corpus_arg():
    name, spec = parse_corpus_arg("mytb=a.conllu,b.conllu,c.conllu")
    assert name == "mytb" and spec == {
        "train": "a.conllu",
        "dev": "b.conllu",
        "test": "c.conllu",
        "format": "auto",
    }
    assert parse_corpus_arg("ud_ewt") == ("ud_ewt", None)  # a built-in corpus
    with pytest.raises(ValueError, match="missing test"):
        parse_corpus_arg("mytb=a.conllu,b.conllu")
    with pytest.raises(ValueError, match="expected NAME=TRAIN,DEV,TEST"):
        parse_corpus_arg("=a,b,c")


def test_a_good_corpus_reads_every_split(tmp_path):
    splits = check_corpus("mytb", spec_of(write_splits(tmp_path)))
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [1, 1, 1]
    assert list(splits["train"][0].tags) == ["DET", "NOUN"]


def test_a_missing_split_file_is_named(tmp_path):
    paths = write_splits(tmp_path)
    paths["dev"].unlink()
    with pytest.raises(FileNotFoundError, match=r"corpus 'mytb': dev file .*dev.conllu"):
        check_corpus("mytb", spec_of(paths))


def test_an_empty_split_is_refused(tmp_path):
    paths = write_splits(tmp_path, test="# only a comment\n\n")
    with pytest.raises(ValueError, match=r"test\.conllu:1: .*no word lines"):
        check_corpus("mytb", spec_of(paths))


def test_an_unreadable_line_names_its_file_and_line(tmp_path):
    bad = CONLLU + "1\tcat\n\n"  # line 4: two columns, not ten
    paths = write_splits(tmp_path, train=bad)
    with pytest.raises(ValueError, match=r"train.conllu:4"):
        check_corpus("mytb", spec_of(paths))


def test_a_dev_tag_never_seen_in_train_is_named_with_its_line(tmp_path):
    dev = CONLLU + "1\tran\trun\tVERB\t_\t_\t0\troot\t_\t_\n\n"
    paths = write_splits(tmp_path, dev=dev)
    with pytest.raises(ValueError, match=r"dev.conllu:4: dev tag 'VERB'"):
        check_corpus("mytb", spec_of(paths))


def test_corpora_file_resolves_paths_beside_it(tmp_path):
    write_splits(tmp_path)
    toml = tmp_path / "corpora.toml"
    toml.write_text('[mytb]\ntrain = "train.conllu"\ndev = "dev.conllu"\ntest = "test.conllu"\n')
    corpora = read_corpora_file(toml)
    assert corpora["mytb"]["train"] == str((tmp_path / "train.conllu").resolve())
    assert corpora["mytb"]["format"] == "auto"
    toml.write_text('[mytb]\ntrain = "train.conllu"\n')
    with pytest.raises(ValueError, match=r"lacks \['dev', 'test'\]"):
        read_corpora_file(toml)
    toml.write_text("[mytb\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_corpora_file(toml)


def test_lab_run_refuses_a_bad_spec_before_any_run(tmp_path, capsys):
    paths = write_splits(tmp_path)
    paths["dev"].unlink()
    out = tmp_path / "out"
    spec = f"mytb={paths['train']},{paths['dev']},{paths['test']}"
    code = lab_main(
        ["run", "learning_curve", "--scale", "tiny", "--out", str(out), "--corpus", spec]
    )
    assert code == 2
    assert "dev file" in capsys.readouterr().err
    assert not (out / "results.jsonl").exists()  # nothing computed
    code = lab_main(["run", "word_order", "--scale", "tiny", "--out", str(out), "--corpus", "x"])
    assert code == 2 and "reads no real corpus" in capsys.readouterr().err


def test_lab_run_learning_curve_on_a_treebank_given_by_path(tmp_path, capsys):
    import random

    rng = random.Random(0)
    pos = {"the": "DET", "a": "DET", "dog": "NOUN", "cat": "NOUN", "runs": "VERB"}
    paths = {}
    for split, n in (("train", 60), ("dev", 20), ("test", 20)):
        lines = []
        for _ in range(n):
            for j in range(rng.randint(3, 7)):
                word = rng.choice(list(pos))
                lines.append(f"{j + 1}\t{word}\t{word}\t{pos[word]}\t_\t_\t0\troot\t_\t_")
            lines.append("")
        paths[split] = tmp_path / f"{split}.conllu"
        paths[split].write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    spec = f"mytb={paths['train']},{paths['dev']},{paths['test']}"
    argv = ["run", "learning_curve", "--scale", "tiny", "--out", str(out), "--no-progress"]
    assert lab_main([*argv, "--corpus", spec]) == 0
    capsys.readouterr()
    assert (out / "mytb_scores.md").is_file() and (out / "mytb_scores.csv").is_file()
    assert any(p.suffix == ".png" and p.name.startswith("mytb") for p in out.iterdir())
