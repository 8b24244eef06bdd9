"""Where an export goes: a file name to confirm or change before anything is written."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ExportPathScreen(ModalScreen[Path | None]):
    """Returns the file to write (`~` expanded), or None when cancelled."""

    DEFAULT_CSS = """
    ExportPathScreen { align: center middle; }
    ExportPathScreen #dialog {
        width: 78; max-width: 100%; height: auto; border: thick $accent; background: $surface;
        padding: 1 2;
    }
    ExportPathScreen #problem { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def __init__(self, what: str, default: Path):
        super().__init__()
        self.what = what
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Export {self.what} to (enter writes it, readable by you only; escape):")
            yield Input(str(self.default), id="path")
            yield Label("", id="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one("#problem", Label).update("Give a file name, or escape to cancel.")
            return
        path = Path(text).expanduser()
        if path.is_dir():
            self.query_one("#problem", Label).update(f"{path} is a folder: add a file name.")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
