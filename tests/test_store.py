"""The SQLite store: round trips, head, search, rename/delete, blobs, migrations, file safety."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from core.events import Event, KernelEvent, Result, Turn, UserMessage
from core.session import Session
from core.store.database import DB_NAME, SCHEMA_VERSION, Store, StoreError

from conftest import branching_session


def test_every_kind_round_trips_through_the_store(store):
    session = Session.create(store, model="tiny")
    session.append(UserMessage("héllo <b>&"))
    turn = session.append(
        Turn(
            "think",
            code="print('x')\n",
            raw="<thought>think</thought>\n<code>print('x')\n</code>",
            meta={"tokens": {"prompt": 12, "output": 7}, "sampling": {"temperature": 0.7}},
        )
    )
    session.judge(turn.id, "accepted")
    session.append(
        Result(
            status="error",
            output="boom\n",
            error={"name": "ValueError", "value": "x", "traceback": ["a", "b"]},
            outputs=[{"mime": "image/png", "blob": "ab" * 32}],
            execution_count=3,
            duration=0.25,
            truncated=10,
        )
    )
    session.append(KernelEvent("died", detail="killed for memory"))
    session.append(Turn("done", answer="it works"))
    reopened = Session.open(store, session.id)
    assert [(e.id, e.parent_id, e.body, e.at) for e in reopened.tree] == [
        (e.id, e.parent_id, e.body, e.at) for e in session.tree
    ]
    assert reopened.head == session.head
    assert reopened.info.model == "tiny"


def test_reopened_session_has_the_same_tree_branches_and_verdicts(store):
    session = branching_session(store)
    reopened = Session.open(store, session.id)
    assert reopened.head == session.head
    assert [[e.id for e in b] for b in reopened.tree.branches()] == [
        [e.id for e in b] for b in session.tree.branches()
    ]
    for turn in session.tree.turns():
        assert reopened.tree.decision(turn.id) == session.tree.decision(turn.id)


def test_head_moves_are_events_and_survive_a_reopen(store):
    session = Session.create(store)
    user = session.append(UserMessage("hi"))
    session.append(Turn("a", code="1"))
    move = session.move_head(user.id, reason="rollback")
    assert move.kind == "head" and move.body.previous != user.id
    assert store.session(session.id).head == user.id
    assert Session.open(store, session.id).head == user.id
    assert session.move_head(user.id) is None  # no move, nothing written


def test_a_refused_append_writes_nothing(store):
    session = Session.create(store)
    session.append(UserMessage("hi"))
    before = len(store.events(session.id))
    with pytest.raises(ValueError):
        session.append(UserMessage("x"), parent="NOT-AN-EVENT")
    assert len(store.events(session.id)) == before


def test_title_comes_from_the_first_message_and_rename_changes_it(store):
    session = Session.create(store)
    session.append(UserMessage("   Plot the\nsales   of 2024 " + "x" * 100))
    title = store.session(session.id).title
    assert title.startswith("Plot the sales of 2024") and len(title) == 60
    store.rename(session.id, "Sales plot")
    assert store.session(session.id).title == "Sales plot"
    with pytest.raises(StoreError):
        store.rename("NOPE", "x")


def test_full_text_search_finds_sessions_by_event_text_and_title(store):
    first = Session.create(store, title="alpha")
    first.append(UserMessage("read the parquet file"))
    first.append(Turn("use pandas", code="pd.read_parquet('x.parquet')"))
    second = Session.create(store, title="beta parquet notes")
    second.append(UserMessage("something else"))
    assert {s.id for s in store.sessions(search="read_parquet")} == {first.id}
    assert {s.id for s in store.sessions(search="parquet")} == {first.id, second.id}
    assert [h.session_id for h in store.search("pandas")] == [first.id]
    for hostile in ['"', "a AND (", "*", "NEAR(", "'; DROP TABLE events; --", "%_"]:
        store.sessions(search=hostile)
        store.search(hostile)
    assert store.session(first.id).events == 2


def test_sessions_list_newest_first(store):
    old = Session.create(store)
    new = Session.create(store)
    old.append(UserMessage("touch the old one"))
    assert [s.id for s in store.sessions()][:2] == [old.id, new.id]
    assert len(store.sessions(limit=1)) == 1


def test_delete_removes_one_session_and_nothing_else(store):
    keep = branching_session(store)
    gone = branching_session(store)
    store.delete_session(gone.id)
    assert [s.id for s in store.sessions()] == [keep.id]
    assert store.events(gone.id) == []
    assert store.search("matplotlib")[0].session_id == keep.id
    assert len(store.events(keep.id)) == len(keep.tree)
    with pytest.raises(StoreError):
        store.delete_session(gone.id)
    assert store.integrity_check() == "ok"


def test_resolve_by_id_prefix_and_title(store):
    a = Session.create(store, title="one")
    b = Session.create(store, title="two")
    assert store.resolve(a.id) == a.id
    assert store.resolve(b.id.lower()) == b.id
    assert store.resolve("two") == b.id
    with pytest.raises(StoreError, match="matches 2 sessions"):
        store.resolve(a.id[:8])
    with pytest.raises(StoreError, match="no session matches"):
        store.resolve("zzz")


def test_blobs_are_kept_once(store):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    sha = store.put_blob(png, "image/png")
    assert store.put_blob(png, "image/png") == sha
    assert store.blob(sha) == (png, "image/png")
    with pytest.raises(StoreError):
        store.blob("0" * 64)


def test_database_is_private_and_in_wal_mode(tmp_path):
    home = tmp_path / "new" / "home"
    with Store.open(home) as store:
        Session.create(store).append(UserMessage("secret"))
        db = home / DB_NAME
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
        for suffix in ("-wal", "-shm"):
            side = db.with_name(DB_NAME + suffix)
            if side.exists():
                assert stat.S_IMODE(os.stat(side).st_mode) == 0o600
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_kyzel_home_environment_variable_picks_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KYZEL_HOME", str(tmp_path / "elsewhere"))
    with Store.open() as store:
        assert store.path == tmp_path / "elsewhere" / DB_NAME


def test_migration_from_version_1_keeps_events_and_makes_them_searchable(tmp_path):
    path = tmp_path / DB_NAME
    with Store(path, migrate_to=1) as old:
        assert old.schema_version == 1
        payload = json.dumps({"text": "find the needle in the haystack"})
        old._db.execute("INSERT INTO sessions VALUES ('S1', 'old', 1.0, 1.0, '', 'E1')")
        old._db.execute(
            "INSERT INTO events(id, session_id, parent_id, kind, at, payload) "
            "VALUES ('E1', 'S1', NULL, 'user', 1.0, ?)",
            (payload,),
        )
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [h.event_id for h in store.search("needle")] == ["E1"]
        session = Session.open(store, "S1")
        assert session.tree.path()[0].body == UserMessage("find the needle in the haystack")


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / DB_NAME
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer kyzel-tui"):
        Store(path)


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path):
    path = tmp_path / DB_NAME
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a kyzel-tui database"):
        Store(path)


def test_unknown_payload_keys_from_a_newer_version_are_kept_in_meta(store):
    session = Session.create(store)
    store._db.execute(
        "INSERT INTO events(id, session_id, parent_id, kind, at, payload) VALUES (?,?,?,?,?,?)",
        (
            "E9",
            session.id,
            None,
            "turn",
            1.0,
            json.dumps({"thought": "t", "code": "c", "future_field": 7}),
        ),
    )
    event: Event = store.events(session.id)[0]
    assert event.body == Turn("t", code="c", meta={"future_field": 7})
