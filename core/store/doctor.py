"""Checking a store's database, and recovering what a damaged one still holds.

`check` runs SQLite's `integrity_check` on the file, read-only. `recover` follows the idea of
SQLite's `.recover`: read every row that can still be read, and write it into a *new* database
beside the original (never in place: the damaged file stays as it is, for other tools). Rows are
read in one scan where the table allows it, else one by one by their row id, so one damaged page
costs only the rows on it. The copy is a fresh kyzel-tui store (schema, search index), holding the
sessions, the events whose session and parent survived, and the blobs; a session whose head was
lost points at its last surviving node. (The `sqlite3` command-line `.recover` is not used: the
3.40 shell gives up on files whose damage this handles.)
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from core.events import NODE_KINDS, Event, body_from_dict
from core.store.database import Store, StoreError
from core.store.schema import insert_event

MISSES_BEFORE_GIVING_UP = 5000
"""Row ids tried past the last one read, when the table's largest row id cannot be read."""


@dataclass
class Recovery:
    path: Path
    sessions: int
    events: int
    blobs: int
    dropped_events: int
    """Events read but left out: their session or parent (or their own payload) was lost."""


def _open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"no database at {path}: nothing to check")
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    return sqlite3.connect(uri, uri=True)


def check(path: Path) -> str:
    """`ok`, or SQLite's list of what is damaged (one problem per line)."""
    db = _open_read_only(path)
    try:
        return "\n".join(str(row[0]) for row in db.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        db.close()


def _rows(db: sqlite3.Connection, table: str, columns: str, key: str) -> list[tuple]:
    """Every readable row of `table`, in `key` order."""
    try:
        return db.execute(f"SELECT {columns} FROM {table} ORDER BY {key}").fetchall()
    except sqlite3.DatabaseError:
        pass
    try:
        top = db.execute(f"SELECT max({key}) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        top = None
    rows, key_value, misses = [], 1, 0
    while (key_value <= top) if top is not None else (misses < MISSES_BEFORE_GIVING_UP):
        try:
            row = db.execute(
                f"SELECT {columns} FROM {table} WHERE {key} = ?", (key_value,)
            ).fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            misses += 1
        else:
            rows.append(row)
            misses = 0
        key_value += 1
    return rows


def recovered_path(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return path.with_name(f"{path.stem}.recovered-{stamp}{path.suffix}")


def recover(path: Path, target: Path | None = None) -> Recovery:
    """Copy every readable session, event and blob of `path` into a new store at `target`."""
    target = target or recovered_path(path)
    if target.exists():
        raise StoreError(f"{target} already exists: move it away first")
    source = _open_read_only(path)
    try:
        sessions = _rows(source, "sessions", "id, title, created, updated, model, head", "rowid")
        events = _rows(source, "events", "id, session_id, parent_id, kind, at, payload", "seq")
        blobs = _rows(source, "blobs", "sha256, mime, data", "rowid")
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path} is too damaged to read its tables ({error})") from None
    finally:
        source.close()
    if not (sessions or events or blobs):
        raise StoreError(
            f"nothing could be read from {path}: it is beyond recovery here; restore it from a "
            "backup, or move it away to start afresh"
        )
    store = Store(target)
    try:
        kept = _write(store, sessions, events, blobs)
    finally:
        store.close()
    return Recovery(target, len(sessions), kept, len(blobs), len(events) - kept)


def _write(store: Store, sessions: list[tuple], events: list[tuple], blobs: list[tuple]) -> int:
    """Insert what was read; returns how many events were kept."""
    known = {row[0] for row in sessions}
    kept: dict[str, str] = {}  # event id -> kind
    last_node: dict[str, str] = {}
    with store._write() as db:
        for row in sessions:
            db.execute(
                "INSERT INTO sessions(id, title, created, updated, model, head) "
                "VALUES (?,?,?,?,?,NULL)",
                row[:5],
            )
        for event_id, session_id, parent_id, kind, at, payload in events:
            if session_id not in known or (parent_id is not None and parent_id not in kept):
                continue
            try:
                body = body_from_dict(kind, json.loads(payload))
            except (ValueError, TypeError):
                continue  # a damaged payload: the event is lost, its children with it
            insert_event(db, Event(event_id, session_id, parent_id, body, at))
            kept[event_id] = kind
            if kind in NODE_KINDS:
                last_node[session_id] = event_id
        for session_id, _title, _created, _updated, _model, head in sessions:
            head = head if head in kept else last_node.get(session_id)
            db.execute("UPDATE sessions SET head = ? WHERE id = ?", (head, session_id))
        for row in blobs:
            db.execute("INSERT OR IGNORE INTO blobs(sha256, mime, data) VALUES (?,?,?)", row)
    return len(kept)
