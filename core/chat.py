"""The one renderer of the model's input: a session path to chat messages, and messages to ids.

Inference and training both go through here, so that a model is trained on exactly the tokens it
will be shown: `prompt_messages` (a session up to an event, rejections included) and
`task_messages` (one request, headless) give the chat; `render` gives its token ids, with a loss
mask for training or ending in the generation prompt for inference. Turns are assistant messages
in the grammar's text; results, kernel events and rejections are user-role messages, because they
come from outside the model. The tokenizer's chat template does the markup.
"""

from __future__ import annotations

from typing import Any

from core.events import Event, KernelEvent, Result, Turn, UserMessage
from core.text import safe_text
from grammars.turn import TurnFields, render_parts
from grammars.turn import render as render_turn

RENDER_VERSION = 5
"""Bump when the text below changes: datasets record it, so that stale data can be told apart."""

SYSTEM_PROMPT = (
    "You are a coding assistant with a Python kernel (IPython) on the user's machine. "
    "Reply with one turn: <thought> in one short sentence, then <code> or <answer>. "
    "A task (list, show, read, count, compute, plot, save, find, check) gets <code>: plain "
    "Python, no markdown fences; the user runs it and shows you the <result>. "
    "A question (what, why, when, is) gets <answer>: a few sentences, no code."
)
"""The system message of every chat, at inference and in training: who, and the rules."""

EXPLAIN, RUN = "I can explain this.", "I will run code."
"""The thoughts of the example answers and code turns: thoughts that say how the turn ends, so
that the choice of `<answer>` or `<code>` follows from them (see `EXAMPLES`)."""

EXAMPLES: tuple[tuple[str, TurnFields], ...] = (
    ("What does len() give for a dict?", TurnFields(EXPLAIN, answer="The number of its keys.")),
    (
        "How many rows does sales.csv have?",
        TurnFields(RUN, code='len(open("sales.csv").readlines())'),
    ),
    (
        "What is the difference between a module and a package?",
        TurnFields(EXPLAIN, answer="A module is one .py file; a package is a folder of modules."),
    ),
    (
        "Show the current working directory.",
        TurnFields(RUN, code="import os\nos.getcwd()"),
    ),
    (
        "Why are Python strings immutable?",
        TurnFields(EXPLAIN, answer="So they can be hashed safely."),
    ),
    (
        "Print 2 to the power 100.",
        TurnFields(RUN, code="print(2 ** 100)"),
    ),
    ("Is a tuple hashable?", TurnFields(EXPLAIN, answer="Yes, when all its items are hashable.")),
    (
        "When should I use a set?",
        TurnFields(EXPLAIN, answer="For fast membership tests and to drop duplicates."),
    ),
)
"""Short real exchanges, shown as earlier chat messages, questions first and last. Measured with
bench/quality.py on SmolLM2-135M: examples inside the system message were copied into 2 to 4 of
30 turns (long thoughts that ran on into the rules), examples as chat messages into none of 60;
tasks given code rose from 14 to 18 of 18. Thoughts stay under 6 words, nothing to parrot, and
say how the turn ends: with thoughts like "I know why." for answers, which the model also wrote
before code, 7 of 12 questions got an answer; with `EXPLAIN` against `RUN`, 11 of 12, the tasks
still 18 of 18. Answers stay specific: a general one ("When order does not matter ...") was
copied into answers to other questions."""


def _prefix() -> tuple[dict[str, str], ...]:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for message, turn in EXAMPLES:
        messages.append({"role": "user", "content": message})
        messages.append({"role": "assistant", "content": render_turn(turn)})
    return tuple(messages)


PREFIX = _prefix()
"""What every chat starts with: the system message, then the example exchanges. Never trained
on; a session's own messages follow it."""


def prefix_length(messages: list[dict[str, str]]) -> int:
    """How many leading messages are the fixed prefix (or, for chats built elsewhere, the
    leading system messages): the session's own messages start there."""
    if tuple(messages[: len(PREFIX)]) == PREFIX:
        return len(PREFIX)
    index = 0
    while index < len(messages) and messages[index]["role"] == "system":
        index += 1
    return index


RESULT_BUDGET = 4000
"""Characters of output the model sees per result; the middle is cut beyond that."""


def turn_text(turn: Turn) -> str:
    """The grammar's text of a stored turn (imported turns may hold text the grammar refuses)."""
    return render_parts(turn.thought, turn.code, turn.answer)


