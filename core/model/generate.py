"""Streamed, grammar-constrained generation of one turn with transformers.

`start_generation` renders chat messages with `core.chat.render`, optionally appends a
prefix (an edited thought, a half-written turn) that the grammar consumes first, and runs
`model.generate` in a worker thread. The caller iterates the `Generation` for text as tokens
arrive, may `cancel()` it (it stops within one token step), and gets a `GeneratedTurn` with the
parsed fields and figures from `result()`.

The grammar acts through one logits processor that also applies temperature and top-p, after the
mask, so that sampling can never be left with no allowed token. This module knows nothing of
sessions or the UI: give it messages, get a turn.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from core.model.threads import enter_generation_thread
from grammars.constraint import TurnMatcher, budget_for, constraint_for
from grammars.turn import TurnFields, TurnParseError, parse


@dataclass
class Sampling:
    """Sampling settings, per session and visible to the user."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 1024
    seed: int | None = None


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    output_tokens: int = 0
    time_to_first_token: float | None = None
    seconds: float = 0.0
    tokens_per_second: float = 0.0
    constraint_seconds: float = 0.0
    """Time spent computing masks and advancing the grammar."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the status bar: speed (first: a narrow screen cuts the end), tokens,
        first-token latency."""
        first = self.time_to_first_token
        after = f" · first {first * 1000:.0f} ms" if first is not None else ""
        return f"{self.tokens_per_second:.1f} tok/s · {self.output_tokens} tok{after}"


@dataclass
class GeneratedTurn:
    raw: str
    """The whole turn text, prefix included."""
    fields: TurnFields | None
    """The parsed turn; None when the generation was cancelled or (unconstrained) malformed."""
    stats: GenerationStats
    cancelled: bool = False
    parse_error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


class _GrammarProcessor:
    """Masks logits to the tokens the grammar allows, then applies temperature and top-p."""

    def __init__(self, matcher: TurnMatcher | None, sampling: Sampling, stats: GenerationStats):
        self.matcher = matcher
        self.sampling = sampling
        self.stats = stats
        self.calls = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.matcher is not None:
            started = time.perf_counter()
            if self.calls and not self.matcher.consume(int(input_ids[0, -1])):
                raise RuntimeError(
                    f"the grammar refused a token it allowed: {self.matcher.error()}"
                )
            forced, bitmask = self.matcher.allowed()
            if forced is not None:
                masked = torch.full_like(scores, float("-inf"))
                masked[:, forced] = 0.0
                self.stats.constraint_seconds += time.perf_counter() - started
                self.calls += 1
                return masked
            allowed = _unpack(bitmask, scores.shape[-1]).to(scores.device, non_blocking=True)
            scores = scores.masked_fill(~allowed, float("-inf"))
            self.stats.constraint_seconds += time.perf_counter() - started
        self.calls += 1
        return _temperature_top_p(scores, self.sampling)


def _unpack(bitmask: bytes, width: int) -> Any:
    import numpy as np
    import torch

    bits = np.unpackbits(np.frombuffer(bitmask, dtype=np.uint8), bitorder="little")
    allowed = np.zeros(width, dtype=bool)
    n = min(width, bits.shape[0])
    allowed[:n] = bits[:n]
    return torch.from_numpy(allowed)


def _temperature_top_p(scores: Any, sampling: Sampling) -> Any:
    import torch

    if sampling.temperature <= 0:
        best = scores.argmax(dim=-1, keepdim=True)
        return torch.full_like(scores, float("-inf")).scatter(-1, best, 0.0)
    scores = scores / sampling.temperature
    if sampling.top_p < 1.0:
        ordered, order = torch.sort(scores, descending=True)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative > sampling.top_p
        drop[..., 1:] = drop[..., :-1].clone()
        drop[..., 0] = False  # the best token always stays
        scores = scores.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return scores


