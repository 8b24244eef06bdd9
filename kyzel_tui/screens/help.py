"""Help (F1): every key of the main screen as the user has bound it, and how selection works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SELECTION = (
    "The keys act on the turn that waits for you, or on the selected event (highlighted at "
    "its left edge). Outside the message box, up/down (or k/j) select the event above or "
    "below, and the mouse selects too; escape leaves the box, i goes back to it. ctrl+q quits."
)
NOTE = (
    "\nEvery action is also in the command palette (ctrl+p). Keys can be rebound in "
    'config.toml in the data folder, by the names in the last column: [keys] run = "enter,y".'
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll {
        width: 96%; max-width: 120; height: 96%; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help.close")]

    def __init__(self, bindings: list[tuple[str, str, str, str]]):
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        table = Table(title="kyzel-tui keys", expand=True, show_edge=False)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action", no_wrap=True)
        table.add_column("details", style="dim", ratio=1)
        table.add_column(Text("[keys] name"), style="dim", no_wrap=True)
        for key, description, tooltip, name in self.rows:
            table.add_row(Text(key), Text(description), Text(tooltip), Text(name))
        with VerticalScroll():
            yield Static(Text(SELECTION))
            yield Static(table)
            yield Static(Text(NOTE, style="dim"))
