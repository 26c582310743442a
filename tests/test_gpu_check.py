"""The GPU check's CPU dry run (``--device cpu --tiny``): every part runs and writes its
table, headed by the device, torch and CUDA versions and the commit, so that the script
cannot rot while no GPU is at hand."""

from __future__ import annotations

import argparse

from lab.bench import gpu_check


def test_gpu_check_dry_run_writes_every_table(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    gpu_check.add_arguments(parser)
    args = parser.parse_args(["--device", "cpu", "--tiny", "--out", str(tmp_path)])
    assert gpu_check.main(args) == 0
    for name in ("device", "tests", "bench_crf", "bench_tagger", "paths", "ewt", "cell"):
        text = (tmp_path / f"{name}.md").read_text()
        assert "torch" in text and "CUDA" in text and "device" in text.lower(), name
    assert "auto picks today" in (tmp_path / "paths.md").read_text()
    assert "collected" in (tmp_path / "tests.md").read_text()


def test_gpu_check_refuses_cuda_where_there_is_none(monkeypatch) -> None:
    import pytest
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    parser = argparse.ArgumentParser()
    gpu_check.add_arguments(parser)
    with pytest.raises(ValueError, match="no CUDA device here"):
        gpu_check.main(parser.parse_args(["--device", "cuda"]))
