"""The branch view, driven by keys through a tiny host app."""

from __future__ import annotations

import pytest
from screen_harness import UNSET, Host
from textual.widgets import Tree

from core.events import Event, Result, Turn, UserMessage, Verdict
from core.session import Session
from core.store.database import SessionInfo, Store
from core.tree import SessionTree
from kyzel_tui.screens.branches import HEAD_MARK, BranchScreen, node_label

from conftest import branching_session

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
