"""The generated GBNF admits exactly the turns that `grammars.turn.parse` accepts, from any prefix.

The rules are walked as data here (they are right-linear, so a walk is a few lines); the text form
goes to a real llama-server in tests/test_remote_llamacpp.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grammars.gbnf import Rules, gbnf, rules
from grammars.rest import PrefixError, closing_text, locate
from grammars.turn import TurnFields, TurnParseError, parse, render


def admits(grammar: Rules, text: str) -> bool:
    def match(items: list, at: int) -> bool:
        if not items:
            return at == len(text)
        (kind, value), rest = items[0], items[1:]
        if kind == "lit":
            return text.startswith(value, at) and match(rest, at + len(value))
        if kind == "not":
            return at < len(text) and text[at] not in value and match(rest, at + 1)
        if kind == "not*":
            end = at
            while end < len(text) and text[end] not in value:
                end += 1
            return any(match(rest, stop) for stop in range(end, at - 1, -1))
        return any(match(alt + rest, at) for alt in grammar[value])

    return match([("ref", "root")], 0)


def parses(text: str) -> bool:
    try:
        parse(text)
    except TurnParseError:
        return False
    return True


TRICKY = [
    "",
    "x < 1 && y > 2",
    "unicode é ü 🙂 中文",
    "<",
    "<<",
    "</",
    "</co",
    "</cod",
    "</code",
    "</th</thought",
    "</answe",
    "a\r\nb\r\n",
    "&amp; &lt; ]]>",
    "<code> and </answer> in a thought",
    '"quoted" \\ backslash [^-]',
]


@pytest.mark.parametrize("body", TRICKY)
def test_tricky_bodies_are_admitted_in_every_field(body):
    for fields in (
        TurnFields(body.replace("</thought>", ""), code=body.replace("</code>", "")),
        TurnFields("t", answer=body.replace("</answer>", "")),
    ):
        assert admits(rules(), render(fields)), render(fields)


@pytest.mark.parametrize(
    "text",
    [
        "<thought>a</thought>b</thought>\n<answer>x</answer>",
        "<thought>a</thought>\n<code>print('</code>')</code>",
        "<thought>a</thought>\n<answer>1</answer>2</answer>",
        "<thought>a</thought>\n<code>x</code>\n",
        "<thought>a</thought><code>x</code>",
        "<thought>a</thought>\n<python>x</python>",
        "<thought>a",
    ],
)
def test_bodies_holding_their_closing_tag_are_refused(text):
    assert not parses(text)
    assert not admits(rules(), text)


PIECES = st.lists(
    st.sampled_from(["<", "/", ">", "</", "thought", "code", "answer", "\n", "é", "x", "</co"]),
    max_size=8,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(PIECES, st.sampled_from(["code", "answer"]), PIECES, PIECES)
def test_the_grammar_admits_exactly_what_parses(thought, field, body, tail):
    text = f"<thought>{thought}</thought>\n<{field}>{body}</{field}>{tail}"
    assert admits(rules(), text) == parses(text)


@settings(max_examples=100, deadline=None)
@given(PIECES, st.sampled_from(["code", "answer"]), PIECES)
def test_from_every_prefix_the_rest_is_admitted_and_the_closing_parses(thought, field, body):
    text = f"<thought>{thought}</thought>\n<{field}>{body}</{field}>"
    if not parses(text):
        return
    for cut in range(len(text)):
        prefix, rest = text[:cut], text[cut:]
        assert admits(rules(prefix), rest), (prefix, rest)
        assert parses(prefix + closing_text(prefix)), prefix


def test_a_whole_turn_or_a_wrong_start_is_not_a_prefix():
    for prefix in ("<thought>a</thought>\n<code>x</code>", "hello", "<thought>a</thought>x"):
        with pytest.raises(PrefixError):
            locate(prefix)


def test_the_text_form_names_every_rule_it_uses():
    text = gbnf()
    defined = {line.split(" ::= ")[0] for line in text.splitlines()}
    assert text.startswith("root ::= ")
    for name in defined:
        assert any(f" {name}" in line.split(" ::= ")[1] for line in text.splitlines()) or (
            name == "root"
        )
