"""The model-backend seam: what the agent and the app need of "the model", whatever runs it.

A `Backend` starts one turn's generation from chat messages and says what it is (for the status
bar and the turn's metadata). Two implementations: `TransformersBackend` wraps a loaded local
model (`core.model.loading.LoadedModel`) and `core.model.generate`; `RemoteBackend` wraps a
serving engine (`core.model.remote.RemoteServer`). Both give the same `Generation` (iterate for
text, `cancel()`, `result()`), so nothing above this seam knows where the tokens come from.
Imports no torch and no Textual.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from core.model.generate import Generation, Sampling


@runtime_checkable
class Backend(Protocol):
    """What the agent and the app use of a model."""

    name: str
    """The model as the user named it (hub id, folder, or the name a server serves it by)."""
    label: str
    """One line for the status bar."""
    tokenizer: Any
    """The model's tokenizer when it runs here; None when a server tokenizes."""
    demo: bool
    """The built-in random demo model (its turns are noise): said on screen."""
    adapter: str | None
    """The LoRA adapter on top, if any."""
    notice: str | None
    """What the user should know about this load (a fallback model, and why)."""

    def start(
        self, messages: list[dict[str, str]], sampling: Sampling, prefix: str = ""
    ) -> Generation:
        """Start generating one turn (after `prefix`, which the grammar consumes first)."""
        ...


class TransformersBackend:
    """A model loaded here with transformers, generating under the grammar in a worker thread."""

    def __init__(self, loaded: Any):
        self.loaded = loaded
        """The `LoadedModel`: training and evaluation need its weights; the agent does not."""
        self.name: str = loaded.model_id
        self.label: str = loaded.label
        self.tokenizer = loaded.tokenizer
        self.demo: bool = loaded.demo
        self.adapter: str | None = loaded.adapter
        self.notice: str | None = loaded.notice

    def start(
        self, messages: list[dict[str, str]], sampling: Sampling, prefix: str = ""
    ) -> Generation:
        from core.model.generate import start_generation

        model = self.loaded
        return start_generation(model.model, model.tokenizer, messages, sampling, prefix=prefix)


class RemoteBackend:
    """A model on a serving engine (llama.cpp, vLLM, SGLang), spoken to over HTTP."""

    tokenizer = None
    demo = False
    adapter = None
    notice = None

    def __init__(self, server: Any):
        self.server = server
        """The connected `RemoteServer`."""
        self.name: str = server.model
        where = urlsplit(server.url).netloc or server.url
        shown = server.model.rsplit("/", 1)[-1] if server.model.startswith("/") else server.model
        self.label: str = f"{shown} · {server.engine} at {where}"  # a served folder: its name

    @classmethod
    def connect(
        cls, url: str, model: str | None = None, engine: str = "auto", timeout: float = 120.0
    ) -> RemoteBackend:
        """Ask the server what it is and what it serves; `RemoteError` says what to do."""
        from core.model.remote import RemoteServer

        return cls(RemoteServer.connect(url, model, engine, timeout=timeout))

    def start(
        self, messages: list[dict[str, str]], sampling: Sampling, prefix: str = ""
    ) -> Generation:
        return self.server.start_generation(messages, sampling, prefix=prefix)


def as_backend(model: Any) -> Backend | None:
    """A backend for what a caller holds: a backend as it is, a `LoadedModel` wrapped."""
    if model is None or isinstance(model, Backend):
        return model
    return TransformersBackend(model)
