"""What `kyzel-tui --train` prints at the end of a run, and the peak memory it records.

The figures: the SFT loss curve, a table of the stages, the training speed beside this machine's
rough limit, the held-out figures before and after, how the context windows were used. The
outcome: where the adapter is, the peak memory, and whether the app will load it by default.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path
from typing import Any


def print_figures(
    plot: str, stages: list[Any], model: Any, before: Any, after: Any, windows: str
) -> None:
    from training.evaluate import compare

    print()
    print(plot)
    print()
    print(_stage_table(stages))
    print(_speed_line(stages, model))
    print()
    print(compare(before, after))
    print()
    print(windows)


def print_outcome(
    args: argparse.Namespace, model_id: str, run_id: str, final: Path, meta: dict[str, Any]
) -> None:
    """Where the adapter is saved, the peak memory, and how the app will use it."""
    print(f"adapter {run_id} saved in {final} (loss curves: {final}/loss-*.png)")
    gpu = f", {meta['peak_gpu_mib']:.0f} MiB on the GPU" if meta["peak_gpu_mib"] else ""
    print(f"peak memory: {meta['peak_rss_mib']:.0f} MiB resident{gpu}")
    demo = "--demo random" if args.app_demo == "random" else "--demo"
    option = demo if args.app_demo else f"--model {model_id}" if args.app_model else ""
    prefix = f"kyzel-tui {option + ' ' if option else ''}"
    won, why = meta["verdict"]["won"], meta["verdict"]["why"]
    if won:
        print(f"this run improved ({why}): {prefix.strip()} loads it from now on by default")
    else:
        print(
            f"this run made things worse ({why}): it is kept, but never loaded by default; "
            f"to try it anyway: {prefix}--adapter {run_id}"
        )


def _speed_line(stages: list[Any], model: Any) -> str:
    """Training tokens/s beside this machine's rough limit for the model (6 × parameters FLOPs
    a token at the measured matmul speed)."""
    import torch

    from training.loop import machine_flops, rough_limit

    seconds = sum(s.seconds for s in stages)
    speed = sum(s.tokens for s in stages) / seconds if seconds else 0.0
    params = sum(p.numel() for p in model.parameters())
    half = any(s.precision == "bf16" for s in stages)
    flops = machine_flops(dtype=torch.bfloat16 if half else None)
    return (
        f"training: {speed:,.0f} tokens/s; this machine's rough limit for {params / 1e6:,.0f}M "
        f"parameters is {rough_limit(params, flops):,.0f} tokens/s ({flops / 1e9:,.0f} GFLOP/s "
        f"measured in {'bf16' if half else 'float32'}, 6 FLOPs a parameter a token; "
        "checkpointing adds a forward pass, a DPO pair's shared prompt runs once)"
    )


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux, bytes on macOS


def peak_gpu_mib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def _stage_table(stages: list[Any]) -> str:
    from training.plot import table

    rows = [
        [
            s.stage,
            s.rows,
            s.steps,
            f"{s.seconds:.1f} s",
            s.precision,
            round(s.tokens_per_second),
            s.train_loss[-1][1] if s.train_loss else None,
            s.best_eval_loss,
            "yes" if s.stopped_early else "no",
        ]
        for s in stages
    ]
    header = [
        *("stage", "rows", "steps", "time", "precision", "tok/s"),
        *("last loss", "best eval", "early stop"),
    ]
    return table(header, rows)
