"""The turn grammar compiled against a tokenizer: token masks for decoding, and admission checks.

llguidance does the work. Its view of a Hugging Face tokenizer is built once per tokenizer (it
walks the whole vocabulary), the grammar is compiled once per tokenizer into a blank matcher, and
each generation gets a copy of that blank matcher (microseconds). Chat-template special tokens
and EOS are never admitted inside a body: bodies are byte regexes, which special tokens cannot
match. Budgets are enforced here, not in the grammar: `TurnMatcher` writes a field's closing tag
once the field has spent its tokens.

`outlines_type` gives the same grammar as an Outlines output type, for Outlines' own generators
(whole turns, no streaming, no budgets); streaming and resuming mid-turn use the matcher directly.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from grammars.token_bytes import LLGuidanceSource, check_token_bytes, token_view
from grammars.turn import ANSWER, CODE, THOUGHT, TurnParseError, lark_grammar, parse

_ll_tokenizers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_constraints: weakref.WeakKeyDictionary[Any, TurnConstraint] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def ll_tokenizer(tokenizer: Any, name: str = "the tokenizer") -> Any:
    """llguidance's view of a Hugging Face fast tokenizer, made once per tokenizer object.

    The bytes of each token come from `grammars.token_bytes` (the vocabulary read by its
    family), checked against the tokenizer's own decoding: a tokenizer whose decoder disagrees
    is refused here, with a `TokenizerMismatch` naming it, and never fails mid-turn.
    """
    with _lock:
        cached = _ll_tokenizers.get(tokenizer)
        if cached is None:
            import llguidance

            if tokenizer.eos_token_id is None:
                raise ValueError("the tokenizer has no EOS token: a turn could never end")
            view = token_view(tokenizer)
            check_token_bytes(tokenizer, view, name)
            source = LLGuidanceSource(tokenizer, view)
            cached = llguidance.LLTokenizer(llguidance.TokenizerWrapper(source))
            _ll_tokenizers[tokenizer] = cached
        return cached


@dataclass(frozen=True)
class Budget:
    """Token budgets of the thought and of the code or answer (None: unbounded)."""

    thought: int | None = None
    body: int | None = None


def budget_for(tokenizer: Any, max_new_tokens: int, thought_share: float = 1 / 3) -> Budget:
    """Budgets that leave room for every tag and EOS within `max_new_tokens`.

    Forced text is emitted as its canonical tokens, and the choice between `code>` and
    `answer>` is made with their canonical first tokens (see `TurnMatcher.allowed`), so the tags
    cost what the tokenizer says they cost.
    """

    def tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    overhead = (
        tokens(THOUGHT[0])
        + tokens(THOUGHT[1])
        + tokens("\n<")
        + max(tokens(CODE[0][1:]), tokens(ANSWER[0][1:]))
        + max(tokens(CODE[1]), tokens(ANSWER[1]))
        + 1  # EOS
        + 2 * 3  # each budget may end inside a character, which has to be finished first
    )
    room = max_new_tokens - overhead
    if room < 2:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} is too small for a turn: the tags alone take up to "
            f"{overhead} tokens with this tokenizer; use at least {overhead + 2}"
        )
    thought = max(1, int(room * thought_share))
    return Budget(thought=thought, body=room - thought)


class TurnConstraint:
    """The turn grammar compiled for one tokenizer; makes matchers, checks texts."""

    def __init__(self, tokenizer: Any):
        import llguidance

        started = time.perf_counter()
        self.tokenizer = tokenizer
        self.lark = lark_grammar()
        self._ll_tokenizer = ll_tokenizer(tokenizer)
        grammar = llguidance.LLMatcher.grammar_from_lark(self.lark)
        # LLMatcher compiles the grammar; copies of a blank one are a thousand times cheaper.
        self._blank = llguidance.LLMatcher(self._ll_tokenizer, grammar, log_level=0)
        if self._blank.is_error():
            raise RuntimeError(f"the turn grammar did not compile: {self._blank.get_error()}")
        self.vocab_size = self._ll_tokenizer.vocab_size
        self.eos_token_id = tokenizer.eos_token_id
        self._closers = {
            field: tokenizer.encode(close, add_special_tokens=False)
            for field, (_, close) in (("thought", THOUGHT), ("code", CODE), ("answer", ANSWER))
        }
        # At "<" after the thought, the model picks code or answer by their canonical first tokens.
        firsts = [
            tokenizer.encode(t[1:], add_special_tokens=False)[0] for t in (CODE[0], ANSWER[0])
        ]
        self._choice_mask = _bitmask(self.vocab_size, firsts)
        self._body_masks = _BodyMasks()
        self.compile_seconds = time.perf_counter() - started

    def matcher(self, budget: Budget = Budget()) -> TurnMatcher:
        return TurnMatcher(
            self._blank.deep_copy(),
            self._ll_tokenizer,
            budget,
            self.eos_token_id,
            self._closers,
            self._choice_mask,
            self._body_masks,
        )

    def admit(self, text: str) -> Admission:
        """Teacher-force `text`: is every token allowed, and is the end accepted?"""
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        matcher = self.matcher()
        for index, token in enumerate(ids):
            if not matcher.consume(token):
                offset = len(self.tokenizer.decode(ids[:index]))
                return Admission(False, index, offset, _reason(text, matcher.error()))
        if not matcher.accepts_end():
            return Admission(False, len(ids), len(text), _reason(text, "the turn is not finished"))
        return Admission(True, None, None, "")


def constraint_for(tokenizer: Any) -> TurnConstraint:
    """The turn constraint for `tokenizer`, compiled on first use and kept while it lives."""
    constraint = _constraints.get(tokenizer)
    if constraint is None:
        constraint = _constraints[tokenizer] = TurnConstraint(tokenizer)
    return constraint


# What opens each field, and what closes it, as bytes: the matcher follows the text it consumes.
_FIELDS = (
    ("thought", THOUGHT[0].encode(), THOUGHT[1].encode()),
    ("code", CODE[0].encode(), CODE[1].encode()),
    ("answer", ANSWER[0].encode(), ANSWER[1].encode()),
)
_CLOSING = {field: close for field, _, close in _FIELDS}


class TurnMatcher:
    """The grammar's state during one generation (or one check), with the fields' budgets.

    It follows the bytes it consumes to know which field it is in and how many tokens that field
    has used; when a budget is spent it writes the field's closing tag itself, one canonical token
    per step, after which the grammar forces the rest of the turn.
    """

    def __init__(
        self,
        matcher: Any,
        ll_tok: Any,
        budget: Budget,
        eos: int,
        closers: dict,
        choice: bytes,
        body_masks: _BodyMasks | None = None,
    ):
        self._matcher = matcher
        self._choice_mask = choice
        self._body_masks = body_masks if body_masks is not None else _BodyMasks()
        self._ll_tok = ll_tok
        self._budget = budget
        self.eos_token_id = eos
        self._closers = closers
        self._text = bytearray()
        self._field: str | None = None
        self._field_start = 0
        self._field_tokens = 0
        self._after = 0
        """Where the text after the last closed field begins: tags before it are body text."""
        self._closed: set[str] = set()
        self._forcing: list[int] = []

    def consume(self, token: int) -> bool:
        if not self._matcher.consume_token(token):
            return False
        if self._forcing:
            # Whoever drives the matcher may consume something else (a cancelled step, a test):
            # then the forced tag no longer applies, and is worked out afresh.
            self._forcing = self._forcing[1:] if token == self._forcing[0] else []
        if token != self.eos_token_id:
            self._follow(self._ll_tok.decode_bytes([token]))
        return True

    def consume_text(self, tokens: list[int]) -> bool:
        return all(self.consume(token) for token in tokens)

    def _follow(self, new: bytes) -> None:
        self._text += new
        tail = max(0, len(self._text) - len(new) - 16)  # tags are shorter than 16 bytes
        if self._field is not None:
            self._field_tokens += 1
            self._close_if_done(tail)
            return
        for field, opening, _ in _FIELDS:
            if field in self._closed:
                continue
            at = self._text.find(opening, max(tail, self._after))
            if at >= 0:
                self._field, self._field_start, self._field_tokens = field, at + len(opening), 0
                self._close_if_done(tail)  # one token may hold a whole field
                return

    def _close_if_done(self, tail: int) -> None:
        assert self._field is not None
        close = _CLOSING[self._field]
        at = self._text.find(close, max(tail, self._field_start))
        if at >= 0:
            self._closed.add(self._field)
            self._field, self._after = None, at + len(close)

    def _body_state(self) -> tuple[str, bool, bytes, bytes]:
        """What the grammar's mask inside an open body depends on: the field, whether the body
        is still empty, an unfinished character at its end, and how much of the closing tag
        its end already spells (the body is any text up to that tag)."""
        assert self._field is not None
        end = self._text[max(self._field_start, len(self._text) - 16) :]
        partial = _partial_character(end)
        close = _CLOSING[self._field]
        overlap = 0
        if not partial:
            for size in range(min(len(close) - 1, len(end)), 0, -1):
                if end.endswith(close[:size]):
                    overlap = size
                    break
        empty = len(self._text) == self._field_start
        return self._field, empty, bytes(partial), close[:overlap]

    def _limit(self) -> int | None:
        return self._budget.thought if self._field == "thought" else self._budget.body

    def allowed(self) -> tuple[int | None, bytes | None]:
        """(the only token to emit, None) when text is forced, else (None, the token bitmask).

        Forced text (tags, and closing tags once a budget is spent) goes out as its canonical
        tokens, one per step: a model is never free to spell a tag byte by byte, so the tags cost
        a known number of tokens.
        """
        limit = self._limit() if self._field is not None else None
        if (
            not self._forcing
            and limit is not None
            and self._field_tokens >= limit
            and not _ends_mid_character(self._text)  # a tag cannot follow half a character
        ):
            self._forcing = list(self._closers[self._field])
        if self._forcing:
            return self._forcing[0], None
        if self._field is not None:
            # Inside a body nothing is forced and the turn cannot end; the mask depends only on
            # the body's state (see `_body_state`), so it is computed once per state and kept.
            # At 262k tokens llguidance takes ~2 ms for the first tokens of each body.
            return None, self._body_masks.get(self._body_state(), self._matcher.compute_bitmask)
        forced = self._matcher.compute_ff_tokens()
        if forced:
            return forced[0], None
        if self._matcher.is_accepting():
            return self.eos_token_id, None
        if self._field is None and self._closed == {"thought"} and self._text.endswith(b"\n<"):
            return None, self._choice_mask
        return None, self._matcher.compute_bitmask()

    def accepts_end(self) -> bool:
        return self._matcher.is_accepting() and self._matcher.consume_token(self.eos_token_id)

    def error(self) -> str:
        return self._matcher.get_error().split("\n", 1)[0]


class _BodyMasks:
    """Token masks inside bodies, by body state, shared by the matchers of one constraint."""

    LIMIT = 512
    """States kept at most (each mask is vocabulary/8 bytes: 32 KB at 262k tokens)."""

    def __init__(self) -> None:
        self._masks: dict[tuple, bytes] = {}

    def get(self, state: tuple, compute: Any) -> bytes:
        mask = self._masks.get(state)
        if mask is None:
            mask = compute()
            if len(self._masks) < self.LIMIT:
                self._masks[state] = mask
        return mask


def _bitmask(vocab_size: int, tokens: list[int]) -> bytes:
    """A token bitmask (32-bit little-endian words, as llguidance's) allowing only `tokens`."""
    mask = bytearray((vocab_size + 31) // 32 * 4)
    for token in tokens:
        mask[token // 8] |= 1 << (token % 8)
    return bytes(mask)


def _ends_mid_character(text: bytearray) -> bool:
    """True when `text` ends inside a multi-byte UTF-8 character."""
    return bool(_partial_character(text))


def _partial_character(text: bytes | bytearray) -> bytes | bytearray:
    """The bytes of an unfinished UTF-8 character at the end of `text` (empty when none)."""
    for back in range(1, min(4, len(text)) + 1):
        byte = text[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the character starts here
            length = (
                1
                if byte < 0x80
                else 2
                if byte >= 0xC0 and byte < 0xE0
                else (3 if byte < 0xF0 else 4)
            )
            return text[-back:] if length > back else text[:0]
    return text[:0]


@dataclass(frozen=True)
class Admission:
    """The outcome of an admission check; on refusal, where and why."""

    admitted: bool
    token_index: int | None
    char_offset: int | None
    reason: str


def _reason(text: str, fallback: str) -> str:
    try:
        parse(text)
    except TurnParseError as error:
        return error.reason
    return fallback


def outlines_type() -> Any:
    """The turn as an Outlines output type (a Lark CFG for the llguidance backend).

    Outlines generates whole turns; the per-field budgets need `TurnMatcher`, so this type
    bounds a turn only by the generator's `max_new_tokens`.
    """
    from outlines.types import CFG

    return CFG(lark_grammar())
