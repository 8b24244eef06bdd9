"""A kernel event: started, restarted, died, replayed, or background output (its text)."""

from __future__ import annotations

from rich.text import Text

from core.events import Event
from core.text import safe_text
from kyzel_tui.widgets.transcript.event_view import EventView


class KernelView(EventView):
    def __init__(self, event: Event):
        super().__init__(event.id)
        self.kernel = event.body

    def render(self) -> Text:
        style = "bold red" if self.kernel.state == "died" else "italic dim"
        if self.kernel.state == "background":
            out = Text("background output (printed while no cell ran)\n", style="italic dim")
            out.append(safe_text(self.kernel.detail))
            return out
        out = Text(f"kernel {self.kernel.state}", style=style)
        if self.kernel.detail:
            out.append(f"  {safe_text(self.kernel.detail)}", style="dim")
        return out
