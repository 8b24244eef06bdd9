"""A child process for the crash and concurrency tests: appends events, reporting each commit.

    python writer_proc.py DB_PATH SESSION_ID COUNT [app]

Prints one event id per line, flushed, only after the store has committed that event. With
`app`, the events go through a `StoreWriter`, the app's writer thread and its connection.
"""

from __future__ import annotations

import sys

from core.events import Result, Turn, UserMessage
from core.session import Session
from core.store.database import Store
from core.store.writer import StoreWriter


def main() -> None:
    path, session_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(path)
    session = Session.open(store, session_id)
    writer = StoreWriter(path) if sys.argv[4:] == ["app"] else None
    if writer is not None:
        session.writes = writer.store
    bodies = [
        UserMessage("go on " * 20),
        Turn("think " * 30, code="x = 1\n" * 10),
        Result(output="out\n" * 40),
    ]
    for i in range(count):
        parent = None if i % 3 == 0 else session.head
        if writer is None:
            event = session.append(bodies[i % 3], parent=parent)
        else:
            event = writer.submit(session.append, bodies[i % 3], parent).result()
        print(event.id, flush=True)


if __name__ == "__main__":
    main()
