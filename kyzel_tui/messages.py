"""Messages that cross the app: from worker threads and the core to the screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class Progress(Message):
    """Something slow is under way (model loading, kernel start, replay)."""

    text: str
    """One short line for the status bar."""


@dataclass
class ModelReady(Message):
    """The model finished loading."""

    model: Any
    """The model's `core.model.backend.Backend`."""


@dataclass
class ModelFailed(Message):
    """The model could not be loaded."""

    error: str
    """What went wrong and what to do, in the user's words."""


@dataclass
class Streamed(Message):
    """Text of the turn being generated, as it arrives."""

    text: str
    """The new piece of text (may be a fragment of a word)."""


@dataclass
class Generated(Message):
    """A generation ended (finished, cancelled or failed)."""

    generated: Any
    """The `core.model.generate.GeneratedTurn`, or None if it failed."""
    parent: Any
    """Where the turn grows."""
    source: str | None = None
    """For an edited turn completed by the model: the turn it was edited from."""
    error: str | None = None
