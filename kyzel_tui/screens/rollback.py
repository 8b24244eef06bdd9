"""Rolling back: continue from an earlier event, and maybe replay the kernel to match.

`enter` only rolls back: a replay re-runs code, so it is chosen on purpose with `r`. The dialog
fits an 80-column terminal with its whole text.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


def _cells(count: int) -> str:
    return f"{count} code cell{'' if count == 1 else 's'}"


class RollbackScreen(ModalScreen[str | None]):
    """Returns "replay", "only", or None when cancelled."""

    DEFAULT_CSS = """
    RollbackScreen { align: center middle; }
    RollbackScreen #dialog {
        width: 76; max-width: 100%; height: auto; border: thick $accent; background: $surface;
        padding: 1 2;
    }
    RollbackScreen Label { width: 100%; }
    RollbackScreen Horizontal { height: auto; margin-top: 1; }
    RollbackScreen Button { margin-right: 1; min-width: 10; }
    """
    BINDINGS = [
        Binding("enter,o", "choose('only')", "Roll back only", id="only"),
        Binding("r", "choose('replay')", "Roll back and replay", id="replay"),
        Binding("escape", "choose(None)", "Cancel", id="cancel"),
    ]

    def __init__(self, cells: int, skipped: int = 0):
        super().__init__()
        self.cells = cells
        self.skipped = skipped

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Continue from the selected event? Later events stay as another branch.")
            text = (
                "The kernel keeps its variables. Replaying restarts it and re-runs the "
                f"{_cells(self.cells)} up to here"
            )
            if self.skipped:
                text += (
                    f"; it skips {_cells(self.skipped)} whose first run was cut short "
                    "(interrupted or aborted)"
                )
            yield Label(text + ".")
            with Horizontal():
                yield Button("Roll back only (enter)", id="only", variant="primary")
                yield Button("And replay (r)", id="replay")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#only", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
