"""Reading models from the Hugging Face hub or its cache, and saying what to do when that fails.

`fetch` runs a transformers `from_pretrained` from the local cache first; only what the cache
lacks is downloaded, never when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set, even if set
after start-up, and only after `hub_reachable` has seen the hub answer within two seconds, so an
offline machine is told at once instead of after half a minute of retries. Hub and folder errors
become `ModelLoadError`s whose message says what to do; a model that is neither cached nor
reachable is a `ModelUnavailable`, for which the app falls back to the embedded model.
A download fetches the repository's top-level weight, config and tokenizer files first, so that
the status bar counts bytes (at most four updates a second) instead of sitting still.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.model.quiet import quiet_progress_bars
from core.model.source import hub_reachable

Progress = Callable[[str], None]
# What from_pretrained reads from a repository's top level; other files (other weight formats,
# ONNX or GGUF copies, pictures) would only lengthen the download.
_WANTED_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".tiktoken", ".jinja", ".py")
_REPORT_INTERVAL_S = 0.25
_OFFLINE_HINTS = ("couldn't connect", "cannot find the requested files", "offline mode")


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded; the message says what to do."""


class ModelUnavailable(ModelLoadError):
    """A hub model that is not cached while the hub cannot be reached."""


def hub_offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; the environment is read again here so
    # that setting it later (a test, an embedding app) still keeps us off the network.
    import huggingface_hub.constants

    truthy = {"1", "ON", "YES", "TRUE"}
    return (
        bool(huggingface_hub.constants.HF_HUB_OFFLINE)
        or os.environ.get("HF_HUB_OFFLINE", "").upper() in truthy
        or os.environ.get("TRANSFORMERS_OFFLINE", "").upper() in truthy
    )


def fetch(
    loader: str, source: str, model_id: str, cache_only: bool, report: Progress, **kwargs: Any
) -> Any:
    """`transformers.<loader>.from_pretrained`, from the local cache first, then the hub."""
    import transformers

    load = getattr(transformers, loader).from_pretrained
    local = {"local_files_only": True}
    if loader.startswith("AutoModel"):
        # transformers 5.17's Auto classes do not pass local_files_only on to their check for an
        # adapter_config.json, which then asks the hub (and retries for ~25 s when offline).
        local["adapter_kwargs"] = {"local_files_only": True}
    with quiet_progress_bars(), explained(model_id):
        try:
            return load(source, **local, **kwargs)
        except OSError:
            if cache_only:
                raise
        # Not (wholly) cached: download what is missing. Only hub ids get here, and only when
        # the hub answers at all: offline, transformers would retry for half a minute.
        if not hub_reachable():
            raise ModelUnavailable(unreachable(model_id))
        report(f"downloading {model_id} from the Hugging Face hub (once; it can take minutes)")
        download_with_progress(model_id, report)
        return load(source, **kwargs)


@contextmanager
def explained(model_id: str) -> Iterator[None]:
    """Turn the exceptions of a hub or folder read into ModelLoadErrors that say what to do."""
    try:
        yield
    except OSError as error:  # huggingface_hub's errors are OSErrors too
        message = explain_hub_error(model_id, error)
        kind = ModelUnavailable if message == unreachable(model_id) else ModelLoadError
        raise kind(message) from error


def explain_hub_error(model_id: str, error: BaseException) -> str:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    text = str(error)
    lowered = text.lower()
    # The types first: huggingface_hub's "repository not found" text mentions gated repos too.
    # transformers 5 re-raises most hub errors as a plain OSError, so then the text is what is left.
    gated = isinstance(error, GatedRepoError)
    missing = isinstance(error, RepositoryNotFoundError) and not gated
    if gated or (not missing and "gated repo" in lowered):
        return (
            f"{model_id} is a gated model: accept its terms on huggingface.co, log in with "
            "`hf auth login`, and try again"
        )
    if missing or "not a valid model identifier" in lowered:
        return f"{model_id} is neither a local folder nor a model on the Hugging Face hub"
    if isinstance(error, LocalEntryNotFoundError) or any(h in lowered for h in _OFFLINE_HINTS):
        return unreachable(model_id)
    return f"cannot load {model_id}: {first_line(text)}"


