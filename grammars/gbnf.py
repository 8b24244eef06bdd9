"""The turn as a GBNF grammar, for llama.cpp's server, generated from `grammars.turn`'s tags.

GBNF has no "anything but this string", so each body is written as the automaton that reads a
body and then its closing tag: one rule per character of the tag, rule `code-k` meaning "the body
so far ends with the first k characters of `</code>`" (`grammars.rest.tag_step` gives the moves).
The grammar is deterministic (one parse at every character), exact for any tag, and starts in
the middle of a turn as easily as at its start: `gbnf(prefix)` is the grammar for the rest of a
turn after `prefix`.

The rules are kept as data (`rules`) as well as text, so that tests can walk them.
Control tokens are not excluded here: GBNF matches them by their text, so the caller bans them
per request (llama.cpp's `logit_bias`).
"""

from __future__ import annotations

from grammars.rest import AFTER_THOUGHT, CHOICES, FIELDS, Position, locate, tag_step

# A rule's alternatives are sequences of items: ("lit", text), ("not", chars) for one character
# outside `chars`, ("not*", chars) for any run of them, ("ref", rule name).
Item = tuple[str, str]
Rules = dict[str, list[list[Item]]]


def _body_rules(field: str) -> Rules:
    close = FIELDS[field][1]
    after: list[Item] = [("lit", AFTER_THOUGHT), ("ref", "choice")] if field == "thought" else []
    rules: Rules = {}
    for state in range(len(close)):
        moves = {char: tag_step(close, state, char) for char in sorted(set(close))}
        onward = {char: to for char, to in moves.items() if to != 0}
        alternatives = [
            [("lit", char), *(after if to == len(close) else [("ref", f"{field}-{to}")])]
            for char, to in onward.items()
        ]
        if state == 0:
            # Staying in state 0 is a loop: one starred class, then a way out.
            rules[f"{field}-0"] = [[("not*", "".join(onward)), ("ref", f"{field}-0-out")]]
            rules[f"{field}-0-out"] = alternatives
        else:
            alternatives.append([("not", "".join(onward)), ("ref", f"{field}-0")])
            rules[f"{field}-{state}"] = alternatives
    return rules


def rules(prefix: str = "") -> Rules:
    """The rules for the rest of a turn after `prefix` (the whole turn by default); "root" first."""
    position: Position = locate(prefix)
    if position.field is None:
        root: list[Item] = [("lit", position.to_open), ("ref", "choice")]
    elif position.to_open:
        root = [("lit", position.to_open), ("ref", f"{position.field}-0")]
    else:
        root = [("ref", f"{position.field}-{position.matched}")]
    result: Rules = {"root": [[item for item in root if item != ("lit", "")]]}
    if position.field in (None, "thought"):
        result["choice"] = [
            [("lit", opening), ("ref", f"{field}-0")] for field, opening in CHOICES.items()
        ]
    for field in FIELDS:
        if field == position.field or (position.field in (None, "thought") and field != "thought"):
            result.update(_body_rules(field))
    return result


def gbnf(prefix: str = "") -> str:
    """GBNF text for the rest of a turn after `prefix` (the whole turn by default)."""
    lines = []
    for name, alternatives in rules(prefix).items():
        body = " | ".join(" ".join(_item(item) for item in alt) for alt in alternatives)
        lines.append(f"{name} ::= {body}")
    return "\n".join(lines) + "\n"


def _item(item: Item) -> str:
    kind, value = item
    if kind == "lit":
        return '"' + "".join(_escape(char, '"\\') for char in value) + '"'
    if kind == "ref":
        return value
    chars = "[^" + "".join(_escape(char, "]\\^-[") for char in value) + "]"
    return chars + "*" if kind == "not*" else chars


def _escape(char: str, special: str) -> str:
    if char in special:
        return "\\" + char
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\x{ord(char):02X}"
    return char
