"""The status bar: model, device, what is under way (live), speed, kernel, auto mode, session.

At 80 columns the model, what is under way and the kernel come first; the session title goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from core.text import one_line

if TYPE_CHECKING:
    from core.model.loading import LoadedModel


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; background: $panel; padding: 0 1; }
    """

    model: reactive[str] = reactive("loading the model…")
    """The model's label (with adapter and device), or what is happening to it."""
    demo: reactive[bool] = reactive(False)
    """The label is the random demo model's (`LoadedModel.demo`): shown in red."""
    activity: reactive[str] = reactive("")
    """What is under way, updated live: tokens, seconds and tokens/s of the turn being
    written, or the seconds the code has run."""
    speed: reactive[str] = reactive("")
    """Tokens per second of the last turn."""
    kernel: reactive[str] = reactive("not started")
    """The kernel's state: not started (it starts when code first runs), starting, idle, busy,
    dead, failed."""
    auto: reactive[bool] = reactive(False)
    """Whether code runs without asking."""
    title: reactive[str] = reactive("new session")
    """The session's title."""

    def show_loaded(self, loaded: LoadedModel) -> None:
        """The loaded model's label, red when it is the demo model."""
        self.model = loaded.label
        self.demo = loaded.demo

    def watch_model(self) -> None:
        self.demo = False  # any other text (progress, a failure) is not the demo's label

    def render(self) -> Text:
        out = Text()
        style = "bold red" if self.demo or "no model" in self.model else "bold"
        out.append(one_line(self.model, 60), style=style)
        if self.activity:
            out.append(f"  {self.activity}", style="bold yellow")
        elif self.speed:
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
