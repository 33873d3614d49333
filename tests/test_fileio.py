"""Atomic writes: readers see the old file or the new one, never a part."""

import os

import pytest

from digitnet.util import fileio
from digitnet.util.fileio import atomic_write_bytes, publish_directory


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    (tmp_path / "w").mkdir()
    target = tmp_path / "w" / "out.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path / "w") == ["out.bin"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    (tmp_path / "w").mkdir()
    target = tmp_path / "w" / "out.bin"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path / "w") == ["out.bin"]


def test_publish_directory_replaces_target_whole(tmp_path):
    staging = tmp_path / ".partial"
    staging.mkdir()
    (staging / "state.bin").write_bytes(b"new")
    final = tmp_path / "ckpt"
    final.mkdir()
    (final / "stale.bin").write_bytes(b"old")
    publish_directory(staging, final)
    assert not staging.exists()
    assert sorted(os.listdir(final)) == ["state.bin"]
