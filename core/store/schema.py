"""The database's tables, how a schema version becomes the next, and the SQL text of rows.

`MIGRATIONS[i]` brings a database from schema version i to i + 1 (version 1: sessions, events and
blobs; version 2: the FTS5 index of event text); `SCHEMA_VERSION` is the newest. `insert_event`
writes an event's row and its searchable text, as `core.store.database.Store.append`, an import
and `core.store.doctor`'s repair all do. `fts_phrase` and `like_pattern` turn user text into
FTS5 phrases and LIKE patterns in which no character is taken as syntax.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from core.events import Event, body_from_dict, body_to_dict, searchable_text


def _v1_tables(db: sqlite3.Connection) -> None:
    # One execute per statement: executescript would commit the migration's transaction.
    db.execute(
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            head TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            session_id TEXT NOT NULL REFERENCES sessions(id),
            parent_id TEXT REFERENCES events(id),
            kind TEXT NOT NULL,
            at REAL NOT NULL,
            payload TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX events_by_session ON events(session_id, seq)")
    db.execute(
        "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, mime TEXT NOT NULL, data BLOB NOT NULL)"
    )


def _v2_search(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE VIRTUAL TABLE event_text USING fts5("
        "text, event_id UNINDEXED, session_id UNINDEXED, tokenize='unicode61')"
    )
    rows = db.execute("SELECT id, session_id, kind, payload FROM events ORDER BY seq").fetchall()
    for event_id, session_id, kind, payload in rows:
        index_text(db, event_id, session_id, kind, json.loads(payload))
    db.execute("CREATE INDEX sessions_by_update ON sessions(updated)")


INSERT_SESSION = (
    "INSERT INTO sessions(id, title, created, updated, model, head) VALUES (?,?,?,?,?,?)"
)

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1_tables, _v2_search]
"""Migration i brings a database from schema version i to i + 1. Append, never edit."""
SCHEMA_VERSION = len(MIGRATIONS)


def index_text(
    db: sqlite3.Connection, event_id: str, session_id: str, kind: str, payload: dict
) -> None:
    """Put an event's searchable text (if any) in the FTS5 index."""
    text = searchable_text(body_from_dict(kind, payload))
    if text:
        clean = text.encode("utf-8", "replace").decode("utf-8")
        db.execute(
            "INSERT INTO event_text(text, event_id, session_id) VALUES (?, ?, ?)",
            (clean, event_id, session_id),
        )


def insert_event(db: sqlite3.Connection, event: Event) -> None:
    """Write one event's row and index its text (inside the caller's transaction)."""
    payload = body_to_dict(event.body)
    db.execute(
        "INSERT INTO events(id, session_id, parent_id, kind, at, payload) VALUES (?,?,?,?,?,?)",
        (event.id, event.session_id, event.parent_id, event.kind, event.at, json.dumps(payload)),
    )
    index_text(db, event.id, event.session_id, event.kind, payload)


def fts_phrase(text: str) -> str:
    """User text as FTS5 phrases (one per word), so that no character is taken as syntax."""
    words = text.split()
    return " ".join('"' + word.replace('"', '""') + '"' for word in words) or '""'


def like_pattern(text: str, anywhere: bool = True) -> str:
    """User text as a LIKE pattern (ESCAPE '\\'), anywhere in the value or at its start."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%" if anywhere else f"{escaped}%"
