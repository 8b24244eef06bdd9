"""Editing a turn: its thought and its code (or answer), in two text areas, with its keys
listed under them (ctrl+a selects all, as users expect of an editor)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea

from grammars.turn import TurnFields


class EditTurnScreen(ModalScreen[TurnFields | None]):
    """Returns the edited fields, or None when cancelled. `thought_only` edits just the thought."""

    CSS_PATH = "edit.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", tooltip="Keep the edit as a new sibling turn", id="save"),
        # A priority binding: the code editor would otherwise take escape to mean "leave this
        # box", and the title promises that escape cancels (tab and shift+tab move between boxes).
        Binding(
            "escape",
            "cancel",
            "Cancel",
            tooltip="Leave the turn as it was",
            id="cancel",
            priority=True,
        ),
        # A priority binding too: the text area takes ctrl+a to mean "start of the line".
        Binding(
            "ctrl+a",
            "select_all",
            "Select all",
            tooltip="Select the whole text of the box",
            id="select_all",
            priority=True,
        ),
    ]

    def __init__(self, fields: TurnFields, thought_only: bool = False):
        super().__init__()
        self.fields = fields
        self.thought_only = thought_only

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            title = (
                "Edit the thought; the model writes the rest (ctrl+s)"
                if self.thought_only
                else "Edit the turn (ctrl+s saves it as a new sibling, escape cancels)"
            )
            yield Label(title)
            yield Label("thought", classes="field")
            yield TextArea(self.fields.thought, id="thought", soft_wrap=True)
            if not self.thought_only:
                is_code = self.fields.code is not None
                yield Label("code" if is_code else "answer", classes="field")
                body = self.fields.code if is_code else (self.fields.answer or "")
                yield TextArea.code_editor(
                    body, language="python" if is_code else None, id="body", soft_wrap=not is_code
                )
            yield Label(self.keys_line(), id="keys")

    def keys_line(self) -> str:
        """The dialog's keys as the user has them bound."""
        keymap = getattr(self.app, "keymap", {})
        shown = [(b.id, b.key, b.description.lower()) for b in self.BINDINGS]
        parts = [f"{keymap.get(i, key)} {what}" for i, key, what in shown]
        return " · ".join([*parts, "tab next box", "shift+tab previous box"])

    def action_select_all(self) -> None:
        focused = self.focused
        if isinstance(focused, TextArea):
            focused.select_all()

    def on_mount(self) -> None:
        self.query_one("#body" if not self.thought_only else "#thought", TextArea).focus()

    def action_save(self) -> None:
        thought = self.query_one("#thought", TextArea).text
        try:
            if self.thought_only:
                fields = TurnFields(thought, code="")
            elif self.fields.code is not None:
                fields = TurnFields(thought, code=self.query_one("#body", TextArea).text)
            else:
                fields = TurnFields(thought, answer=self.query_one("#body", TextArea).text)
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        self.dismiss(fields)

    def action_cancel(self) -> None:
        self.dismiss(None)
