"""Where a model comes from and how it is held in memory, decided before any weights load.

- `local_source` turns what the user named into a folder transformers can load: the short name
  `smollm2` (the embedded model), a `.gguf` file or a folder holding one (converted once by
  `core.model.gguf`), or a `save_pretrained` folder as it is; hub ids are left to the caller.
- `hub_reachable` answers within two seconds whether the Hugging Face hub can be reached, so
  that a machine without network is told at once rather than after 30 s of retries.
- `choose_precision` picks 4-bit NF4 for real models wherever bitsandbytes can run it (CUDA, and
  the CPU since bitsandbytes 0.49), else bfloat16 on a GPU and float32 on the CPU; tiny models
  (under 20 M parameters, such as the random test model) stay in full precision.
- `nf4_config` is how a 4-bit load quantises, and `nf4_copy` / `save_nf4_copy` keep a CPU load's
  quantised weights in the cache, so that the next start skips the quantising.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PRECISIONS = ("4bit", "bf16", "fp32")
SHORT_NAMES = ("smollm2",)
_SMALL_PARAMETERS = 20_000_000
_HUB_TIMEOUT_S = 2.0


def local_source(model_id: str, progress: Callable[[str], None]) -> Path | None:
    """The local folder to load for `model_id` (converting a GGUF file first); None: a hub id."""
    from core.model.gguf import converted_folder, gguf_in

    if model_id.lower() in SHORT_NAMES:
        from core.model.embedded import smollm2_folder

        return smollm2_folder(progress)
    path = Path(model_id).expanduser()
    if not path.exists():
        return None
    found = gguf_in(path)
    return converted_folder(found, progress=progress) if found is not None else path


def hub_reachable(timeout: float = _HUB_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub opens within `timeout` (name lookup included)."""
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme != "http" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    # Name lookups ignore socket timeouts; a daemon thread bounds the whole probe.
    thread = threading.Thread(target=probe, daemon=True, name="kyzel-hub-probe")
    thread.start()
    thread.join(timeout + 0.5)
    return bool(answer and answer[0])


def bnb_cpu_ok() -> bool:
    """bitsandbytes can quantise to 4-bit NF4 on the CPU (0.49 and later do)."""
    try:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("bitsandbytes").split(".")[:2])
    except (ImportError, ValueError):
        return False
    return (major, minor) >= (0, 49)


def parameter_estimate(config: Any) -> int:
    """A rough parameter count from a config (embeddings and the transformer blocks)."""
    text = getattr(config, "text_config", None) or config
    hidden = getattr(text, "hidden_size", 0) or 0
    layers = getattr(text, "num_hidden_layers", 0) or 0
    vocab = getattr(text, "vocab_size", 0) or 0
    inner = getattr(text, "intermediate_size", 0) or 4 * hidden
    return vocab * hidden + layers * (4 * hidden * hidden + 3 * hidden * inner)


def choose_precision(device: str, precision: str | None, config: Any) -> str:
    """The precision to load in: as asked, else 4-bit for real models where it can run."""
    if precision is not None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if precision == "4bit" and device == "cpu" and not bnb_cpu_ok():
            raise ValueError(
                "4-bit loading on the CPU needs bitsandbytes 0.49 or later: "
                "`pip install -U bitsandbytes`, or load with --precision fp32"
            )
        return precision
    if parameter_estimate(config) < _SMALL_PARAMETERS:
        return "fp32" if device == "cpu" else "bf16"
    if device == "cuda" or bnb_cpu_ok():
        return "4bit"
    return "fp32"


def nf4_config() -> Any:
    """The bitsandbytes settings of a 4-bit load: NF4, double quantisation, bfloat16 compute."""
    import logging

    import torch
    from transformers import BitsAndBytesConfig

    # bitsandbytes warns on stderr, under the TUI, that an optional kernel package is missing.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def nf4_copy(folder: Path) -> Path | None:
    """Where the 4-bit copy of a local model folder is kept (None for a hub id).

    Quantising on the CPU takes ~20 s for 135 M parameters, loading a quantised copy 0.4 s: the
    copy lives in the cache, keyed by the folder's path and the size and time of its files.
    """
    if not folder.is_dir():
        return None
    import hashlib

    from core.model.gguf import cache_root

    digest = hashlib.sha256(str(folder.resolve()).encode())
    for item in sorted(folder.iterdir()):
        if item.is_file():
            stat = item.stat()
            digest.update(f"{item.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_root() / "nf4" / f"{folder.name}-{digest.hexdigest()[:16]}"


def save_nf4_copy(model: Any, target: Path) -> None:
    """Save a quantised model as `target`, atomically; a failure only costs the next load time."""
    import shutil
    import tempfile

    from core.model.quiet import quiet_progress_bars

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        with quiet_progress_bars():
            model.save_pretrained(tmp, safe_serialization=True)
        tmp.chmod(0o755)
        os.replace(tmp, target)
    except (OSError, ValueError, RuntimeError, NotImplementedError):
        pass  # kept only for speed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
