"""XML import and export: kyzel fixtures, exact round trips, recovery, hostile files."""

from __future__ import annotations

import dataclasses
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.admission import UNADMITTED, refusal
from core.events import Event, KernelEvent, Result, Turn, UserMessage, Verdict
from core.formats.read import XmlImportError, import_session, parse_session, read_session
from core.formats.write import session_to_xml
from core.session import Session
from core.store.database import SessionInfo, Store
from core.text import plain_label
from core.tree import SessionTree

from conftest import LOCAL_KYZEL, branching_session


def unmarked(body):
    """The body without the admission mark that import puts on turns the grammar refuses."""
    if isinstance(body, Turn) and UNADMITTED in body.meta:
        meta = {k: v for k, v in body.meta.items() if k != UNADMITTED}
        return dataclasses.replace(body, meta=meta)
    return body


def snapshot(info: SessionInfo, tree: SessionTree) -> dict:
    """Everything a round trip must keep (the admission mark is checked on its own)."""
    return {
        "session": (info.id, info.title, info.created, info.model, tree.head),
        "nodes": [(e.id, e.parent_id, unmarked(e.body), e.at) for e in tree.nodes()],
        "verdicts": {t.id: (tree.decision(t.id), tree.rating(t.id)) for t in tree.turns()},
    }


def round_trip(info: SessionInfo, tree: SessionTree, **kwargs) -> tuple[SessionInfo, SessionTree]:
    parsed = parse_session(session_to_xml(info, tree, **kwargs).encode("utf-8"))
    return parsed.info, SessionTree(parsed.info.id, parsed.events, head=parsed.info.head)


def imported(store: Store, path, **kwargs) -> Session:
    info, _ = import_session(store, read_session(path, **kwargs))
    return Session.open(store, info.id)


# Kyzel fixtures


def test_c0_maps_to_turns_results_and_verdicts(store, kyzel_fixtures):
    session = imported(store, kyzel_fixtures / "c0.xml")
    kinds = [e.kind for e in session.tree.path()]
    assert kinds[0] == "user" and kinds.count("turn") == 15 and kinds.count("result") == 15
    first_turn = session.tree.path()[1].body
    assert first_turn.thought.startswith("Ah, you want to visualize")
    assert first_turn.thought.endswith("Checking total and available system memory")
    assert first_turn.code.startswith("import psutil\nmem = psutil.virtual_memory()")
    assert first_turn.origin == "imported"
    # Two consecutive thoughts then code: one turn whose thought holds both, in order.
    annotate = next(t.body for t in session.tree.turns() if "plt.annotate" in t.body.thought)
    assert annotate.thought.index("improve the plot") < annotate.thought.index("plt.annotate")
    assert all(session.tree.decision(t.id).value == "accepted" for t in session.tree.turns())
    cdata = next(
        r.body for r in session.tree.nodes() if "Sampled cleaned" in getattr(r.body, "output", "")
    )
    assert cdata.output.startswith("Sampled cleaned titles:")


def test_s2_is_refused_whole_with_its_position(store, kyzel_fixtures):
    with pytest.raises(XmlImportError, match=r"s2\.xml:18:\d+: .*EntityRef"):
        read_session(kyzel_fixtures / "s2.xml")
    assert store.sessions() == []


def test_s2_imports_through_recover_without_losing_a_character(store, kyzel_fixtures):
    parsed = read_session(kyzel_fixtures / "s2.xml", recover=True)
    assert len(parsed.fixes) == 12
    assert all("s2.xml:" in fix and "'&'" in fix for fix in parsed.fixes)
    assert parsed.fixes[0].split(": ")[0].endswith("s2.xml:18:20")
    session = imported(store, kyzel_fixtures / "s2.xml", recover=True)
    codes = [t.body.code for t in session.tree.turns()]
    assert codes[0] == "!sensors && echo --- && free -h && echo --- && uptime"
    assert "1. sudo apt update && sudo apt full-upgrade" in codes[-1]
    users = [e.body.text for e in session.tree.nodes() if e.kind == "user"]
    assert users[1] == "those temps look high? not sure whats normal"
    assert len(users) == 5


