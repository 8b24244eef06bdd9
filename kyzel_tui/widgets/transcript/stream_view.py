"""The turn being generated, growing as tokens arrive."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.text import safe_text


class StreamView(Static):
    DEFAULT_CSS = """
    StreamView { padding: 0 1; margin: 0 0 1 0; border-left: wide $accent; }
    """

    def __init__(self, prefix: str = ""):
        super().__init__()
        self.text = prefix
        self.note = "writing… escape stops"

    def add(self, text: str) -> None:
        self.text += text
        self.refresh(layout=True)

    def end(self, note: str) -> None:
        """The generation is over (`note` says how); the turn replaces this view once stored."""
        self.note = note
        self.refresh()

    def render(self) -> Text:
        out = Text("model  ", style="bold cyan")
        out.append(f"{self.note}\n", style="dim")
        out.append(safe_text(self.text))
        return out
