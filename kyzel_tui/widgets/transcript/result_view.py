"""The result of running code: status and output, long outputs folded until expanded.

A folded output shows its first and last lines with the gap marked where it is. Output that
arrives while the code runs obeys carriage returns as a terminal does, so a progress bar
redraws one line. Pictures the code drew are shown by an `ImageView` under the result.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from core.events import Result
from core.kernel.output import overwrite, resolved
from core.text import colours_only
from kyzel_tui.widgets.transcript.event_view import EventView
from kyzel_tui.widgets.transcript.image_view import open_pictures, pictures_of

COLLAPSED_LINES = 12
STATUS_STYLES = {
    "ok": "green",
    "error": "red",
    "interrupted": "yellow",
    "timeout": "yellow",
    "died": "bold red",
    "aborted": "yellow",
}


def output_lines(output: str, error: dict | None) -> list[str]:
    """The output and the error as lines shown to the user (colours kept, nothing else)."""
    text = output
    if error and error.get("traceback"):
        text += "\n".join(str(line) for line in error["traceback"])
    elif error:
        text += f"{error.get('name', '')}: {error.get('value', '')}"
    return colours_only(text.rstrip("\n")).split("\n")


def result_body(output: str, error: dict | None, expanded: bool) -> tuple[RenderableType, int]:
    """The output as the user sees it, folded unless `expanded`, and how many lines are hidden."""
    lines = output_lines(output, error)
    if expanded or len(lines) <= COLLAPSED_LINES:
        return Text.from_ansi("\n".join(lines)), 0
    hidden = len(lines) - COLLAPSED_LINES
    half = COLLAPSED_LINES // 2
    gap = Text(f"… {hidden:,} lines hidden (o expands) …", style="italic dim")
    head = Text.from_ansi("\n".join(lines[:half]))
    tail = Text.from_ansi("\n".join(lines[-half:]))
    return Group(head, gap, tail), hidden


class ResultView(EventView):
    DEFAULT_CSS = """
    ResultView { border-left: wide $panel-lighten-2; color: $text-muted; }
    """

    def __init__(self, event_id: str, result: Result | None = None):
        super().__init__(event_id)
        self.result = result
        self.live = ""
        """What the running code printed so far (the last line may await a carriage return)."""
        self.expanded = False

    def add_live(self, text: str) -> None:
        """Output that arrives while the code runs."""
        self.live = overwrite(self.live, text)
        self.refresh(layout=True)

    def set_result(self, event_id: str, result: Result) -> None:
        self.event_id, self.result, self.live = event_id, result, ""
        self.refresh(layout=True)

    def toggle(self) -> None:
        """`o`: expand or fold a long output; where nothing is folded, open the pictures."""
        body = output_lines(self.result.output, self.result.error) if self.result else []
        if self.result is not None and pictures_of(self.result) and len(body) <= COLLAPSED_LINES:
            open_pictures(self.app, self.result)
            return
        self.expanded = not self.expanded
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        if self.result is None:
            header = Text("running…  ctrl+c interrupts", style="bold yellow")
            body, _ = result_body(resolved(self.live), None, expanded=False)
            return Group(header, body)
        result = self.result
        header = Text("result  ", style="bold")
        header.append(result.status, style=STATUS_STYLES.get(result.status, ""))
        if result.duration is not None:
            header.append(f"  {result.duration:.2f} s", style="dim")
        if result.truncated:
            header.append(f"  {result.truncated} characters cut", style="dim")
        body, _ = result_body(result.output, result.error, self.expanded)
        if self.expanded and len(output_lines(result.output, result.error)) > COLLAPSED_LINES:
            header.append("  o folds", style="dim")
        return Group(header, body)
