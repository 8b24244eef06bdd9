"""The turn grammar compiled against a tokenizer: token masks for decoding, and admission checks.

llguidance does the work: its tokenizer view of a Hugging Face tokenizer is built once per
tokenizer (it walks the whole vocabulary), and a compiled grammar once per budget pair; matchers,
one per generation, are cheap. Chat-template special tokens and EOS are never admitted inside a
body: the grammar's bodies are byte regexes, which special tokens cannot match.

`outlines_type` gives the same grammar as an Outlines output type, for Outlines' own generators
(whole-turn, non-streaming); streaming and resuming mid-turn use the matcher directly.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from grammars.turn import TurnParseError, fixed_text, lark_grammar, parse

_ll_tokenizers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def ll_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a Hugging Face fast tokenizer, made once per tokenizer object."""
    with _lock:
        cached = _ll_tokenizers.get(tokenizer)
        if cached is None:
            import llguidance.hf

            if tokenizer.eos_token_id is None:
                raise ValueError("the tokenizer has no EOS token: a turn could never end")
            cached = llguidance.hf.from_tokenizer(tokenizer)
            _ll_tokenizers[tokenizer] = cached
        return cached


@dataclass(frozen=True)
class Budget:
    """Token budgets of the thought and of the code or answer (None: unbounded)."""

    thought: int | None = None
    body: int | None = None


def budget_for(tokenizer: Any, max_new_tokens: int, thought_share: float = 1 / 3) -> Budget:
    """Budgets that leave room for every tag and EOS within `max_new_tokens`.

    Forced text is emitted as its canonical tokens (see `TurnMatcher.allowed`), so the tags cost
    what the tokenizer says they cost; the choice between `code>` and `answer>` is the model's,
    which may spell it a byte at a time, so it is counted at one token per byte.
    """
    encode = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
    open_thought, close_thought, open_code, close_code, open_answer, close_answer = fixed_text()
    overhead = (
        encode(open_thought)
        + encode(close_thought)
        + 1  # "<" of the choice, forced
        + max(len(open_code), len(open_answer))
        + max(encode(close_code), encode(close_answer))
        + 1  # EOS
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
    """The turn grammar for one tokenizer and budget; makes matchers."""

    def __init__(self, tokenizer: Any, budget: Budget = Budget()):
        import llguidance

        self.tokenizer = tokenizer
        self.budget = budget
        self.lark = lark_grammar(budget.thought, budget.body)
        started = time.perf_counter()
        self._ll_tokenizer = ll_tokenizer(tokenizer)
        self._grammar = llguidance.LLMatcher.grammar_from_lark(self.lark)
        self.vocab_size = self._ll_tokenizer.vocab_size
        self.eos_token_id = tokenizer.eos_token_id
        self.compile_seconds = time.perf_counter() - started

    def matcher(self) -> TurnMatcher:
        import llguidance

        matcher = llguidance.LLMatcher(self._ll_tokenizer, self._grammar, log_level=0)
        if matcher.is_error():
            raise RuntimeError(f"the turn grammar did not compile: {matcher.get_error()}")
        return TurnMatcher(matcher, self.vocab_size, self.eos_token_id)

    def admit(self, text: str) -> Admission:
        """Teacher-force `text` through the constraint: is every token allowed, is the end accepted?"""
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        matcher = self.matcher()
        for index, token in enumerate(ids):
            if not matcher.consume(token):
                offset = len(self.tokenizer.decode(ids[:index]))
                return Admission(False, index, offset, _reason(text, matcher.error()))
        if not matcher.accepts_end():
            return Admission(False, len(ids), len(text), _reason(text, "the turn is not finished"))
        return Admission(True, None, None, "")


class TurnMatcher:
    """The grammar's state during one generation (or one check)."""

    def __init__(self, matcher: Any, vocab_size: int, eos_token_id: int):
        self._matcher = matcher
        self.vocab_size = vocab_size
        self.eos_token_id = eos_token_id

    def consume(self, token: int) -> bool:
        return bool(self._matcher.consume_token(token))

    def consume_text(self, tokens: list[int]) -> bool:
        return bool(self._matcher.consume_tokens(tokens))

    def allowed(self) -> tuple[int | None, bytes | None]:
        """(the only token to emit, None) when text is forced, else (None, the token bitmask).

        Forced text goes out as its canonical tokens, one per step: a model is never free to spell
        a tag byte by byte, so the tags cost a known number of tokens.
        """
        forced = self._matcher.compute_ff_tokens()
        if forced:
            return forced[0], None
        if self._matcher.is_accepting():
            return self.eos_token_id, None
        return None, self._matcher.compute_bitmask()

    def accepts_end(self) -> bool:
        return self._matcher.is_accepting() and self._matcher.consume_token(self.eos_token_id)

    def is_stopped(self) -> bool:
        return self._matcher.is_stopped()

    def error(self) -> str:
        return self._matcher.get_error().split("\n", 1)[0]


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


def outlines_type(budget: Budget = Budget()) -> Any:
    """The turn as an Outlines output type (a Lark CFG for the llguidance backend)."""
    from outlines.types import CFG

    return CFG(lark_grammar(budget.thought, budget.body))
