"""Masks inside a body are kept per body state (issue 10: mask p99 at 262k tokens): every kept
mask must be exactly what llguidance computes at that step, whatever text led there."""

from __future__ import annotations

import random

import pytest
from test_tokenizer_families import VALID

from grammars.constraint import Budget, TurnConstraint

# Bodies that walk through every state a kept mask depends on: partial closing tags, other tags,
# unfinished characters (emoji, CJK), CRLF, an empty body, a body of one long run.
TEXTS = VALID + [
    "<thought>a </th b </thought c </thoughts d</thought>\n<code>x = '</cod' '</code '</code>",
    "<thought>é東😀 </t😀 </\r\n</thought>\n<answer></answ</answe r</answer>",
    "<thought></thought>\n<answer></answer>",
    "<thought>" + "word " * 60 + "</thought>\n<code>" + "pass\n" * 60 + "</code>",
]


def checked_walk(constraint: TurnConstraint, prefix: list[int], rng: random.Random) -> int:
    """Teacher-force `prefix`, then sample uniformly among allowed tokens; at every step inside a
    body, the mask handed out must equal llguidance's own. Returns the masks compared."""
    matcher = constraint.matcher(Budget(200, 200))
    compared = 0
    for step in range(400):
        forced, mask = matcher.allowed()
        if mask is not None and matcher._field is not None:
            assert mask == matcher._matcher.compute_bitmask(), f"step {step}"
            compared += 1
        if forced is not None:
            token = forced
        elif step < len(prefix):
            token = prefix[step]
        else:
            allowed = [i for i in range(constraint.vocab_size) if mask[i // 8] >> (i % 8) & 1]
            token = rng.choice(allowed)
        if token == constraint.eos_token_id:
            return compared
        assert matcher.consume(token), matcher.error()
    return compared


@pytest.fixture(scope="module")
def constraint(tiny):
    return TurnConstraint(tiny[1])


@pytest.mark.parametrize("text", TEXTS)
def test_kept_body_masks_equal_llguidance_after_any_text(constraint, tiny, text):
    ids = tiny[1].encode(text, add_special_tokens=False)
    rng = random.Random(len(text))
    # The same text twice, then partway and on at random: states are met again, masks reused.
    compared = sum(checked_walk(constraint, ids, rng) for _ in range(2))
    for cut in (3, len(ids) // 2, len(ids) - 4):
        compared += checked_walk(constraint, ids[: max(0, cut)], rng)
    assert compared > 0


# An opening tag at the very end of a thought is text, not the start of the next field, however
# the model splits the closing tag and the separator into tokens (a real model sampled this).
SPLIT = [
    ["<thought>I use <code>", "</", "thought", ">", "\n", "<code>print(1)</code>"],
    ["<thought>I use <answer>", "</", "thought", ">", "\n", "<answer>yes <code></answer>"],
]


@pytest.mark.parametrize("pieces", SPLIT)
def test_an_opening_tag_inside_a_thought_opens_nothing(constraint, tiny, pieces):
    ids = [i for piece in pieces for i in tiny[1].encode(piece, add_special_tokens=False)]
    assert tiny[1].decode(ids) == "".join(pieces)
    rng = random.Random(0)
    assert sum(checked_walk(constraint, ids, rng) for _ in range(2)) > 0
    matcher = constraint.matcher(Budget(200, 200))
    separator = len(ids) - len(tiny[1].encode(pieces[-1], add_special_tokens=False))
    assert matcher.consume_text(ids[:separator])
    assert matcher._field is None  # between the fields: the grammar, not a body, decides
