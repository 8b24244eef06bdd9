"""The pictures a result holds, drawn under it in the transcript; `o` opens them full-screen."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from core.events import Result
from kyzel_tui.widgets.transcript.event_view import EventView
from kyzel_tui.widgets.transcript.pictures import picture

INLINE_ROWS = 14
"""Terminal rows a picture takes in the transcript at most (a third of a small terminal); its
width follows its aspect ratio."""


def pictures_of(result: Result) -> list[dict[str, Any]]:
    """The result's image outputs kept as blobs (and so drawable), each picture once: results
    stored before the kernel side kept each once may hold the same figure twice."""
    seen: set[str] = set()
    pictures = []
    for output in result.outputs:
        blob = output.get("blob")
        if blob and blob not in seen and output.get("mime", "").startswith("image/"):
            seen.add(blob)
            pictures.append(output)
    return pictures


def load_picture(app: Any, output: dict[str, Any]) -> bytes | None:
    """The picture's bytes from the app's store; None when it cannot be drawn (SVG, missing)."""
    if output.get("mime") == "image/svg+xml":
        return None
    try:
        data, _ = app.store.blob(output["blob"])
    except Exception:  # a blob the store lacks (an imported session): the caption says so
        return None
    return data


def open_pictures(app: Any, result: Result, index: int = 0) -> None:
    from kyzel_tui.screens.image import ImageScreen

    outputs = pictures_of(result)
    if outputs:
        app.push_screen(ImageScreen(outputs, index))


class ImageView(EventView):
    """The result's pictures, each at most `INLINE_ROWS` rows high."""

    DEFAULT_CSS = """
    ImageView { border-left: wide $panel-lighten-2; height: auto; }
    ImageView .picture { width: auto; }
    ImageView .caption { color: $text-muted; text-style: italic; }
    """

    def __init__(self, event_id: str, result: Result):
        super().__init__(event_id)
        self.result = result

    def compose(self) -> ComposeResult:
        outputs = pictures_of(self.result)
        rows = max(6, min(INLINE_ROWS, self.app.size.height // 3))
        for number, output in enumerate(outputs, 1):
            data = load_picture(self.app, output)
            shown = data is not None
            if shown:
                try:
                    shown_picture = picture(data, classes="picture")
                    shown_picture.styles.height = rows
                    yield shown_picture
                except Exception:  # bytes PIL cannot read: say so instead of drawing
                    shown = False
            caption = Text(f"picture {number}/{len(outputs)} ({output['mime']})")
            caption.append(
                ": o opens it full-screen" if shown else ": cannot be drawn here (o tries)"
            )
            yield Static(caption, classes="caption")

    def toggle(self) -> None:
        """`o`: the pictures full-screen."""
        open_pictures(self.app, self.result)
