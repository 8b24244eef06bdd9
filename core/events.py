"""Events: what happens in a session, as plain dataclasses.

A session is a tree of events stored append-only. Each event has an id (time-sortable), the
session id, a parent id, a creation time and a body; the body's type is the event's kind.

Two families of kinds:
- *nodes* (`user`, `turn`, `result`, `kernel`) are the conversation: the path from the root to
  the head is what the model sees, and a node's parent is the node it follows;
- *annotations* (`verdict`, `head`) say something about a node: a verdict's parent is the turn it
  judges, a head move's parent is the node the head moved to. They are never on a path and never
  anybody's child in the tree.

This module knows nothing about storage or rendering; it only says what an event is.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from core.ids import new_id
from grammars.turn import check_code_xor_answer

Origin = Literal["generated", "edited", "imported"]
ResultStatus = Literal["ok", "error", "interrupted", "timeout", "died", "aborted"]
VerdictValue = Literal["accepted", "rejected", "up", "down"]
KernelState = Literal["started", "restarted", "died", "replayed", "background"]

RESULT_STATUSES: tuple[str, ...] = ("ok", "error", "interrupted", "timeout", "died", "aborted")
VERDICT_VALUES: tuple[str, ...] = ("accepted", "rejected", "up", "down")
KERNEL_STATES: tuple[str, ...] = ("started", "restarted", "died", "replayed", "background")
ORIGINS: tuple[str, ...] = ("generated", "edited", "imported")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@dataclass
class UserMessage:
    """A message the user sent, at the start or in the middle of a task."""

    text: str
    kind = "user"


@dataclass
class Turn:
    """One model turn: a thought, then either code to run or an answer to the user."""

    thought: str
    code: str | None = None
    answer: str | None = None
    origin: Origin = "generated"
    source: str | None = None
    """For an edited turn, the id of the turn it was edited from."""
    raw: str | None = None
    """The text exactly as generated, when it differs from the rendering of the fields."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Model id, adapter id, sampling settings, token counts, timings."""
    kind = "turn"

    def __post_init__(self) -> None:
        check_code_xor_answer(self.code, self.answer)
        if self.origin not in ORIGINS:
            raise ValueError(f"unknown turn origin {self.origin!r}; expected one of {ORIGINS}")


@dataclass
class Result:
    """What happened when approved code ran."""

    status: ResultStatus = "ok"
    output: str = ""
    """Everything the cell printed (stdout and stderr, in the order they came) as text."""
    error: dict[str, Any] | None = None
    """For status `error`: `name`, `value` and `traceback` of the exception."""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    """Rich outputs: `{"mime": ..., "text": ...}` or `{"mime": ..., "blob": sha256}` for images."""
    execution_count: int | None = None
    duration: float | None = None
    truncated: int = 0
    """How many characters of output were cut to keep the result within its cap."""
    meta: dict[str, Any] = field(default_factory=dict)
    kind = "result"

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATUSES:
            raise ValueError(f"unknown result status {self.status!r}; expected {RESULT_STATUSES}")


@dataclass
class Verdict:
    """The user's judgement of a turn: accepted (run), rejected (skipped), or a rating."""

    value: VerdictValue
    reason: str = ""
    kind = "verdict"

    def __post_init__(self) -> None:
        # A reason is one line typed by the user; control characters in it are only ever junk.
        self.reason = _CONTROL.sub("", self.reason)
        if self.value not in VERDICT_VALUES:
            raise ValueError(f"unknown verdict {self.value!r}; expected one of {VERDICT_VALUES}")


@dataclass
class KernelEvent:
    """The kernel's state changed; after `died` or `restarted` its variables are gone.

    `background`: output that no running cell printed (a thread of an ended cell), in `detail`.
    """

    state: KernelState
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    kind = "kernel"

    def __post_init__(self) -> None:
        if self.state not in KERNEL_STATES:
            raise ValueError(f"unknown kernel state {self.state!r}; expected {KERNEL_STATES}")


