"""The three stages: SFT on good turns, then DPO on preference pairs or KTO on ratings.

Each turns its rows into token ids and loss masks (windowed to the context by
`training.window`: never cut), and gives `training.loop.run_stage` a step function:
- SFT: the mean negative log-likelihood of the trainable tokens of the step's rows;
- DPO: −log σ(β · ((log p(chosen) − ref) − (log p(rejected) − ref))), the reference being the
  model as it starts the stage (the SFT adapter), scored once before the first step, so no copy
  of the model is kept;
- KTO: desirable turns pushed above, undesirable ones below, the reference point z₀ (the KL
  term) estimated as the step's mean log-ratio, floored at 0 (a simplification of KTO's
  mismatched-pair estimate, which needs the whole batch in memory at once).
Log-probabilities come from `training.loss` (chunked LM head); a DPO pair's chosen and rejected
turns are scored in one forward pass that runs their shared prompt once (`shared_logprobs`). A
stage's forward passes, its reference and its own held-out loss run in the precision of
`training.trainer.compute_dtype`; the before/after evaluation (`training.evaluate`) is float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.datasets import completion_ids, render_with_mask
from training.loop import run_stage
from training.loss import computing_in, shared_logprobs, token_logprobs
from training.settings import TrainConfig, TrainError
from training.trainer import compute_dtype
from training.window import WindowStats, window_rows


def sft_items(
    tokenizer: Any, rows: list[dict[str, Any]], max_length: int, stats: WindowStats | None = None
) -> list[dict[str, Any]]:
    stats = stats if stats is not None else WindowStats()
    out = []
    for row in window_rows(tokenizer, rows, "sft", max_length, stats):
        ids, mask = render_with_mask(tokenizer, row["messages"], row["trainable"])
        out.append({"ids": ids, "mask": mask})
    return out


def pair_items(
    tokenizer: Any, rows: list[dict[str, Any]], max_length: int, stats: WindowStats | None = None
) -> list[dict[str, Any]]:
    stats = stats if stats is not None else WindowStats()
    out = []
    for row in window_rows(tokenizer, rows, "preference", max_length, stats):
        chosen = completion_ids(tokenizer, row["prompt"], row["chosen"])
        rejected = completion_ids(tokenizer, row["prompt"], row["rejected"])
        out.append({"chosen": chosen, "rejected": rejected})
    return out


def rating_items(
    tokenizer: Any, rows: list[dict[str, Any]], max_length: int, stats: WindowStats | None = None
) -> list[dict[str, Any]]:
    stats = stats if stats is not None else WindowStats()
    out = []
    for row in window_rows(tokenizer, rows, "kto", max_length, stats):
        seq = completion_ids(tokenizer, row["prompt"], row["completion"])
        out.append({"seq": seq, "label": row["label"]})
    return out


def _sum(model: Any, seq: tuple[list, list]) -> Any:
    return token_logprobs(model, seq[0], seq[1]).sum()


def _pair_sums(model: Any, item: dict[str, Any]) -> tuple[Any, Any]:
    """Summed log-probs of a pair's chosen and rejected turns, their prompt run once."""
    chosen, rejected = shared_logprobs(model, [item["chosen"], item["rejected"]])
    return chosen.sum(), rejected.sum()


def sft_step(model: Any, items: list[dict[str, Any]]) -> tuple[float, int]:
    count = sum(sum(item["mask"][1:]) for item in items) or 1
    total = 0.0
    for item in items:
        loss = -token_logprobs(model, item["ids"], item["mask"]).sum() / count
        loss.backward()
        total += float(loss.detach())
    return total, sum(len(item["ids"]) for item in items)


def sft_eval(items: list[dict[str, Any]]) -> Any:
    def score(model: Any) -> float:
        nll = sum(-float(token_logprobs(model, i["ids"], i["mask"]).sum()) for i in items)
        return nll / max(1, sum(sum(i["mask"][1:]) for i in items))

    return score


