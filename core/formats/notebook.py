"""Writing a session's current branch as a Jupyter notebook (nbformat v4).

A notebook is one linear story, so only the path from the root to the head is written:

- a first markdown cell: the session's title and model;
- a user message: a markdown cell, "**User**" then the message as a quote (`> ` on each line);
- a turn: its thought as a markdown cell, then its code as a code cell or its answer as a
  markdown cell. A rejected turn's code is still a code cell, with metadata
  `{"kyzel": {"verdict": "rejected", "reason": ...}}` and no outputs, followed by a note that it
  was not run;
- a result: the outputs of the code cell before it, as Jupyter would have stored them (see
  below), and that cell's `execution_count`; a run that was interrupted, timed out or lost its
  kernel also gets a short note after the cell;
- a kernel event (died, restarted, replayed): a small italic markdown cell. `started` is left out:
  it says nothing a reader of the notebook needs.

Outputs. The kernel runner keeps everything a cell printed in `Result.output` and echoes each rich
output there too (its text, or `[image/png 640x480, 20 KiB]` for an image) so that the plain-text
view shows it. Here each echo is found again (from the last rich output back, at the start of a
line) and cut out, so that the text is not shown twice and the outputs keep the order they came
in: the printed text between them becomes `stream` outputs (name "stdout": stdout and stderr are
not told apart in a session), text rich outputs `display_data`, images `display_data` with
base64 `image/png` / `image/jpeg` / `image/gif` or `image/svg+xml` as text, the error an `error`
output (ename, evalue, traceback). A session does not record which rich output was the cell's
value, so the last output of a run that ended without an error becomes the `execute_result`
(with the execution count) when it is text, as `df.head()` at the end of a cell would be.
Rich outputs other than images are stored in a session as text and are written as `text/plain`,
whatever mime they claim, so that nothing is ever rendered as HTML. An image whose data is not
available (no `blob` callable, or the store lacks it) becomes a `text/plain` placeholder.

Text is data, never interpreted:

- code, outputs and tracebacks go in verbatim, terminal escape sequences included (Jupyter shows
  code as text and renders only colours of outputs);
- prose the user or the model wrote (messages, thoughts, answers) stays markdown, so that its
  emphasis, lists and code spans render as the writer meant, but can never become HTML or a link:
  a `<` that could start a tag (followed by a letter, `/`, `!` or `?`, which is what browsers and
  CommonMark require) is written `&lt;`; a `&` that would start a character reference (`&lt;`,
  `&#60;`) is written `&amp;`; `](` and `]:` get a backslash (`]\\(`, `]\\:`), which breaks inline
  links, images and link definitions while rendering the same characters. `[bold]` stays as it
  is (it is not markdown); a `<` followed by a space (`a < b`) needs no escape. The one visible
  cost: inside a markdown code span `&lt;` shows as written;
- labels made from stored fields (the title, the model, a rejection's reason, a kernel event's
  detail) are shown literally: every ASCII punctuation character is backslash-escaped (`<` and
  `&` as above) and runs of whitespace become one space;
- in the JSON text, DEL, C1 control characters and lone surrogates are written as `\\u` escapes
  (JSON already escapes C0 controls), so that printing the file on a terminal is harmless and the
  file is always valid UTF-8.

Cell ids are made from event ids (`<event id>-<part>`), so exporting the same branch twice gives
the same file.
"""

from __future__ import annotations

import base64
import re
import string
from collections.abc import Callable
from typing import Any

