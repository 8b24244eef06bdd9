"""Small modal questions: yes or no, and one line of text.

The question is the caller's text (it may hold a session title, which is data): it is shown
literally, never read as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from core.text import safe_text


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes-or-no question; dismisses with True for yes, False for no."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
    }
    ConfirmScreen > Vertical {
        width: auto;
        max-width: 70;
        height: auto;
        padding: 1 2;
        border: thick $error 80%;
        background: $surface;
    }
    ConfirmScreen #question {
        width: auto;
        max-width: 66;
        margin-bottom: 1;
    }
    ConfirmScreen Horizontal {
        width: auto;
        height: auto;
    }
    ConfirmScreen Button {
        margin-right: 2;
    }
    """

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", tooltip="Answer yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", tooltip="Answer no", id="confirm.no"),
    ]

    def __init__(self, question: str, *, yes: str = "Yes (y)", no: str = "No (n)") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(safe_text(self.question)), id="question")
            with Horizontal():
                yield Button(Text(self.yes), variant="error", id="yes")
                yield Button(Text(self.no), variant="primary", id="no")

    def on_mount(self) -> None:
        # Yes has focus so that enter answers yes, as the binding says; tab, enter answers no.
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; dismisses with the text on enter, None on escape."""

    DEFAULT_CSS = """
    PromptScreen {
        align: center middle;
        background: $background 60%;
    }
    PromptScreen > Vertical {
        width: 70;
        height: auto;
        padding: 1 2;
        border: thick $primary 80%;
        background: $surface;
    }
    PromptScreen #question {
        margin-bottom: 1;
    }
    """

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            tooltip="Close without changing anything",
            id="prompt.cancel",
        ),
    ]

    def __init__(self, question: str, value: str = "", *, placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(safe_text(self.question)), id="question")
            yield Input(safe_text(self.value), placeholder=self.placeholder, id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
