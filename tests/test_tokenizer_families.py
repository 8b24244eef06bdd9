"""The turn grammar on every tokenizer family: byte-level BPE (SmolLM2 as transformers' GGUF
conversion writes it, and repaired), SentencePiece (Gemma 3, 262k pieces, ChatML fallback) and the
tiny test tokenizer. Each token's bytes must be true whatever the decoder says; admission agrees
with the turn parser; random walks through the grammar's masks (what constrained sampling at a
high temperature does) always end in a turn that parses."""

from __future__ import annotations

import pytest

from grammars.constraint import budget_for, constraint_for
from grammars.token_bytes import check_token_bytes, token_view, tokenizer_family
from grammars.turn import TurnParseError, parse

FAMILIES = ["tiny", "smollm2_unrepaired", "smollm2_repaired", "gemma_tokenizer"]

VALID = [
    "<thought>Look first.</thought>\n<code>print('héllo wörld 東京 😀🎉')</code>",
    "<thought>CRLF\r\nkept</thought>\n<code>x = 1\r\ny = 2\r\n</code>",
    "<thought>a < b & c</thought>\n<answer>Use `x < 1 && y > 2`; &amp; is an entity.</answer>",
    "<thought>  leading spaces</thought>\n<code>    indented = True\n\tif x:\n\t\tpass</code>",
    "<thought>markup</thought>\n<code>s = '</co' + 'de>'\nprint('<code>', '</cod')</code>",
    "<thought>new\n\nlines\n\n\n</thought>\n<answer>\n\n  two  spaces  </answer>",
    "<thought></thought>\n<code>!ls -la | head</code>",
]
INVALID = [
    "<thought>no body</thought>",
    "<thought>x</thought>\n<code>print(1)",
    "<code>print(1)</code>",
    "<thought>x</thought>\n<code>a</code>\n<answer>b</answer>",
    "<thought>x</thought><code>a</code>",
]


@pytest.fixture(params=FAMILIES)
def tokenizer(request):
    if request.param == "tiny":
        return request.getfixturevalue("tiny")[1]
    return request.getfixturevalue(request.param)


def test_token_bytes_are_true_whatever_the_decoder(tokenizer) -> None:
    view = token_view(tokenizer)
    check_token_bytes(tokenizer, view)  # raises on any disagreement with the tokenizer's decode
    newline = tokenizer.encode("\n", add_special_tokens=False)
    assert [view.tokens[i] for i in newline] == [b"\n"][: len(newline)] or b"".join(
        view.tokens[i] for i in newline
    ) == b"\n"


def test_smollm2_conversion_is_byte_level_under_a_sentencepiece_decoder(
    smollm2_unrepaired,
) -> None:
    # What crashed turns at the first newline: the decoder Sequence holds ByteFallback and
    # ByteLevel, and read as SentencePiece "Ċ" is C4 8A. Read from the vocabulary it is "\n".
    decoder = smollm2_unrepaired.backend_tokenizer.to_str()
    assert '"ByteFallback"' in decoder and '"ByteLevel"' in decoder
    assert tokenizer_family(smollm2_unrepaired) == "byte-level"
    view = token_view(smollm2_unrepaired)
    assert view.tokens[smollm2_unrepaired.convert_tokens_to_ids("Ċ")] == b"\n"


def test_repaired_smollm2_ends_turns_with_im_end(smollm2_repaired) -> None:
    assert smollm2_repaired.eos_token == "<|im_end|>"
    decoder = smollm2_repaired.backend_tokenizer.decoder
    assert type(decoder).__name__ == "ByteLevel"


def test_gemma_tokenizes_words_and_keeps_bos_in_the_chat(gemma_tokenizer) -> None:
    assert len(gemma_tokenizer) == 262_144
    assert gemma_tokenizer.tokenize("Loading the model") == ["Loading", "▁the", "▁model"]
    ids = gemma_tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=True
    )
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert ids[0] == gemma_tokenizer.bos_token_id and ids.count(gemma_tokenizer.bos_token_id) == 1


@pytest.mark.parametrize("text", VALID + INVALID)
def test_admission_agrees_with_the_parser(tokenizer, text: str) -> None:
    try:
        parse(text)
        valid = True
    except TurnParseError:
        valid = False
    assert constraint_for(tokenizer).admit(text).admitted == valid


def test_random_walks_through_the_masks_always_parse(tokenizer) -> None:
    """50 generations sampling among the allowed tokens from random logits at temperatures
    1.0-2.0 (Gumbel-max): the grammar's masks and budgets are all that keep them well formed."""
    import numpy as np

    constraint = constraint_for(tokenizer)
    rng = np.random.default_rng(0)
    budget = budget_for(tokenizer, 40)
    width = len(tokenizer)
    for _ in range(50):
        matcher = constraint.matcher(budget)
        ids: list[int] = []
        temperature = rng.uniform(1.0, 2.0)
        for _step in range(40):
            forced, mask = matcher.allowed()
            if forced is None:
                bits = np.unpackbits(np.frombuffer(mask, dtype=np.uint8), bitorder="little")
                allowed = np.flatnonzero(bits[:width])
                logits = rng.normal(0.0, 4.0, allowed.size) / temperature
                forced = int(allowed[np.argmax(logits + rng.gumbel(size=allowed.size))])
            if forced == tokenizer.eos_token_id:
                break
            assert matcher.consume(forced), matcher.error()
            ids.append(forced)
        else:
            pytest.fail(f"no EOS within the budget: {tokenizer.decode(ids)!r}")
        text = tokenizer.decode(ids, skip_special_tokens=True)
        parse(text)  # raises TurnParseError on a malformed turn


def _rebuilt(tokenizer, change):
    """A copy of `tokenizer` whose tokenizer.json went through `change`."""
    from core.model.tokenizer_repair import _rewrap, _tokenizer_from_spec, backend_spec

    spec = backend_spec(tokenizer)
    change(spec)
    return _rewrap(tokenizer, _tokenizer_from_spec(spec))


def test_self_test_refuses_a_decoder_that_lies(smollm2_repaired) -> None:
    from core.model.tokenizer_repair import TokenizerBroken, self_test

    def sentencepiece_decoder(spec):  # what llguidance assumed: "Ċ" stays "Ċ"
        spec["decoder"] = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]}

    broken = _rebuilt(smollm2_repaired, sentencepiece_decoder)
    with pytest.raises(TokenizerBroken, match=r"decodes \d+ of \d+ tokens differently"):
        self_test(broken, "the broken tokenizer")


def test_self_test_refuses_a_tokenizer_that_splits_words_apart(smollm2_repaired) -> None:
    from core.model.tokenizer_repair import TokenizerBroken, self_test

    def no_merges(spec):
        spec["model"]["merges"] = []

    broken = _rebuilt(smollm2_repaired, no_merges)
    with pytest.raises(TokenizerBroken, match="tokens per character"):
        self_test(broken, "the broken tokenizer")


def test_normalising_the_decoder_repairs_the_gguf_conversion(smollm2_unrepaired) -> None:
    from core.model.tokenizer_repair import normalise_decoder, self_test

    repaired = normalise_decoder(smollm2_unrepaired)
    assert type(repaired.backend_tokenizer.decoder).__name__ == "ByteLevel"
    self_test(repaired, "SmolLM2")
    text = "def f(x):\n    return 'é😀'\r\n"
    assert repaired.decode(repaired.encode(text, add_special_tokens=False)) == text