def _with_reference(model: Any, items: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    import torch

    was = model.training
    model.eval()
    with torch.no_grad():
        for item in items:
            if keys == ("chosen", "rejected"):
                item["ref"] = dict(zip(keys, map(float, _pair_sums(model, item)), strict=True))
            else:
                item["ref"] = {k: float(_sum(model, item[k])) for k in keys}
    model.train(was)


def dpo_step(beta: float) -> Any:
    import torch.nn.functional as F

    def step(model: Any, items: list[dict[str, Any]]) -> tuple[float, int]:
        total = 0.0
        for item in items:
            chosen, rejected = _pair_sums(model, item)
            chosen, rejected = chosen - item["ref"]["chosen"], rejected - item["ref"]["rejected"]
            loss = -F.logsigmoid(beta * (chosen - rejected)) / len(items)
            loss.backward()
            total += float(loss.detach())
        tokens = sum(len(i["chosen"][0]) + len(i["rejected"][0]) for i in items)
        return total, tokens

    return step


def dpo_eval(items: list[dict[str, Any]], beta: float) -> Any:
    import torch.nn.functional as F

    def score(model: Any) -> float:
        losses = []
        for item in items:
            chosen, rejected = _pair_sums(model, item)
            margin = (chosen - item["ref"]["chosen"]) - (rejected - item["ref"]["rejected"])
            losses.append(float(-F.logsigmoid(beta * margin)))
        return sum(losses) / len(losses)

    return score


def kto_step(beta: float) -> Any:
    import torch

    def step(model: Any, items: list[dict[str, Any]]) -> tuple[float, int]:
        with torch.no_grad():
            ratios = [float(_sum(model, i["seq"])) - i["ref"]["seq"] for i in items]
        z0 = max(0.0, sum(ratios) / len(ratios))
        total = 0.0
        for item in items:
            ratio = _sum(model, item["seq"]) - item["ref"]["seq"]
            margin = ratio - z0 if item["label"] else z0 - ratio
            loss = (1 - torch.sigmoid(beta * margin)) / len(items)
            loss.backward()
            total += float(loss.detach())
        return total, 2 * sum(len(i["seq"][0]) for i in items)

    return step


def train_sft(
    model: Any,
    trainable: Any,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    config: TrainConfig,
    workdir: Path | None = None,
    callbacks: list[Any] = (),
    stats: WindowStats | None = None,
) -> Any:
    """Train the LoRA of `model` on SFT rows, the loss on the good assistant turns only."""
    tokenizer = trainable.tokenizer
    train = sft_items(tokenizer, train_rows, config.max_length, stats)
    if not train:
        raise TrainError(
            "nothing to train on: accept, edit or rate some turns first "
            "(`kyzel-tui --train --review` shows what would be used)"
        )
    held = sft_items(tokenizer, eval_rows, config.max_length)
    evaluate = sft_eval(held) if held else None
    dtype = compute_dtype(config, trainable.device)
    with computing_in(trainable.device, dtype):
        result = run_stage(
            model, "sft", train, sft_step, evaluate, config, config.lr, config.epochs, callbacks
        )
    return _precision(result, dtype)


def _precision(result: Any, dtype: Any) -> Any:
    """The stage's result, saying bf16 when its forward passes ran so (`compute_dtype` gives
    bfloat16 or None)."""
    if result is not None and dtype is not None:
        result.precision = "bf16"
    return result


def train_preference(
    model: Any,
    trainable: Any,
    rows: dict[str, dict[str, list[dict[str, Any]]]],
    config: TrainConfig,
    workdir: Path | None = None,
    callbacks: list[Any] = (),
    stats: WindowStats | None = None,
) -> Any:
    """DPO on the preference pairs, else KTO on the ratings, else nothing (None)."""
    tokenizer, length = trainable.tokenizer, config.max_length
    pairs, ratings = rows["preference"], rows["kto"]
    if pairs["train"]:
        stage, keys = "dpo", ("chosen", "rejected")
        train = pair_items(tokenizer, pairs["train"], length, stats)
        held = pair_items(tokenizer, pairs["eval"], length)
    elif ratings["train"]:
        stage, keys = "kto", ("seq",)
        train = rating_items(tokenizer, ratings["train"], length, stats)
        held = []  # KTO's own loss on held-out ratings says little; the evaluation says more
    else:
        return None
    if not train:
        return None
    if stage == "dpo":
        step, evaluate = dpo_step(config.beta), dpo_eval(held, config.beta) if held else None
    else:
        step, evaluate = kto_step(config.beta), None
    dtype = compute_dtype(config, trainable.device)
    with computing_in(trainable.device, dtype):  # the reference in the precision of the steps
        _with_reference(model, train + held, keys)
        result = run_stage(
            model,
            stage,
            train,
            step,
            evaluate,
            config,
            config.pref_lr,
            config.pref_epochs,
            callbacks,
        )
    return _precision(result, dtype)
