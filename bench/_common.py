"""What the benchmarks share: timing and rounding helpers, and loading a real model by name.

`load_bench_model` goes through the product's own `core.model.loading.load_model`, so a benchmark
measures the model the app would run: a short name ("smollm2"), a hub id or a folder, at a
precision ("4bit", "bf16", "fp32"; None: the product's default), with an optional adapter.
"""

from __future__ import annotations

import os
import time
from typing import Any

PRECISIONS = ("4bit", "bf16", "fp32")


def now() -> float:
    return time.perf_counter()


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def sig(value: float, digits: int = 4) -> float:
    """`value` rounded to `digits` significant digits."""
    return float(f"{value:.{digits}g}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def say(line: str = "") -> None:
    print(line, flush=True)


def json_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """Floats rounded for the closing JSON line, recursively."""
    if isinstance(figures, dict):
        return {k: json_figures(v) for k, v in figures.items()}
    if isinstance(figures, list):
        return [json_figures(v) for v in figures]
    return sig(figures) if isinstance(figures, float) else figures


def unpack(bitmask: bytes, width: int) -> Any:
    """The allowed-token vector of a bitmask, as `core.model.generate` unpacks it."""
    import numpy as np

    bits = np.unpackbits(np.frombuffer(bitmask, dtype=np.uint8), bitorder="little")
    allowed = np.zeros(width, dtype=bool)
    n = min(width, bits.shape[0])
    allowed[:n] = bits[:n]
    return allowed


def quiet() -> None:
    """No tokenizer thread pools, no transformers chatter about long benchmark texts."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()


def load_bench_model(
    name: str, precision: str | None = None, adapter: str | None = None, device: str = "cpu"
) -> Any:
    """`load_model(name, ...)` of `core.model.loading`: a `LoadedModel`, or SystemExit."""
    from core.model.loading import ModelLoadError, load_model

    kwargs: dict[str, Any] = {"adapter": adapter, "device": device}
    if precision is not None:
        kwargs["precision"] = precision
    try:
        return load_model(name, **kwargs)
    except ModelLoadError as error:
        raise SystemExit(f"cannot load {name}: {error}") from error


def compiles(code: str) -> bool:
    """Does the body compile as the kernel would run it (IPython's `!` and `%` transforms)?"""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        compile(TransformerManager().transform_cell(code), "<turn>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True
