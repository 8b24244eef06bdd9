"""The Lark form that llguidance servers get admits the rest of a turn from any prefix.

Checked with llguidance itself (the library vLLM and SGLang run) over a real tokenizer.
"""

from __future__ import annotations

import pytest

from grammars.serving import HEADER, llguidance_grammar
from grammars.turn import TurnFields, render

TURNS = [
    TurnFields("look at </th and </thought", code="print('</cod')\nx = 1 < 2"),
    TurnFields("é 🙂 <answer>", answer="a </answe b\r\n"),
]


@pytest.fixture(scope="module")
def matcher_for():
    import llguidance
    from transformers import AutoTokenizer

    from core.model.tiny import build_tiny_model
    from grammars.constraint import ll_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(build_tiny_model())

    def make(grammar: str):
        assert grammar.startswith(HEADER)
        lark = grammar[len(HEADER) :]
        matcher = llguidance.LLMatcher(
            ll_tokenizer(tokenizer), llguidance.LLMatcher.grammar_from_lark(lark), log_level=0
        )
        assert not matcher.is_error(), matcher.get_error()
        return matcher, tokenizer

    return make


@pytest.mark.parametrize("fields", TURNS)
def test_from_every_prefix_llguidance_admits_the_rest_and_ends_there(matcher_for, fields):
    text = render(fields)
    for cut in range(len(text)):
        matcher, tokenizer = matcher_for(llguidance_grammar(text[:cut]))
        ids = tokenizer.encode(text[cut:], add_special_tokens=False)
        assert matcher.consume_tokens(ids), (text[:cut], matcher.get_error())
        assert matcher.is_accepting(), text[:cut]


def test_from_inside_a_closing_tag_the_body_cannot_close_early(matcher_for):
    matcher, tokenizer = matcher_for(llguidance_grammar("<thought>a</th"))
    # "ought>" finishes the tag; "ought>x" would put text after the closed thought, not a newline.
    ids = tokenizer.encode("ought>x", add_special_tokens=False)
    assert not all(matcher.consume_token(token) for token in ids)
