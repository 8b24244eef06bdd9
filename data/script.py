"""What a session script is made of: the steps of an example session, written as data.

Each file in `data/sessions/scripts/` exports `TITLE`, `FOLDER` (its working folder inside the
prepared home), an optional `prepare(folder)` that writes the files it works on, and `SCRIPT`: a
tuple of the steps below, in the order they happen. `data/make_sessions.py` plays a script through
`core.agent.Agent` in a real kernel; nothing here runs anything.

The steps say what the model wrote and what the user did about it:

- `User`: a message from the user (the task, a clarification, or an interjection mid-task);
- `Code`: a turn with code that the user runs; `expect` lists text its real output must contain
  (the thoughts that follow were written against it);
- `Answer`: a turn that answers the user;
- `Skip`: a turn whose code the user skips with a reason; the next turn follows it and sees the
  reason;
- `Retried`: a turn the user asks the model to try again (rejecting it first, with a reason, when
  one is given); the next turn grows beside it under the same parent and does not see it;
- `Edited`: a turn the user edits before it runs (its code, its thought or its answer); the next
  turn is the edited copy (`origin="edited"`, `source` = this turn);
- `Rollback`: the user goes back to the result of an earlier labelled `Code` step, and the next
  turn starts a new branch there. The kernel keeps its variables (the app's rollback without a
  replay), so a script's new branch must not rely on what the abandoned one did.

Any turn may carry a `rate` ("up" or "down"), the user's rating of it, and a `label` that a
`Rollback` can name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class User:
    text: str


@dataclass(frozen=True)
class Code:
    thought: str
    code: str
    expect: tuple[str, ...] = ()
    status: str = "ok"
    rate: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Answer:
    thought: str
    text: str
    rate: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Skip:
    thought: str
    code: str
    reason: str
    rate: str | None = None


@dataclass(frozen=True)
class Retried:
    thought: str
    code: str | None = None
    answer: str | None = None
    reason: str = ""
    """With a reason the turn is rejected (skipped) before the retry; without, only retried."""
    rate: str | None = None


@dataclass(frozen=True)
class Edited:
    thought: str
    code: str | None = None
    answer: str | None = None
    rate: str | None = None


@dataclass(frozen=True)
class Rollback:
    to: str
    """The label of an earlier `Code` step: the head moves to its result."""


Step = User | Code | Answer | Skip | Retried | Edited | Rollback
TURNS = (Code, Answer, Skip, Retried, Edited)


# ---------------------------------------------------------------------------------------------
# Text and files

_BLOCK_START = re.compile(r"(- |\d+\. |\||#)")


def prose(text: str) -> str:
    """Prose as a model writes it: the line wrapping of the script files undone.

    Lines of a paragraph are joined; blank lines, list items, table rows, headings and fenced
    code blocks stay as they are (a list item's indented continuation joins the item).
    """
    out: list[str] = []
    fenced = False
    for line in text.strip("\n").split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            out.append(line)
            continue
        previous = out[-1].strip() if out else ""
        joinable = previous and not previous.startswith(("```", "|", "#"))
        if fenced or not stripped or _BLOCK_START.match(stripped) or not joinable:
            out.append(line)
        else:
            out[-1] = out[-1].rstrip() + " " + stripped
    return "\n".join(out)


def code_text(code: str) -> str:
    """A code body as the model writes it: no leading or trailing blank lines."""
    return code.strip("\n")


FILE_TIME = datetime(2024, 6, 14, 9, 30, tzinfo=UTC).timestamp()
"""Every prepared file gets this modification time, so listings do not depend on the day."""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def freeze_times(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        os.utime(path, (FILE_TIME, FILE_TIME))
    os.utime(folder, (FILE_TIME, FILE_TIME))


def script_turns(steps: tuple[Step, ...]) -> list[tuple[str, str | None, str | None]]:
    """(thought, code, answer) of every turn a script writes, in order, as the model's text.

    An `Edited` step and the turn after it are two turns: the original and the user's edit.
    """
    out = []
    for step in steps:
        if isinstance(step, TURNS):
            code = getattr(step, "code", None)
            answer = step.text if isinstance(step, Answer) else getattr(step, "answer", None)
            out.append(
                (
                    prose(step.thought),
                    code_text(code) if code is not None else None,
                    prose(answer) if answer is not None else None,
                )
            )
    return out
