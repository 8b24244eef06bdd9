"""Editing a turn in the user's own editor ($VISUAL or $EDITOR), as git does."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from textual.app import SuspendNotSupported

from grammars.turn import TurnFields, TurnParseError, parse


def editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


def edit_in_editor(app, text: str) -> TurnFields | None:
    """Suspend the app, edit `text` in the editor, return the parsed turn (None: unchanged).

    Raises ValueError with the position when the saved text is not a turn any more.
    """
    with tempfile.TemporaryDirectory(prefix="kyzel-edit-") as folder:
        path = Path(folder) / "turn.xml"
        path.write_text(text, encoding="utf-8")
        try:
            with app.suspend():
                completed = subprocess.run([*editor_command(), str(path)], check=False)
        except SuspendNotSupported:
            raise ValueError(
                "this terminal cannot hand the terminal over to an editor (the app is not "
                "running in a local terminal); press e to edit the turn in the app"
            ) from None
        if completed.returncode != 0:
            raise ValueError(
                f"the editor exited with status {completed.returncode}; the turn is unchanged"
            )
        edited = path.read_text(encoding="utf-8").rstrip("\n")
    if edited == text:
        return None
    try:
        return parse(edited)
    except TurnParseError as error:
        raise ValueError(
            f"the edited text is not a turn any more: {error}; the turn is unchanged"
        ) from None
