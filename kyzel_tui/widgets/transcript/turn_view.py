"""A model turn: its thought (markdown), then its code (highlighted) or its answer."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from core.events import Event
from core.text import safe_text
from kyzel_tui.widgets.transcript.event_view import EventView


def turn_header(label: str, position: tuple[int, int], notes: list[str]) -> Text:
    header = Text(label, style="bold cyan")
    if position[1] > 1:
        header.append(f"  {position[0]}/{position[1]}", style="bold yellow")
    for note in notes:
        header.append(f"  {note}", style="dim")
    return header


class TurnView(EventView):
    DEFAULT_CSS = """
    TurnView { border-left: wide $primary; }
    TurnView.pending { border: round $warning; }
    """

    def __init__(self, event: Event, position: tuple[int, int], notes: list[str]):
        super().__init__(event.id)
        self.turn = event.body
        self.position = position
        self.notes = notes

    def render(self) -> RenderableType:
        # Imported here: markdown-it and pygments cost the first frame ~70 ms otherwise, and an
        # empty session has no turn to draw.
        from rich.markdown import Markdown
        from rich.syntax import Syntax

        parts: list[RenderableType] = [turn_header("model", self.position, self.notes)]
        if self.turn.thought.strip():
            parts.append(Markdown(safe_text(self.turn.thought)))
        if self.turn.code is not None:
            parts.append(
                Syntax(
                    safe_text(self.turn.code),
                    "python",
                    theme="monokai",
                    word_wrap=True,
                    background_color="default",
                )
            )
        else:
            parts.append(Text("answer", style="bold green"))
            parts.append(Markdown(safe_text(self.turn.answer or "")))
        return Group(*parts)
