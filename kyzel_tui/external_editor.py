"""Editing a turn in the user's own editor ($VISUAL or $EDITOR), as git does: a save that is not
a turn any more is not thrown away, it comes back in the editor with the problem written above
it, until it parses, or the user empties the file or leaves it as it was to give up."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from textual.app import SuspendNotSupported

from grammars.turn import TurnFields, TurnParseError, parse

PROBLEM = "# kyzel: "
"""Lines starting with this, above the turn, are the app's notes; they are not part of the turn."""


def editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


def edit_in_editor(app, text: str) -> TurnFields | None:
    """Suspend the app, edit `text` in the editor, return the parsed turn (None: unchanged or
    emptied). A save that does not parse reopens with the problem shown above the text.

    Raises ValueError when the editor fails, or when the user saves an unparsable text again
    without changing it (they gave up; the turn stays as it was).
    """
    current, problem = text, None
    while True:
        edited = _run_editor(app, current, problem)
        if edited == text or not edited.strip():
            return None
        try:
            return parse(edited)
        except TurnParseError as error:
            if problem is not None and edited == current:
                raise ValueError(
                    f"the edited text is not a turn any more: {error}; the turn is unchanged"
                ) from None
            current, problem = edited, str(error)


def _run_editor(app, text: str, problem: str | None) -> str:
    """One round in the editor: the text (with the problem above it), back without the notes."""
    notes = ""
    if problem is not None:
        notes = "".join(
            f"{PROBLEM}{line}\n"
            for line in (
                f"this is not a turn: {problem}",
                "fix it and save; save it unchanged or empty the file to give up",
            )
        )
    with tempfile.TemporaryDirectory(prefix="kyzel-edit-") as folder:
        path = Path(folder) / "turn.xml"
        path.write_text(notes + text, encoding="utf-8")
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
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith(PROBLEM):
        lines.pop(0)
    return "".join(lines).rstrip("\n")
