"""The session browser and the confirmation dialog, driven by keys through a tiny host app."""

from __future__ import annotations

import os
import time

import pytest
from rich.text import Text
from screen_harness import UNSET, Host, add_session
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from core.store.database import Store, StoreError
from kyzel_tui.screens.confirm import ConfirmScreen, PromptScreen
from kyzel_tui.screens.sessions import SEARCH_DELAY, SessionsScreen


def rows(screen: Screen) -> list[str]:
    table = screen.query_one(DataTable)
    return [str(row.key.value) for row in table.ordered_rows]


def cell(screen: Screen, session_id: str, column: str) -> Text:
    return screen.query_one(DataTable).get_cell(session_id, column)


def three_sessions(store: Store) -> None:
    add_session(store, "S1", "plot the sales", 1_700_000_000, ("plot sales by month",))
    add_session(store, "S2", "clean the csv", 1_700_100_000, ("drop empty rows",))
    add_session(store, "S3", "train a model", 1_700_200_000, ("fit a regression", "now plot it"))


# The confirmation


@pytest.mark.parametrize(
    ("keys", "answer"),
    [
        (["y"], True),
        (["enter"], True),
        (["n"], False),
        (["escape"], False),
        (["tab", "enter"], False),
    ],
)
async def test_confirm_keys(keys, answer):
    app = Host(lambda: ConfirmScreen("Delete [bold]it[/]?"))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert str(app.screen.query_one("#question", Static).render()) == "Delete [bold]it[/]?"
        await pilot.press(*keys)
        await pilot.pause()
        assert app.dismissed is answer


# The session browser


async def test_sessions_are_listed_newest_first_with_the_current_one_marked(store):
    three_sessions(store)
    app = Host(lambda: SessionsScreen(store, current="S2"))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert rows(screen) == ["S3", "S2", "S1"]
        assert [cell(screen, s, "mark").plain for s in ("S3", "S2", "S1")] == ["", "●", ""]
        assert cell(screen, "S3", "events").plain == "2"
        assert screen.highlighted.id == "S2"  # the cursor starts on the current session


async def test_search_narrows_the_list_as_the_user_types(store):
    three_sessions(store)
    calls: list[str | None] = []
    sessions = store.sessions

    def counting(search=None, limit=None):
        calls.append(search)
        return sessions(search=search, limit=limit)

    store.sessions = counting
    app = Host(lambda: SessionsScreen(store))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"plot")
        await pilot.pause(SEARCH_DELAY + 0.25)
        assert rows(app.screen) == ["S3", "S1"]  # "now plot it" in S3's events, S1's title
        assert len(calls) < 1 + len("plot")  # debounced: not one query per key
        await pilot.press(*" sales")
        await pilot.pause(SEARCH_DELAY + 0.25)
        assert rows(app.screen) == ["S1"]
        await pilot.press(*"zzz")
        await pilot.pause(SEARCH_DELAY + 0.25)
        empty = app.screen.query_one("#empty", Static)
        assert rows(app.screen) == [] and empty.display
        assert "No session matches" in str(empty.render())


async def test_enter_opens_the_highlighted_session(store):
    three_sessions(store)
    app = Host(lambda: SessionsScreen(store))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.dismissed == "S2"


async def test_enter_in_the_search_opens_the_best_match_at_once(store):
    three_sessions(store)
    app = Host(lambda: SessionsScreen(store))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("slash", *"csv", "enter")  # before the debounced search ran
        await pilot.pause()
        assert app.dismissed == "S2"


@pytest.mark.parametrize(("key", "expected"), [("n", "new"), ("escape", None)])
async def test_new_and_back(store, key, expected):
    three_sessions(store)
    app = Host(lambda: SessionsScreen(store, current="S1"))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert app.dismissed == expected


async def test_rename_changes_the_title_in_the_store(store):
    three_sessions(store)
    app = Host(lambda: SessionsScreen(store))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        assert app.screen.query_one(Input).value == "train a model"
        await pilot.press("ctrl+u", *"fit it", "enter")
        await pilot.pause()
        assert store.session("S3").title == "fit it"
        assert isinstance(app.screen, SessionsScreen)
        assert cell(app.screen, "S3", "title").plain == "fit it"
        await pilot.press("r", "escape")  # cancelling leaves the title alone
        await pilot.pause()
        assert store.session("S3").title == "fit it"


