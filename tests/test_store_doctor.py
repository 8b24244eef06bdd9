"""`kyzel-tui doctor`: integrity check, and a recovered copy of a damaged database beside it."""

from __future__ import annotations

from pathlib import Path

from core.events import Turn, UserMessage
from core.session import Session
from core.store.database import DB_NAME, Store

from conftest import run_cli


def _store_with_sessions(home: Path, count: int = 40) -> list[str]:
    ids = []
    with Store.open(home) as store:
        for n in range(count):
            session = Session.create(store, title=f"session {n}")
            session.append(UserMessage(f"task {n} " + "words " * 150))
            session.append(Turn("think", code=f"print({n})"))
            ids.append(session.id)
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ids


def _damage_one_page(path: Path, page: int) -> None:
    with path.open("r+b") as f:
        f.seek(4096 * page)
        f.write(b"\xde\xad" * 2048)


def test_a_healthy_database_is_ok(tmp_path):
    home = tmp_path / "home"
    _store_with_sessions(home, 2)
    done = run_cli(home, "doctor")
    assert done.returncode == 0 and "ok" in done.stdout


def test_recover_writes_a_working_copy_beside_and_leaves_the_original(tmp_path):
    home = tmp_path / "home"
    ids = _store_with_sessions(home)
    original = home / DB_NAME
    _damage_one_page(original, 8)
    damaged_bytes = original.read_bytes()
    done = run_cli(home, "doctor")
    assert done.returncode == 1 and "damaged" in done.stdout and "--recover" in done.stdout
    done = run_cli(home, "doctor", "--recover")
    assert done.returncode == 0, done.stderr
    assert original.read_bytes() == damaged_bytes  # never in place
    (copy,) = [p for p in home.iterdir() if ".recovered-" in p.name and p.suffix == ".db"]
    with Store(copy) as store:
        assert store.integrity_check() == "ok"
        recovered = store.sessions()
        assert 0 < len(recovered) <= len(ids) and {s.id for s in recovered} <= set(ids)
        kept = sum(len(store.events(s.id)) for s in recovered)
        assert kept >= len(ids)  # most of the 80 events survive one bad page
        for info in recovered:
            events = store.events(info.id)
            if events:
                assert info.head in {e.id for e in events}
        assert store.search("task") != []  # the search index is rebuilt
    assert f"into {copy}" in done.stdout


def test_a_database_with_nothing_readable_is_said_so(tmp_path):
    home = tmp_path / "home"
    _store_with_sessions(home, 3)
    (home / DB_NAME).write_bytes(b"\0" * 8192)
    done = run_cli(home, "doctor", "--recover")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "nothing could be read" in done.stderr or "damaged" in done.stdout
    assert not [p for p in home.iterdir() if ".recovered-" in p.name]