def result_text(result: Result, budget: int = RESULT_BUDGET) -> str:
    """A result as the model sees it: plain text, no escape sequences, within a budget."""
    output = safe_text(result.output)  # also drops escapes the output cap cut in half
    if result.error and result.error.get("name"):
        output += "\n" + condensed_traceback(result.error)
    if len(output) > budget:
        head, tail = output[: budget * 2 // 3], output[-budget // 3 :]
        output = f"{head}\n[... {len(output) - len(head) - len(tail)} characters cut ...]\n{tail}"
    status = "" if result.status == "ok" else f' status="{result.status}"'
    body = output.strip("\n").rstrip()  # leading spaces of the first line are data (tables)
    return f"<result{status}>\n{body}\n</result>"


def condensed_traceback(error: dict, keep: int = 2) -> str:
    """An exception for the model: the last `keep` frames and the message, without colours."""
    frames = [safe_text(str(part)).strip("\n") for part in error.get("traceback") or []]
    frames = [f for f in frames if f and not set(f) <= set("-")]  # IPython's rule of dashes
    message = f"{error.get('name', '')}: {safe_text(str(error.get('value', '')))}"
    name = error.get("name") or "\0"
    body = frames[:-1] if frames and frames[-1].startswith(name) else frames  # the message line
    if len(body) > keep:
        body = [f"[... {len(body) - keep} earlier frames ...]"] + body[-keep:]
    return "\n".join(body + [message])


def kernel_text(event: KernelEvent) -> str:
    if event.state in ("died", "restarted"):
        text = f"The kernel {event.state}: every variable, import and open file is gone."
    elif event.state == "background":
        text = "A thread of an earlier cell printed this while no cell ran:"
    else:
        text = f"The kernel was {event.state}."
    return f"<kernel>{text}{' ' + event.detail if event.detail else ''}</kernel>"


def path_messages(
    path: list[Event], rejections: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """Chat messages for a path of nodes (root to head), after the fixed `PREFIX`.

    `rejections` maps a turn id to the reason the user gave for skipping it; the model is told.
    """
    messages = [dict(m) for m in PREFIX]
    for event in path:
        body = event.body
        if isinstance(body, UserMessage):
            messages.append({"role": "user", "content": body.text})
        elif isinstance(body, Turn):
            messages.append({"role": "assistant", "content": turn_text(body)})
            if rejections and event.id in rejections:
                reason = rejections[event.id]
                note = "The user did not run this code." + (f" Reason: {reason}" if reason else "")
                messages.append({"role": "user", "content": note})
        elif isinstance(body, Result):
            messages.append({"role": "user", "content": result_text(body)})
        elif isinstance(body, KernelEvent):
            messages.append({"role": "user", "content": kernel_text(body)})
    return _merge_consecutive(messages)


def _merge_consecutive(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Join neighbouring user-role messages: many chat templates insist on alternation.

    Assistant messages are never joined: each is one turn, and training needs each on its own.
    """
    merged: list[dict[str, str]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"] == "user":
            merged[-1] = {
                **merged[-1],
                "content": merged[-1]["content"] + "\n\n" + message["content"],
            }
        else:
            merged.append(dict(message))
    return merged


def rejections(tree: Any, path: list[Event]) -> dict[str, str]:
    """Turn id -> the reason the user gave for skipping its code, for the turns of `path`."""
    out = {}
    for event in path:
        decision = tree.decision(event.id) if event.kind == "turn" else None
        if decision is not None and decision.value == "rejected":
            out[event.id] = decision.reason
    return out


def prompt_messages(tree: Any, upto: str | None) -> list[dict[str, str]]:
    """The chat of a session (a `core.tree.SessionTree`) from its root to `upto` (None: nothing
    yet): what the model sees for the turn that follows `upto`, and a training row's messages
    when `upto` is a leaf."""
    path = tree.path(upto) if upto is not None else []
    return path_messages(path, rejections=rejections(tree, path))


def task_messages(text: str) -> list[dict[str, str]]:
    """The chat of one request with no session behind it (`ask`, benchmarks)."""
    return [*(dict(m) for m in PREFIX), {"role": "user", "content": text}]


class MaskError(ValueError):
    """The chat template does not render a conversation as a growing prefix; say which."""


def render(
    tokenizer: Any, messages: list[dict[str, str]], trainable: list[bool] | None = None
) -> tuple[list[int], list[int]]:
    """Token ids of a chat, and a mask: 1 for each token the model learns.

    With `trainable` (one flag per message; only assistant messages may be set), a training chat:
    a message's span runs from the end of the prompt that asks for it (the template with a
    generation prompt) to the end of the chat that includes it, so the template's end-of-turn
    token is learnt (the model must learn to stop) and the role header is not. Without it, the
    prompt for the model's next turn: the chat and the generation prompt, nothing learnt. Both
    tokenize the template's text the same way, so a turn's prompt at inference is exactly the
    ids that precede it in training.
    """
    if trainable is None:
        text = _template(tokenizer, messages, prompt=True)
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        return ids, [0] * len(ids)
    full = _template(tokenizer, messages, prompt=False)
    spans = []
    for index, (message, learn) in enumerate(zip(messages, trainable, strict=True)):
        if not learn:
            continue
        if message["role"] != "assistant":
            raise ValueError("only assistant messages can be trained on")
        before = _template(tokenizer, messages[:index], prompt=True)
        through = _template(tokenizer, messages[: index + 1], prompt=False)
        if not full.startswith(before) or not full.startswith(through):
            raise MaskError(
                "this tokenizer's chat template does not render a conversation as a growing "
                "prefix, so the assistant turns cannot be located for the loss mask"
            )
        spans.append((len(before), len(through)))
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, mask = list(encoded["input_ids"]), []
    for start, end in encoded["offset_mapping"]:
        mask.append(int(any(a <= start and end <= b and end > start for a, b in spans)))
    return ids, mask


def _template(tokenizer: Any, messages: list[dict[str, str]], prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
