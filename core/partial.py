"""A turn the user stopped mid-way: its status mark, and the fields of its half-written text."""

from __future__ import annotations

from core.events import Event
from grammars.turn import ANSWER, CODE, THOUGHT

STOPPED = "stopped"
"""`meta["status"]` of a turn the user stopped mid-way: kept to edit or continue, never a good
training turn, never run, never on the path the model continues from."""


def is_stopped(event: Event) -> bool:
    return event.kind == "turn" and event.body.meta.get("status") == STOPPED


def partial_fields(raw: str) -> tuple[str, str | None, str | None]:
    """The thought and the code or answer of a half-written turn (code "" if neither began)."""
    thought, rest = _field(raw, THOUGHT)
    rest = rest.lstrip("\n") if rest is not None else ""
    if rest.startswith(ANSWER[0]):
        return thought, None, _field(rest, ANSWER)[0]
    if rest.startswith(CODE[0]):
        return thought, _field(rest, CODE)[0], None
    return thought, "", None


def _field(text: str, tags: tuple[str, str]) -> tuple[str, str | None]:
    """The body of the field that `text` starts with, and what follows its closing tag (None if
    it is not closed). A closing tag cut short at the end is not part of the body."""
    opening, closing = tags
    body = text[len(opening) :] if text.startswith(opening) else text
    end = body.find(closing)
    if end >= 0:
        return body[:end], body[end + len(closing) :]
    for cut in range(min(len(closing) - 1, len(body)), 0, -1):
        if body.endswith(closing[:cut]):
            return body[:-cut], None
    return body, None
