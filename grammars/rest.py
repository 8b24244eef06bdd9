"""Where a prefix of a turn stands, and the text that closes it.

A prefix is the start of a turn (an edited thought, a reply cut by a budget). `locate` says which
part of the turn it ends in: still writing an opening tag (`to_open` holds what is left of it),
inside a body (`matched` counts how many characters of that body's closing tag it ends with), or
choosing between code and an answer. Servers get a grammar for the rest of the turn from this
(`grammars.gbnf`, `grammars.serving`); a reply cut by a budget is closed with `closing_text`.

Bodies hold anything but their own closing tag, so a body is followed by a small automaton over
the characters of that tag (`tag_step`): exact for any tag, and the state after a body is the
length of the longest start of the tag that the body ends with.

Pure Python: built from `grammars.turn`'s tags only.
"""

from __future__ import annotations

from dataclasses import dataclass
from os.path import commonprefix

from grammars.turn import ANSWER, CODE, SEPARATOR, THOUGHT

FIELDS = {"thought": THOUGHT, "code": CODE, "answer": ANSWER}
CHOICE_SHARED = commonprefix([CODE[0], ANSWER[0]])
"""What the code and answer openings have in common (written before the model chooses)."""
AFTER_THOUGHT = SEPARATOR + CHOICE_SHARED
"""Forced text between the thought's closing tag and the choice of code or answer."""
CHOICES = {"code": CODE[0][len(CHOICE_SHARED) :], "answer": ANSWER[0][len(CHOICE_SHARED) :]}


def tag_step(tag: str, state: int, char: str) -> int:
    """How much of `tag` is matched after `char`, when `state` characters of it were."""
    candidate = tag[:state] + char
    for length in range(min(len(candidate), len(tag)), 0, -1):
        if candidate.endswith(tag[:length]):
            return length
    return 0


def tag_state(tag: str, text: str) -> int:
    state = 0
    for char in text:
        state = tag_step(tag, state, char)
    return state


@dataclass(frozen=True)
class Position:
    """Where a turn's prefix ends.

    field: "thought", "code", "answer", or None while choosing code or answer.
    to_open: what is left to write of the field's opening tag (of `AFTER_THOUGHT` when field is
    None); `matched`: characters of the field's closing tag that the body ends with.
    """

    field: str | None
    to_open: str = ""
    matched: int = 0


class PrefixError(ValueError):
    """A prefix that is not the start of any turn, or that is already a whole turn."""


def locate(prefix: str) -> Position:
    opening, closing = THOUGHT
    if opening.startswith(prefix):
        return Position("thought", to_open=opening[len(prefix) :])
    if not prefix.startswith(opening):
        raise PrefixError(f"a turn starts with {opening}")
    end = prefix.find(closing, len(opening))
    if end < 0:
        return Position("thought", matched=tag_state(closing, prefix[len(opening) :]))
    rest = prefix[end + len(closing) :]
    if AFTER_THOUGHT.startswith(rest):
        return Position(None, to_open=AFTER_THOUGHT[len(rest) :])
    if not rest.startswith(AFTER_THOUGHT):
        raise PrefixError(f"the thought is followed by {AFTER_THOUGHT!r}")
    choice = rest[len(AFTER_THOUGHT) :]
    for field, opening_rest in CHOICES.items():
        if opening_rest.startswith(choice):
            return Position(field, to_open=opening_rest[len(choice) :])
        if choice.startswith(opening_rest):
            body = choice[len(opening_rest) :]
            close = FIELDS[field][1]
            if close in body:
                raise PrefixError("the prefix is already a whole turn (or runs past one)")
            return Position(field, matched=tag_state(close, body))
    raise PrefixError(f"expected {CODE[0]} or {ANSWER[0]} after the thought")


def closing_text(prefix: str) -> str:
    """The shortest text that makes `prefix` a whole turn: the open field's closing tag (the rest
    of it when the prefix ends inside it), and an empty answer when the thought was not finished."""
    position = locate(prefix)
    if position.field is None:
        return position.to_open + CHOICES["answer"] + ANSWER[1]
    close = FIELDS[position.field][1]
    text = position.to_open + close[position.matched :]
    if position.field == "thought":
        text += AFTER_THOUGHT + CHOICES["answer"] + ANSWER[1]
    return text
