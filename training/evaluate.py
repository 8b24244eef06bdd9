"""Evaluating a model on held-out sessions: the figures printed after training and kept with it.

Three figures, each on rows that training never saw (the eval split, by session):
- loss on the good assistant turns, masked exactly as in training (`render_with_mask`), averaged
  over those tokens; chats longer than the context are scored in the same windows as training;
- preference accuracy: the share of pairs where the summed log-probability of the chosen turn's
  tokens (end-of-turn token included) beats the rejected one's, and the mean margin;
- format share: the share of held-out prompts for which the model, decoding greedily without the
  grammar's constraint, writes a turn that `grammars.turn.parse` accepts.
`evaluate` runs them on a model as it is; to get "before" figures for an adapter, call it with
the adapter disabled (`with model.disable_adapter():`) or on the base model. `compare` prints
before against after. It never trains and never writes files.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from training.datasets import render_with_mask
from training.loss import token_logprobs
from training.window import WindowStats, window_rows


@dataclass
class EvalReport:
    loss: float | None = None
    """Mean negative log-likelihood per trained token of the held-out SFT rows."""
    loss_tokens: int = 0
    preference_accuracy: float | None = None
    margin: float | None = None
    """Mean of log p(chosen) - log p(rejected), in nats."""
    pairs: int = 0
    format_share: float | None = None
    prompts: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def masked_loss(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    max_length: int = 2048,
    stats: WindowStats | None = None,
) -> tuple[float | None, int]:
    """(mean NLL per trained token, number of trained tokens) over SFT rows; a row longer than
    `max_length` is scored in windows (`training.window`), every kept turn once."""
    total, count = 0.0, 0
    for row in window_rows(tokenizer, rows, "sft", max_length, stats or WindowStats()):
        ids, mask = render_with_mask(tokenizer, row["messages"], row["trainable"])
        scores = token_logprobs(model, ids, mask)
        total -= float(scores.sum())
        count += int(scores.numel())
    return (total / count if count else None), count


def completion_logprob(
    model: Any,
    tokenizer: Any,
    prompt: list[dict[str, str]],
    completion: str,
    max_length: int = 2048,
) -> float:
    """Summed log p of an assistant turn's tokens (its end-of-turn included) after `prompt`."""
    messages = [*prompt, {"role": "assistant", "content": completion}]
    ids, mask = render_with_mask(tokenizer, messages, [False] * len(prompt) + [True])
    return float(token_logprobs(model, ids, mask).sum())


def preference_margins(
    model: Any, tokenizer: Any, rows: list[dict[str, Any]], max_length: int = 2048
) -> list[float]:
    """log p(chosen) - log p(rejected) for each pair (prompts windowed to `max_length`)."""
    rows = window_rows(tokenizer, rows, "preference", max_length, WindowStats())
    return [
        completion_logprob(model, tokenizer, r["prompt"], r["chosen"], max_length)
        - completion_logprob(model, tokenizer, r["prompt"], r["rejected"], max_length)
        for r in rows
    ]


def eval_prompts(sft_rows: list[dict[str, Any]], limit: int) -> list[list[dict[str, str]]]:
    """The conversation up to each good assistant turn, first turns of each row first."""
    per_row = [
        [row["messages"][:i] for i, learn in enumerate(row["trainable"]) if learn]
        for row in sft_rows
    ]
    seen, out = set(), []
    depth = 0
    while len(out) < limit and any(depth < len(p) for p in per_row):
        for prompts in per_row:
            if depth < len(prompts) and len(out) < limit:
                key = repr(prompts[depth])
                if key not in seen:  # branches of one session share their first prompts
                    seen.add(key)
                    out.append(prompts[depth])
        depth += 1
    return out


def format_share(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], max_new_tokens: int = 256
) -> float | None:
    """Share of prompts answered with a well-formed turn, decoded greedily and unconstrained."""
    from core.model.generate import Sampling, start_generation

    if not prompts:
        return None
    sampling = Sampling(temperature=0.0, max_new_tokens=max_new_tokens)
    good = 0
    for messages in prompts:
        turn = start_generation(model, tokenizer, messages, sampling, constrained=False).result()
        good += turn.fields is not None
    return good / len(prompts)


def evaluate(
    model: Any,
    tokenizer: Any,
    rows: dict[str, list[dict[str, Any]]],
    *,
    max_length: int = 2048,
    prompts: int = 16,
    max_new_tokens: int = 256,
) -> EvalReport:
    """All three figures on held-out rows: `rows` maps "sft" and "preference" to row lists."""
    import torch

    started = time.perf_counter()
    was_training = model.training
    model.eval()
    report = EvalReport()
    try:
        with torch.inference_mode():
            report.loss, report.loss_tokens = masked_loss(
                model, tokenizer, rows.get("sft", []), max_length
            )
            margins = preference_margins(model, tokenizer, rows.get("preference", []), max_length)
        report.pairs = len(margins)
        if margins:
            report.preference_accuracy = sum(m > 0 for m in margins) / len(margins)
            report.margin = sum(margins) / len(margins)
        chosen = eval_prompts(rows.get("sft", []), prompts)
        report.prompts = len(chosen)
        report.format_share = format_share(model, tokenizer, chosen, max_new_tokens)
    finally:
        model.train(was_training)
    report.seconds = time.perf_counter() - started
    return report


def compare(before: EvalReport | dict | None, after: EvalReport | dict) -> str:
    """Before against after, one figure a line, on the held-out sessions."""
    from training.plot import table

    def get(report: Any, name: str) -> Any:
        if report is None:
            return None
        return report.get(name) if isinstance(report, dict) else getattr(report, name)

    lines = [
        ("loss on accepted turns (lower is better)", "loss", "loss_tokens", "tokens"),
        ("preference accuracy", "preference_accuracy", "pairs", "pairs"),
        ("chosen − rejected log-prob margin", "margin", "pairs", "pairs"),
        ("well-formed turns without the grammar", "format_share", "prompts", "prompts"),
    ]
    rows = []
    for label, name, count, unit in lines:
        rows.append(
            [label, get(before, name), get(after, name), f"{get(after, count) or 0} {unit}"]
        )
    return table(["held-out figure", "before", "after", "on"], rows)
