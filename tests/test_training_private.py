"""Training output is private and whole: 0700 folders and 0600 files whatever the umask, and a
failure (a full disk) leaves no half-written datasets behind."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from test_training_build import small_store

from training import registry
from training.build import collect, make_rows, write
from training.settings import TrainError


def modes(folder: Path) -> set[tuple[str, int]]:
    found = {("dir", stat.S_IMODE(folder.stat().st_mode))}
    for path in folder.rglob("*"):
        kind = "dir" if path.is_dir() else "file"
        found.add((kind, stat.S_IMODE(path.stat().st_mode)))
    return found


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def test_datasets_are_private_whatever_the_umask(store, tmp_path, open_umask):
    small_store(store, sessions=2)
    built = make_rows(collect(store, examples=None), eval_share=0.5)
    folder = write(built, tmp_path / "home" / "datasets" / "run1")
    assert (folder / "manifest.json").is_file()
    assert modes(folder) == {("dir", 0o700), ("file", 0o600)}
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert [p.name for p in folder.parent.iterdir()] == ["run1"]  # no staging folder left


def test_adapters_are_private_whatever_the_umask(tmp_path, open_umask):
    home = tmp_path / "home"
    run_id = registry.new_run_id(home)
    work = registry.staging(home, run_id)
    (work / registry.ADAPTER_CONFIG).write_text('{"base_model_name_or_path": "m"}')
    (work / "weights").mkdir()
    (work / "weights" / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    final = registry.commit(home, run_id, {"base_model": "m", "created": 1.0})
    assert modes(final) == {("dir", 0o700), ("file", 0o600)}
    assert stat.S_IMODE(registry.adapters_dir(home).stat().st_mode) == 0o700


def test_a_full_disk_leaves_no_half_written_datasets(store, tmp_path):
    small_store(store, sessions=2)
    built = make_rows(collect(store, examples=None), eval_share=0.5)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        (disk / "datasets").mkdir()
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"x" * 1024)
        except OSError:
            os.close(fd)
        with pytest.raises(TrainError, match="nothing was written. Free some disk space"):
            write(built, disk / "datasets" / "run1")
        assert list((disk / "datasets").iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
