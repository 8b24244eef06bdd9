"""Evaluating a model on held-out sessions: the figures printed after training and kept with it.

Figures on rows that training never saw (the eval split, by session):
- loss on the good assistant turns, masked exactly as in training (`render_with_mask`), averaged
  over those tokens; chats longer than the context are scored in the same windows as training;
- preferences, on held-out pairs (a kept turn against the one the user retried, edited or
  skipped, after the same conversation):
  - preference accuracy: the share of pairs whose chosen turn has the higher mean log-probability
    per token (end-of-turn token included). Per token, because the summed log-probability mostly
    says which turn is shorter; it can be measured on any model, the base included;
  - margin: the mean of log p(chosen) − log p(rejected), summed over each turn's tokens;
  - reward accuracy (after training only, given the base's report as `reference`): DPO's implicit
    reward of a turn is β·(log π(turn) − log π_base(turn)); the share of pairs where the chosen
    turn's reward beats the rejected one's, i.e. where training widened the summed margin. This is
    the accuracy DPO trainers report; on the base itself every reward is 0, so it has no "before";
- format share: the share of held-out prompts for which the model, decoding greedily without the
  grammar's constraint, writes a turn that `grammars.turn.parse` accepts;
- kind share: the share of those prompts whose turn is well-formed and ends as the user's kept
  turn did, with `<answer>` or with `<code>`. Training on sessions that mostly run code can teach
  a model to run code for questions while its loss and format improve: on the embedded model,
  an adapter that lowered held-out loss 14 % answered 7 of 12 pure questions on the app's path,
  against 11 of 12 before. The check sees only what the held-out prompts hold: on the shipped
  split (2 of its 8 prompts kept as answers) that adapter's share rose, 0.25 to 0.75.
`evaluate` runs them on a model as it is; to get "before" figures for an adapter, call it with
the adapter disabled (`with model.disable_adapter():`) or on the base model. `compare` prints
before against after. It never trains and never writes files.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from training.datasets import completion_ids, render_with_mask
from training.loss import shared_logprobs, token_logprobs
from training.window import WindowStats, window_rows


@dataclass
class EvalReport:
    loss: float | None = None
    """Mean negative log-likelihood per trained token of the held-out SFT rows."""
    loss_tokens: int = 0
    preference_accuracy: float | None = None
    """Share of pairs whose chosen turn has the higher mean log-probability per token."""
    margin: float | None = None
    """Mean of log p(chosen) - log p(rejected), summed over each turn's tokens, in nats."""
    reward_accuracy: float | None = None
    """Share of pairs whose summed margin is wider than the reference model's (DPO's reward
    accuracy); None without a reference."""
    reward_margin: float | None = None
    """Mean widening of the summed margin against the reference, in nats."""
    pairs: int = 0
    pair_scores: list[list[float]] = field(default_factory=list)
    """Per pair: [log p(chosen), its tokens, log p(rejected), its tokens], for `reward_accuracy`."""
    format_share: float | None = None
    kind_share: float | None = None
    """Share of the prompts whose turn is well-formed and ends like the kept one: answer, code."""
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


def preference_scores(
    model: Any, tokenizer: Any, rows: list[dict[str, Any]], max_length: int = 2048
) -> list[list[float]]:
    """[log p(chosen), tokens, log p(rejected), tokens] for each pair (prompts windowed to
    `max_length`)."""
    out = []
    for row in window_rows(tokenizer, rows, "preference", max_length, WindowStats()):
        turns = [row["chosen"], row["rejected"]]
        seqs = [completion_ids(tokenizer, row["prompt"], turn) for turn in turns]
        chosen, rejected = shared_logprobs(model, seqs)  # the prompt run once for both
        out.append([float(chosen.sum()), chosen.numel(), float(rejected.sum()), rejected.numel()])
    return out


def _per_token(score: list[float]) -> float:
    chosen, chosen_n, rejected, rejected_n = score
    return chosen / max(chosen_n, 1) - rejected / max(rejected_n, 1)


def summed_margin(score: list[float]) -> float:
    return score[0] - score[2]


