"""A session being worked on: its tree in memory, every change committed to the store first.

`Session` is the one way the agent, the UI and the importers change a session: each method checks
the change against the tree, commits it as one event, and only then updates the tree, so what is in
memory is never ahead of what is on disk.
"""

from __future__ import annotations

from core.events import Event, EventBody, HeadMove, Verdict, VerdictValue
from core.store.database import SessionInfo, Store
from core.tree import SessionTree

HEAD = object()
"""Default parent for `Session.append`: the current head."""


class Session:
    def __init__(self, store: Store, info: SessionInfo, tree: SessionTree):
        self.store = store
        self.info = info
        self.tree = tree
        self.writes: Store | None = None
        """Where appends are committed, when not `store`: a `core.store.writer.StoreWriter`'s
        own connection, so that a write waiting for the lock never holds up reads."""

    @classmethod
    def create(cls, store: Store, title: str = "", model: str = "") -> Session:
        info = store.create_session(title=title, model=model)
        return cls(store, info, SessionTree(info.id))

    @classmethod
    def open(cls, store: Store, session_id: str) -> Session:
        info = store.session(session_id)
        return cls(store, info, SessionTree(info.id, store.events(info.id), head=info.head))

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def head(self) -> str | None:
        return self.tree.head

    def append(self, body: EventBody, parent: str | None | object = HEAD) -> Event:
        """Commit a new event under `parent` (default: the head); a node becomes the new head."""
        parent_id = self.tree.head if parent is HEAD else parent
        event = Event.new(self.id, parent_id, body)  # type: ignore[arg-type]
        self.tree.check(event)
        (self.writes or self.store).append(event)
        self.tree.add(event)
        return event

    def judge(self, turn_id: str, value: VerdictValue, reason: str = "") -> Event:
        """Record a verdict (accepted, rejected, up, down) on a turn."""
        return self.append(Verdict(value=value, reason=reason), parent=turn_id)

    def move_head(self, event_id: str | None, reason: str = "") -> Event | None:
        """Move the head (rollback, branch switch) and record the move."""
        if event_id == self.tree.head:
            return None
        if event_id is None:
            raise ValueError("the head can only move to an event; start a new branch from a root")
        return self.append(HeadMove(previous=self.tree.head, reason=reason), parent=event_id)
