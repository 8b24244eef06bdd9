"""The adapter registry: every training run's adapter, kept under `<data dir>/adapters/<run id>/`.

A run folder holds the PEFT adapter (`adapter_config.json`, `adapter_model.safetensors`) whose
`base_model_name_or_path` is the model id the app uses, and beside it `run.json` (run id, base
model, backend, the settings, per-stage figures, evaluation before and after), `manifest.json`
(the built data's manifest: which sessions, how many rows, file hashes) and the loss curve as text
and PNG. A run is written to a hidden staging folder and renamed into place only when complete, so
a killed run never looks like an adapter. Adapters are private: 0700 folders and 0600 files,
whatever the umask (`make_private`, also used for the datasets).

`resolve_adapter(home, spec, base)` turns what the user typed after `--adapter` ("latest", a run
id or a unique prefix of one, or a folder) into a folder, refusing a registered adapter that was
trained on another base model with a message that says which base to use. `default_adapter`
picks what the app loads when not told: the newest run on the base whose evaluation `verdict`
says it won (held-out masked loss lower, well-formed share not lower); `adapter_label` names it
with its gain for the status bar. It knows nothing of training or of loading models; only the
folders and their JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.model.adapters import same_model

RUN_FILE = "run.json"
ADAPTER_CONFIG = "adapter_config.json"


class RegistryError(LookupError):
    """An adapter that cannot be found or used; the message says what to do."""


@dataclass
class AdapterInfo:
    run_id: str
    path: Path
    base_model: str
    created: float
    meta: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.meta.get("metrics", {})


def adapters_dir(home: Path | str) -> Path:
    return Path(home).expanduser() / "adapters"


def new_run_id(home: Path | str, now: float | None = None) -> str:
    """A readable, time-sortable id not yet taken: `20260102-153045`, then `-2`, `-3`..."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time()))
    root = adapters_dir(home)
    run_id, n = stamp, 1
    while (root / run_id).exists() or (root / f".tmp-{run_id}").exists():
        n += 1
        run_id = f"{stamp}-{n}"
    return run_id


def private_folder(folder: Path) -> Path:
    """Make `folder` (and missing parents) with mode 0700, whatever the umask."""
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    return folder


def make_private(folder: Path) -> None:
    """Folders 0700 and files 0600 under `folder`, itself included: training data is private."""
    os.chmod(folder, 0o700)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            os.chmod(os.path.join(root, name), 0o600)


def staging(home: Path | str, run_id: str) -> Path:
    """The hidden folder a run is written to before `commit` renames it into place."""
    private_folder(adapters_dir(home))
    return private_folder(adapters_dir(home) / f".tmp-{run_id}")


def commit(home: Path | str, run_id: str, meta: dict[str, Any]) -> Path:
    """Write `run.json` into the staging folder and move it into place as the run's folder."""
    folder = adapters_dir(home) / f".tmp-{run_id}"
    if not (folder / ADAPTER_CONFIG).is_file():
        raise RegistryError(f"run {run_id} has no adapter to register in {folder}")
    (folder / RUN_FILE).write_text(json.dumps({**meta, "run_id": run_id}, indent=2) + "\n")
    make_private(folder)
    final = adapters_dir(home) / run_id
    os.replace(folder, final)
    return final


def staging_runs(home: Path | str) -> set[str]:
    """The run ids that have a staging folder: runs in progress, or killed before cleaning up."""
    root = adapters_dir(home)
    if not root.is_dir():
        return set()
    return {p.name.removeprefix(".tmp-") for p in root.glob(".tmp-*") if p.is_dir()}


def discard(home: Path | str, run_id: str) -> None:
    """Remove a run's staging folder (a failed or interrupted run)."""
    shutil.rmtree(adapters_dir(home) / f".tmp-{run_id}", ignore_errors=True)


