"""`kyzel-tui doctor [--recover]`: check the store's database; write a recovered copy beside it.

The check is SQLite's `integrity_check`, read-only. `--recover` never touches the original: it
writes a new database next to it (`core.store.doctor`) and says how to switch to it.
"""

from __future__ import annotations

import argparse
import sys

from core.paths import data_home
from core.store.database import DB_NAME, StoreError
from core.text import safe_text


def doctor(args: argparse.Namespace) -> int:
    from core.store.doctor import check, recover

    home = data_home(args.home)
    path = home / DB_NAME
    try:
        verdict = check(path)
        if verdict == "ok":
            print(f"{path}: ok (SQLite integrity_check found nothing wrong)")
            if not args.recover:
                return 0
        else:
            problems = verdict.splitlines()
            print(f"{path}: damaged ({len(problems)} problems):")
            for line in problems[:10]:
                print(f"  {safe_text(line)}")
            if len(problems) > 10:
                print(f"  … and {len(problems) - 10} more")
        if not args.recover:
            print("run `kyzel-tui doctor --recover` to write a recovered copy beside it")
            return 1
        done = recover(path)
    except (StoreError, OSError) as error:
        print(f"kyzel-tui: {safe_text(str(error))}", file=sys.stderr)
        return 1
    print(
        f"recovered {done.sessions} sessions, {done.events} events and {done.blobs} blobs into "
        f"{done.path} ({done.dropped_events} events left out: their session or parent was lost)"
        f"\nthe original is untouched; to use the copy, with no kyzel-tui running: move {DB_NAME} "
        f"and any {DB_NAME}-wal and {DB_NAME}-shm out of {home}, then rename the copy {DB_NAME}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("doctor", help="check the database; --recover writes a repaired copy")
    parser.add_argument(
        "--recover", action="store_true", help="copy what can be read into a new file beside it"
    )
    parser.set_defaults(handler=doctor)
