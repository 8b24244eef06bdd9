"""Rendering a session path to chat messages: what the model sees."""

from __future__ import annotations

import pytest

from core.chat import (
    EXAMPLES,
    PREFIX,
    SYSTEM_PROMPT,
    condensed_traceback,
    path_messages,
    prefix_length,
    result_text,
    task_messages,
)
from core.events import Event, KernelEvent, Result, Turn, UserMessage
from grammars.constraint import TurnConstraint
from grammars.turn import parse, render

# What the first system prompt held in place of real text; small models copied it verbatim.
PLACEHOLDERS = (
    "python code for the kernel",
    "what you know, what you will do next and why",
    "your reply to the user",
    "<thought>...</thought>",
    "...",
)


def node(i: int, body, parent=None) -> Event:
    return Event(f"E{i}", "S", parent, body, float(i))


def test_a_path_becomes_alternating_chat_messages():
    path = [
        node(0, UserMessage("plot sales")),
        node(1, Turn("look first", code="df.head()"), "E0"),
        node(2, Result(output="   a  b\n0  1  2"), "E1"),
        node(3, KernelEvent("died"), "E2"),
        node(4, UserMessage("and use seaborn"), "E3"),
        node(5, Turn("done", answer="Here it is."), "E4"),
    ]
    messages = path_messages(path, rejections={})[len(PREFIX) :]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["content"] == "<thought>look first</thought>\n<code>df.head()</code>"
    user = messages[2]["content"]
    assert user.startswith("<result>\n   a  b\n0  1  2\n</result>")
    assert "The kernel died: every variable" in user and user.endswith("and use seaborn")
    assert messages[3]["content"] == "<thought>done</thought>\n<answer>Here it is.</answer>"


def test_a_rejected_turn_tells_the_model_why():
    path = [node(0, UserMessage("go")), node(1, Turn("t", code="rm -rf /"), "E0")]
    messages = path_messages(path, rejections={"E1": "never delete things"})
    assert messages[-1] == {
        "role": "user",
        "content": "The user did not run this code. Reason: never delete things",
    }


def test_results_are_plain_and_within_budget():
    result = Result(
        status="error",
        output="\x1b[1mbold\x1b[0m\r\n" + "y" * 10_000,
        error={"name": "ValueError", "value": "no", "traceback": ["ValueError: no"]},
    )
    text = result_text(result, budget=500)
    assert text.startswith('<result status="error">\nbold\n')
    assert "characters cut" in text and text.endswith("ValueError: no\n</result>")
    assert len(text) < 700


def test_long_tracebacks_are_condensed():
    error = {
        "name": "KeyError",
        "value": "'x'",
        "traceback": ["\x1b[0;31m----\x1b[0m"]
        + [f"frame {i}" for i in range(9)]
        + ["\x1b[0;31mKeyError\x1b[0m: 'x'"],
    }
    lines = condensed_traceback(error).splitlines()
    assert lines == ["[... 7 earlier frames ...]", "frame 7", "frame 8", "KeyError: 'x'"]


def test_the_prompt_has_no_placeholder_text():
    for phrase in PLACEHOLDERS:
        assert all(phrase not in m["content"] for m in PREFIX)
    # Every turn shown is a whole, real example turn, not a template to fill in.
    shown = [m["content"] for m in PREFIX if m["role"] == "assistant"]
    assert shown == [render(turn) for _, turn in EXAMPLES]


def test_the_examples_are_code_turns_and_answer_turns():
    codes = [turn for _, turn in EXAMPLES if turn.code is not None]
    answers = [turn for _, turn in EXAMPLES if turn.answer is not None]
    assert codes and answers
    for code in codes:
        assert compile(code.code, "<example>", "exec") and "```" not in code.code
    assert all(answer.answer.strip() for answer in answers)
    for _, turn in EXAMPLES:
        # A thought of one short sentence, as the rules ask: nothing long enough to parrot.
        assert len(turn.thought.split()) <= 6
        assert parse(render(turn)) == turn
    shown = [(PREFIX[i]["content"], PREFIX[i + 1]["content"]) for i in range(1, len(PREFIX), 2)]
    assert shown == [(message, render(turn)) for message, turn in EXAMPLES]


def test_the_system_prompt_says_when_to_answer_and_how_to_write_code():
    rules = SYSTEM_PROMPT.lower()
    assert "question" in rules and "gets <answer>" in rules
    assert "gets <code>: plain python, no markdown fences" in rules


@pytest.fixture(scope="module")
def constraint(tiny):
    return TurnConstraint(tiny[1])


def test_the_example_turns_are_admitted_by_the_turn_grammar(constraint):
    for _, turn in EXAMPLES:
        admission = constraint.admit(render(turn))
        assert admission.admitted, admission.reason


def test_a_chat_starts_with_the_fixed_prefix_then_the_session():
    # The system message, then the example exchanges as earlier chat messages; the session's
    # own messages follow, and `prefix_length` says where they start.
    path = [node(0, UserMessage("hi")), node(1, Turn("greet", answer="Hello."), "E0")]
    messages = path_messages(path)
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert tuple(messages[: len(PREFIX)]) == PREFIX and prefix_length(messages) == len(PREFIX)
    assert [m["role"] for m in PREFIX[1:]] == ["user", "assistant"] * len(EXAMPLES)
    assert messages[len(PREFIX) :] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "<thought>greet</thought>\n<answer>Hello.</answer>"},
    ]
    assert task_messages("hi") == messages[: len(PREFIX) + 1]
    # A chat built elsewhere (an imported dataset row): its leading system messages.
    assert (
        prefix_length([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]) == 1
    )


def test_background_output_reaches_the_model_as_what_it_is():
    """Regression: a background-output kernel event read "The kernel was background." to the
    model."""
    from core.chat import kernel_text
    from core.events import KernelEvent

    text = kernel_text(KernelEvent("background", "tick tick\n"))
    assert text.startswith("<kernel>A thread of an earlier cell printed this")
    assert "tick tick" in text and "was background" not in text