@pytest.mark.parametrize(
    "where, name, recover",
    [
        ("local", "error_log.xml", False),
        ("local", "backup_full.xml", True),
        ("shared", "c0.xml", False),
        ("shared", "s2.xml", True),
    ],
)
def test_fixtures_export_and_reimport_to_the_same_tree(tmp_path, request, where, name, recover):
    folder = LOCAL_KYZEL if where == "local" else request.getfixturevalue("kyzel_fixtures")
    with Store.open(tmp_path / "a") as first:
        session = imported(first, folder / name, recover=recover)
        exported = tmp_path / "out.xml"
        exported.write_text(session_to_xml(session.info, session.tree))
    with Store.open(tmp_path / "b") as second:
        again = imported(second, exported)
        assert snapshot(again.info, again.tree) == snapshot(session.info, session.tree)
        assert session_to_xml(again.info, again.tree) == exported.read_text()


# Our own kyzel files: always here


def test_a_kyzel_file_maps_to_turns_results_and_verdicts(store):
    session = imported(store, LOCAL_KYZEL / "error_log.xml")
    path = session.tree.path()
    assert [e.kind for e in path] == ["user"] + ["turn", "result"] * 3 + ["turn"]
    assert session.info.title == "Count the ERROR lines in server.log per hour and plot them …"
    plan, parse, draw, answer = (e.body for e in path if e.kind == "turn")
    # The assistant's message and the action before the first code make one thought, in order.
    assert plan.thought.startswith("A histogram of errors per hour. The plan:\n1. Check")
    assert plan.thought.endswith("draw the bars\n\nLooking at the size of the log first")
    assert plan.code == 'import os\nprint(os.path.getsize("server.log"))'
    assert plan.origin == "imported"
    assert parse.thought == (
        "Small enough to read at once.\n\nEach line starts with a date and a time; pandas parses "
        "them."
    )
    assert 'error lines <from {errors.min()} to {errors.max()}>")' in parse.code
    assert path[4].body.output == (
        "Parsed 312 error lines <from 2024-05-01 00:03:11 to 2024-05-03 23:58:40>"
    )
    assert draw.thought == "Drawing the counts per hour" and "plt.savefig" in draw.code
    assert answer.code is None and answer.answer.startswith("Saved errors_per_hour.png: 312")
    code_turns = [t for t in session.tree.turns() if t.body.code is not None]
    assert [session.tree.decision(t.id).value for t in code_turns] == ["accepted"] * 3


def test_a_hand_edited_kyzel_file_is_refused_whole_then_recovered(store):
    with pytest.raises(XmlImportError, match=r"backup_full\.xml:7:36: .*EntityRef"):
        read_session(LOCAL_KYZEL / "backup_full.xml")
    assert store.sessions() == []
    parsed = read_session(LOCAL_KYZEL / "backup_full.xml", recover=True)
    assert len(parsed.fixes) == 7 and all("'&'" in fix for fix in parsed.fixes)
    assert parsed.fixes[0].split(": ")[0].endswith("backup_full.xml:7:35")
    session = imported(store, LOCAL_KYZEL / "backup_full.xml", recover=True)
    turns = [t.body for t in session.tree.turns()]
    assert turns[0].thought == "Look at the cron log & the script's last output first."
    assert turns[0].code == "!grep backup /var/log/syslog | tail -n 3 && ls -ld /srv/backup"
    assert turns[1].code == "!df -h /srv && du -sh /srv/* | sort -h | tail -n 3"
    assert "the oldest ones & keep the last seven" in turns[2].answer
    users = [e.body.text for e in session.tree.nodes() if e.kind == "user"]
    assert users == [
        "my backup script stopped copying files last night, why?",
        "disk full? i thought it had room",
    ]


# Our schema: exact round trips


def test_a_branching_session_round_trips_exactly(store):
    session = branching_session(store)
    info, tree = round_trip(session.info, session.tree)
    assert snapshot(info, tree) == snapshot(session.info, session.tree)
    assert len(tree.leaves()) == 3


def test_branch_export_keeps_only_the_path_to_the_head(store):
    session = branching_session(store)
    info, tree = round_trip(session.info, session.tree, branch_only=True)
    assert [e.id for e in tree.path()] == [e.id for e in session.tree.path()]
    assert len(tree.nodes()) == len(session.tree.path())


