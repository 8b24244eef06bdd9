"""What went wrong with the store's files, in words a user can act on.

SQLite reports a full disk, a read-only mount, a missing permission and a damaged file with a
handful of error codes (and often just "disk I/O error"). `friendly_error` looks at the code and
at the file system to name the real cause and what to do; a healthy database is never called
"not a kyzel-tui database". `prepare_folder` makes the data folder private (0700), tightening an
existing one of ours, and refuses a file where a folder should be.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


class StoreError(RuntimeError):
    """A store problem, with what to do about it in the message."""


def _free_bytes(directory: Path) -> int | None:
    try:
        stat = os.statvfs(directory)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def why_unwritable(path: Path) -> str | None:
    """Why `path` (a database, or the folder it goes in) cannot be written, if we can tell."""
    existing = path.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent  # a folder still to be made: its nearest ancestor decides
    free = _free_bytes(existing)
    if free is not None and free < 64 * 1024:
        return (
            f"the disk holding {existing} is full. Free some disk space and try again; "
            "nothing that was already saved is lost"
        )
    try:
        readonly_fs = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:
        readonly_fs = False
    if readonly_fs:
        return (
            f"{existing} is on a read-only file system. Remount it read-write, or pass "
            "--home DIR (or set KYZEL_HOME) to keep the data elsewhere"
        )
    for target in (existing, path):
        if target.exists() and not os.access(target, os.W_OK):
            return (
                f"no permission to write {target}. Fix its permissions (it should belong to "
                "you, mode 0700 for the folder and 0600 for the database), or pass --home DIR"
            )
    return None


def friendly_error(error: sqlite3.Error, path: Path) -> StoreError:
    """A StoreError that names the real cause of `error` and what to do about it."""
    text = str(error)
    code = getattr(error, "sqlite_errorname", "") or ""
    if code.startswith("SQLITE_CONSTRAINT_FOREIGNKEY"):
        return StoreError(
            f"cannot save to {path}: the session or the event this follows is gone (deleted by "
            "another kyzel-tui process?). Start a new session; nothing else was changed"
        )
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
        return StoreError(
            f"{path} is damaged ({text}). Run `kyzel-tui doctor --recover` to write a "
            "recovered copy beside it, or pass --home DIR to start afresh elsewhere"
        )
    if code.startswith(
        ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")
    ) or any(
        word in text for word in ("disk is full", "disk I/O error", "readonly", "unable to open")
    ):
        problem = why_unwritable(path)
        if problem is not None:
            return StoreError(f"cannot write to {path}: {problem}.")
        if code.startswith("SQLITE_FULL") or "disk is full" in text:
            return StoreError(
                f"cannot write to {path}: the disk is full. Free some disk space and try again; "
                "nothing that was already saved is lost."
            )
        if "readonly" in text or code.startswith("SQLITE_READONLY"):
            return StoreError(f"{path} is read-only: check its permissions or pass --home DIR.")
        return StoreError(
            f"cannot use {path}: {text}. Check the disk and the folder's permissions, or pass "
            "--home DIR; nothing that was already saved is lost."
        )
    return StoreError(f"store error in {path}: {text}")


def prepare_folder(directory: Path) -> None:
    """Make the data folder (0700), or tighten an existing one of ours; refuse a non-folder."""
    if directory.exists() and not directory.is_dir():
        raise StoreError(
            f"{directory} is a file, not a folder: point --home (or KYZEL_HOME) at a folder"
        )
    try:
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o700)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
        elif directory.stat().st_uid == os.getuid() and directory.stat().st_mode & 0o077:
            with contextlib.suppress(OSError):  # on a read-only disk it stays as it is
                os.chmod(directory, 0o700)  # sessions hold code, outputs and paths: ours alone
    except NotADirectoryError:
        raise StoreError(
            f"a part of {directory} is a file, not a folder: point --home (or KYZEL_HOME) at a "
            "folder"
        ) from None
    except OSError as error:
        problem = why_unwritable(directory / "kyzel.db") or (
            f"{error.strerror}. Pass --home DIR (or set KYZEL_HOME) to a folder you can write"
        )
        raise StoreError(f"cannot create the data folder {directory}: {problem}.") from None
