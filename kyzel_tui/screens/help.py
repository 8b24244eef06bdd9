"""Help (F1): every key of the main screen, with what it does."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll {
        width: 90; height: 90%; border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="close")]

    def __init__(self, bindings: list[tuple[str, str, str]]):
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        table = Table(title="kyzel-tui keys", expand=True, show_edge=False)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action")
        table.add_column("details", style="dim")
        for key, description, tooltip in self.rows:
            table.add_row(Text(key), Text(description), Text(tooltip))
        note = Text(
            "\nEvery action is also in the command palette (ctrl+p). Keys can be rebound "
            'in config.toml in the data folder: [keys] run = "enter,y".',
            style="dim",
        )
        with VerticalScroll():
            yield Static(table)
            yield Static(note)
