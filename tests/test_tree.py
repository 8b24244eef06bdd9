"""The session tree: appending, children and siblings, paths, head moves, branches, leaves."""

from __future__ import annotations

import pytest

from core.events import Event, HeadMove, Result, Turn, UserMessage, Verdict
from core.tree import SessionTree, TreeError


def ev(tree: SessionTree, parent: str | None, body) -> Event:
    event = Event.new(tree.session_id, parent, body)
    tree.add(event)
    return event


@pytest.fixture
def tree() -> SessionTree:
    return SessionTree("S")


def test_nodes_follow_each_other_and_the_head_follows_the_newest(tree):
    u = ev(tree, None, UserMessage("hi"))
    t = ev(tree, u.id, Turn("think", code="1+1"))
    r = ev(tree, t.id, Result(output="2"))
    assert tree.head == r.id
    assert [e.id for e in tree.path()] == [u.id, t.id, r.id]
    assert tree.children(u.id) == [t.id]
    assert tree.roots() == [u.id]
    assert tree.leaves() == [r.id]


def test_retry_makes_a_sibling_and_the_old_turn_stays(tree):
    u = ev(tree, None, UserMessage("hi"))
    first = ev(tree, u.id, Turn("a", code="1"))
    second = ev(tree, u.id, Turn("b", code="2"))
    assert tree.siblings(first.id) == [first.id, second.id]
    assert tree.sibling_position(second.id) == (2, 2)
    assert tree.sibling_position(first.id) == (1, 2)
    assert sorted(tree.leaves()) == sorted([first.id, second.id])
    assert [[e.id for e in b] for b in tree.branches()] == [[u.id, first.id], [u.id, second.id]]


def test_annotations_are_not_nodes_and_never_on_a_path(tree):
    u = ev(tree, None, UserMessage("hi"))
    t = ev(tree, u.id, Turn("a", code="1"))
    ev(tree, t.id, Verdict("accepted"))
    ev(tree, t.id, Verdict("up"))
    ev(tree, t.id, Verdict("down"))
    assert tree.children(t.id) == []
    assert [e.kind for e in tree.path()] == ["user", "turn"]
    assert tree.decision(t.id).value == "accepted"
    assert tree.rating(t.id) == "down"
    assert len(tree.annotations(t.id)) == 3


def test_head_move_is_recorded_and_moves_the_head(tree):
    u = ev(tree, None, UserMessage("hi"))
    t = ev(tree, u.id, Turn("a", code="1"))
    ev(tree, u.id, HeadMove(previous=t.id, reason="rollback"))
    assert tree.head == u.id
    t2 = ev(tree, tree.head, Turn("b", code="2"))
    assert tree.siblings(t2.id) == [t.id, t2.id]


def test_latest_leaf_is_where_a_branch_switch_lands(tree):
    u = ev(tree, None, UserMessage("hi"))
    a = ev(tree, u.id, Turn("a", code="1"))
    ev(tree, a.id, Result(output="1"))
    b = ev(tree, u.id, Turn("b", code="2"))
    rb = ev(tree, b.id, Result(output="2"))
    ra2 = ev(tree, a.id, Result(output="again"))
    assert tree.latest_leaf(u.id) == ra2.id
    assert tree.latest_leaf(b.id) == rb.id


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t, u, turn: Event.new("S", "nope", UserMessage("x")), "unknown event"),
        (lambda t, u, turn: Event.new("OTHER", None, UserMessage("x")), "belongs to session"),
        (lambda t, u, turn: Event.new("S", None, Verdict("up")), "must name the event"),
        (lambda t, u, turn: Event.new("S", u.id, Verdict("up")), "not a turn"),
        (
            lambda t, u, turn: Event.new("S", t.annotations(turn.id)[0].id, UserMessage("x")),
            "not a node",
        ),
        (lambda t, u, turn: u, "already in the session"),
    ],
)
def test_bad_appends_are_refused(tree, make, message):
    u = ev(tree, None, UserMessage("hi"))
    turn = ev(tree, u.id, Turn("a", code="1"))
    ev(tree, turn.id, Verdict("up"))
    with pytest.raises(TreeError, match=message):
        tree.add(make(tree, u, turn))


def test_head_cannot_move_to_an_annotation(tree):
    u = ev(tree, None, UserMessage("hi"))
    t = ev(tree, u.id, Turn("a", code="1"))
    v = ev(tree, t.id, Verdict("accepted"))
    with pytest.raises(TreeError):
        tree.move_head(v.id)
    with pytest.raises(TreeError):
        tree.path(v.id)


@pytest.mark.parametrize(
    "fields",
    [
        dict(thought="t"),
        dict(thought="t", code="c", answer="a"),
        dict(thought="t", code="c", origin="magic"),
    ],
)
def test_turn_needs_code_or_answer(fields):
    with pytest.raises(ValueError):
        Turn(**fields)
