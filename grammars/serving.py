"""The turn as llguidance servers (vLLM, SGLang) take it: Lark under the `%llguidance` header.

The whole turn is `grammars.turn.lark_grammar()`; the rest of a turn after a prefix reuses its
body lexemes. A prefix that ends inside a body with the start of the closing tag (`</th`) needs
one special lexeme: text that does not finish that tag, up to the closing tag, or the rest of
the tag itself.

No per-field `max_tokens` here: with llguidance 1.9.1, a lexeme cut by `max_tokens` ends without
its `suffix` (the closing tag is lost), and a body lexeme followed by a separate closing-tag
lexeme cannot end at the tag under greedy lexing. Budgets are closed by the client instead
(`core.model.remote`).
"""

from __future__ import annotations

import re

from grammars.rest import AFTER_THOUGHT, CHOICES, FIELDS, locate
from grammars.turn import lark_grammar

HEADER = "%llguidance {}\n"


def _string(literal: str) -> str:
    return '"' + literal.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _body(field: str) -> str:
    return f"{field}_rest[suffix={_string(FIELDS[field][1])}]: /(?s:.*)/"


def llguidance_grammar(prefix: str = "") -> str:
    """The Lark grammar (with its header) for the rest of a turn after `prefix`."""
    if not prefix:
        return HEADER + lark_grammar()
    position = locate(prefix)
    choice = " | ".join(f"{_string(opening)} {field}_rest" for field, opening in CHOICES.items())
    lines = [f"choice: {choice}", _body("code"), _body("answer")]
    if position.field is None:
        start = f"{_string(position.to_open)} choice" if position.to_open else "choice"
    else:
        after = f" {_string(AFTER_THOUGHT)} choice" if position.field == "thought" else ""
        opening = f"{_string(position.to_open)} " if position.to_open else ""
        if position.field == "thought":
            lines.append(_body("thought"))
        if position.matched:
            close = FIELDS[position.field][1]
            lines.append(_tag_rest(position.field, close[position.matched :]))
            start = f"({_string(close[position.matched :])} | {position.field}_tail){after}"
        else:
            start = f"{opening}{position.field}_rest{after}"
    return HEADER + "\n".join([f"start: {start}", *lines, ""])


def _tag_rest(field: str, rest: str) -> str:
    """A body going on after a started closing tag, without finishing that tag first."""
    escaped = [re.escape(char).replace("/", "\\/") for char in rest]
    breaks = [
        "".join(escaped[:i]) + "[^" + escaped[i] + "]" for i in range(len(rest))
    ]  # the tag's start is followed by a different character
    partial = ["".join(escaped[:i]) for i in range(1, len(rest))]  # or stops inside it
    regex = f"(?s:(?:{'|'.join(breaks)}).*|{'|'.join(partial)}|)"
    return f"{field}_tail[suffix={_string(FIELDS[field][1])}]: /{regex}/"
