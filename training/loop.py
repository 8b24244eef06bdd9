"""The training loop shared by SFT, DPO and KTO: steps, schedule, evaluation, early stopping.

One row at a time goes through the model (no padding, so no token is wasted and memory follows
the longest row, not the batch), its loss scaled so that a step's `batch_size × grad_accum` rows
add up to the step's loss; then one optimizer step. The number of steps of a stage is what its
epochs need, capped by `max_steps` when set: every stage obeys the cap. Every `eval_every` steps
(or four times a stage) the held-out rows are scored; the best adapter weights are kept in memory
and put back at the end when a later step did worse, and `patience` evaluations without a better
score stop the stage. Each step reports a `Tick` to the callbacks (the progress bar).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from training import distributed
from training.settings import TrainConfig


@dataclass
class Tick:
    """Where a stage is, for progress displays."""

    stage: str
    step: int
    total: int
    loss: float | None
    eval_loss: float | None
    tokens: int
    seconds: float
    done: bool = False


StepFn = Callable[[Any, list[Any]], tuple[float, int]]
"""(model, the step's rows) -> (the step's loss, tokens seen), gradients accumulated."""
EvalFn = Callable[[Any], float]


def plan(rows: int, config: TrainConfig, epochs: float) -> tuple[int, int]:
    """(rows per optimizer step, steps): the epochs' steps, capped by max_steps."""
    per_step = config.batch_size * config.grad_accum
    steps = max(1, math.ceil(math.ceil(rows / per_step) * epochs))
    return per_step, min(steps, config.max_steps) if config.max_steps else steps


def _batches(count: int, per_step: int, seed: int) -> Iterator[list[int]]:
    """Row indices, a shuffled epoch after another, `per_step` at a time (forever)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while True:
        batch = []
        while len(batch) < per_step:
            if not order:
                order = torch.randperm(count, generator=generator).tolist()
            batch.append(order.pop(0))
            if len(batch) == count:  # fewer rows than a step: one of each
                break
        yield batch


def _trainable_state(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def run_stage(
    model: Any,
    stage: str,
    rows: list[Any],
    step_fn: StepFn,
    eval_fn: EvalFn | None,
    config: TrainConfig,
    lr: float,
    epochs: float,
    callbacks: list[Callable[[Tick], None]] = (),
) -> Any:
    """Train `model`'s trainable parameters on `rows`; a `trainer.StageResult`."""
    import torch
    from transformers import get_scheduler

    from training.trainer import StageResult

    per_step, total = plan(len(rows), config, epochs)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    warmup = round(config.warmup * total) if config.warmup < 1 else int(config.warmup)
    schedule = get_scheduler(config.scheduler, optimizer, warmup, total)
    per_epoch = max(1, math.ceil(len(rows) / per_step))
    every = config.eval_every or max(1, min(per_epoch, math.ceil(total / 4)))
    result = StageResult(stage, rows=len(rows))
    best_state, waited, eval_loss = None, 0, None
    started = time.perf_counter()
    batches = _batches(len(rows), per_step, config.seed)
    group = distributed.current()  # one process, or one of a launch's (each on its share)
    model.train()
    for step in range(1, total + 1):
        batch = [rows[i] for i in next(batches)]
        mine = group.shard(batch)
        loss, tokens = step_fn(model, mine) if mine else (0.0, 0)
        loss, tokens = group.sync(params, mine, batch, loss, tokens)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        result.tokens += tokens
        result.steps = step
        result.train_loss.append((step, loss))
        stop = False
        if eval_fn is not None and (step % every == 0 or step == total):
            model.eval()
            with torch.no_grad():
                eval_loss = group.from_main(lambda: eval_fn(model))
            model.train()
            result.eval_loss.append((step, eval_loss))
            if result.best_eval_loss is None or eval_loss < result.best_eval_loss:
                result.best_eval_loss, best_state, waited = eval_loss, _trainable_state(model), 0
            else:
                waited += 1
                stop = bool(config.patience) and waited >= config.patience
        seconds = time.perf_counter() - started
        for callback in callbacks:
            callback(Tick(stage, step, total, loss, eval_loss, result.tokens, seconds))
        if stop:
            result.stopped_early = step < total
            break
    if best_state is not None and result.eval_loss[-1][1] > result.best_eval_loss:
        with torch.no_grad():  # the best evaluated weights, not the last ones
            for name, param in model.named_parameters():
                if name in best_state:
                    param.copy_(best_state[name])
    result.seconds = time.perf_counter() - started
    for callback in callbacks:
        callback(
            Tick(stage, result.steps, total, loss, eval_loss, result.tokens, result.seconds, True)
        )
    model.eval()
    return result


def machine_flops(size: int = 1024, repeats: int = 5, dtype: Any = None) -> float:
    """This process's measured matmul speed on the CPU (FLOP/s; float32 unless `dtype`), the
    best of a few tries."""
    import torch

    dtype = dtype or torch.float32
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # the first product of a type loads its kernels
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def rough_limit(parameters: int, flops: float) -> float:
    """Training tokens/s a machine of `flops` FLOP/s could reach at best: a forward and backward
    pass cost about 6 × parameters FLOPs a token (more with gradient checkpointing)."""
    return flops / (6 * parameters)