def fill_preferences(report: EvalReport, reference: EvalReport | None = None) -> None:
    """The preference figures of `report` from its pair scores; the reward figures when the
    reference (the base model's report on the same pairs) is given."""
    scores = report.pair_scores
    report.pairs = len(scores)
    if not scores:
        return
    report.preference_accuracy = sum(_per_token(s) > 0 for s in scores) / len(scores)
    report.margin = sum(map(summed_margin, scores)) / len(scores)
    base = reference.pair_scores if reference is not None else None
    if base and len(base) == len(scores):
        widened = [summed_margin(s) - summed_margin(b) for s, b in zip(scores, base, strict=True)]
        report.reward_accuracy = sum(w > 0 for w in widened) / len(widened)
        report.reward_margin = sum(widened) / len(widened)


def eval_prompts(
    sft_rows: list[dict[str, Any]], limit: int
) -> list[tuple[list[dict[str, str]], str]]:
    """(the conversation up to a good assistant turn, that turn's text), first turns of each row
    first."""
    per_row = [
        [
            (row["messages"][:i], row["messages"][i]["content"])
            for i, learn in enumerate(row["trainable"])
            if learn
        ]
        for row in sft_rows
    ]
    seen, out = set(), []
    depth = 0
    while len(out) < limit and any(depth < len(p) for p in per_row):
        for prompts in per_row:
            if depth < len(prompts) and len(out) < limit:
                key = repr(prompts[depth][0])
                if key not in seen:  # branches of one session share their first prompts
                    seen.add(key)
                    out.append(prompts[depth])
        depth += 1
    return out


def turn_kind(text: str) -> str | None:
    """The kind of a well-formed turn's text, "answer" or "code"; None for any other text."""
    from grammars.turn import TurnParseError, parse

    try:
        return _kind(parse(text))
    except (TurnParseError, ValueError):
        return None


def _kind(fields: Any) -> str:
    return "answer" if fields.answer is not None else "code"


def format_shares(
    model: Any,
    tokenizer: Any,
    prompts: list[tuple[list[dict[str, str]], str]],
    max_new_tokens: int = 256,
) -> tuple[float | None, float | None]:
    """(share of prompts answered with a well-formed turn, share answered with a well-formed turn
    that ends like the kept one), decoded greedily and unconstrained."""
    from core.model.generate import Sampling, start_generation

    if not prompts:
        return None, None
    sampling = Sampling(temperature=0.0, max_new_tokens=max_new_tokens)
    good = right = 0
    for messages, kept in prompts:
        turn = start_generation(model, tokenizer, messages, sampling, constrained=False).result()
        if turn.fields is not None:
            good += 1
            right += _kind(turn.fields) == turn_kind(kept)
    return good / len(prompts), right / len(prompts)


def evaluate(
    model: Any,
    tokenizer: Any,
    rows: dict[str, list[dict[str, Any]]],
    *,
    max_length: int = 2048,
    prompts: int = 16,
    max_new_tokens: int = 256,
    reference: EvalReport | None = None,
) -> EvalReport:
    """All the figures on held-out rows: `rows` maps "sft" and "preference" to row lists;
    `reference` is the base model's report on the same rows, for the reward figures."""
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
            report.pair_scores = preference_scores(
                model, tokenizer, rows.get("preference", []), max_length
            )
        fill_preferences(report, reference)
        chosen = eval_prompts(rows.get("sft", []), prompts)
        report.prompts = len(chosen)
        report.format_share, report.kind_share = format_shares(
            model, tokenizer, chosen, max_new_tokens
        )
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
        ("prefers the chosen turn (per token)", "preference_accuracy", "pairs", "pairs"),
        ("chosen − rejected log-prob margin", "margin", "pairs", "pairs"),
        ("reward accuracy against the base (DPO)", "reward_accuracy", "pairs", "pairs"),
        ("well-formed turns without the grammar", "format_share", "prompts", "prompts"),
        ("...that end as the kept turn did (answer or code)", "kind_share", "prompts", "prompts"),
    ]
    rows = []
    for label, name, count, unit in lines:
        rows.append(
            [label, get(before, name), get(after, name), f"{get(after, count) or 0} {unit}"]
        )
    return table(["held-out figure", "before", "after", "on"], rows)
