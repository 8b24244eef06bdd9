"""The app's writes under pressure (issues 9 and 14): another process holding the database's
write lock never freezes the screen, a full disk loses no typed text and quitting stays clean,
a message typed while the model writes keeps the partial turn, and a session deleted by another
process is said to be deleted. The lock, the full disk and the deletion are real."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from textual.widgets import DataTable, Input

from core.events import UserMessage
from core.kernel.config import KernelConfig
from core.store.database import DB_NAME, Store
from core.store.writer import StoreWriter
from kyzel_tui.app import make_app
from kyzel_tui.config import AppConfig
from kyzel_tui.screens.sessions import SessionsScreen
from kyzel_tui.widgets.transcript.turn_view import TurnView

from app_harness import (
    ANSWER_TURN,
    CODE_TURN,
    LONG_TURN,
    SIZE,
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    notice,
    ready,
    say,
    stored,
    type_text,
    wait_for,
)
from conftest import mounted_tmpfs

pytestmark = pytest.mark.timeout(120)

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


def slow_steps(seconds: float):
    def on_step(n: int) -> None:
        threading.Event().wait(seconds)

    return on_step


def title_of(app, session_id: str) -> str:
    with Store.open(app.config.data_dir) as store:
        return store.session(session_id).title


def turns(app) -> list:
    return [e for e in stored(app) if e.kind == "turn"]


def focus_turn(app, event_id: str) -> None:
    next(v for v in app.main.query(TurnView) if v.event_id == event_id).focus()


async def test_a_foreign_write_lock_never_freezes_the_screen(tmp_path, loaded):
    """Regression: `+` while another process held the write lock froze the screen until the
    lock was released (30 s for a 30 s lock). Now the letters typed meanwhile appear at once,
    the status bar says the app waits, and the rating is stored once the lock is released."""
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "hi")
            (answer,) = turns(app)
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, str(app.config.data_dir / DB_NAME), "3"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout.readline().strip() == "locked"
            locked_at = time.monotonic()
            focus_turn(app, answer.id)
            await pilot.press("plus")
            app.main.prompt.focus()
            await type_text(pilot, "abc")
            prompt = app.main.query_one("#prompt", Input)
            await wait_for(pilot, lambda: prompt.value == "abc", "the letters", timeout=1.0)
            assert time.monotonic() - locked_at < 1.0, "the screen waited for the lock"
            assert app.agent.tree.rating(answer.id) is None  # not committed: not shown as done
            # The notice names who holds the lock, as the command line does.
            notice = f"waiting for another process (PID {holder.pid}, "
            await wait_for(
                pilot, lambda: app.main.status.activity.startswith(notice), "the notice", 5
            )
            await wait_for(pilot, lambda: app.agent.tree.rating(answer.id) == "up", "rating", 20)
            assert time.monotonic() - locked_at > 2.5  # it did wait for the other process
            assert holder.wait(10) == 0
            await wait_for(
                pilot, lambda: "waiting" not in app.main.status.activity, "the notice gone"
            )
            assert prompt.value == "abc"
    verdicts = [(e.parent_id, e.body.value) for e in stored(app) if e.kind == "verdict"]
    assert verdicts == [(answer.id, "up")]


async def test_renaming_a_session_under_a_foreign_lock_keeps_the_screen_live(tmp_path, loaded):
    """Regression (issue 14): the sessions screen renamed (and deleted) on the event loop, so a
    rename while another process held the write lock froze the screen. Now the keys typed
    meanwhile appear at once, the list shows the new title once the lock is released, and a new
    session opened meanwhile is created (through the writer) after the rename."""
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "hi")
            first, events = app.agent.session.id, len(stored(app))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "the list")
            sessions = app.screen
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, str(app.config.data_dir / DB_NAME), "3"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout.readline().strip() == "locked"
            await pilot.press("r")
            await wait_for(pilot, lambda: app.screen is not sessions, "the title prompt")
            title = app.screen.query_one(Input)
            title.value = ""
            await type_text(pilot, "renamed")
            locked_at = time.monotonic()
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is sessions, "the list again")
            await pilot.press("slash")
            await type_text(pilot, "xyz")
            search = sessions.query_one("#search", Input)
            await wait_for(pilot, lambda: search.value == "xyz", "the letters", timeout=1.0)
            assert time.monotonic() - locked_at < 1.0, "the screen waited for the lock"
            assert title_of(app, first) != "renamed"
            search.value = ""
            sessions.query_one(DataTable).focus()
            await pilot.press("n")  # a new session, queued behind the rename
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
            assert app.agent.session.id != first
            await wait_for(
                pilot,
                lambda: title_of(app, first) == "renamed",
                "the rename",
                20,
            )
            assert holder.wait(10) == 0
            await wait_for(pilot, lambda: not app.main.writing(), "the writes done", 10)
            with Store.open(app.config.data_dir) as store:
                # The new session, empty, exists while it is open; the first keeps its events.
                assert {info.id for info in store.sessions()} == {first, app.agent.session.id}
                assert store.session(first).events == events
    with Store.open(app.config.data_dir) as store:
        # Quitting forgot the empty session (through the writer, before it closed).
        assert [info.id for info in store.sessions()] == [first]


def test_the_writer_creates_forgets_and_stores_blobs_in_the_order_asked(tmp_path):
    """What the app queues while another process holds the lock lands in order once it is
    released: a new session before its events, a kernel image before the result after it, and
    an empty session is forgotten only if nothing queued before gave it an event."""
    with Store.open(tmp_path) as store:
        writer = StoreWriter(store.path)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(store.path), "1"], stdout=subprocess.PIPE
        )
        assert holder.stdout.readline().strip() == b"locked"
        session, created = writer.new_session(store)
        session.writes = writer.store
        image = b"\x89PNG not really"
        digest = writer.put_blob(image, "image/png")
        said = writer.submit(session.append, UserMessage("hi"))
        kept = writer.forget_if_empty(session.id)
        empty, _ = writer.new_session(store)
        forgotten = writer.forget_if_empty(empty.id)
        assert not said.done()  # all of it waits for the other process
        assert kept.result(20) is False and forgotten.result(20) is True
        assert created.result().id == session.id and holder.wait(10) == 0
        writer.close()
        assert store.blob(digest) == (image, "image/png")
        assert [e.kind for e in store.events(session.id)] == ["user"]
        assert [info.id for info in store.sessions()] == [session.id]


async def test_writes_are_committed_in_the_order_of_the_keys(tmp_path, loaded):
    """`-`, `+`, `-` pressed while another process holds the lock: all three wait, and are
    stored in the order they were pressed."""
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "hi")
            (answer,) = turns(app)
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, str(app.config.data_dir / DB_NAME), "1.5"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout.readline().strip() == "locked"
            focus_turn(app, answer.id)
            await pilot.press("minus", "plus", "minus")
            await wait_for(pilot, lambda: len(stored(app)) == 5, "the three ratings", 20)
            assert holder.wait(10) == 0
    verdicts = [e.body.value for e in stored(app) if e.kind == "verdict"]
    assert verdicts == ["down", "up", "down"]


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs, unmounted afterwards (skipped where mounting needs root)."""
    yield from mounted_tmpfs(tmp_path / "disk", "4m")


