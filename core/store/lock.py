"""Waiting for the store's write lock: who holds it, what the user is told, when to give up.

Several processes may write one database; SQLite lets one at a time hold the write lock. A
writer that finds it taken waits, but never silently and never for ever: after `NOTICE_AFTER`
seconds its `LockWait` callback hears "waiting for another kyzel-tui process (PID …) …", and after
the store's bounded wait it gives up with a message that says what to do.

The holder's PID comes from the operating system, not from a note the holder leaves: in WAL mode
SQLite's write lock is a POSIX byte lock on the database's `-shm` file (the first lock byte, at
offset 120), and `fcntl(F_GETLK)` tells which process holds it. So a foreign holder (the `sqlite3`
shell, a backup tool) is named too; `/proc/PID/cmdline` says whether it is kyzel-tui.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from core.store.faults import StoreError, friendly_error

NOTICE_AFTER = 1.0
"""Seconds of waiting before the user is told."""
LOCK_WAIT = 30.0
"""Seconds a writer waits for another process's write lock before it gives up."""
LOCK_POLL_MS = 100
"""How long one try for the lock waits inside SQLite before the wait is looked at again."""
BUSY_TIMEOUT_MS = 10_000
"""SQLite's own wait for everything else (reads, checkpoints), put back after each try."""
WAL_WRITE_LOCK = 120
"""The byte of the -shm file that SQLite's WAL write lock covers (WALINDEX_LOCK_OFFSET)."""


def lock_holder(database: Path) -> int | None:
    """The PID of the other process holding `database`'s write lock, if the system can tell."""
    if not sys.platform.startswith("linux"):
        return None  # struct flock's layout below is Linux's
    try:
        fd = os.open(f"{database}-shm", os.O_RDONLY)
    except OSError:
        return None
    try:
        query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, WAL_WRITE_LOCK, 1, 0)
        kind, _, _, _, pid = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    finally:
        os.close(fd)
    return pid if kind != fcntl.F_UNLCK and pid > 0 else None


def program_of(pid: int) -> str:
    """What process `pid` runs, in a word ("" when it cannot be read)."""
    try:
        argv = [
            a.decode(errors="replace")
            for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
    except OSError:
        return ""
    argv = [a for a in argv if a]
    if not argv:
        return ""
    # The program, its script (a console script such as bin/kyzel-tui) or its `-m` module; not
    # any argument, which may well be a path with "kyzel" in it (`sqlite3 .../kyzel.db`).
    names = [os.path.basename(a) for a in argv[:2]]
    if "-m" in argv[1:3]:
        names.append(argv[argv.index("-m") + 1] if argv.index("-m") + 1 < len(argv) else "")
    if any(name.startswith("kyzel") for name in names):
        return "kyzel-tui"
    return names[0]


@dataclass
class LockWait:
    """Where a wait for the write lock stands; `message` is what to show."""

    database: Path
    pid: int | None
    waited: float
    done: bool = False
    """The wait is over (the lock was taken, or the writer gave up): clear the notice."""

    @property
    def holder(self) -> str:
        if self.pid is None:
            return "another process"
        program = program_of(self.pid)
        if program == "kyzel-tui":
            return f"another kyzel-tui process (PID {self.pid})"
        return f"another process (PID {self.pid}{', ' + program if program else ''})"

    @property
    def message(self) -> str:
        return (
            f"waiting for {self.holder} to finish writing {self.database} "
            f"({self.waited:.0f} s so far) …"
        )

    def give_up(self) -> str:
        """The one-line error when the bounded wait is over."""
        return (
            f"gave up after {self.waited:.0f} s waiting for {self.holder} that holds the write "
            f"lock on {self.database}: let it finish (or close it) and try again; nothing that "
            "was already saved is lost"
        )


LockNotice = Callable[[LockWait], None]
"""Told when a writer starts waiting (after `NOTICE_AFTER` s) and when its wait ends."""


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def take_write_lock(
    db: sqlite3.Connection, path: Path, limit: float, notice: LockNotice | None
) -> None:
    """BEGIN IMMEDIATE on `db`, waiting at most `limit` s; `notice` hears of a wait over 1 s."""
    started = time.monotonic()
    wait: LockWait | None = None

    def tell(done: bool) -> None:
        assert wait is not None
        wait.waited, wait.done = time.monotonic() - started, done
        if notice is not None:
            notice(replace(wait))  # a copy: whoever keeps it sees this moment, not a later one

    # Short tries inside SQLite, so that the wait can be told about and bounded here.
    db.execute(f"PRAGMA busy_timeout = {LOCK_POLL_MS}")
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise friendly_error(error, path) from error
            waited = time.monotonic() - started
            if wait is None and (waited >= NOTICE_AFTER or waited >= limit):
                wait = LockWait(path, lock_holder(path), waited)
                tell(False)
            if waited >= limit:
                tell(True)
                raise StoreError(wait.give_up())
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if wait is not None:
        tell(True)


def print_lock_notice(wait: LockWait) -> None:
    """The CLI's notice: one line on stderr when a wait begins."""
    if not wait.done:
        from core.text import safe_text

        print(f"kyzel-tui: {safe_text(wait.message)}", file=sys.stderr, flush=True)
