"""A user message."""

from __future__ import annotations

from rich.text import Text

from core.events import Event
from core.text import safe_text
from kyzel_tui.widgets.transcript.event_view import EventView


class UserView(EventView):
    DEFAULT_CSS = """
    UserView { border-left: wide $secondary; }
    """

    def __init__(self, event: Event):
        super().__init__(event.id)
        self.text = event.body.text

    def render(self) -> Text:
        out = Text("you  ", style="bold magenta")
        out.append(safe_text(self.text))
        return out