def unreachable(model_id: str) -> str:
    return (
        f"cannot load {model_id}: it is not in the local Hugging Face cache and the hub "
        f"cannot be reached. Download it once where there is network (`hf download "
        f"{model_id}`), pass a local folder or .gguf file with --model, or run with --demo to "
        "try the app with the small embedded model."
    )


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def download_with_progress(model_id: str, report: Progress, revision: str = "main") -> str:
    """Download what `from_pretrained` reads of a hub repository, reporting bytes as they arrive.

    Returns the snapshot folder. The total comes from the repository's file listing; the count
    from huggingface_hub's own byte bars, fed to a tqdm class that reports instead of drawing.
    """
    import httpx
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi().model_info(model_id, revision=revision, files_metadata=True)
        wanted = wanted_files({item.rfilename: item.size or 0 for item in info.siblings or []})
        meter = ByteMeter(model_id, sum(wanted.values()), report)
        folder = snapshot_download(
            model_id,
            revision=info.sha or revision,
            allow_patterns=sorted(wanted),
            tqdm_class=meter.tqdm_class(),
        )
    except HfHubHTTPError:
        raise  # an OSError that explain_hub_error reads
    except httpx.HTTPError as error:  # the connection failed after the hub had answered
        raise OSError(f"couldn't connect to the hub: {error}") from error
    meter.finish()
    return str(folder)


def wanted_files(sizes: dict[str, int]) -> dict[str, int]:
    """The top-level files from_pretrained reads (PyTorch .bin weights only without safetensors)."""
    top = {name: size for name, size in sizes.items() if "/" not in name}
    wanted = {name: size for name, size in top.items() if name.endswith(_WANTED_SUFFIXES)}
    if not any(name.endswith(".safetensors") for name in wanted):
        wanted.update({name: size for name, size in top.items() if name.endswith(".bin")})
    return wanted


class ByteMeter:
    """Bytes downloaded of a known total, said through `report` at most four times a second."""

    def __init__(
        self, model_id: str, total: int, report: Progress, interval: float = _REPORT_INTERVAL_S
    ) -> None:
        self.model_id, self.total, self.report, self.interval = model_id, total, report, interval
        self.done = 0
        self._last = float("-inf")
        self._said = ""
        self._lock = threading.Lock()

    def advance(self, done: int) -> None:
        """`done` bytes so far (the largest count any byte bar has seen)."""
        with self._lock:
            if done <= self.done:
                return
            self.done = done
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            text = self._fresh()
        if text:
            self.report(text)

    def finish(self) -> None:
        with self._lock:
            self.done = max(self.done, self.total)
            text = self._fresh()
        if text:
            self.report(text)

    def _fresh(self) -> str:
        # The same words twice would only make the status bar flicker.
        text = self.text()
        if text == self._said:
            return ""
        self._said = text
        return text

    def text(self) -> str:
        percent = f" ({100 * self.done // self.total} %)" if self.total else ""
        return (
            f"downloading {self.model_id}: {size_text(self.done)} of "
            f"{size_text(self.total)}{percent}"
        )

    def tqdm_class(self) -> type:
        """A tqdm that draws nothing and passes byte counts on to this meter."""
        from tqdm.auto import tqdm

        meter = self

        class MeterTqdm(tqdm):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.pop("name", None)
                # Keep counting (tqdm counts nothing when disabled) but draw nowhere.
                super().__init__(*args, **{**kwargs, "disable": False, "file": _Nowhere()})
                self._bytes = kwargs.get("unit") == "B"

            def update(self, n: float | None = 1) -> bool | None:
                shown = super().update(n)
                if self._bytes:
                    meter.advance(int(self.n))
                return shown

        return MeterTqdm


class _Nowhere:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def size_text(count: int) -> str:
    """A byte count as people read it: `12.3 kB`, `988.1 MB`, `1.54 GB`."""
    if count >= 1_000_000_000:
        return f"{count / 1_000_000_000:,.2f} GB"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    return f"{count / 1_000:.1f} kB"