async def test_delete_asks_first_and_no_keeps_the_session(store):
    three_sessions(store)
    app = Host(lambda: SessionsScreen(store, current="S3"))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("down", "d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = app.screen.question
        assert "clean the csv" in question and "1 event " in question
        assert "you have open" not in question
        await pilot.press("n")
        await pilot.pause()
        assert store.session("S2").title == "clean the csv"
        await pilot.press("delete", "y")
        await pilot.pause()
        with pytest.raises(StoreError):
            store.session("S2")
        assert rows(app.screen) == ["S3", "S1"]
        assert app.screen.highlighted.id == "S1"  # the cursor stays where the row was


async def test_deleting_the_open_session_says_so_and_back_starts_a_new_one(store):
    three_sessions(store)
    app = Host(lambda: SessionsScreen(store, current="S3"))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert "the session you have open" in app.screen.question
        assert "2 events" in app.screen.question
        await pilot.press("y")
        await pilot.pause()
        assert [info.id for info in store.sessions()] == ["S2", "S1"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.dismissed == "new"


async def test_a_store_error_is_shown_and_the_screen_stays(store, monkeypatch):
    three_sessions(store)

    def broken(session_id, title):
        raise StoreError("disk is full: free some space")

    monkeypatch.setattr(store, "rename", broken)
    app = Host(lambda: SessionsScreen(store))
    notes: list[tuple[str, str]] = []
    notify = app.notify

    def record(message, **options):
        notes.append((message, options.get("severity", "information")))
        notify(message, **options)

    monkeypatch.setattr(app, "notify", record)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("r", "x", "enter")
        await pilot.pause()
        assert notes == [("disk is full: free some space", "error")]
        assert isinstance(app.screen, SessionsScreen)
        assert app.dismissed is UNSET


async def test_an_empty_store_says_how_to_start(store):
    app = Host(lambda: SessionsScreen(store))
    async with app.run_test() as pilot:
        await pilot.pause()
        empty = app.screen.query_one("#empty", Static)
        assert empty.display
        text = str(empty.render())
        assert "type a message" in text and "kyzel-tui import FILE" in text
        await pilot.press("enter", "r", "d")  # nothing to open, rename or delete: no crash
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)


async def test_hostile_titles_show_literally_and_without_control_sequences(store):
    add_session(store, "S1", "[bold]x[/] [@click=app.quit]quit[/]", 1_700_000_000)
    add_session(store, "S2", "wipe\x1b[2J\x1b]0;owned\x07 screen", 1_700_100_000, model="\x1b[31m")
    app = Host(lambda: SessionsScreen(store))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert cell(app.screen, "S1", "title").plain == "[bold]x[/] [@click=app.quit]quit[/]"
        assert cell(app.screen, "S2", "title").plain == "wipe screen"
        assert "\x1b" not in cell(app.screen, "S2", "model").plain
        await pilot.click(DataTable, offset=(6, 2))  # the second row: S1 (a click highlights)
        await pilot.press("d")
        await pilot.pause()
        assert "[bold]x[/]" in str(app.screen.query_one("#question", Static).render())
        await pilot.press("n", "escape")
        await pilot.pause()
        assert app.is_running


# Snapshots


@pytest.fixture
def utc():
    """Show times in UTC, whatever the machine's zone, so snapshots match everywhere."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


class TestSessionsSnapshots:
    """The session browser: a search box, then a table of sessions newest first.

    You should see "train a model" on top, "clean the csv" marked with ● and bold as the open
    session with the cursor on it, the hostile title shown literally as `[bold]x[/] ...`, times in
    UTC, and the footer listing Open, New, Rename, Delete, Search and Back.
    """

    def test_list(self, snap_compare, store, utc):
        three_sessions(store)
        add_session(store, "S0", "[bold]x[/] [@click=app.quit]quit[/]", 1_699_900_000)
        assert snap_compare(
            Host(lambda: SessionsScreen(store, current="S2")), terminal_size=(100, 16)
        )

    def test_delete_question(self, snap_compare, store, utc):
        """The delete question over the list, naming the session and its event count."""
        three_sessions(store)
        assert snap_compare(
            Host(lambda: SessionsScreen(store)), terminal_size=(100, 16), press=["d"]
        )

    def test_empty_store(self, snap_compare, store, utc):
        """An empty store: a boxed note saying to type a message or `kyzel-tui import FILE`."""
        assert snap_compare(Host(lambda: SessionsScreen(store)), terminal_size=(100, 16))
