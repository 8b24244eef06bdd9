"""Reading models from the Hugging Face hub or its cache, and saying what to do when that fails.

`fetch` runs a transformers `from_pretrained` from the local cache first; only what the cache
lacks is downloaded, never when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set, even if set
after start-up, and only after `hub_reachable` has seen the hub answer within two seconds, so an
offline machine is told at once instead of after half a minute of retries. Hub and folder errors
become `ModelLoadError`s whose message says what to do; a model that is neither cached nor
reachable is a `ModelUnavailable`, for which the app falls back to the embedded model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.model_source import hub_reachable
from core.tiny_model import quiet_progress_bars

Progress = Callable[[str], None]
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
    # transformers 5 re-raises most hub errors as a plain OSError, so the text is what is left.
    if isinstance(error, GatedRepoError) or "gated repo" in lowered:
        return (
            f"{model_id} is a gated model: accept its terms on huggingface.co, log in with "
            "`hf auth login`, and try again"
        )
    if isinstance(error, RepositoryNotFoundError) or "not a valid model identifier" in lowered:
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