@dataclass
class HeadMove:
    """The head moved (rollback, branch switch); the event's parent is the new head."""

    previous: str | None
    reason: str = ""
    kind = "head"


@dataclass
class Exclusion:
    """Keep a turn, or the whole session, out of training (or, `excluded=False`, back in).

    On a turn it is about that turn; with `scope="session"` it sits on a root and covers all.
    """

    scope: Literal["session", "turn"] = "turn"
    excluded: bool = True
    reason: str = ""
    kind = "exclude"


EventBody = UserMessage | Turn | Result | Verdict | KernelEvent | HeadMove | Exclusion

BODY_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (UserMessage, Turn, Result, Verdict, KernelEvent, HeadMove, Exclusion)
}
_FIELD_NAMES = {
    kind: frozenset(f.name for f in dataclasses.fields(cls)) for kind, cls in BODY_TYPES.items()
}
NODE_KINDS = frozenset({"user", "turn", "result", "kernel"})
ANNOTATION_KINDS = frozenset({"verdict", "head", "exclude"})


class Event:
    """One event of a session: its place in the tree, its time and its body.

    An event loaded from the store keeps its body as JSON until someone reads `body`: opening a
    long session only needs the tree's shape, and the screen only shows a few bodies at a time.
    """

    __slots__ = ("id", "session_id", "parent_id", "kind", "at", "_body", "_payload")

    def __init__(
        self, id: str, session_id: str, parent_id: str | None, body: EventBody, at: float
    ) -> None:
        self.id = id
        self.session_id = session_id
        self.parent_id = parent_id
        self.kind: str = body.kind
        self.at = at
        """Seconds since the epoch when the event was made."""
        self._body: EventBody | None = body
        self._payload: str | None = None

    @classmethod
    def stored(
        cls, id: str, session_id: str, parent_id: str | None, kind: str, at: float, payload: str
    ) -> Event:
        """An event as the store holds it; its body is decoded on first use."""
        event = cls.__new__(cls)
        event.id, event.session_id, event.parent_id = id, session_id, parent_id
        event.kind, event.at, event._body, event._payload = kind, at, None, payload
        return event

    @classmethod
    def new(cls, session_id: str, parent_id: str | None, body: EventBody) -> Event:
        return cls(new_id(), session_id, parent_id, body, time.time())

    @property
    def body(self) -> EventBody:
        if self._body is None:
            self._body = body_from_dict(self.kind, json.loads(self._payload))
        return self._body

    @property
    def is_node(self) -> bool:
        return self.kind in NODE_KINDS

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.id, self.session_id, self.parent_id, self.at, self.body) == (
            other.id,
            other.session_id,
            other.parent_id,
            other.at,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event({self.id!r}, parent={self.parent_id!r}, {self.body!r}, at={self.at!r})"


def body_to_dict(body: EventBody) -> dict[str, Any]:
    return dataclasses.asdict(body)


def body_from_dict(kind: str, data: dict[str, Any]) -> EventBody:
    """Rebuild a body; unknown keys (from a newer version) go to `meta` where the kind has one."""
    try:
        cls = BODY_TYPES[kind]
    except KeyError:
        raise ValueError(
            f"unknown event kind {kind!r}; expected one of {sorted(BODY_TYPES)}"
        ) from None
    names = _FIELD_NAMES[kind]
    if names.issuperset(data):
        return cls(**data)
    known = {k: v for k, v in data.items() if k in names}
    extra = {k: v for k, v in data.items() if k not in names}
    if "meta" in names:
        known["meta"] = {**known.get("meta", {}), **extra}
    return cls(**known)


def searchable_text(body: EventBody) -> str:
    """The text of an event that full-text search looks at."""
    match body:
        case UserMessage(text=text):
            return text
        case Turn():
            return "\n".join(p for p in (body.thought, body.code, body.answer) if p)
        case Result():
            return body.output + ("\n" + body.error.get("value", "") if body.error else "")
        case Verdict(reason=reason):
            return reason
        case KernelEvent(detail=detail):
            return detail
        case _:
            return ""
