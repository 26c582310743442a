"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.data.corpora import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-corpora folder (``../shared/data`` beside the repo, or $LAB_DATA_DIR);
    the test is skipped when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("shared data folder (../shared/data or $LAB_DATA_DIR) not found")
    return path


@pytest.fixture(scope="session")
def ud_ewt(shared_data: Path) -> dict:
    """UD English EWT, read once per session: ``{"train", "dev", "test"}`` sentence lists."""
    from lab.data import load_real_corpus

    return load_real_corpus("ud_ewt")


@pytest.fixture(scope="session")
def wnut17(shared_data: Path) -> dict:
    """WNUT 17, read once per session: ``{"train", "dev", "test"}`` sentence lists."""
    from lab.data import load_real_corpus

    return load_real_corpus("wnut17")
