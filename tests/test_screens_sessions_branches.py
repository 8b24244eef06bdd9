"""The session browser and the branch view, driven by keys through a tiny host app."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from rich.text import Text
from textual.app import App
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static, Tree

from core.events import Event, Result, Turn, UserMessage, Verdict
from core.session import Session
from core.store.database import SessionInfo, Store, StoreError
from core.tree import SessionTree
from kyzel_tui.screens.branches import HEAD_MARK, BranchScreen, node_label
from kyzel_tui.screens.confirm import ConfirmScreen, PromptScreen
from kyzel_tui.screens.sessions import SEARCH_DELAY, SessionsScreen

from conftest import branching_session

UNSET = object()


class Host(App[None]):
    """Pushes one screen and keeps what it dismissed with."""

    def __init__(self, make_screen: Callable[[], Screen]) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.dismissed: object = UNSET

    def on_mount(self) -> None:
        self.push_screen(self.make_screen(), self.keep)

    def keep(self, value: object) -> None:
        self.dismissed = value


def add_session(
    store: Store,
    session_id: str,
    title: str,
    updated: float,
    texts: tuple[str, ...] = ("hello",),
    model: str = "tiny",
) -> SessionInfo:
    """A linear session of user messages with fixed ids and times (titles are stored as given)."""
    events, parent = [], None
    for index, text in enumerate(texts):
        event_id = f"{session_id}E{index:03d}"
        events.append(Event(event_id, session_id, parent, UserMessage(text), updated - 60 + index))
        parent = event_id
    info = SessionInfo(session_id, title, updated - 3600, updated, model, parent, len(events))
    store.insert_session(info, events, {})
    return info


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


# The branch view


def turn_with(tree: SessionTree, thought: str) -> str:
    return next(event.id for event in tree.turns() if event.body.thought == thought)


def label_of(screen: BranchScreen, event_id: str) -> str:
    return screen.reveal(event_id).label.plain


async def test_the_branch_view_opens_on_the_head(store):
    tree = Session.open(store, branching_session(store).id).tree
    app = Host(lambda: BranchScreen(tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        view = app.screen.query_one(Tree)
        assert view.cursor_node.data == tree.head
        assert HEAD_MARK in view.cursor_node.label.plain
        assert view.cursor_node.label.spans[-1].style == "bold"  # the head path is bold


async def test_enter_returns_the_selected_event_and_escape_none(store):
    tree = Session.open(store, branching_session(store).id).tree
    app = Host(lambda: BranchScreen(tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("up", "enter")  # the rejected turn, just above the edited one
        await pilot.pause()
        assert app.dismissed == turn_with(tree, "plot it")
    app = Host(lambda: BranchScreen(tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("up", "escape")
        await pilot.pause()
        assert app.dismissed is None


async def test_labels_show_verdicts_positions_and_edits(store):
    session = branching_session(store)
    session.judge(turn_with(session.tree, "another look"), "up")
    tree = Session.open(store, session.id).tree
    app = Host(lambda: BranchScreen(tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert label_of(screen, tree.roots()[0]).startswith("user   plot sales")
        looked = label_of(screen, turn_with(tree, "look at the data"))
        assert looked.startswith("1/2 turn") and looked.endswith("✓")
        assert label_of(screen, turn_with(tree, "another look")).startswith("2/2 turn")
        assert label_of(screen, turn_with(tree, "another look")).endswith("+")
        assert label_of(screen, turn_with(tree, "plot it")).endswith("df.plot() ✗")
        edited = label_of(screen, turn_with(tree, "plot it with matplotlib"))
        assert "2/2" in edited and "edited" in edited and edited.endswith(HEAD_MARK)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (UserMessage("first\n\nsecond"), "user   first second"),
        (Turn("\n  think\nmore", code="x = 1\ny = 2"), "turn   think  x = 1"),
        (Turn("", answer="done."), "turn   done."),
        (Result(output="\n12\n13"), "result ok 12"),
        (
            Result("error", error={"name": "ZeroDivisionError", "value": "division by zero"}),
            "result error ZeroDivisionError division by zero",
        ),
        (Result("timeout"), "result timeout "),
    ],
)
def test_node_label_excerpts(body, expected):
    tree = SessionTree("S", [Event("E1", "S", None, body, 0.0)])
    assert node_label(tree, "E1").plain == expected


async def test_hostile_thoughts_show_literally(store):
    session = Session.create(store)
    session.append(UserMessage("hi \x1b[2Jthere"))
    hostile = session.append(Turn("[bold]x[/] [@click=app.quit]quit[/]\x1b]0;t\x07", code="1"))
    app = Host(lambda: BranchScreen(session.tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        label = app.screen.query_one(Tree).cursor_node.label
        assert label.plain.startswith("turn   [bold]x[/] [@click=app.quit]quit[/]  1")
        assert not any(span.style and "@click" in str(span.style) for span in label.spans)
        assert label_of(app.screen, session.tree.roots()[0]) == "user   hi there"
        await pilot.click(Tree, offset=(10, 1))
        await pilot.pause()
        assert app.is_running and app.dismissed is UNSET
        assert hostile.id in session.tree


async def test_an_alternative_off_the_head_path_is_built_when_expanded(store):
    session = Session.create(store)
    user = session.append(UserMessage("go"))
    old = session.append(Turn("old way", code="1"))
    old_result = session.append(Result(output="1"))
    session.append(Turn("new way", code="2"), parent=user.id)
    session.append(Result(output="2"))
    app = Host(lambda: BranchScreen(session.tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert old_result.id not in screen._lines  # the old branch is one folded line
        await pilot.press("up", "up", "space")
        await pilot.pause()
        assert screen.query_one(Tree).cursor_node.data == old.id
        assert old_result.id in screen._lines
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.dismissed == old_result.id


async def test_an_empty_session_opens_and_enter_does_nothing(store):
    session = Session.create(store)
    app = Host(lambda: BranchScreen(session.tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.screen.query_one("#empty").display
        await pilot.press("enter")
        await pilot.pause()
        assert app.dismissed is UNSET


def long_session(store: Store, length: int) -> SessionTree:
    """user, then turns and results alternating: one linear branch of `length` nodes."""
    events, parent = [], None
    for index in range(length):
        if index == 0:
            body = UserMessage("count")
        elif index % 2:
            body = Turn(f"step {index}", code=f"x = {index}")
        else:
            body = Result(output=str(index))
        events.append(Event(f"L{index:05d}", "LONG", parent, body, 1_700_000_000 + index))
        parent = events[-1].id
    info = SessionInfo("LONG", "long", 1_700_000_000, 1_700_009_999, "", parent)
    store.insert_session(info, events, {})
    return Session.open(store, "LONG").tree


@pytest.mark.timeout(60)
async def test_a_session_of_5000_events_opens_on_its_head(store):
    tree = long_session(store, 5000)
    app = Host(lambda: BranchScreen(tree))
    async with app.run_test() as pilot:
        await pilot.pause()
        view = app.screen.query_one(Tree)
        assert view.cursor_node.data == "L04999"
        assert view.last_line == 4999  # flat: one line per event, no nesting
        assert view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y
        await pilot.press("pageup", "enter")
        await pilot.pause()
        assert app.dismissed not in (UNSET, None, "L04999")


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


def snapshot_branching(store: Store) -> SessionTree:
    """The conftest branching session with fixed ids and times, and a hostile thought."""
    session = "SNAPSHOT"
    at = 1_700_000_000.0
    bodies: list[tuple[str, str | None, object]] = [
        ("U", None, UserMessage("plot sales")),
        ("A", "U", Turn("look at the data", code="import pandas as pd")),
        ("A+", "A", Verdict("accepted")),
        ("R", "A", Result(output="   region  sales\n0  north    10")),
        ("B", "R", Turn("plot it", code="df.plot()")),
        ("B-", "B", Verdict("rejected", reason="use matplotlib")),
        ("C", "U", Turn("[bold]x[/] [@click=app.quit]quit[/]", code="print(1)")),
        ("C+", "C", Verdict("up")),
        ("D", "R", Turn("plot it with matplotlib", code="plt.plot(df)", origin="edited")),
        ("E", "D", Result("error", output="NameError: name 'plt' is not defined")),
    ]
    events = [
        Event(event_id, session, parent, body, at + index)
        for index, (event_id, parent, body) in enumerate(bodies)
    ]
    info = SessionInfo(session, "branching", at, at + len(events), "tiny", "E")
    store.insert_session(info, events, {})
    return Session.open(store, session).tree


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


class TestBranchSnapshots:
    """The branch view of a session with a retry and an edit.

    You should see the user message, then two alternatives 1/2 (accepted ✓, with its result and a
    fork of 1/2 rejected ✗ and 2/2 edited) and 2/2 (rated +, its thought shown literally as
    `[bold]x[/] [@click=app.quit]quit[/]`), the head path in bold down to the error result marked
    ◀ head, with the cursor on it.
    """

    def test_tree(self, snap_compare, store):
        tree = snapshot_branching(store)
        assert snap_compare(Host(lambda: BranchScreen(tree)), terminal_size=(100, 14))
