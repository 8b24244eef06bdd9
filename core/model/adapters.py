"""A PEFT LoRA adapter on top of a loaded model, and whether two model names are one model.

`adapter_folder` checks, before any weights load, that a folder holds a PEFT adapter trained on
the model being loaded (`same_model`: equal names, the same folder, or one hub id in another
case); `apply_adapter` puts it on the model for generation. Failures are `ModelLoadError`s that
say what to do. peft is imported inside the function, so importing this module is cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.model.hub import ModelLoadError, first_line
from core.model.quiet import quiet_progress_bars


def looks_like_path(name: str) -> bool:
    """Whether `name` is meant as a file or folder rather than a hub id."""
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().exists()


def same_model(a: str, b: str) -> bool:
    """Whether two model names name the same model: equal, the same folder, or one hub id."""
    if a == b:
        return True
    path_a, path_b = Path(a).expanduser(), Path(b).expanduser()
    if path_a.is_dir() and path_b.is_dir():
        return path_a.resolve() == path_b.resolve()
    # Hub ids resolve case-insensitively ("qwen/..." is "Qwen/...").
    return not looks_like_path(a) and not looks_like_path(b) and a.lower() == b.lower()


def adapter_folder(adapter: str, model_id: str, local: Path | None = None) -> Path:
    """The adapter's folder, checked to hold a PEFT adapter trained on `model_id`."""
    folder = Path(adapter).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(
            f"adapter folder {adapter} does not exist: pass the folder that training wrote"
        )
    config_file = folder / "adapter_config.json"
    if not config_file.is_file():
        raise ModelLoadError(
            f"{adapter} is not a PEFT adapter folder: it has no adapter_config.json"
        )
    try:
        base = json.loads(config_file.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError) as error:
        raise ModelLoadError(f"cannot read {config_file}: {error}") from error
    same = same_model(base, model_id) or (local is not None and same_model(base, str(local)))
    if base and not same:
        raise ModelLoadError(
            f"adapter {adapter} was trained on {base}, not on {model_id}: "
            f"load it with --model {base}"
        )
    return folder


def apply_adapter(model: Any, folder: Path, adapter: str, model_id: str) -> Any:
    from peft import PeftModel

    try:
        with quiet_progress_bars():
            return PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    except (ValueError, KeyError, RuntimeError, OSError) as error:  # shapes or modules differ
        raise ModelLoadError(
            f"cannot load adapter {adapter} on {model_id}: {first_line(str(error))}"
        ) from error
