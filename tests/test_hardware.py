"""Which model the hardware gets, and what a load that ran out of GPU memory says."""

from __future__ import annotations

import pytest

from core.model.hardware import SMALLER, Hardware, cuda_available, default_model_id, detect_hardware

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("hardware", "expected"),
    [
        (Hardware(cuda=False), "Qwen/Qwen2.5-Coder-0.5B-Instruct"),
        (Hardware(True, "H200", 139.8), "Qwen/Qwen2.5-Coder-14B-Instruct"),
        (Hardware(True, "A100", 40.0), "Qwen/Qwen2.5-Coder-14B-Instruct"),
        (Hardware(True, "A10", 23.6), "Qwen/Qwen2.5-Coder-7B-Instruct"),
        (Hardware(True, "T4", 16.0), "Qwen/Qwen2.5-Coder-7B-Instruct"),
        (Hardware(True, "T4", 14.7), "Qwen/Qwen2.5-Coder-3B-Instruct"),
        (Hardware(True, "RTX 3070", 8.0), "Qwen/Qwen2.5-Coder-3B-Instruct"),
        (Hardware(True, "GTX 1060", 6.0), "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
        (Hardware(True, "unknown", None), "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
    ],
)
def test_default_model_id(hardware: Hardware, expected: str) -> None:
    assert default_model_id(hardware) == expected


def test_every_default_but_the_smallest_has_a_smaller_one() -> None:
    from core.model.hardware import CPU_DEFAULT, GPU_DEFAULTS

    defaults = [model_id for _, model_id in GPU_DEFAULTS]
    assert set(SMALLER) == set(defaults)
    assert [SMALLER[d] for d in defaults] == defaults[1:] + [CPU_DEFAULT]


def test_out_of_memory_message_names_a_smaller_model() -> None:
    # A real CUDA out-of-memory cannot be caused on demand; this is the text load_model raises.
    from core.model.hardware import out_of_memory_message

    seven, three, half = (f"Qwen/Qwen2.5-Coder-{size}-Instruct" for size in ("7B", "3B", "0.5B"))
    assert out_of_memory_message(seven) == (
        f"not enough GPU memory for {seven}: "
        f"try a smaller model such as {three} or the 0.5B, {half}"
    )
    assert out_of_memory_message("org/other-70B").endswith(f"try a smaller model such as {half}")
    assert "run on the CPU" in out_of_memory_message(half)


def test_detection_agrees_with_torch() -> None:
    hardware = detect_hardware()
    assert hardware.cuda == cuda_available() == torch.cuda.is_available()
    assert (hardware.gpu_name is None) == (not hardware.cuda)