from core.events import Event, KernelEvent, Result, Turn, UserMessage
from core.store.database import SessionInfo, StoreError
from core.tree import SessionTree

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_REFERENCE_START = re.compile(r"&(?=#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
_LINK = re.compile(r"\](?=[(:])")
_LITERAL = {"&": "&amp;", "<": "&lt;"} | {c: "\\" + c for c in string.punctuation if c not in "&<"}
_UNSAFE_JSON = re.compile("[\x7f-\x9f\ud800-\udfff]")
_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KERNEL_NOTES = {
    "died": "The kernel died: its variables are gone",
    "restarted": "The kernel restarted: its variables are gone",
    "replayed": "The branch was replayed in a new kernel",
}
_RUN_NOTES = {
    "interrupted": "The run was interrupted.",
    "timeout": "The run took too long and was interrupted.",
    "died": "The kernel died during this run.",
}
_BASE64_IMAGES = ("image/png", "image/jpeg", "image/gif")


def prose(text: str) -> str:
    """Markdown written by the user or the model, unable to become HTML or a link."""
    text = _REFERENCE_START.sub("&amp;", text)
    text = _TAG_START.sub("&lt;", text)
    return _LINK.sub("]\\\\", text)


def literal(text: str) -> str:
    """`text` on one line, shown exactly as it is by any markdown renderer."""
    return "".join(_LITERAL.get(c, c) for c in " ".join(text.split()))


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in prose(text).split("\n"))


class _Builder:
    def __init__(self, blob: Callable[[str], tuple[bytes, str]] | None):
        self.blob = blob
        self.cells: list[dict[str, Any]] = []
        self.ids: set[str] = set()
        self.code_cell: dict[str, Any] | None = None
        """The code cell that a result coming next belongs to."""

    def _id(self, event_id: str, part: str) -> str:
        cell_id = f"{event_id}-{part}"
        if not _CELL_ID.match(cell_id) or cell_id in self.ids:
            cell_id = f"cell-{len(self.cells)}"
        self.ids.add(cell_id)
        return cell_id

    def markdown(self, event_id: str, part: str, source: str) -> None:
        cell_id = self._id(event_id, part)
        self.cells.append(
            {"id": cell_id, "cell_type": "markdown", "metadata": {}, "source": source}
        )

    def code(self, event_id: str, source: str, metadata: dict[str, Any]) -> dict[str, Any]:
        cell = {
            "id": self._id(event_id, "code"),
            "cell_type": "code",
            "metadata": metadata,
            "execution_count": None,
            "source": source,
            "outputs": [],
        }
        self.cells.append(cell)
        return cell

    def add(self, event: Event, tree: SessionTree) -> None:
        body = event.body
        if isinstance(body, Result):
            self.result(event, body)
            return
        self.code_cell = None
        if isinstance(body, UserMessage):
            self.markdown(event.id, "user", "**User**\n\n" + _quote(body.text))
        elif isinstance(body, Turn):
            self.turn(event, body, tree)
        elif isinstance(body, KernelEvent) and body.state in _KERNEL_NOTES:
            detail = f": {literal(body.detail)}" if body.detail.strip() else ""
            self.markdown(event.id, "kernel", f"*{_KERNEL_NOTES[body.state]}{detail}.*")

    def turn(self, event: Event, turn: Turn, tree: SessionTree) -> None:
        if turn.thought:
            self.markdown(event.id, "thought", prose(turn.thought))
        if turn.code is None:
            self.markdown(event.id, "answer", prose(turn.answer or ""))
            return
        decision = tree.decision(event.id)
        if decision is not None and decision.value == "rejected":
            meta = {"kyzel": {"verdict": "rejected", "reason": decision.reason}}
            self.code(event.id, turn.code, meta)
            reason = f" ({literal(decision.reason)})" if decision.reason.strip() else ""
            self.markdown(event.id, "rejected", f"*Not run: the user rejected this code{reason}.*")
            return
        self.code_cell = self.code(event.id, turn.code, {})

    def result(self, event: Event, result: Result) -> None:
        if self.code_cell is None:  # a result with no code before it: keep it all the same
            self.code_cell = self.code(event.id, "", {})
        cell = self.code_cell
        cell["outputs"] += self.outputs(result)
        if result.execution_count is not None:
            cell["execution_count"] = result.execution_count
        if result.status in _RUN_NOTES:
            self.markdown(event.id, "status", f"*{_RUN_NOTES[result.status]}*")

    def outputs(self, result: Result) -> list[dict[str, Any]]:
        pieces = _interleave(result.output, [o for o in result.outputs if isinstance(o, dict)])
        outputs: list[dict[str, Any]] = []
        for index, piece in enumerate(pieces):
            if isinstance(piece, str):
                outputs.append({"output_type": "stream", "name": "stdout", "text": piece})
                continue
            data = self.data(piece)
            kind = piece.get("output_type")
            if kind not in ("execute_result", "display_data"):
                is_value = (
                    index == len(pieces) - 1
                    and "text" in piece
                    and result.error is None
                    and result.execution_count is not None
                )
                kind = "execute_result" if is_value else "display_data"
            output = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                output["execution_count"] = result.execution_count
            outputs.append(output)
        if result.error:
            traceback = result.error.get("traceback") or []
            if isinstance(traceback, str):
                traceback = traceback.split("\n")
            outputs.append(
                {
                    "output_type": "error",
                    "ename": str(result.error.get("name", "")),
                    "evalue": str(result.error.get("value", "")),
                    "traceback": [str(line) for line in traceback],
                }
            )
        return outputs

    def data(self, entry: dict[str, Any]) -> dict[str, str]:
        mime = str(entry.get("mime") or "")
        if "text" in entry:
            return {"text/plain": str(entry["text"])}
        sha = entry.get("blob")
        if sha and self.blob is not None:
            try:
                raw, stored_mime = self.blob(sha)
            except (LookupError, StoreError):
                pass
            else:
                mime = mime or stored_mime
                if mime == "image/svg+xml":
                    return {mime: raw.decode("utf-8", "replace")}
                if mime.startswith("image/"):
                    return {mime: base64.b64encode(raw).decode("ascii")}
        size = f", {entry['size']} bytes" if "size" in entry else ""
        return {"text/plain": f"[{mime or 'output'}{size}, not stored]"}