class _Cancel:
    """Stopping criterion: true once the caller cancels."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class _Streamer:
    """Receives token ids from `generate` and queues text, decoded incrementally (linear time)."""

    def __init__(self, tokenizer: Any, out: queue.Queue, stats: GenerationStats, started: float):
        self.tokenizer = tokenizer
        self.out = out
        self.stats = stats
        self.started = started
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0
        self.skipped_prompt = False
        self.special = set(tokenizer.all_special_ids)

    def put(self, value: Any) -> None:
        if not self.skipped_prompt:
            self.skipped_prompt = True
            return
        tokens = [int(t) for t in value.reshape(-1).tolist() if int(t) not in self.special]
        if not tokens:
            return
        if self.stats.time_to_first_token is None:
            self.stats.time_to_first_token = time.perf_counter() - self.started
        self.ids.extend(tokens)
        decode = self.tokenizer.decode
        before = decode(self.ids[self.prefix_offset : self.read_offset])
        text = decode(self.ids[self.prefix_offset :])
        if text.endswith("\ufffd"):
            return  # a character split across tokens: wait for the rest of it
        self.out.put(text[len(before) :])
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)

    def end(self) -> None:
        pass


_DONE = object()


class Generation:
    """One turn being generated in a worker thread. Iterate for text; `result()` for the turn."""

    def __init__(self, run: Any, prefix: str):
        self.prefix = prefix
        self._chunks: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._result: GeneratedTurn | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._work, args=(run,), daemon=True, name="kyzel-generate"
        )
        self._thread.start()

    def _work(self, run: Any) -> None:
        try:
            self._result = run(self._chunks, self._cancel)
        except BaseException as error:  # handed to the caller in result()
            self._error = error
        finally:
            self._chunks.put(_DONE)

    def __iter__(self):
        while (chunk := self._chunks.get()) is not _DONE:
            yield chunk

    def cancel(self) -> None:
        """Stop at the next token step; the turn comes back with `cancelled=True`."""
        self._cancel.set()

    def result(self, timeout: float | None = None) -> GeneratedTurn:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the generation is still running")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of the chat, ending with the assistant's generation prompt: the renderer's, so
    exactly what training put before each turn."""
    from core.chat import render

    return render(tokenizer, messages)[0]


def start_generation(
    model: Any,
    tokenizer: Any,
    messages: list[dict[str, str]],
    sampling: Sampling | None = None,
    *,
    prefix: str = "",
    constrained: bool = True,
) -> Generation:
    """Start generating one turn (after `prefix`, if given) for the chat `messages`."""
    sampling = sampling or Sampling()
    prefix_ids = tokenizer.encode(prefix, add_special_tokens=False) if prefix else []
    matcher = None
    if constrained:
        budget = budget_for(tokenizer, sampling.max_new_tokens + len(prefix_ids))
        matcher = constraint_for(tokenizer).matcher(budget)
        if prefix_ids and not matcher.consume_text(prefix_ids):
            raise ValueError(f"the prefix is not the start of a valid turn: {matcher.error()}")
    ids = prompt_ids(tokenizer, messages) + prefix_ids

    def run(chunks: queue.Queue, cancel: threading.Event) -> GeneratedTurn:
        import torch

        enter_generation_thread(torch)  # one core stays with the UI thread
        stats = GenerationStats(prompt_tokens=len(ids))
        started = time.perf_counter()
        streamer = _Streamer(tokenizer, chunks, stats, started)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        input_ids = torch.tensor([ids], device=model.device)
        with torch.inference_mode():
            output = model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=sampling.max_new_tokens,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                logits_processor=[_GrammarProcessor(matcher, sampling, stats)],
                stopping_criteria=[_Cancel(cancel)],
                streamer=streamer,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        new = [int(t) for t in output[0, len(ids) :].tolist()]
        stats.seconds = time.perf_counter() - started
        stats.output_tokens = len(new)
        stats.tokens_per_second = len(new) / stats.seconds if stats.seconds else 0.0
        raw = prefix + tokenizer.decode(new, skip_special_tokens=True)
        turn = GeneratedTurn(raw, None, stats, cancelled=cancel.is_set(), settings=asdict(sampling))
        if not turn.cancelled:
            try:
                turn.fields = parse(raw)
            except TurnParseError as error:
                turn.parse_error = str(error)
        return turn

    return Generation(run, prefix)
