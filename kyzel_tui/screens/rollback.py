"""Rolling back: continue from an earlier event, and maybe replay the kernel to match."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class RollbackScreen(ModalScreen[str | None]):
    """Returns "replay", "only", or None when cancelled."""

    DEFAULT_CSS = """
    RollbackScreen { align: center middle; }
    RollbackScreen #dialog {
        width: 84; height: auto; border: thick $accent; background: $surface; padding: 1 2;
    }
    RollbackScreen Horizontal { height: auto; margin-top: 1; }
    RollbackScreen Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("r", "choose('replay')", "Roll back and replay", id="replay"),
        Binding("o", "choose('only')", "Roll back only", id="only"),
        Binding("escape", "choose(None)", "Cancel", id="cancel"),
    ]

    def __init__(self, cells: int):
        super().__init__()
        self.cells = cells

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Continue from the selected event? Later events stay as another branch.")
            yield Label(
                f"The kernel still holds this branch's later state; replaying re-runs "
                f"the {self.cells} code cell{'' if self.cells == 1 else 's'} up to here in a "
                "fresh kernel."
            )
            with Horizontal():
                yield Button("Roll back and replay (r)", id="replay", variant="primary")
                yield Button("Roll back only (o)", id="only")
                yield Button("Cancel (escape)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
