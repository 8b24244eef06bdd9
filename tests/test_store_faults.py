"""Storage faults named as what they are: a full disk, a read-only disk, a damaged database, a
data folder that is a file, a session deleted under a writer; and the data folder kept private.

Full and read-only disks are real: a small tmpfs mounted for the test (skipped where mounting is
not allowed, i.e. when not root).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.events import UserMessage
from core.session import Session
from core.store.database import DB_NAME, Store, StoreError

from conftest import mounted_tmpfs, run_cli

NOT_A_DB = "not a kyzel-tui database"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 512 KiB tmpfs, unmounted afterwards."""
    yield from mounted_tmpfs(tmp_path / "disk", "512k")


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_full_disk_is_named_and_nothing_saved_is_lost(small_disk):
    home = small_disk / "home"
    with Store.open(home) as store:
        session = Session.create(store, title="kept")
        session.append(UserMessage("saved before the disk filled"))
        _fill(small_disk)
        with pytest.raises(StoreError) as error:
            session.append(UserMessage("y" * 300_000))
    message = str(error.value)
    assert "is full" in message and "Free some disk space" in message
    assert NOT_A_DB not in message
    (small_disk / "filler").unlink()
    with Store.open(home) as store:  # the healthy database still opens and holds everything
        (info,) = store.sessions()
        assert [e.body.text for e in store.events(info.id)] == ["saved before the disk filled"]


def test_every_command_on_a_full_disk_says_so_and_never_blames_the_database(small_disk):
    home = small_disk / "home"
    with Store.open(home) as store:
        session = Session.create(store, title="kept")
        session.append(UserMessage("saved"))
    _fill(small_disk)  # now SQLite cannot even make its shared-memory file
    for command in (["sessions"], ["rename", session.id, "new"]):
        done = run_cli(home, *command)
        assert done.returncode == 1
        assert NOT_A_DB not in done.stderr and "Traceback" not in done.stderr
        assert "is full. Free some disk space" in done.stderr, done.stderr
    (small_disk / "filler").unlink()
    with Store.open(home) as store:
        assert [s.title for s in store.sessions()] == ["kept"]


def test_a_read_only_disk_is_named_and_still_readable(small_disk):
    home = small_disk / "home"
    with Store.open(home) as store:
        Session.create(store, title="kept").append(UserMessage("hello"))
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with Store.open(home) as store:
        assert [s.title for s in store.sessions()] == ["kept"]
        with pytest.raises(StoreError, match="read-only file system.*--home DIR") as error:
            Session.create(store, title="new")
        assert NOT_A_DB not in str(error.value)
    with pytest.raises(StoreError, match="cannot create the data folder .*read-only file system"):
        Store.open(small_disk / "elsewhere")


def _as_a_user() -> list[str]:
    """A command prefix under which file permissions apply (root ignores them otherwise)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv to drop root's permission override")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_a_folder_without_write_permission_is_named(tmp_path):
    home = tmp_path / "home"
    with Store.open(home) as store:
        session = Session.create(store)
        session.append(UserMessage("x"))
    home.chmod(0o500)
    (home / DB_NAME).chmod(0o400)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        for command in (["rename", session.id, "new"], ["sessions"]):
            done = subprocess.run(
                [*_as_a_user(), sys.executable, "-m", "kyzel_tui", "--home", str(home), *command],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            assert done.returncode == 1 and "Traceback" not in done.stderr
            assert f"no permission to write {home}" in done.stderr, done.stderr
            assert NOT_A_DB not in done.stderr
    finally:
        home.chmod(0o700)


def _damage(path: Path) -> None:
    """Overwrite every page after the first with noise, as a bad disk or a stray write might."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(bytes((i * 7919) % 251 for i in range(size - 4096)))


def _damaged_store(home: Path) -> Path:
    with Store.open(home) as store:
        for n in range(30):
            Session.create(store, title=f"s{n}").append(UserMessage("text " * 200))
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage(home / DB_NAME)
    return home / DB_NAME


def test_a_damaged_database_gives_a_clear_error_not_a_traceback(tmp_path):
    home = tmp_path / "home"
    _damaged_store(home)
    with pytest.raises(StoreError, match=r"is damaged .*kyzel-tui doctor --recover"):
        with Store.open(home) as store:
            for info in store.sessions():
                store.events(info.id)
    done = run_cli(home, "sessions")
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr and "is damaged" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_kyzel_home_pointing_at_a_file_is_explained(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("I am a file")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        Store.open(not_a_folder)
    env = {**os.environ, "KYZEL_HOME": str(not_a_folder / "below")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "kyzel_tui", "sessions"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "is a file, not a folder" in done.stderr


def test_a_session_deleted_by_another_process_is_named_to_its_writer(tmp_path):
    home = tmp_path / "home"
    with Store.open(home) as mine, Store.open(home) as theirs:
        session = Session.create(mine, title="open here")
        session.append(UserMessage("first"))
        theirs.delete_session(session.id)
        with pytest.raises(StoreError, match="was deleted") as error:
            session.append(UserMessage("second"))
        assert "FOREIGN KEY" not in str(error.value)


def test_the_data_folder_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        with Store.open(tmp_path / "new" / "home"):
            pass
        loose = tmp_path / "loose"
        loose.mkdir(mode=0o777)
        (loose / DB_NAME).touch(mode=0o666)
        with Store.open(loose):
            pass
    finally:
        os.umask(old)
    for folder in (tmp_path / "new" / "home", loose):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / DB_NAME).stat().st_mode) == 0o600
