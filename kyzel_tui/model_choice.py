"""Which base model and which adapter the app, `ask`, `eval` and `--train` use, from the same
options: the base by name (the embedded and demo models by their folders, as adapters record
them), and the adapter by the rule that only a run that won its evaluation loads by default."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import paths
from training.registry import RegistryError


def demo_base(build: bool = False) -> str:
    """The demo model's folder, as `core.model.loading.load_demo` names it (built only if asked)."""
    from core.model.tiny import TinySpec, build_tiny_model, default_cache_dir

    if build:
        return str(build_tiny_model(TinySpec()))
    return str(default_cache_dir() / TinySpec().folder_name())


def base_model(model: str | None, demo: bool | str | None, build: bool = False) -> str:
    """The model id the app would use for these options (`demo`: "random" or the embedded)."""
    if demo == "random":
        return demo_base(build)
    from core.model.loading import EMBEDDED

    if demo or (model or "").lower() == EMBEDDED:  # the embedded model, by its converted folder
        from core.model.embedded import smollm2_folder  # (what adapters record as their base)

        return str(smollm2_folder())
    if model:
        return model
    from core.model.hardware import default_model_id, detect_hardware

    return default_model_id(detect_hardware())


def app_adapter(args: argparse.Namespace) -> tuple[str | None, bool]:
    """(the adapter folder for the app, or None; False after printing why it cannot start)."""
    return choose_adapter(
        args.app_adapter, args.app_model, args.app_demo, paths.data_home(args.home)
    )


def choose_adapter(
    spec: str | None, model: str | None, demo: bool, home: Path
) -> tuple[str | None, bool]:
    """What the app and `ask` load: (folder or None, ok). Without `--adapter`, the newest run on
    this base that won its evaluation (`registry.default_adapter`); `none`: no adapter; else
    what `adapter_folder` finds. Not ok (after a one-line message) when that cannot be found."""
    if spec is not None and spec.lower() == "none":
        return None, True
    if spec is None:
        from training.registry import default_adapter, list_adapters

        if not list_adapters(home):  # nothing trained yet: no need to work out the base model
            return None, True
        info = default_adapter(home, base_model(model, demo))
        return (str(info.path) if info is not None else None), True
    folder = adapter_folder(spec, model, demo, home)
    return folder, folder is not None


def default_adapters(home: Path) -> Callable[[str], str | None]:
    """The default-adapter rule of `choose_adapter` for `load_or_explain`, which asks it for the
    model that actually loads (the embedded model may stand in for the hardware's default)."""
    return lambda model_id: choose_adapter(None, model_id, False, home)[0]


def adapter_folder(spec: str, model: str | None, demo: bool | str | None, home: Path) -> str | None:
    """A folder for `--adapter SPEC` (latest, a run id, a folder), or None after saying why."""
    from training.registry import resolve_adapter

    try:
        if Path(spec).expanduser().is_dir():
            return spec  # a folder: core.model.loading checks it against the model when loading
        base = base_model(model, demo)
        return str(resolve_adapter(home, spec, base, demo_base=demo_base()))
    except RegistryError as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return None


def for_generation(loaded: Any) -> Any:
    """The loaded model ready to generate: its adapter merged into the weights (no decode cost)
    and, for a registered run, labelled with its measured gain (`registry.adapter_label`)."""
    import dataclasses

    from training import registry
    from training.adopt import merged

    if loaded.adapter is None:
        return loaded
    loaded = merged(loaded)
    folder = Path(loaded.adapter).expanduser()
    info = registry.read_run(folder)
    if info is None:
        return loaded
    label = loaded.label.replace(f"adapter {folder.name}", registry.adapter_label(info))
    return dataclasses.replace(loaded, label=label)
