"""Constrained generation on the tiny random model: always a valid turn, streamed, cancellable."""

from __future__ import annotations

import random

import pytest

from core.model.generate import Sampling, start_generation
from grammars.turn import TurnFields, TurnParseError, parse, render

from scripted_model import scripted

MESSAGES = [
    {"role": "system", "content": "You write turns."},
    {"role": "user", "content": "list the files here"},
]


def test_200_random_turns_at_high_temperature_all_parse(tiny):
    model, tokenizer = tiny
    specials = [t for t in tokenizer.all_special_tokens]
    rng = random.Random(7)
    for i in range(200):
        sampling = Sampling(
            temperature=rng.uniform(1.0, 2.0),
            top_p=1.0,
            max_new_tokens=rng.choice([32, 48, 64, 96]),
            seed=i,
        )
        generation = start_generation(model, tokenizer, MESSAGES, sampling)
        streamed = "".join(generation)
        turn = generation.result()
        assert turn.fields is not None, (turn.raw, turn.parse_error)
        assert render(turn.fields) == turn.raw == streamed
        assert turn.stats.output_tokens <= sampling.max_new_tokens
        for body in (turn.fields.thought, turn.fields.code, turn.fields.answer):
            assert not any(s in (body or "") for s in specials), turn.raw


def test_without_the_constraint_the_same_model_almost_never_parses(tiny):
    model, tokenizer = tiny
    parsed = 0
    for i in range(20):
        turn = start_generation(
            model,
            tokenizer,
            MESSAGES,
            Sampling(temperature=1.0, seed=i, max_new_tokens=64),
            constrained=False,
        ).result()
        try:
            parse(turn.raw)
            parsed += 1
        except TurnParseError:
            pass
    assert parsed <= 1


TRICKY_TURNS = [
    TurnFields("compare", code="if x < 1 && y > 2:\n    print('</div>')"),
    TurnFields("cdata", code="s = ']]>' + \"<![CDATA[\" + '&amp;'"),
    TurnFields("shell and magic", code="!ls -la\n%timeit sum(range(9))\n\n\nprint('ok')"),
    TurnFields("unicode é 🙂 中文", answer="quotes ' \" and `backticks`"),
    TurnFields("", answer=""),
    TurnFields("almost closing </thought and </code", code="a</answer>b"),
]


@pytest.mark.parametrize("fields", TRICKY_TURNS, ids=range(len(TRICKY_TURNS)))
def test_scripted_model_writes_exactly_the_chosen_turn(tiny, fields):
    model, tokenizer = tiny
    text = render(fields)
    with scripted(model, tokenizer, text):
        generation = start_generation(model, tokenizer, MESSAGES, Sampling(max_new_tokens=512))
        streamed = "".join(generation)
        turn = generation.result()
    assert turn.raw == streamed == text
    assert turn.fields == fields


def test_the_grammar_overrules_a_model_that_writes_nonsense(tiny):
    model, tokenizer = tiny
    with scripted(model, tokenizer, "Sure! Here is some code: print(1)"):
        turn = start_generation(
            model,
            tokenizer,
            MESSAGES,
            Sampling(max_new_tokens=40),
        ).result()
    assert turn.fields is not None and turn.raw.startswith("<thought>")


def test_cancel_stops_within_one_step(tiny):
    model, tokenizer = tiny
    holder = {}

    def on_step(step):
        if step == 6:  # the user presses Escape while step 6 is computed
            holder["generation"].cancel()

    with scripted(model, tokenizer, "<thought>" + "word " * 500, on_step=on_step):
        holder["generation"] = start_generation(
            model, tokenizer, MESSAGES, Sampling(max_new_tokens=1000)
        )
        turn = holder["generation"].result()
    assert turn.cancelled and turn.fields is None
    assert turn.stats.output_tokens <= 7


@pytest.mark.parametrize(
    "prefix, check",
    [
        (
            "<thought>I edited this thought</thought>\n",
            lambda f: f.thought == "I edited this thought",
        ),
        ("<thought>half writ", lambda f: f.thought.startswith("half writ")),
        ("<thought>t</thought>\n<code>import os\n", lambda f: f.code.startswith("import os\n")),
    ],
)
def test_continue_from_a_prefix_keeps_it_and_completes_a_valid_turn(tiny, prefix, check):
    model, tokenizer = tiny
    for seed in range(5):
        generation = start_generation(
            model,
            tokenizer,
            MESSAGES,
            Sampling(temperature=1.5, max_new_tokens=48, seed=seed),
            prefix=prefix,
        )
        streamed = "".join(generation)
        turn = generation.result()
        assert turn.raw.startswith(prefix) and turn.raw == prefix + streamed
        assert turn.fields is not None and check(turn.fields), turn.raw


def test_a_prefix_that_is_not_a_turn_is_refused(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="prefix is not the start of a valid turn"):
        start_generation(model, tokenizer, MESSAGES, prefix="<code>x")


def test_stats_are_filled_in(tiny):
    model, tokenizer = tiny
    turn = start_generation(
        model,
        tokenizer,
        MESSAGES,
        Sampling(max_new_tokens=64, seed=1),
    ).result()
    stats = turn.stats
    assert stats.prompt_tokens > 10 and 0 < stats.output_tokens <= 64
    assert stats.time_to_first_token is not None and stats.time_to_first_token <= stats.seconds
    assert stats.tokens_per_second > 0 and 0 < stats.constraint_seconds < stats.seconds
    assert turn.settings["max_new_tokens"] == 64
