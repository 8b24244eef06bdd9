"""Skipping a turn: an optional reason, which the model is told."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ReasonScreen(ModalScreen[str | None]):
    """Returns the reason ("" for none), or None when cancelled."""

    DEFAULT_CSS = """
    ReasonScreen { align: center middle; }
    ReasonScreen #dialog {
        width: 80; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Skip this code. Why? (optional; the model is told; enter to skip)")
            yield Input(placeholder="for example: use pathlib instead", id="reason")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