def _read(folder: Path) -> AdapterInfo | None:
    try:
        meta = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        return None
    base = meta.get("base_model")
    if not base:
        try:
            base = json.loads((folder / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
        except (OSError, ValueError, AttributeError):
            base = None
    return AdapterInfo(
        run_id=folder.name,
        path=folder,
        base_model=str(base or "?"),
        created=float(meta.get("created", folder.stat().st_mtime)),
        meta=meta,
    )


def read_run(folder: Path) -> AdapterInfo | None:
    """The registered run in `folder`, or None when it is not one (a bare adapter folder)."""
    return _read(folder) if (folder / RUN_FILE).is_file() else None


def list_adapters(home: Path | str) -> list[AdapterInfo]:
    """Every registered run, newest first (staging folders and strays are skipped)."""
    root = adapters_dir(home)
    if not root.is_dir():
        return []
    found = [_read(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted((a for a in found if a), key=lambda a: (a.created, a.run_id), reverse=True)


def find(home: Path | str, reference: str) -> AdapterInfo:
    """A run by its id or a unique prefix of it."""
    runs = list_adapters(home)
    exact = [a for a in runs if a.run_id == reference]
    matches = exact or [a for a in runs if a.run_id.startswith(reference)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RegistryError(
            f"no adapter {reference!r} in {adapters_dir(home)}: `kyzel-tui adapters` lists them"
        )
    raise RegistryError(f"{reference!r} matches {len(matches)} adapters: give more of the id")


def delete_adapter(home: Path | str, reference: str) -> AdapterInfo:
    info = find(home, reference)
    shutil.rmtree(info.path)
    return info


def _is_demo(base: str, demo_base: str | None) -> bool:
    return demo_base is not None and same_model(base, demo_base)


def _use_hint(base: str, demo_base: str | None) -> str:
    return "run with --demo" if _is_demo(base, demo_base) else f"run with --model {base}"


def resolve_adapter(
    home: Path | str, spec: str, base_model_id: str, demo_base: str | None = None
) -> Path:
    """The adapter folder for `--adapter SPEC` on `base_model_id`.

    SPEC is "latest" (the newest run trained on this base), a run id or a unique prefix of one,
    or a folder (returned as it is: `core.model.loading` checks its base when it loads it).
    `demo_base` (the demo model's folder) only makes the messages say `--demo` for it.
    """
    if spec != "latest":
        folder = Path(spec).expanduser()
        if folder.is_dir() and (folder / ADAPTER_CONFIG).is_file():
            return folder
        info = find(home, spec)
        if not same_model(info.base_model, base_model_id):
            raise RegistryError(
                f"adapter {info.run_id} was trained on {info.base_model}, not on "
                f"{base_model_id}: {_use_hint(info.base_model, demo_base)} to use it"
            )
        return info.path
    runs = list_adapters(home)
    for info in runs:
        if same_model(info.base_model, base_model_id):
            return info.path
    if not runs:
        raise RegistryError(
            f"no adapters yet in {adapters_dir(home)}: train one with `kyzel-tui --train`"
        )
    others = sorted({a.base_model for a in runs})
    named = [
        "the demo model (--demo)" if _is_demo(b, demo_base) else f"{b} (--model {b})"
        for b in others[:3]
    ]
    raise RegistryError(
        f"no adapter was trained on {base_model_id}; the adapters here are for "
        f"{', '.join(named)}: run with that option, or train one for this model with "
        "`kyzel-tui --train`"
    )


def verdict(metrics: dict[str, Any]) -> tuple[bool, str]:
    """(whether a run won, why): it won when its held-out masked loss went down and neither its
    share of well-formed turns without the grammar nor its share of those that end as the kept
    turn did (answer or code) went down; a run without a loss before and after did not win."""
    before, after = metrics.get("before") or {}, metrics.get("after") or {}
    loss_before, loss_after = before.get("loss"), after.get("loss")
    if loss_before is None or loss_after is None:
        return False, "no held-out loss was measured, so no gain is known"
    if not loss_after < loss_before:  # NaN (a run that diverged) is no gain either
        return False, f"held-out loss went from {loss_before:.3f} to {loss_after:.3f}"
    share_before, share_after = before.get("format_share"), after.get("format_share")
    if share_before is not None and share_after is not None and share_after < share_before:
        return False, (
            f"well-formed turns without the grammar fell from {share_before:.0%} to "
            f"{share_after:.0%}"
        )
    kind_before, kind_after = before.get("kind_share"), after.get("kind_share")
    if kind_before is not None and kind_after is not None and kind_after < kind_before:
        return False, (
            "turns that end as the kept turn did (an answer to a question, code for a task) fell "
            f"from {kind_before:.0%} to {kind_after:.0%}"
        )
    return True, f"held-out loss went from {loss_before:.3f} to {loss_after:.3f}"


def loss_gain(info: AdapterInfo) -> float | None:
    """The relative change of held-out masked loss (−0.23 for 23 % lower), or None."""
    before = (info.metrics.get("before") or {}).get("loss")
    after = (info.metrics.get("after") or {}).get("loss")
    if not before or after is None:
        return None
    return (after - before) / before


def default_adapter(home: Path | str, base_model_id: str) -> AdapterInfo | None:
    """The adapter the app and `ask` load unless told otherwise: the newest run on this base
    that won (`verdict`); None when no run on it won. Losing runs stay listed, never loaded."""
    for info in list_adapters(home):
        if same_model(info.base_model, base_model_id) and verdict(info.metrics)[0]:
            return info
    return None


def adapter_label(info: AdapterInfo) -> str:
    """A short label for the status bar: `adapter 20260102-1530 (−23% loss)`."""
    gain = loss_gain(info)
    figure = f" ({'−' if gain < 0 else '+'}{abs(gain):.0%} loss)" if gain is not None else ""
    return f"adapter {info.run_id}{figure}"
