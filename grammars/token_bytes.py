"""The true bytes of every token of a Hugging Face tokenizer, worked out from its vocabulary.

llguidance needs each token's bytes. Reading them from the tokenizer's decoder is fragile: a
GGUF conversion writes a decoder `Sequence(ByteFallback, Fuse, Replace, ByteLevel)` for a
byte-level vocabulary, which llguidance takes for a SentencePiece one, so that the newline
token `Ċ` becomes the bytes C4 8A. Here the bytes come from the vocabulary itself, by the
tokenizer's family: byte-level BPE (GPT-2's printable alphabet for the 256 bytes) or
SentencePiece (`▁` for a space, `<0xXX>` for a byte-fallback byte). Added tokens are their text.

`check_token_bytes` then holds the result against the tokenizer's own decoding, token by token,
and refuses a disagreement with one message naming the tokenizer's problem: a grammar built on
wrong bytes would otherwise fail in the middle of a turn.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


class TokenizerMismatch(ValueError):
    """The tokenizer's decoding disagrees with the bytes its vocabulary implies."""


@dataclass(frozen=True)
class TokenView:
    """Each token's bytes, which ids are special (control) tokens, and the family found."""

    tokens: list[bytes]
    special: frozenset[int]
    family: str
    """"byte-level" or "sentencepiece"."""


@cache
def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's map from its printable stand-in characters back to the bytes they stand for."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _components(node: Any) -> list[str]:
    """Every `type` named in a tokenizer.json component (a Sequence's members included)."""
    if isinstance(node, dict):
        found = [node["type"]] if isinstance(node.get("type"), str) else []
        for value in node.values():
            found += _components(value)
        return found
    if isinstance(node, list):
        return [t for item in node for t in _components(item)]
    return []


def tokenizer_family(tokenizer: Any) -> str:
    """ "byte-level" when the tokenizer maps bytes to GPT-2's alphabet, else "sentencepiece"."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    pre = _components(spec.get("pre_tokenizer"))
    decoder = _components(spec.get("decoder"))
    # The pre-tokenizer is what encodes: a ByteLevel there decides, whatever the decoder says.
    if "ByteLevel" in pre or ("ByteLevel" in decoder and "Metaspace" not in pre):
        return "byte-level"
    return "sentencepiece"


def token_view(tokenizer: Any) -> TokenView:
    """The bytes of every token id below `len(tokenizer)`, by the tokenizer's family."""
    family = tokenizer_family(tokenizer)
    size = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    added = {index: token for index, token in tokenizer.added_tokens_decoder.items()}
    special = frozenset(i for i, t in added.items() if t.special) | frozenset(
        i for i in tokenizer.all_special_ids if i is not None and i < size
    )
    table = _byte_level_decoder()
    tokens: list[bytes] = []
    for index, piece in enumerate(pieces):
        if piece is None:
            tokens.append(b"")
        elif index in added:
            tokens.append(added[index].content.encode())
        elif family == "byte-level":
            if all(ch in table for ch in piece):
                tokens.append(bytes(table[ch] for ch in piece))
            else:  # a piece outside the alphabet is literal text (rare, e.g. added by hand)
                tokens.append(piece.encode())
        else:
            match = _BYTE_PIECE.match(piece)
            tokens.append(
                bytes([int(match.group(1), 16)]) if match else piece.replace("▁", " ").encode()
            )
    return TokenView(tokens, special, family)


def check_token_bytes(tokenizer: Any, view: TokenView, name: str = "the tokenizer") -> None:
    """Refuse a view whose bytes differ from `tokenizer.decode`, token by token.

    Each token is decoded after an anchor token so that decoders that strip a leading space
    (SentencePiece's) do not count as disagreeing; tokens that are not whole UTF-8 on their own
    (byte-level halves of a character) cannot be compared by text and are skipped.
    """
    anchor = _anchor(tokenizer, view)
    base = tokenizer.decode([anchor])
    ids = [i for i in range(len(view.tokens)) if i not in view.special and view.tokens[i]]
    texts = tokenizer.batch_decode([[anchor, i] for i in ids], clean_up_tokenization_spaces=False)
    wrong: list[tuple[int, bytes, str]] = []
    for index, text in zip(ids, texts, strict=True):
        try:
            expected = view.tokens[index].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not text.startswith(base) or text[len(base) :] != expected:
            wrong.append((index, view.tokens[index], text[len(base) :]))
    if wrong:
        index, expected, got = wrong[0]
        raise TokenizerMismatch(
            f"{name} decodes {len(wrong)} of {len(ids)} tokens differently from its vocabulary "
            f"({view.family}): token {index} is {expected!r} but decodes to {got!r}. Its "
            "decoder is broken; repair the tokenizer (kyzel-tui repairs GGUF conversions) or "
            "choose another model"
        )


def _anchor(tokenizer: Any, view: TokenView) -> int:
    """A plain token ("a" or anything decoding alone) to put before each checked token."""
    ids = tokenizer.encode("a", add_special_tokens=False)
    if len(ids) == 1:
        return ids[0]
    return next(i for i, b in enumerate(view.tokens) if b.isalpha() and i not in view.special)


class LLGuidanceSource:
    """What `llguidance.TokenizerWrapper` reads: token bytes, EOS, BOS, special ids, an encoder."""

    def __init__(self, tokenizer: Any, view: TokenView):
        self.tokens = view.tokens
        self.eos_token_id = tokenizer.eos_token_id
        self.bos_token_id = tokenizer.bos_token_id
        self.special_token_ids = sorted(view.special)
        self._encode = tokenizer.encode

    def __call__(self, text: str) -> list[int]:
        if not isinstance(text, str):  # llguidance probes for bytes support; text only here
            raise TypeError("text only")
        return self._encode(text, add_special_tokens=False)
