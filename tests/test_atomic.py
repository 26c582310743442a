"""write_atomic: the whole new file or the old one, never a half, and no leftovers."""

from __future__ import annotations

import pytest

from lab.atomic import write_atomic


def test_writes_text_and_bytes_and_replaces(tmp_path):
    path = tmp_path / "sub" / "table.md"
    assert write_atomic(path, "héllo\n") == path
    assert path.read_text(encoding="utf-8") == "héllo\n"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in path.parent.iterdir()] == ["table.md"]  # no temporary left


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "summary.json"
    write_atomic(path, "old")
    with pytest.raises(TypeError):
        write_atomic(path, 12345)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
