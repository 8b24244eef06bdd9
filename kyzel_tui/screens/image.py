"""A result's pictures full-screen, one at a time, as large as the terminal allows."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Static

from kyzel_tui.widgets.transcript.image_view import load_picture
from kyzel_tui.widgets.transcript.pictures import picture


class ImageScreen(Screen[None]):
    DEFAULT_CSS = """
    ImageScreen { background: $background; }
    ImageScreen #title { dock: top; height: 1; padding: 0 1; background: $panel; }
    ImageScreen Middle { height: 1fr; }
    ImageScreen .picture { width: auto; height: auto; max-height: 100%; max-width: 100%; }
    """
    BINDINGS = [
        Binding("escape,o,q", "app.pop_screen", "Close", id="close"),
        Binding("right,j,n", "step(1)", "Next", id="next"),
        Binding("left,k,p", "step(-1)", "Previous", id="previous"),
    ]

    def __init__(self, outputs: list[dict[str, Any]], index: int = 0):
        super().__init__()
        self.outputs = outputs
        self.index = index

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Middle(Center(id="frame"))

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        output = self.outputs[self.index]
        title = Text(f"picture {self.index + 1}/{len(self.outputs)}  {output['mime']}  ")
        keys = "escape closes" + ("  ←/→ the others" if len(self.outputs) > 1 else "")
        title.append(keys, style="dim")
        self.query_one("#title", Static).update(title)
        frame = self.query_one("#frame", Center)
        frame.remove_children()
        data = load_picture(self.app, output)
        try:
            frame.mount(picture(data, classes="picture") if data else self._missing(output))
        except Exception:  # bytes PIL cannot read
            frame.mount(self._missing(output))

    def _missing(self, output: dict[str, Any]) -> Static:
        why = "an SVG" if output["mime"] == "image/svg+xml" else "not readable as a picture"
        return Static(Text(f"this picture is {why}: export the session as a notebook to see it"))

    def action_step(self, step: int) -> None:
        self.index = (self.index + step) % len(self.outputs)
        self.show()
