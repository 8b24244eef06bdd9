"""The store: every session and event in one SQLite database, append-only.

One database (WAL mode, file mode 0600) under the user data directory holds all sessions. Each
event is one committed transaction before anyone is told it exists, so killing the process at any
moment loses nothing that was reported as done. Several processes may write at once: writers take
the write lock up front (`BEGIN IMMEDIATE`) and wait for it within a bound (`lock_wait`), telling
`lock_notice` after a second whom they wait for (`core.store.lock`), then give up saying so.

Events are never updated or deleted by normal use; a session is deleted only on explicit request.
The store knows rows and transactions (the tables and their migrations: `core.store.schema`);
the tree and its rules live in `core.tree`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.events import Event, UserMessage
from core.ids import new_id
from core.paths import data_home
from core.store.faults import StoreError, friendly_error, prepare_folder, why_unwritable
from core.store.lock import BUSY_TIMEOUT_MS, LOCK_WAIT, LockNotice, take_write_lock
from core.store.schema import (
    INSERT_SESSION,
    MIGRATIONS,
    SCHEMA_VERSION,
    fts_phrase,
    insert_event,
    like_pattern,
)
from core.text import plain_label

DB_NAME = "kyzel.db"
TITLE_LIMIT = 500
"""The longest title or model name kept, in characters (an import's are cut to it)."""


@dataclass
class SessionInfo:
    id: str
    title: str
    created: float
    updated: float
    model: str
    head: str | None
    events: int = 0


@dataclass
class SearchHit:
    session_id: str
    event_id: str
    snippet: str


_default_lock_notice: LockNotice | None = None


def set_default_lock_notice(notice: LockNotice | None) -> None:
    """The `lock_notice` of every store opened from now on (the CLI prints it to stderr)."""
    global _default_lock_notice
    _default_lock_notice = notice


class Store:
    """All sessions and their events, in one SQLite file."""

    lock_wait: float = LOCK_WAIT

    def __init__(
        self, path: Path | str, *, synchronous: str = "FULL", migrate_to: int | None = None
    ):
        self.path = Path(path)
        self._lock = threading.RLock()
        self.lock_notice: LockNotice | None = _default_lock_notice
        """Told when a write waits for another process's lock (and when the wait ends)."""
        self._db = self._connect(synchronous)
        self._migrate(SCHEMA_VERSION if migrate_to is None else migrate_to)

    @classmethod
    def open(cls, home: Path | str | None = None) -> Store:
        """The store under `home` (default: `core.paths.default_home()`), made on first use."""
        return cls(data_home(home) / DB_NAME)

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        prepare_folder(self.path.parent)
        try:
            if not self.path.exists():
                # SQLite gives the -wal and -shm files the database file's mode: 0600 for all.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            elif self.path.stat().st_mode & 0o077 and self.path.stat().st_uid == os.getuid():
                with contextlib.suppress(OSError):  # a read-only disk: reading is still fine
                    os.chmod(self.path, 0o600)
        except OSError as error:
            problem = why_unwritable(self.path) or error.strerror
            raise StoreError(f"cannot open {self.path}: {problem}.") from None
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a database: move it away")
        try:
            db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {synchronous}")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            code = getattr(error, "sqlite_errorname", "") or ""
            if code == "SQLITE_NOTADB" or "file is not a database" in str(error):
                raise StoreError(
                    f"{self.path} is not a kyzel-tui database ({error}). "
                    "Move it away or pass --home DIR."
                ) from None
            if _read_only_fs(self.path):
                return self._connect_immutable()
            raise friendly_error(error, self.path) from None
        return db

    def _connect_immutable(self) -> sqlite3.Connection:
        """On a read-only disk nobody can change the file: read it (writes fail, saying why)."""
        uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?immutable=1"
        try:
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise friendly_error(error, self.path) from None
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._reading() as db:
            return db.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read; a damaged or unreadable database comes out as a StoreError that says so."""
        try:
            yield self._db
        except sqlite3.Error as error:
            raise friendly_error(error, self.path) from None

    def _migrate(self, target: int) -> None:
        if self.schema_version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer kyzel-tui (schema {self.schema_version}, "
                f"this one knows {SCHEMA_VERSION}): upgrade kyzel-tui to open it."
            )
        if self.schema_version >= target:
            return
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have
            for step in range(version, target):
                MIGRATIONS[step](db)
            db.execute(f"PRAGMA user_version = {target}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the write lock from its start (waited for, bounded)."""
        with self._lock:
            take_write_lock(self._db, self.path, self.lock_wait, self.lock_notice)
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise friendly_error(error, self.path) from error
                raise

    # Sessions

    def create_session(
        self,
        title: str = "",
        model: str = "",
        *,
        session_id: str | None = None,
        created: float | None = None,
    ) -> SessionInfo:
        now = time.time() if created is None else created
        title, model = _title_from(title), _title_from(model, width=200)
        info = SessionInfo(session_id or new_id(), title, now, now, model, None)
        with self._write() as db:
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (info.id,)).fetchone():
                raise StoreError(f"a session with id {info.id} already exists")
            db.execute(
                INSERT_SESSION,
                (info.id, title, now, now, model, None),
            )
        return info

    def session(self, session_id: str) -> SessionInfo:
        with self._reading() as db:
            row = db.execute(
                "SELECT s.id, s.title, s.created, s.updated, s.model, s.head, "
                "(SELECT count(*) FROM events e WHERE e.session_id = s.id) FROM sessions s "
                "WHERE s.id = ?",
                (session_id,),
            ).fetchone()
        if row is None:
            raise StoreError(f"no session {session_id}: `kyzel-tui sessions` lists them")
        return SessionInfo(*row)

    def sessions(self, search: str | None = None, limit: int | None = None) -> list[SessionInfo]:
        """Sessions, newest first; with `search`, those whose title or events match it."""
        query = (
            "SELECT s.id, s.title, s.created, s.updated, s.model, s.head, "
            "(SELECT count(*) FROM events e WHERE e.session_id = s.id) FROM sessions s"
        )
        params: list[object] = []
        if search:
            query += (
                " WHERE s.title LIKE ? ESCAPE '\\' OR s.id IN "
                "(SELECT session_id FROM event_text WHERE event_text MATCH ?)"
            )
            params += [like_pattern(search), fts_phrase(search)]
        query += " ORDER BY s.updated DESC, s.id DESC"
        if limit:
            query += f" LIMIT {int(limit)}"
        with self._reading() as db:
            return [SessionInfo(*row) for row in db.execute(query, params)]

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        """Events whose text contains all the words of `text`, best matches first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT session_id, event_id, snippet(event_text, 0, '', '', '…', 16) "
                "FROM event_text WHERE event_text MATCH ? ORDER BY rank LIMIT ?",
                (fts_phrase(text), limit),
            )
            return [SearchHit(*row) for row in rows]

    def rename(self, session_id: str, title: str) -> None:
        title = _title_from(title, width=200)
        with self._write() as db:
            if not db.execute(
                "UPDATE sessions SET title = ? WHERE id = ?", (title, session_id)
            ).rowcount:
                raise StoreError(f"no session {session_id} to rename")

    def delete_session(self, session_id: str) -> None:
        """Delete a session and its events for good. Only ever on the user's explicit request."""
        with self._write() as db:
            db.execute("DELETE FROM event_text WHERE session_id = ?", (session_id,))
            # One statement: SQLite checks the parent references at its end, when all are gone.
            db.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
            if not db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount:
                raise StoreError(f"no session {session_id} to delete")

    def resolve(self, reference: str) -> str:
        """A session id from a full id, a unique id prefix or an exact title."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id FROM sessions WHERE id = ? OR id LIKE ? ESCAPE '\\' OR title = ?",
                (reference.upper(), like_pattern(reference.upper(), anywhere=False), reference),
            ).fetchall()
        ids = sorted({row[0] for row in rows})
        if reference.upper() in ids:
            return reference.upper()
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise StoreError(f"no session matches {reference!r}: `kyzel-tui sessions` lists them")
        raise StoreError(f"{reference!r} matches {len(ids)} sessions: give more of the id")

    # Events

    def append(self, event: Event) -> None:
        """Commit one event (and move the session's head) in one transaction."""
        with self._write() as db:
            if not db.execute(
                "SELECT 1 FROM sessions WHERE id = ?", (event.session_id,)
            ).fetchone():
                raise StoreError(
                    f"session {event.session_id} was deleted (by another kyzel-tui process?): "
                    "nothing more can be saved to it. Start a new session (ctrl+s lists them)"
                )
            insert_event(db, event)
            if event.is_node or event.kind == "head":
                head = event.id if event.is_node else event.parent_id
                db.execute(
                    "UPDATE sessions SET head = ?, updated = max(updated, ?) WHERE id = ?",
                    (head, event.at, event.session_id),
                )
            else:
                db.execute(
                    "UPDATE sessions SET updated = max(updated, ?) WHERE id = ?",
                    (event.at, event.session_id),
                )
            if isinstance(event.body, UserMessage):
                db.execute(
                    "UPDATE sessions SET title = ? WHERE id = ? AND title = ''",
                    (_title_from(event.body.text), event.session_id),
                )

    def insert_session(
        self, info: SessionInfo, events: list[Event], blobs: dict[str, tuple[bytes, str]]
    ) -> None:
        """Add a whole session (an import) in one transaction: all of it, or nothing."""
        title = _title_from(info.title, TITLE_LIMIT) or next(
            (_title_from(e.body.text) for e in events if isinstance(e.body, UserMessage)), ""
        )
        model = _title_from(info.model, TITLE_LIMIT)
        with self._write() as db:
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (info.id,)).fetchone():
                raise StoreError(f"a session with id {info.id} already exists")
            db.execute(
                INSERT_SESSION,
                (info.id, title, info.created, info.updated, model, info.head),
            )
            for sha, (data, mime) in blobs.items():
                db.execute(
                    "INSERT OR IGNORE INTO blobs(sha256, mime, data) VALUES (?, ?, ?)",
                    (sha, mime, data),
                )
            for event in events:
                insert_event(db, event)

    def has_event(self, event_id: str) -> bool:
        with self._reading() as db:
            return (
                db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is not None
            )

    def events(self, session_id: str) -> list[Event]:
        """The session's events in the order they were committed (parents before children)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id, parent_id, kind, at, payload FROM events WHERE session_id = ? "
                "ORDER BY seq",
                (session_id,),
            ).fetchall()
        return [Event.stored(i, session_id, p, k, a, b) for i, p, k, a, b in rows]

    # Blobs

    def put_blob(self, data: bytes, mime: str) -> str:
        """Keep `data` (an image, say) once; returns its sha256, which results refer to."""
        digest = hashlib.sha256(data).hexdigest()
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO blobs(sha256, mime, data) VALUES (?, ?, ?)",
                (digest, mime, data),
            )
        return digest

    def blob(self, sha256: str) -> tuple[bytes, str]:
        with self._reading() as db:
            row = db.execute("SELECT data, mime FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            raise StoreError(f"no blob {sha256}")
        return bytes(row[0]), row[1]

    def integrity_check(self) -> str:
        """ "ok", or SQLite's description of what is damaged (one problem per line)."""
        try:
            rows = self._db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as error:
            return str(error)
        return "\n".join(str(row[0]) for row in rows)


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _title_from(text: str, width: int = 60) -> str:
    """One line of at most `width` characters, without control or bidi characters."""
    return plain_label(text, width)
