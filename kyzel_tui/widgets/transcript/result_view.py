"""The result of running code: status and output, long outputs collapsed until expanded."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from core.events import Result
from core.text import colours_only, safe_text
from kyzel_tui.widgets.transcript.event_view import EventView

COLLAPSED_LINES = 12
STATUS_STYLES = {
    "ok": "green",
    "error": "red",
    "interrupted": "yellow",
    "timeout": "yellow",
    "died": "bold red",
}


def result_body(output: str, error: dict | None, expanded: bool) -> tuple[Text, int]:
    """The output as the user sees it (colours kept, nothing else obeyed) and lines hidden."""
    text = output
    if error and error.get("traceback"):
        text += "\n".join(str(line) for line in error["traceback"])
    elif error:
        text += f"{error.get('name', '')}: {error.get('value', '')}"
    lines = colours_only(text.rstrip("\n")).split("\n")
    hidden = 0
    if not expanded and len(lines) > COLLAPSED_LINES:
        hidden = len(lines) - COLLAPSED_LINES
        lines = lines[: COLLAPSED_LINES // 2] + lines[-COLLAPSED_LINES // 2 :]
    return Text.from_ansi("\n".join(lines)), hidden


class ResultView(EventView):
    DEFAULT_CSS = """
    ResultView { border-left: wide $panel-lighten-2; color: $text-muted; }
    """

    def __init__(self, event_id: str, result: Result | None = None):
        super().__init__(event_id)
        self.result = result
        self.live = ""
        self.expanded = False

    def add_live(self, text: str) -> None:
        """Output that arrives while the code runs."""
        self.live += text
        self.refresh(layout=True)

    def set_result(self, event_id: str, result: Result) -> None:
        self.event_id, self.result, self.live = event_id, result, ""
        self.refresh(layout=True)

    def toggle(self) -> None:
        self.expanded = not self.expanded
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        if self.result is None:
            header = Text("running…  ctrl+c interrupts", style="bold yellow")
            body, _ = result_body(self.live, None, expanded=False)
            return Group(header, body)
        result = self.result
        header = Text("result  ", style="bold")
        header.append(result.status, style=STATUS_STYLES.get(result.status, ""))
        if result.duration is not None:
            header.append(f"  {result.duration:.2f} s", style="dim")
        if result.truncated:
            header.append(f"  {result.truncated} characters cut", style="dim")
        body, hidden = result_body(result.output, result.error, self.expanded)
        parts: list[RenderableType] = [header, body]
        for output in result.outputs:
            if output.get("mime", "").startswith("image/"):
                parts.append(
                    Text(
                        f"[{safe_text(output['mime'])} image: press o to open]", style="italic cyan"
                    )
                )
        if hidden:
            parts.append(Text(f"… {hidden} lines hidden: press o to expand", style="italic dim"))
        return Group(*parts)
