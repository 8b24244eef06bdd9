"""Making a converted or downloaded tokenizer fit for chat under the turn grammar, and proving it.

Tokenizers that transformers builds from GGUF files are wrong in ways that only show mid-turn:
a byte-level vocabulary gets a SentencePiece-style decoder `Sequence`, a SentencePiece vocabulary
(Gemma's 262k) becomes a Unigram model that splits words into pairs of letters, and the EOS
is whatever GGUF said rather than the chat template's end-of-turn token. Here:

- `normalise_decoder` gives a byte-level tokenizer the plain ByteLevel decoder;
- `sentencepiece_from_gguf` rebuilds a SentencePiece BPE tokenizer from a GGUF file's pieces,
  scores and token types (merges ranked by the merged piece's score, byte fallback, control
  tokens special, user-defined pieces matched first, as SentencePiece does);
- `fix_special_tokens` takes EOS from the chat template's end-of-turn token and adds a pad token;
- `self_test` checks a tokenizer before use: each token's bytes against its own decoding, a
  round trip of sample text, and tokens per character in a sane range. Every failure is one
  `TokenizerBroken` error that says what is wrong, at load time.

tokenizers and transformers are imported inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Text with what real turns hold: code, unicode, emoji, CRLF, markup characters, runs of spaces.
SAMPLE = (
    "def mean(values: list[float]) -> float:\n"
    '    """The average; 0.0 for an empty list."""\n'
    "    return sum(values) / len(values) if values else 0.0\n\r\n"
    "Loading the model took 3.2 s — naïve café, 東京, emoji 😀 <a & b> </co\tTab.\n"
    "The quick brown fox jumps over the lazy dog, then reads the documentation."
)
# On SAMPLE, tokenizers with real vocabularies (SmolLM2's 49k, Gemma's 262k) spend 0.31-0.33
# tokens per character; Gemma's as transformers converts it from GGUF (pairs of letters) 0.48,
# one that splits into characters about 1. Small vocabularies (the 2k test tokenizer) need more.
MAX_TOKENS_PER_CHAR = 0.42
MAX_TOKENS_PER_CHAR_SMALL_VOCAB = 0.9
SMALL_VOCAB = 16_000
END_OF_TURN = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>")


class TokenizerBroken(ValueError):
    """A tokenizer that would garble text or crash the grammar; the message says which way."""


def backend_spec(tokenizer: Any) -> dict:
    return json.loads(tokenizer.backend_tokenizer.to_str())


def normalise_decoder(tokenizer: Any) -> Any:
    """A byte-level tokenizer with the plain ByteLevel decoder (others are returned as they are)."""
    from grammars.token_bytes import tokenizer_family

    if tokenizer_family(tokenizer) != "byte-level":
        return tokenizer
    spec = backend_spec(tokenizer)
    decoder = spec.get("decoder") or {}
    if decoder.get("type") == "ByteLevel":
        return tokenizer
    spec["decoder"] = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": True,
    }
    if spec.get("model", {}).get("byte_fallback"):  # every byte is in the alphabet already
        spec["model"]["byte_fallback"] = False
    return _rewrap(tokenizer, _tokenizer_from_spec(spec))


def _tokenizer_from_spec(spec: dict) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(spec))


def _rewrap(tokenizer: Any, backend: Any) -> Any:
    """A PreTrainedTokenizerFast over `backend` with `tokenizer`'s special tokens and template."""
    from transformers import PreTrainedTokenizerFast

    new = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=tokenizer.bos_token,
        eos_token=tokenizer.eos_token,
        unk_token=tokenizer.unk_token,
        pad_token=tokenizer.pad_token,
        clean_up_tokenization_spaces=False,
    )
    new.chat_template = tokenizer.chat_template
    return new


