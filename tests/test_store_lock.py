"""Another process holding the store's write lock: the writer waits within a bound, says whom it
waits for after a second, and gives up with a clear message. Real SQLite, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.events import Event, UserMessage
from core.store.database import Store, StoreError
from core.store.lock import LockWait

ROOT = Path(__file__).resolve().parents[1]

HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""

HOLD_AS_KYZEL = """
import sys, time
from core.store.database import Store
with Store(sys.argv[1]) as store, store._write():
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(database: Path, seconds: float, script: Path | None = None) -> subprocess.Popen:
    argv = [sys.executable, str(script)] if script else [sys.executable, "-c", HOLD]
    holder = subprocess.Popen(
        [*argv, str(database), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.fixture
def session_store(tmp_path):
    store = Store.open(tmp_path / "home")
    info = store.create_session(title="locked")
    yield store, info.id
    store.close()


def message_event(session_id: str, text: str) -> Event:
    return Event.new(session_id, None, UserMessage(text))


def test_a_writer_says_whom_it_waits_for_then_goes_on(session_store):
    store, session_id = session_store
    notices: list[tuple[bool, float, str, int | None]] = []
    store.lock_notice = lambda w: notices.append((w.done, w.waited, w.message, w.pid))
    holder = hold_lock(store.path, 2.5)
    started = time.monotonic()
    store.append(message_event(session_id, "after the wait"))
    waited = time.monotonic() - started
    holder.wait(10)
    assert 1.5 < waited < 10
    assert [done for done, *_ in notices] == [False, True]
    _, first_wait, message, pid = notices[0]
    assert 1.0 <= first_wait < 2.0
    assert pid == holder.pid
    assert f"waiting for another process (PID {holder.pid}, python" in message
    assert [e.body.text for e in store.events(session_id)] == ["after the wait"]


def test_a_writer_gives_up_after_its_bounded_wait_and_saves_nothing(session_store):
    store, session_id = session_store
    store.lock_wait = 2.0
    notices: list[LockWait] = []
    store.lock_notice = notices.append
    holder = hold_lock(store.path, 8)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            store.append(message_event(session_id, "never saved"))
        assert time.monotonic() - started < 4
    finally:
        holder.kill()
        holder.wait(10)
    text = str(caught.value)
    assert text.startswith("gave up after 2 s waiting for another process (PID ")
    assert "try again" in text and "\n" not in text
    assert notices[-1].done
    assert store.events(session_id) == []


def test_another_kyzel_process_is_named_as_such(session_store, tmp_path):
    store, session_id = session_store
    script = tmp_path / "kyzel-tui"  # as the console script is called
    script.write_text(HOLD_AS_KYZEL)
    notices: list[str] = []
    store.lock_notice = lambda w: notices.append(w.message)
    holder = hold_lock(store.path, 1.8, script)
    store.append(message_event(session_id, "x"))
    holder.wait(10)
    assert notices[0].startswith(f"waiting for another kyzel-tui process (PID {holder.pid}) ")


def test_the_cli_prints_the_wait_on_stderr(session_store):
    store, session_id = session_store
    holder = hold_lock(store.path, 2.5)
    cli = subprocess.run(
        [sys.executable, "-m", "kyzel_tui", "rename", "--home", str(store.path.parent)]
        + [session_id, "renamed while locked"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    holder.wait(10)
    assert cli.returncode == 0, cli.stderr
    assert cli.stderr.startswith(f"kyzel-tui: waiting for another process (PID {holder.pid}")
    assert cli.stderr.count("\n") == 1
    assert store.session(session_id).title == "renamed while locked"