def _echo(output: str, end: int, entry: dict[str, Any]) -> tuple[int, int] | None:
    """Where the runner's echo of `entry` last starts a line in `output[:end]`, if anywhere."""
    if "text" in entry:
        text = str(entry["text"])
        echo = text if text.endswith("\n") else text + "\n"
        position = output.rfind(echo, 0, end)
        while position > 0 and output[position - 1] != "\n":
            position = output.rfind(echo, 0, position + len(echo) - 1)
        return None if position < 0 else (position, position + len(echo))
    pattern = re.compile(re.escape(f"[{entry.get('mime', '')} ") + r"[^\]\n]*\]\n")
    found = None
    for match in pattern.finditer(output, 0, end):
        if match.start() == 0 or output[match.start() - 1] == "\n":
            found = match.span()
    return found


def _interleave(output: str, entries: list[dict[str, Any]]) -> list[str | dict[str, Any]]:
    """The printed text and the rich outputs of a result, in the order they came."""
    pieces: list[str | dict[str, Any]] = []
    end = len(output)
    for entry in reversed(entries):
        span = _echo(output, end, entry)
        if span is None:  # not echoed (a result made elsewhere, or cut by the cap): after the text
            pieces.append(entry)
            continue
        if output[span[1] : end]:
            pieces.append(output[span[1] : end])
        pieces.append(entry)
        end = span[0]
    if output[:end]:
        pieces.append(output[:end])
    pieces.reverse()
    return pieces


def _header(info: SessionInfo) -> str:
    lines = [f"# {literal(info.title) or 'Untitled session'}"]
    if info.model:
        lines.append(f"Model: {literal(info.model)}")
    return "\n\n".join(lines)


def session_to_notebook(
    info: SessionInfo,
    tree: SessionTree,
    *,
    blob: Callable[[str], tuple[bytes, str]] | None = None,
) -> str:
    """The path from the root to the head as the JSON text of an nbformat v4 notebook.

    `blob(sha256) -> (data, mime)` provides the images results refer to.
    """
    import nbformat

    builder = _Builder(blob)
    builder.cells.append(
        {"id": "title", "cell_type": "markdown", "metadata": {}, "source": _header(info)}
    )
    builder.ids.add("title")
    for event in tree.path():
        builder.add(event, tree)
    notebook = nbformat.from_dict(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
                "kyzel": {"session": info.id, "head": tree.head},
            },
            "cells": builder.cells,
        }
    )
    nbformat.validate(notebook)
    text = nbformat.writes(notebook, version=4)
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
