"""Sessions longer than the context: the rule that fits them, so that no row is cut silently.

The rule, for an SFT row (a chat with its trainable assistant messages) whose rendering is
longer than `max_length` tokens:
- the head is kept in every window: the fixed prefix (the system message and the example
  exchanges, `core.chat.PREFIX`) and the first user message (the task);
- each window is the head, then a run of consecutive messages starting at an assistant message
  (so roles still alternate), ending at a trainable assistant message;
- windows are made from the first turn not yet learnt: the window grows forward over as many
  following turns as fit with that turn, then backward over as much earlier context as fits;
  each trainable turn is learnt in exactly one window (earlier ones are context only);
- a turn that does not fit even with the head alone is left out and counted (`WindowStats`):
  never cut. A preference or KTO prompt is windowed the same way around its completions.
Chats that fit are passed through unchanged. It knows only the tokenizer and the chat template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.chat import prefix_length
from training.datasets import render_with_mask


@dataclass
class WindowStats:
    rows: int = 0
    """Rows looked at."""
    windowed: int = 0
    """Rows longer than the context, made into windows."""
    windows: int = 0
    """Windows those rows became."""
    dropped_turns: int = 0
    """Trainable turns (or pairs, ratings) too long for the context even alone: left out."""
    notes: list[str] = field(default_factory=list)

    def line(self, max_length: int) -> str:
        if not self.windowed and not self.dropped_turns:
            return f"all {self.rows} rows fit in {max_length} tokens"
        text = (
            f"{self.windowed} of {self.rows} rows are longer than {max_length} tokens and became "
            f"{self.windows} windows (the task message kept in each)"
        )
        if self.dropped_turns:
            text += f"; {self.dropped_turns} turns too long even alone were left out"
        return text


def _head_end(messages: list[dict[str, str]]) -> int:
    """Index after the fixed prefix and the first user message."""
    index = prefix_length(messages)
    if index < len(messages) and messages[index]["role"] == "user":
        index += 1
    return index


def _length(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _fits(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> bool:
    return _length(tokenizer, messages) <= max_length


def window_sft(
    tokenizer: Any, row: dict[str, Any], max_length: int, stats: WindowStats | None = None
) -> list[dict[str, Any]]:
    """The row itself when it fits, else its windows (see the module's rule)."""
    stats = stats if stats is not None else WindowStats()
    stats.rows += 1
    messages, trainable = row["messages"], row["trainable"]
    ids, _ = render_with_mask(tokenizer, messages, trainable)
    if len(ids) <= max_length:
        stats.windows += 1
        return [row]
    stats.windowed += 1
    head = _head_end(messages)
    starts = [i for i in range(head, len(messages)) if messages[i]["role"] == "assistant"]
    todo = [i for i in range(head, len(messages)) if trainable[i]]
    out: list[dict[str, Any]] = []
    while todo:
        first = todo[0]
        if not _fits(tokenizer, messages[:head] + [messages[first]], max_length):
            stats.dropped_turns += 1
            todo.pop(0)
            continue
        end = first
        for later in todo[1:]:  # grow forward: more turns learnt in this window
            if not _fits(tokenizer, messages[:head] + messages[first : later + 1], max_length):
                break
            end = later
        start = first
        for earlier in reversed([s for s in starts if s < first]):  # then earlier context
            if not _fits(tokenizer, messages[:head] + messages[earlier : end + 1], max_length):
                break
            start = earlier
        learnt = {i for i in todo if i <= end}
        picked = list(range(head)) + list(range(start, end + 1))
        out.append(
            {
                **row,
                "messages": [messages[i] for i in picked],
                "trainable": [i in learnt for i in picked],
                "window": [start, end],
            }
        )
        todo = [i for i in todo if i > end]
    stats.windows += len(out)
    return out


def window_prompt(
    tokenizer: Any,
    prompt: list[dict[str, str]],
    completions: list[str],
    max_length: int,
) -> list[dict[str, str]] | None:
    """The prompt, or its head and most recent messages, such that the prompt with each
    completion fits; None when even the head alone does not leave room."""

    def fits(messages: list[dict[str, str]]) -> bool:
        return all(
            _fits(tokenizer, [*messages, {"role": "assistant", "content": c}], max_length)
            for c in completions
        )

    if fits(prompt):
        return prompt
    head = _head_end(prompt)
    if not fits(prompt[:head]):
        return None
    best = prompt[:head]
    # Roles alternate: the kept tail starts at an assistant message (the task is a user one).
    for start in range(head, len(prompt)):
        if prompt[start]["role"] != "assistant":
            continue
        candidate = prompt[:head] + prompt[start:]
        if fits(candidate):
            return candidate
    return best


def window_rows(
    tokenizer: Any, rows: list[dict[str, Any]], kind: str, max_length: int, stats: WindowStats
) -> list[dict[str, Any]]:
    """Every row of a kind ("sft", "preference", "kto") made to fit `max_length`."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if kind == "sft":
            out += window_sft(tokenizer, row, max_length, stats)
            continue
        stats.rows += 1
        completions = (
            [row["chosen"], row["rejected"]] if kind == "preference" else [row["completion"]]
        )
        prompt = window_prompt(tokenizer, row["prompt"], completions, max_length)
        if prompt is None:
            stats.dropped_turns += 1
            continue
        if prompt is not row["prompt"]:
            stats.windowed += 1
        stats.windows += 1
        out.append({**row, "prompt": prompt})
    return out
