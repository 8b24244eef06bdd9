"""The turn grammar: parse and render, and the admission check through the real constraint."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grammars.constraint import Budget, TurnConstraint, budget_for
from grammars.turn import TurnFields, TurnParseError, lark_grammar, parse, render

TRICKY = [
    "x < 1 && y > 2",
    'print("</div>")',
    "s = ']]>'",
    "quotes ' \" `",
    "unicode é ü 🙂 中文",
    "!ls -la | head\n%timeit sum(range(10))",
    "\n\nblank lines\n\n\n",
    "<code> inside a thought is fine",
    "",
    "</thought",
    "a</answer>b",  # another body's closing tag is allowed
]


@pytest.mark.parametrize("body", TRICKY)
def test_render_parse_round_trip_for_tricky_bodies(body):
    for fields in (
        TurnFields(body, code=body.replace("</code>", "")),
        TurnFields("think", answer=body.replace("</answer>", "")),
    ):
        if "</thought>" in fields.thought:
            continue
        text = render(fields)
        assert parse(text) == fields
        assert render(parse(text)) == text


@settings(max_examples=300)
@given(st.text(), st.text(), st.booleans())
def test_render_parse_are_inverse(thought, body, is_code):
    thought = thought.replace("</thought>", "")
    body = body.replace("</code>" if is_code else "</answer>", "")
    fields = TurnFields(thought, code=body) if is_code else TurnFields(thought, answer=body)
    assert parse(render(fields)) == fields


@pytest.mark.parametrize(
    "text, position, reason",
    [
        ("", 0, "expected '<thought>'"),
        ("hello", 0, "expected '<thought>'"),
        ("<thought>abc", 12, "never closed"),
        ("<thought>a</thought><code>x</code>", 20, "expected '\\n'"),
        ("<thought>a</thought>\n<python>x</python>", 21, "expected <code> or <answer>"),
        ("<thought>a</thought>\n<code>x", 28, "never closed with </code>"),
        ("<thought>a</thought>\n<code>x</code>\n", 35, "text after the end"),
        ("<thought>a</thought>\n<code>x</code>y</code>", 35, "text after the end"),
    ],
)
def test_parse_errors_say_where(text, position, reason):
    with pytest.raises(TurnParseError) as error:
        parse(text)
    assert error.value.position == position
    assert reason in error.value.reason


def test_fields_refuse_their_own_closing_tag():
    with pytest.raises(ValueError):
        TurnFields("a</thought>", code="x")
    with pytest.raises(ValueError):
        TurnFields("a", code="x</code>")


def test_lark_grammar_ends_each_body_at_its_closing_tag():
    grammar = lark_grammar()
    for close in ("</thought>", "</code>", "</answer>"):
        assert f'suffix="{close}"' in grammar


@pytest.fixture(scope="module")
def constraint(tiny):
    return TurnConstraint(tiny[1])


VALID = [
    render(TurnFields("look at the files", code="import os\nprint(os.listdir('.'))")),
    render(TurnFields("", answer="")),
    render(TurnFields("done", answer="The answer is 42.")),
] + [render(TurnFields(body.replace("</thought>", ""), code=body)) for body in TRICKY]


@pytest.mark.parametrize("text", VALID)
def test_admission_accepts_valid_turns(constraint, text):
    admission = constraint.admit(text)
    assert admission.admitted, admission


@pytest.mark.parametrize(
    "text, offset, reason",
    [
        ("<thinking>x</thinking>", 3, "expected '<thought>'"),
        ("<thought>a</thought><code>x</code>", 20, "expected '\\n'"),
        ("<thought>a</thought>\n<python>x</python>", 22, "expected <code> or <answer>"),
        ("<thought>a</thought>\n<code>x</code> and more", 35, "text after the end"),
        ("<thought>a</thought>\n<code>x", 28, "never closed"),
    ],
)
def test_admission_refuses_at_the_right_position(constraint, text, offset, reason):
    admission = constraint.admit(text)
    assert not admission.admitted
    assert reason in admission.reason
    # The refused token starts at or just before the offending character.
    assert offset - 8 <= admission.char_offset <= offset, admission


def test_special_tokens_are_never_admitted_in_a_body(constraint, tiny):
    tokenizer = tiny[1]
    matcher = constraint.matcher()
    assert matcher.consume_text(tokenizer.encode("<thought>abc", add_special_tokens=False))
    for special in tokenizer.all_special_ids:
        probe = constraint.matcher()
        probe.consume_text(tokenizer.encode("<thought>abc", add_special_tokens=False))
        assert not probe.consume(special), tokenizer.convert_ids_to_tokens(special)


def test_budget_leaves_room_for_the_tags(tiny):
    budget = budget_for(tiny[1], 32)
    assert budget.thought >= 1 and budget.body >= 1
    assert budget.thought + budget.body < 32
    with pytest.raises(ValueError, match="too small"):
        budget_for(tiny[1], 8)
    assert Budget() == Budget(None, None)


def test_the_outlines_output_type_carries_the_same_grammar():
    import llguidance
    from outlines.types import CFG

    from grammars.constraint import outlines_type

    output_type = outlines_type()
    assert isinstance(output_type, CFG) and output_type.definition == lark_grammar()
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(
        llguidance.LLMatcher.grammar_from_lark(output_type.definition)
    )
    assert not is_error and messages == []
