"""The turn, defined once.

    turn := "<thought>" TEXT "</thought>" "\\n"
            ( "<code>" CODE "</code>" | "<answer>" TEXT "</answer>" )

A body holds anything but its own closing tag: `<`, `&`, `</div>`, `]]>`, quotes, unicode,
`!shell` and `%magic` lines, blank lines. From `TAGS` below come the parser and the renderer here,
and the decoding constraint (a Lark grammar for llguidance, also usable as an Outlines CFG output
type) in `grammars.constraint`. The text is the model-facing text: raw, never XML-escaped.

Each body stops at its closing tag; when its token budget runs out first, the constraint writes
the closing tag itself, so that a turn parses even when the budget is tiny.

This module is pure Python and knows nothing of tokenizers or models.
"""

from __future__ import annotations

from dataclasses import dataclass

THOUGHT = ("<thought>", "</thought>")
CODE = ("<code>", "</code>")
ANSWER = ("<answer>", "</answer>")
SEPARATOR = "\n"
"""Between the thought's closing tag and the code or answer."""


class TurnParseError(ValueError):
    """Text that is not one well-formed turn; `position` is the offset where it goes wrong."""

    def __init__(self, reason: str, position: int):
        super().__init__(f"{reason} (at character {position})")
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class TurnFields:
    """The fields of one turn: a thought, then code or an answer."""

    thought: str
    code: str | None = None
    answer: str | None = None

    def __post_init__(self) -> None:
        check_code_xor_answer(self.code, self.answer)
        for (_, close), body in ((THOUGHT, self.thought), (CODE, self.code), (ANSWER, self.answer)):
            if body is not None and close in body:
                raise ValueError(f"a body cannot contain its own closing tag {close}")


def check_code_xor_answer(code: str | None, answer: str | None) -> None:
    """The turn's rule: after the thought, either code or an answer, not both and not neither."""
    if (code is None) == (answer is None):
        raise ValueError("a turn has either code or an answer, not both and not neither")


def render(fields: TurnFields) -> str:
    """The model-facing text of a turn."""
    return render_parts(fields.thought, fields.code, fields.answer)


def render_parts(thought: str, code: str | None, answer: str | None) -> str:
    """The text of a turn from bodies that may break the rules (for checking stored turns)."""
    if code is not None:
        rest = CODE[0] + code + CODE[1]
    else:
        rest = ANSWER[0] + (answer or "") + ANSWER[1]
    return THOUGHT[0] + thought + THOUGHT[1] + SEPARATOR + rest


def parse(text: str) -> TurnFields:
    """The fields of a complete turn; raises `TurnParseError` where the text goes wrong."""
    position = _expect(text, 0, THOUGHT[0])
    end = text.find(THOUGHT[1], position)
    if end < 0:
        raise TurnParseError(f"the thought is never closed with {THOUGHT[1]}", len(text))
    thought = text[position:end]
    position = _expect(text, end + len(THOUGHT[1]), SEPARATOR)
    if text.startswith(CODE[0], position):
        tags = CODE
    elif text.startswith(ANSWER[0], position):
        tags = ANSWER
    else:
        raise TurnParseError(f"expected {CODE[0]} or {ANSWER[0]}", position)
    position += len(tags[0])
    end = text.find(tags[1], position)
    if end < 0:
        raise TurnParseError(f"the body is never closed with {tags[1]}", len(text))
    if end + len(tags[1]) != len(text):
        raise TurnParseError("text after the end of the turn", end + len(tags[1]))
    body = text[position:end]
    if tags is CODE:
        return TurnFields(thought, code=body)
    return TurnFields(thought, answer=body)


def _expect(text: str, position: int, literal: str) -> int:
    if not text.startswith(literal, position):
        raise TurnParseError(f"expected {literal!r}", position)
    return position + len(literal)


def _lark_string(literal: str) -> str:
    return '"' + literal.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lark_grammar() -> str:
    """The turn as an llguidance Lark grammar.

    Each body is a lazy lexeme with its closing tag as `suffix`: it ends at the first closing tag
    and can hold anything before it. Budgets are not in the grammar (llguidance's `max_tokens`
    ends a lexeme without its suffix); `grammars.constraint` enforces them by writing the
    closing tag itself.
    """
    s = _lark_string
    return "\n".join(
        [
            f"start: {s(THOUGHT[0])} thought {s(SEPARATOR)} (code | answer)",
            f"thought[suffix={s(THOUGHT[1])}]: /(?s:.*)/",
            f"code: {s(CODE[0])} code_body",
            f"code_body[suffix={s(CODE[1])}]: /(?s:.*)/",
            f"answer: {s(ANSWER[0])} answer_body",
            f"answer_body[suffix={s(ANSWER[1])}]: /(?s:.*)/",
            "",
        ]
    )
