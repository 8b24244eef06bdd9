"""One thread that commits a session's writes, in the order they were asked for.

A write waits for SQLite's write lock, and another process may hold it for seconds: done on the
app's event loop, that wait froze the screen. `StoreWriter` runs each write in its own thread,
one at a time and first come first served (so events are committed in the order the user acted),
on its own connection (a read on the app's connection never queues behind a write that waits).
Callers await the write and show its effect once it is committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from core.ids import new_id
from core.session import Session
from core.store.database import SessionInfo, Store, StoreError
from core.tree import SessionTree

T = TypeVar("T")

FAILED = object()
"""What a caller's wait returns for a write that failed (and was shown to the user)."""
SLOW = 1.0
"""Seconds a write may take before the caller is told it waits (on another process's lock)."""


class StoreWriter:
    """A single writer thread with its own connection to the database at `path`."""

    def __init__(self, path: Path | str):
        # NORMAL in WAL mode: a commit reaches the OS, not the disk (a kill loses nothing, a
        # power cut may lose the last commits); FULL's fsync took 8 ms a write, 250 under load.
        self.store = Store(path, synchronous="NORMAL")
        """The writer's connection: sessions that write through this writer append with it."""
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="kyzel-store-writer"
        )
        self._count = threading.Lock()
        self.pending = 0
        """Writes asked for and not yet committed (or failed)."""

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue `fn(*args)` behind every write asked for before it; returns at once."""
        with self._count:
            self.pending += 1
        future = self._pool.submit(fn, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: concurrent.futures.Future) -> None:
        with self._count:
            self.pending -= 1

    async def wait(
        self,
        future: concurrent.futures.Future[T],
        on_slow: Callable[[bool], None] | None = None,
    ) -> T:
        """The result of a submitted write; `on_slow(True)` once it has taken `SLOW` seconds,
        `on_slow(False)` when it is over. Its exception (a StoreError) is raised here."""
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), SLOW)
        except TimeoutError:
            pass
        if on_slow is not None:
            on_slow(True)
        try:
            return await waiting
        finally:
            if on_slow is not None:
                on_slow(False)

    async def call(
        self, fn: Callable[..., T], *args: Any, on_slow: Callable[[bool], None] | None = None
    ) -> T:
        return await self.wait(self.submit(fn, *args), on_slow)

    def put_blob(self, data: bytes, mime: str) -> str:
        """Queue a blob (a kernel's image) and return its sha256 at once: the result that refers
        to it is queued after it, so the blob is committed first."""
        self.submit(self.store.put_blob, data, mime)
        return hashlib.sha256(data).hexdigest()

    def new_session(self, store: Store) -> tuple[Session, concurrent.futures.Future]:
        """A new session, usable at once (reading through `store`); its row is queued ahead of
        any of its events. The future says when (and whether) it was committed."""
        now = time.time()
        info = SessionInfo(new_id(), "", now, now, "", None)
        create = functools.partial(self.store.create_session, session_id=info.id, created=now)
        return Session(store, info, SessionTree(info.id)), self.submit(create)

    def forget_if_empty(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Queue the deletion of a session that holds no event (once what was queued before is
        committed, so a message still waiting for the lock keeps its session)."""
        return self.submit(self._forget_if_empty, session_id)

    def _forget_if_empty(self, session_id: str) -> bool:
        try:
            self.store.session(session_id)
        except StoreError:
            return False  # already deleted (from the sessions screen, or by another process)
        if self.store.events(session_id):
            return False
        self.store.delete_session(session_id)
        return True

    def close(self) -> None:
        """Commit what is queued, then close the connection."""
        self._pool.shutdown(wait=True)
        self.store.close()
