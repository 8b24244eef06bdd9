"""The main screen's writes: each event is queued on the app's `StoreWriter` when the user acts
(so events are committed in the order the user acted), awaited in a worker, and shown as done
only once committed. A write that waits on another process's lock says so in the status bar; one
that fails says why, and what it was carrying is not lost (a message goes back in the box).
Mixed into `MainScreen`.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from textual import work

from core.store.database import StoreError
from core.store.lock import LockWait, lock_holder
from core.store.writer import FAILED, StoreWriter

WAITING = "waiting for the database (another kyzel-tui process is writing to it)…"
"""The notice while a write waits, when the system cannot tell who holds the lock."""


def waiting_notice(database) -> str:
    """The notice while a write waits, naming the lock's holder as the command line does (the
    lookup is one `fcntl` call and a read of /proc: cheap enough for the event loop)."""
    pid = lock_holder(database)
    if pid is None:
        return WAITING
    return f"waiting for {LockWait(database, pid, 0).holder} to finish writing to the database…"


class Writing:
    """Queue, await and report the screen's writes."""

    waiting_notice = WAITING
    """What the status bar says while a write waits for another process's lock."""

    in_flight: set[concurrent.futures.Future]
    """Writes that change what the keys act on (a message, a turn, a move of the head), queued
    and not yet awaited to their end: those keys wait for them (the screen's `__init__` sets it)."""

    def writing(self) -> bool:
        return bool(self.in_flight)

    def commit(
        self, fn: Callable[..., Any], *args: Any, moves: bool = True
    ) -> concurrent.futures.Future:
        """Queue a write now, behind those asked for before (without a writer: done here).
        `moves=False`: the write changes nothing the keys act on (a rating), and they do not
        wait for it."""
        writer: StoreWriter | None = self.agent.writer
        if writer is not None:
            future = writer.submit(fn, *args)
        else:
            future = concurrent.futures.Future()
            try:
                future.set_result(fn(*args))
            except Exception as error:
                future.set_exception(error)
        if moves:
            self.in_flight.add(future)
            self.at_rest()
        return future

    async def committed(self, future: concurrent.futures.Future) -> Any:
        """The result of a queued write once committed, or FAILED (the notice says why)."""
        try:
            if self.agent.writer is None:
                return future.result()
            return await self.agent.writer.wait(future, on_slow=self._waiting_for_database)
        except StoreError as error:
            self.store_failed(error)
            return FAILED
        finally:
            if future in self.in_flight:
                self.in_flight.discard(future)
                self.at_rest()

    def track(self, future: concurrent.futures.Future) -> None:
        """Await a write queued elsewhere (by the app, on the screen's writer) like one of ours."""
        self.in_flight.add(future)
        self.at_rest()
        self.after_write(future)

    def _waiting_for_database(self, waiting: bool) -> None:
        if waiting:
            self.waiting_notice = waiting_notice(self.agent.writer.store.path)
        self.db_waiting = waiting
        self.show_progress()

    @work(group="store")
    async def after_write(self, future: concurrent.futures.Future) -> Any:
        """Await a queued write (its failure is said); its result, or FAILED."""
        return await self.committed(future)

    def store_failed(self, error: StoreError) -> None:
        self.notify_error(error)
        if "deleted" in str(error) and self.app.screen is self and not self.quitting:
            self.action_sessions()  # nothing more can be saved here: offer another session

    @work(group="store")
    async def said(self, text: str, future: concurrent.futures.Future) -> None:
        if await self.committed(future) is FAILED:
            # Not saved, so not sent: the text goes back in the box, ahead of anything newer.
            rest = self.prompt.value
            self.prompt.value = text + (" " + rest if rest else "")
            self.prompt.cursor_position = len(self.prompt.value)
            self.notify("Your message was not sent; it is back in the box.", severity="warning")
            return
        self.refresh_view()
        self.generate()
