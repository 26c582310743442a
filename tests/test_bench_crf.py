"""``lab bench crf`` runs end to end and writes its table (tiny sizes: not a timing)."""

from __future__ import annotations

import argparse

import pytest

from lab.bench import crf as bench


def test_bench_writes_markdown_table(tmp_path):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "bench_crf.md"
    args = parser.parse_args(["--sizes", "2x3x17", "--repeats", "1", "--output", str(out)])
    assert bench.main(args) == 0
    text = out.read_text()
    assert "| 2 | 3 | 17 | train |" in text and "| 2 | 3 | 17 | viterbi |" in text
    assert "torch-struct/native" in text and "pytorch-crf/native" in text
    assert "(16, 500, 9)" in text and "- command:" in text and "- machine:" in text
    # every table a reader compares fits in 10 columns
    widths = [line.count("|") - 1 for line in text.splitlines() if line.startswith("| B |")]
    assert len(widths) == 2 and max(widths) <= 10, widths


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="BxTxC"):
        bench.parse_sizes("32x25")