def sentencepiece_from_gguf(path: Path, fields: dict[str, Any]) -> Any:
    """A SentencePiece BPE tokenizer rebuilt from a GGUF file's vocabulary (`read_fields`)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces: list[str] = fields["tokenizer.ggml.tokens"]
    scores: list[float] = fields["tokenizer.ggml.scores"]
    types: list[int] = fields["tokenizer.ggml.token_type"]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    normal = [i for i, kind in enumerate(types) if kind == 1]
    merges = _merges(pieces, scores, normal, vocab)
    unk = pieces[fields.get("tokenizer.ggml.unknown_token_id", 0)]
    backend = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token=unk, byte_fallback=True, fuse_unk=True)
    )
    prefix = [normalizers.Prepend("▁")] if fields.get("tokenizer.ggml.add_space_prefix") else []
    backend.normalizer = normalizers.Sequence([*prefix, normalizers.Replace(" ", "▁")])
    decode_prefix = [decoders.Strip(" ", 1, 0)] if prefix else []
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), *decode_prefix]
    )

    # Control tokens (type 3) are special; user-defined ones (type 4: newline and space runs,
    # HTML tags) are matched in the raw text before BPE, as SentencePiece matches them.
    def added(kind: int, special: bool) -> list[Any]:
        return [
            AddedToken(pieces[i], special=special, normalized=False)
            for i, k in enumerate(types)
            if k == kind
        ]

    backend.add_tokens(added(4, special=False))
    backend.add_special_tokens(added(3, special=True))
    bos = pieces[fields["tokenizer.ggml.bos_token_id"]]
    eos = pieces[fields["tokenizer.ggml.eos_token_id"]]
    if fields.get("tokenizer.ggml.add_bos_token", True):
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
        )
    pad_id = fields.get("tokenizer.ggml.padding_token_id")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        pad_token=pieces[pad_id] if pad_id is not None else None,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = fields.get("tokenizer.chat_template")
    return tokenizer


def _merges(
    pieces: list[str], scores: list[float], normal: list[int], vocab: dict[str, int]
) -> list[tuple[str, str]]:
    """BPE merges for a SentencePiece BPE vocabulary: every split of a piece into two pieces,
    ranked by the merged piece's score (SentencePiece merges the best-scoring pair first)."""
    ranked: list[tuple[float, int, int, str, str]] = []
    for index in normal:
        piece = pieces[index]
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[index], vocab[left], vocab[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def fix_special_tokens(tokenizer: Any, eos_ids: list[int] | None = None) -> list[int]:
    """EOS from the chat template's end-of-turn token (if it is one token), a pad token if none.

    Returns the ids that end generation (the new EOS first, then `eos_ids`, e.g. GGUF's).
    """
    template = tokenizer.chat_template or ""
    vocab = tokenizer.get_vocab()
    for token in END_OF_TURN:
        if token in template and token in vocab:
            tokenizer.eos_token = token
            break
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    ends = [tokenizer.eos_token_id]
    return ends + [i for i in eos_ids or [] if i not in ends]


def self_test(tokenizer: Any, name: str) -> None:
    """Refuse a tokenizer that would garble text or the grammar, with one message saying why."""
    from grammars.constraint import ll_tokenizer
    from grammars.token_bytes import TokenizerMismatch

    try:
        ll_tokenizer(tokenizer, name)  # checks every token's bytes; kept for the grammar
    except TokenizerMismatch as error:
        raise TokenizerBroken(str(error)) from None
    ids = tokenizer.encode(SAMPLE, add_special_tokens=False)
    back = tokenizer.decode(ids, clean_up_tokenization_spaces=False)
    if back != SAMPLE:
        at = next((i for i, (a, b) in enumerate(zip(back, SAMPLE, strict=False)) if a != b), None)
        at = min(len(back), len(SAMPLE)) if at is None else at
        raise TokenizerBroken(
            f"{name} does not give back the text it encoded (first difference at character "
            f"{at}: {SAMPLE[at : at + 12]!r} came back as {back[at : at + 12]!r}); "
            "choose another model or tokenizer"
        )
    rate = len(ids) / len(SAMPLE)
    limit = (
        MAX_TOKENS_PER_CHAR if len(tokenizer) >= SMALL_VOCAB else MAX_TOKENS_PER_CHAR_SMALL_VOCAB
    )
    if rate > limit:
        raise TokenizerBroken(
            f"{name} splits text into {rate:.2f} tokens per character (a working one of "
            f"{len(tokenizer)} tokens spends under {limit}): its vocabulary is not being used, "
            "so the model would read and write garbage; choose another model or tokenizer"
        )
