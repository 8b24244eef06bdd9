"""The session tree: events arranged by parent, with a head.

Pure, in-memory and fast: built from the store's events in id order, it answers the questions the
agent, the UI and training ask (children, siblings, the path to the head, branches, leaves, the
verdicts on a turn). It never writes anything; `core.session` pairs it with the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from core.events import Event, Verdict


class TreeError(ValueError):
    """An operation that would break the tree (unknown parent, annotation as a parent, ...)."""


class SessionTree:
    """The events of one session, as a tree of nodes plus annotations on them."""

    def __init__(self, session_id: str, events: Iterable[Event] = (), head: str | None = None):
        self.session_id = session_id
        self.events: dict[str, Event] = {}
        self._children: dict[str | None, list[str]] = {None: []}
        self._annotations: dict[str, list[Event]] = {}
        self._last_node: str | None = None
        self.head: str | None = None
        for event in events:
            self.add(event)
        if head is not None:
            self.move_head(head)

    def __len__(self) -> int:
        return len(self.events)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.events

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events.values())

    def check(self, event: Event) -> None:
        """Raise TreeError if `event` cannot join the tree as it stands."""
        if event.session_id != self.session_id:
            raise TreeError(f"event {event.id} belongs to session {event.session_id}")
        if event.id in self.events:
            raise TreeError(f"event {event.id} is already in the session")
        parent = self.events.get(event.parent_id) if event.parent_id is not None else None
        if event.parent_id is not None and parent is None:
            raise TreeError(f"event {event.id} follows unknown event {event.parent_id}")
        if parent is not None and not parent.is_node:
            raise TreeError(f"event {event.id} follows {event.parent_id}, which is not a node")
        if not event.is_node and parent is None:
            raise TreeError(f"{event.kind} event {event.id} must name the event it is about")
        if event.kind == "verdict" and parent is not None and parent.kind != "turn":
            raise TreeError(f"verdict {event.id} is on {event.parent_id}, which is not a turn")

    def add(self, event: Event) -> None:
        """Add an event already made (by the store, an import); a node becomes the head."""
        self.check(event)
        self.events[event.id] = event
        if event.is_node:
            self._children.setdefault(event.parent_id, []).append(event.id)
            self._children[event.id] = []
            self.head = event.id
        else:
            self._annotations.setdefault(event.parent_id, []).append(event)
            if event.kind == "head":
                self.head = event.parent_id

    def move_head(self, event_id: str | None) -> None:
        if event_id is not None and (event_id not in self.events or not self.is_node(event_id)):
            raise TreeError(f"cannot move the head to {event_id}: not a node of this session")
        self.head = event_id

    def is_node(self, event_id: str) -> bool:
        return self.events[event_id].is_node

    def node(self, event_id: str) -> Event:
        return self.events[event_id]

    def nodes(self) -> list[Event]:
        return [e for e in self.events.values() if e.is_node]

    def roots(self) -> list[str]:
        return list(self._children[None])

    def children(self, event_id: str | None) -> list[str]:
        """The nodes that follow `event_id` (None: the roots), oldest first."""
        return list(self._children.get(event_id, ()))

    def siblings(self, event_id: str) -> list[str]:
        """The nodes under the same parent as `event_id`, itself included, oldest first."""
        return self.children(self.events[event_id].parent_id)

    def sibling_position(self, event_id: str) -> tuple[int, int]:
        """(1-based index, count) of `event_id` among its siblings: shown as "2/3"."""
        siblings = self.siblings(event_id)
        return siblings.index(event_id) + 1, len(siblings)

    def path(self, event_id: str | None = None) -> list[Event]:
        """The nodes from the root to `event_id` (default: the head), both included."""
        current = self.head if event_id is None else event_id
        if current is not None and not self.is_node(current):
            raise TreeError(f"{current} is an annotation, not a node on a path")
        path: list[Event] = []
        while current is not None:
            event = self.events[current]
            path.append(event)
            current = event.parent_id
        path.reverse()
        return path

    def leaves(self) -> list[str]:
        return [e.id for e in self.nodes() if not self._children[e.id]]

    def branches(self) -> list[list[Event]]:
        """One path per leaf, in the order the leaves were made."""
        return [self.path(leaf) for leaf in self.leaves()]

    def latest_leaf(self, event_id: str) -> str:
        """The newest leaf below `event_id`: where a branch switch lands."""
        current = event_id
        while children := self._children[current]:
            current = max(children, key=lambda c: self._newest_below(c))
        return current

    def _newest_below(self, event_id: str) -> str:
        newest, stack = event_id, [event_id]
        while stack:
            current = stack.pop()
            newest = max(newest, current)
            stack.extend(self._children[current])
        return newest

    def annotations(self, event_id: str) -> list[Event]:
        return list(self._annotations.get(event_id, ()))

    def verdicts(self, turn_id: str) -> list[Verdict]:
        return [e.body for e in self._annotations.get(turn_id, ()) if e.kind == "verdict"]

    def decision(self, turn_id: str) -> Verdict | None:
        """The latest accept-or-reject verdict on a turn, if any."""
        decisions = [v for v in self.verdicts(turn_id) if v.value in ("accepted", "rejected")]
        return decisions[-1] if decisions else None

    def rating(self, turn_id: str) -> str | None:
        """The latest rating ("up" or "down") of a turn, if any."""
        ratings = [v.value for v in self.verdicts(turn_id) if v.value in ("up", "down")]
        return ratings[-1] if ratings else None

    def excluded(self, turn_id: str) -> bool:
        """Whether the user keeps this turn (or its whole session) out of training."""
        for event_id in (turn_id, *self.roots()):
            marks = [e.body for e in self._annotations.get(event_id, ()) if e.kind == "exclude"]
            if event_id != turn_id:
                marks = [m for m in marks if m.scope == "session"]
            if marks and marks[-1].excluded:
                return True
        return False

    def turns(self) -> list[Event]:
        return [e for e in self.events.values() if e.kind == "turn"]