def test_reimport_into_the_same_store_makes_a_copy_with_new_ids(store):
    session = branching_session(store)
    xml = session_to_xml(session.info, session.tree).encode()
    info, copied = import_session(store, parse_session(xml))
    assert copied and info.id != session.id
    copy = Session.open(store, info.id)
    assert len(copy.tree) == len(session.tree) - sum(  # head moves are history, not exported
        1 for e in session.tree if e.kind == "head"
    )
    edited = next(t for t in copy.tree.turns() if t.body.origin == "edited")
    assert edited.body.source in copy.tree and edited.body.source not in session.tree


def test_images_travel_as_blobs(store, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    session = Session.create(store)
    session.append(UserMessage("plot"))
    session.append(Turn("plot", code="plt.plot([1])"))
    sha = store.put_blob(png, "image/png")
    session.append(Result(output="", outputs=[{"mime": "image/png", "blob": sha}]))
    xml = session_to_xml(session.info, session.tree, blob=store.blob)
    with Store.open(tmp_path / "other") as other:
        info, _ = import_session(other, parse_session(xml.encode()))
        assert other.blob(sha) == (png, "image/png")


HOSTILE_TEXT = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "<",
                "&",
                "]]>",
                "]]",
                ">",
                '"',
                "'",
                "\r",
                "\r\n",
                "\n",
                "\t",
                "\x00",
                "\x1b[2J",
                "é",
                "🙂",
                "</code>",
                "<![CDATA[",
                "&amp;",
                "\ud800",
                " ",
            ]
        ),
        st.characters(),
    ),
    max_size=12,
).map("".join)


@st.composite
def event_trees(draw) -> tuple[SessionInfo, SessionTree]:
    title = plain_label(draw(st.text(alphabet=string.printable, max_size=20)), 60)  # as the store
    info = SessionInfo("SESSION", title, draw(st.floats(0, 4e9)), 0.0, "model/x", None)
    tree = SessionTree(info.id)
    for n in range(draw(st.integers(1, 12))):
        nodes = [e.id for e in tree.nodes()]
        parent = draw(st.sampled_from([None, *nodes])) if nodes else None
        kind = draw(st.sampled_from(["user", "turn", "result", "kernel"]))
        text = draw(HOSTILE_TEXT)
        if kind == "user":
            body = UserMessage(text)
        elif kind == "turn":
            body = Turn(
                draw(HOSTILE_TEXT),
                **({"code": text} if draw(st.booleans()) else {"answer": text}),
                origin=draw(st.sampled_from(["generated", "edited", "imported"])),
                raw=draw(st.none() | HOSTILE_TEXT),
                meta=draw(
                    st.dictionaries(st.text(max_size=5), st.integers() | HOSTILE_TEXT, max_size=2)
                ),
            )
        elif kind == "result":
            body = Result(
                status=draw(st.sampled_from(["ok", "error", "died"])),
                output=text,
                execution_count=draw(st.none() | st.integers(0, 99)),
                duration=draw(st.none() | st.floats(0, 100)),
            )
        else:
            body = KernelEvent(draw(st.sampled_from(["died", "restarted"])), detail=text)
        event = Event(f"E{n:03d}", info.id, parent, body, draw(st.floats(0, 4e9)))
        tree.add(event)
        if kind == "turn" and draw(st.booleans()):
            value = draw(st.sampled_from(["accepted", "rejected"]))
            tree.add(
                Event(f"V{n:03d}", info.id, event.id, Verdict(value, draw(HOSTILE_TEXT)), event.at)
            )
        if kind == "turn" and draw(st.booleans()):
            tree.add(
                Event(
                    f"R{n:03d}",
                    info.id,
                    event.id,
                    Verdict(draw(st.sampled_from(["up", "down"]))),
                    event.at,
                )
            )
    nodes = [e.id for e in tree.nodes()]
    tree.move_head(draw(st.sampled_from(nodes)))
    return info, tree


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_trees())
def test_any_event_tree_round_trips_through_xml_exactly(info_tree):
    info, tree = info_tree
    info2, tree2 = round_trip(info, tree)
    assert snapshot(info2, tree2) == snapshot(info, tree)
    for turn in tree2.turns():  # a turn the grammar refuses comes in marked, with the reason
        reason = refusal(tree.node(turn.id).body)
        assert turn.body.meta.get(UNADMITTED) == reason
