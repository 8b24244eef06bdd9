"""Whether a stored turn is one the turn grammar admits: checked on text, without a tokenizer.

Generated turns are admitted by construction (the grammar constrains decoding); imported and
hand-made ones may not be: a `<code>` body holding `</code><answer>…</answer>` (easy in an XML
file's CDATA) renders as text that no model under the grammar could produce. Such a turn is kept,
marked `meta["unadmitted"]` with the reason, shown as such, and never trained on.

Why the text-level check is the grammar's check: the grammar (`grammars.turn.lark_grammar`) is
`"<thought>" T "\\n" ("<code>" C | "<answer>" A)`, each body a lazy lexeme ending at the first
occurrence of its own closing tag, then end of text. That language is exactly the set of texts
`grammars.turn.parse` accepts: it finds the first closing tag of each body, requires the
separator and the second field's opening tag, and refuses any text after the turn's end. Token
by token admission (`TurnConstraint.admit`, what `lint` runs) adds one tokenizer-specific
refusal: a body that spells one of that tokenizer's special tokens (say `<|im_end|>`), which the
tokenizer turns into a special token that no body may hold. That depends on the model, so it is
`lint --model`'s job; everything else is decided here, identically for every tokenizer.
"""

from __future__ import annotations

from core.events import Turn
from grammars.turn import TurnParseError, parse, render_parts

UNADMITTED = "unadmitted"
"""The key in a turn's `meta` that holds why the grammar refuses it."""


def refusal(turn: Turn) -> str | None:
    """Why the turn grammar refuses this turn's text, or None when it admits it."""
    text = render_parts(turn.thought, turn.code, turn.answer)
    try:
        parse(text)
    except TurnParseError as error:
        return f"the turn grammar refuses it: {error.reason} (at character {error.position})"
    return None


def is_admitted(turn: Turn) -> bool:
    """Admitted by the grammar now, and not marked otherwise when it was imported."""
    return UNADMITTED not in turn.meta and refusal(turn) is None
