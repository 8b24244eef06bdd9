"""The status bar: model, device, speed, kernel, auto mode, session."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from core.text import one_line


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; background: $panel; padding: 0 1; }
    """

    model: reactive[str] = reactive("loading the model…")
    """The model's label (with adapter and device), or what is happening to it."""
    speed: reactive[str] = reactive("")
    """Tokens per second of the last turn."""
    kernel: reactive[str] = reactive("starting")
    """The kernel's state: starting, idle, busy, dead, failed."""
    auto: reactive[bool] = reactive(False)
    """Whether code runs without asking."""
    title: reactive[str] = reactive("new session")
    """The session's title."""

    def render(self) -> Text:
        out = Text()
        style = "bold red" if self.model.startswith("DEMO") or "no model" in self.model else "bold"
        out.append(one_line(self.model, 60), style=style)
        if self.speed:
            out.append(f"  {self.speed}", style="dim")
        kernel_style = {"idle": "green", "busy": "yellow", "dead": "red", "failed": "red"}
        out.append("  kernel ", style="dim")
        out.append(self.kernel, style=kernel_style.get(self.kernel, "dim"))
        out.append(
            "  AUTO" if self.auto else "  ask before running",
            style="bold reverse red" if self.auto else "dim",
        )
        out.append(f"  {one_line(self.title, 40)}", style="italic")
        return out
