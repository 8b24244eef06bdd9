"""What the machine can run: the GPU torch sees, the default model that fits it, and the dtype.

`detect_hardware` reports the first CUDA GPU and its memory (a CPU-only torch, or a broken
driver, is "no GPU"); `default_model_id` picks the largest Qwen2.5-Coder instruct model whose
4-bit weights and KV cache fit that memory (`GPU_DEFAULTS`, `CPU_DEFAULT` without a GPU);
`choose_device` checks a requested device; `cuda_dtype` and `precision_name` say which float type
a load uses; `out_of_memory_message` names the next smaller default when a load ran out of GPU
memory. torch is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.model.hub import ModelLoadError


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    gpu_name: str | None = None
    gpu_memory_gib: float | None = None


# Qwen2.5-Coder instruct models, largest first, with the GPU memory (GiB) each wants in 4-bit
# with room left for the KV cache of a long session. The last row (0 GiB) is any GPU.
GPU_DEFAULTS: tuple[tuple[float, str], ...] = (
    (40.0, "Qwen/Qwen2.5-Coder-14B-Instruct"),
    (16.0, "Qwen/Qwen2.5-Coder-7B-Instruct"),
    (8.0, "Qwen/Qwen2.5-Coder-3B-Instruct"),
    (0.0, "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
)
CPU_DEFAULT = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
SMALLEST = CPU_DEFAULT
# For each default, the next smaller one: what the out-of-memory message suggests.
SMALLER: dict[str, str] = {
    "Qwen/Qwen2.5-Coder-14B-Instruct": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "Qwen/Qwen2.5-Coder-7B-Instruct": "Qwen/Qwen2.5-Coder-3B-Instruct",
    "Qwen/Qwen2.5-Coder-3B-Instruct": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
}


def detect_hardware() -> Hardware:
    """The first CUDA GPU, if torch can use one; a CPU-only torch answers `cuda=False`."""
    import torch

    try:
        if not torch.cuda.is_available():
            return Hardware(cuda=False)
        props = torch.cuda.get_device_properties(0)
    except (RuntimeError, AssertionError):  # a broken driver is the same as no GPU here
        return Hardware(cuda=False)
    return Hardware(cuda=True, gpu_name=props.name, gpu_memory_gib=props.total_memory / 2**30)


def cuda_available() -> bool:
    """Whether torch can use a CUDA GPU (a broken driver counts as none)."""
    import torch

    try:
        return bool(torch.cuda.is_available())
    except (RuntimeError, AssertionError):
        return False


def default_model_id(hw: Hardware) -> str:
    """The largest default that fits: a bigger 4-bit coder model on a bigger GPU."""
    if not hw.cuda:
        return CPU_DEFAULT
    memory = hw.gpu_memory_gib or 0.0
    return next(model_id for min_gib, model_id in GPU_DEFAULTS if memory >= min_gib)


def choose_device(device: str | None) -> str:
    """`device` checked ("cuda" or "cpu"), or the GPU when there is one."""
    import torch

    if device not in (None, "cuda", "cpu"):
        raise ModelLoadError(f"device must be 'cuda' or 'cpu', not {device!r}")
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise ModelLoadError("no CUDA GPU is available to torch: run on the CPU instead")
    return device or ("cuda" if available else "cpu")


def cuda_dtype() -> Any:
    """bfloat16 where the GPU supports it, else float16."""
    import torch

    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def precision_name(device: str, precision: str) -> str:
    """How a status bar names the weights' type: "4-bit", "bfloat16", "float16" or "float32"."""
    if precision == "4bit":
        return "4-bit"
    if precision == "bf16":
        return "bfloat16" if device == "cpu" else _dtype_name(device)
    return "float32"


def _dtype_name(device: str) -> str:
    return "float32" if device == "cpu" else str(cuda_dtype()).removeprefix("torch.")


def out_of_memory_message(model_id: str) -> str:
    """What a load that ran out of GPU memory tells the user (memory given back first)."""
    import gc

    import torch

    gc.collect()  # give back what the failed load took, so that a smaller model can follow
    torch.cuda.empty_cache()
    if model_id == SMALLEST:
        return f"not enough GPU memory for {model_id}: free GPU memory or run on the CPU"
    smaller = SMALLER.get(model_id)
    such_as = f"{smaller} or the 0.5B, {SMALLEST}" if smaller and smaller != SMALLEST else SMALLEST
    return f"not enough GPU memory for {model_id}: try a smaller model such as {such_as}"
