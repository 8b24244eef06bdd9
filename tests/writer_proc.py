"""A child process for the crash and concurrency tests: appends events, reporting each commit.

    python writer_proc.py DB_PATH SESSION_ID COUNT

Prints one event id per line, flushed, only after the store has committed that event.
"""

from __future__ import annotations

import sys

from core.events import Result, Turn, UserMessage
from core.session import Session
from core.store.database import Store


def main() -> None:
    path, session_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(path)
    session = Session.open(store, session_id)
    bodies = [
        UserMessage("go on " * 20),
        Turn("think " * 30, code="x = 1\n" * 10),
        Result(output="out\n" * 40),
    ]
    for i in range(count):
        event = session.append(bodies[i % 3], parent=None if i % 3 == 0 else session.head)
        print(event.id, flush=True)


if __name__ == "__main__":
    main()