def fill(folder) -> None:
    with open(folder / "filler", "wb") as out:
        try:
            while True:
                out.write(b"x" * 65536)
                out.flush()
        except OSError:
            pass


async def test_a_full_disk_keeps_the_message_in_the_box_and_quits_cleanly(
    tmp_path, small_disk, loaded
):
    """Regression (issue 14): on a full disk the message sent was lost from the box; quitting
    printed a traceback. Now the text comes back with a notice, and quitting stops the kernel."""
    config = AppConfig(
        home=small_disk / "home",
        kernel=KernelConfig(spec_dir=str(tmp_path / "kernel-spec"), timeout=60),
        model_loader=lambda progress: loaded,
        sampling=app_config(tmp_path, loaded).sampling,
    )
    app = make_app(config)
    message = ("please keep this text " * 400).strip()
    with model_writes(loaded, [CODE_TURN, ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            await pilot.press("enter")  # run the code: the kernel starts
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "answer")
            assert app.runner.client is not None
            fill(small_disk)
            prompt = app.main.query_one("#prompt", Input)
            prompt.focus()
            prompt.value = message
            await pilot.press("enter")
            await wait_for(pilot, lambda: prompt.value, "the text back in the box")
            assert prompt.value == message
            await notice(pilot, "is full")
            await notice(pilot, "back in the box")
            assert idle(app) and app.main.generation is None
            await pilot.press("ctrl+q")
    assert app.return_code in (0, None) and app._exception is None
    assert app.runner.state == "stopped" and app.runner.client is None
    (small_disk / "filler").unlink()
    assert kinds(app) == ["user", "turn", "verdict", "result", "turn"]


async def test_a_message_typed_while_the_model_writes_keeps_the_partial_turn(tmp_path, loaded):
    """Regression (issue 9, item 2): an interjection threw the half-written turn away. Now it
    stays as a stopped sibling of the message, which follows what the turn followed."""
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=1000))
    with model_writes(loaded, [LONG_TURN, ANSWER_TURN], on_step=slow_steps(0.02)):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            prompt = app.main.query_one("#prompt", Input)
            prompt.value = "think"
            await pilot.press("enter")
            stream = lambda: app.main.transcript.stream_view  # noqa: E731
            await wait_for(pilot, lambda: stream() and len(stream().text) > 40, "the turn")
            await type_text(pilot, "stop")
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(turns(app)) == 2 and idle(app), "the answer", 60)
    first, stopped, second, answer = [e for e in stored(app) if e.kind in ("user", "turn")]
    assert first.body.text == "think" and second.body.text == "stop"
    assert stopped.body.meta["status"] == "stopped" and stopped.body.raw.startswith("<thought>")
    assert stopped.parent_id == first.id and second.parent_id == first.id
    assert answer.parent_id == second.id and answer.body.meta.get("status") is None


async def test_a_session_deleted_by_another_process_is_said_to_be_deleted(tmp_path, loaded):
    """Regression (issue 14): `+` on a session deleted by `kyzel-tui delete` in another
    terminal said "FOREIGN KEY constraint failed". Now the app says the session was deleted,
    offers the session list, and stays up."""
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "hi")
            (answer,) = turns(app)
            with Store.open(app.config.data_dir) as other:
                other.delete_session(app.agent.session.id)
            focus_turn(app, answer.id)
            await pilot.press("plus")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "the list")
            await notice(pilot, "was deleted")
            assert app.agent.tree.rating(answer.id) is None
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
            assert app.is_running
