"""What one execution printed, gathered into the fields of a `Result` within the caps.

`Collector` receives the kernel's iopub messages (stream, execute_result, display_data,
update_display_data, clear_output, error), passes each on as an `OutputEvent` for the screen,
and keeps the text, the rich outputs (images as blobs) and the error for the stored result.
`result_status` turns the execution's reply and what was collected into the result's status.

An image appears once per execution: `plt.show(); fig` sends the same figure twice (the inline
backend's display_data at `show`, then the execute_result of `fig`), and outputs with the same
bytes are one output, told apart by their sha256.

A carriage return works as in a terminal and in Jupyter: the text after it overwrites its line,
so a progress bar (tqdm, pip) that redraws one line a thousand times is kept as its last state.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_KERNEL_NOTE = re.compile(r"\[\.\.\. (\d+) characters of output cut \.\.\.\]")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


def overwrite(buffer: str, text: str) -> str:
    """`buffer` then `text`, each carriage return overwriting its line from the start.

    Finished lines come back resolved. The last line may stay as `shown\rwritten` (what it showed
    before its last carriage return, then what was written since), because the next piece of
    text goes on from that cursor position: `resolved` gives what it shows.
    """
    if "\r" not in text and "\r" not in buffer[buffer.rfind("\n") + 1 :]:
        return buffer + text
    start = buffer.rfind("\n") + 1
    lines = (buffer[start:] + text).split("\n")
    done = [_resolve_line(line) for line in lines[:-1]]
    last = lines[-1]
    if "\r" in last:
        before, _, written = last.rpartition("\r")
        last = f"{_resolve_line(before)}\r{written}"
    return buffer[:start] + "\n".join([*done, last])


def resolved(buffer: str) -> str:
    """What a buffer built by `overwrite` shows: its last line resolved too."""
    start = buffer.rfind("\n") + 1
    return buffer[:start] + _resolve_line(buffer[start:])


def _resolve_line(line: str) -> str:
    runs = line.split("\r")
    shown = runs[0]
    for run in runs[1:]:
        shown = run + shown[len(run) :]
    return shown


@dataclass
class OutputEvent:
    """One piece of output as it arrives, for the screen."""

    kind: str
    """"stream", "result", "display", "error" or "clear"."""
    text: str = ""
    name: str = ""
    """For streams: "stdout" or "stderr"."""
    mime: str = ""
    data: bytes | None = None


@dataclass
class Collector:
    """Gathers one execution's outputs into the fields of a `Result`, within the caps."""

    config: Any
    """The runner's `KernelConfig` (its caps)."""
    put_blob: Callable[[bytes, str], str] | None
    on_output: Callable[[OutputEvent], None] | None
    limit: int = 0
    """Characters kept from the start; past the kernel's own cap when it has one."""
    output: str = ""
    tail: str = ""
    cut: int = 0
    clear_pending: bool = False
    error: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    displays: dict[str, int] = field(default_factory=dict)
    stream: str = ""
    """The stream (stdout, stderr) that wrote last."""
    images: set[str] = field(default_factory=set)
    """The sha256 of each image kept, so that the same picture is kept once."""

    def emit(self, event: OutputEvent) -> None:
        if self.on_output is not None:
            self.on_output(event)

    def add_text(self, text: str) -> None:
        if self.clear_pending:
            self.output, self.tail, self.clear_pending = "", "", False
        if self.cut:
            grown = overwrite(self.tail, text)
            self.cut += max(0, len(grown) - len(self.tail))
            self.tail = grown[-self.config.tail_cap :]
            return
        # Overwrite first, cap after: a progress bar redrawn a thousand times is one line.
        combined = overwrite(self.output, text)
        self.output = combined[: self.limit]
        rest = combined[self.limit :]
        if rest:
            self.tail = rest[-self.config.tail_cap :]
            self.cut = len(rest)

    def line_open(self) -> bool:
        """Whether the last line is unfinished (a progress bar waiting for its next redraw)."""
        return not (self.tail or self.output or "\n").endswith("\n")

    def truncated(self) -> int:
        """Characters cut here and, as its notes say, inside the kernel."""
        return self.cut + sum(int(n) for n in _KERNEL_NOTE.findall(self.output + self.tail))

    def text(self) -> str:
        if not self.cut:
            return resolved(self.output)
        hidden = self.cut - len(self.tail)
        note = f"[... {hidden} characters of output cut ...]"
        return f"{resolved(self.output)}\n{note}\n{resolved(self.tail)}"

    def handle(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "stream":
            # Shell commands (`!ls`) print through a pty, which ends lines with \r\n.
            text = content.get("text", "").replace("\r\n", "\n")
            name = content.get("name", "")
            if name != self.stream and self.line_open():
                # As Jupyter shows each stream apart: stdout does not overwrite stderr's bar.
                text = "\n" + text
            self.stream = name
            self.add_text(text)
            self.emit(OutputEvent("stream", text, name=name))
        elif kind in ("execute_result", "display_data", "update_display_data"):
            self.rich(kind, content)
        elif kind == "error":
            self.error = {
                "name": content.get("ename", ""),
                "value": content.get("evalue", ""),
                "traceback": content.get("traceback", []),
            }
            self.emit(OutputEvent("error", "\n".join(self.error["traceback"])))
        elif kind == "clear_output":
            if content.get("wait"):
                self.clear_pending = True
            else:
                self.output, self.tail = "", ""
            self.emit(OutputEvent("clear"))

    def rich(self, kind: str, content: dict[str, Any]) -> None:
        data = content.get("data", {})
        entry: dict[str, Any] | None = None
        display_id = content.get("transient", {}).get("display_id")
        updating = kind == "update_display_data" and display_id in self.displays
        lead = "\n" if self.line_open() else ""  # a picture or a value gets a line of its own
        for mime in IMAGE_TYPES:
            if mime in data:
                raw = data[mime]
                blob = raw.encode() if mime == "image/svg+xml" else base64.b64decode(raw)
                digest = hashlib.sha256(blob).hexdigest()
                if digest in self.images and not updating:
                    return  # the same picture again (`plt.show(); fig`)
                self.images.add(digest)
                sha = self.put_blob(blob, mime) if self.put_blob else None
                entry = {"mime": mime, "blob": sha} if sha else {"mime": mime, "size": len(blob)}
                text = f"[{mime} {_image_size(blob, mime)}]"
                self.emit(OutputEvent("display", lead + text, mime=mime, data=blob))
                break
        else:
            text = str(data.get("text/plain", ""))
            entry = {"mime": "text/plain", "text": text}
            shown_as = "result" if kind == "execute_result" else "display"
            self.emit(OutputEvent(shown_as, lead + text))
        if updating:
            self.outputs[self.displays[display_id]] = entry
            return
        if display_id:
            self.displays[display_id] = len(self.outputs)
        self.outputs.append(entry)
        self.add_text(lead + text if text.endswith("\n") else lead + text + "\n")


def _image_size(blob: bytes, mime: str) -> str:
    if mime == "image/png" and blob[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) >= 24:
        width, height = int.from_bytes(blob[16:20]), int.from_bytes(blob[20:24])
        return f"{width}x{height}, {len(blob) // 1024 or 1} KiB"
    return f"{len(blob) // 1024 or 1} KiB"


@dataclass
class Background:
    """Output that belongs to no running request (a thread still printing after its cell ended).

    Kept within `cap` characters per event, and given out at most once per `gap` seconds: when
    the printing pauses for `quiet` seconds, or when it has gone on for `every` seconds.
    """

    cap: int = 2000
    quiet: float = 1.0
    every: float = 10.0
    gap: float = 5.0
    text: str = ""
    cut: int = 0
    first: float | None = None
    last: float = 0.0
    given: float = float("-inf")

    def add(self, kind: str, content: dict[str, Any], now: float) -> None:
        if kind == "stream":
            text = content.get("text", "").replace("\r\n", "\n")
        elif kind in ("execute_result", "display_data", "update_display_data"):
            data = content.get("data", {})
            text = str(data.get("text/plain", "")) or f"[{', '.join(data)}]"
            text += "" if text.endswith("\n") else "\n"
        elif kind == "error":
            text = f"{content.get('ename', '')}: {content.get('evalue', '')}\n"
        else:
            return
        kept = overwrite(self.text, text)
        self.text = kept[: self.cap]
        self.cut += len(kept) - len(self.text)
        if self.first is None:
            self.first = now
        self.last = now

    def due(self, now: float) -> bool:
        if self.first is None or now - self.given < self.gap:
            return False
        return now - self.last >= self.quiet or now - self.first >= self.every

    def take(self, now: float) -> tuple[str, int]:
        """The text gathered since the last event (cut to `cap`) and how much was cut."""
        text, cut = resolved(self.text), self.cut
        if cut:
            text += f"\n[... {cut} characters of background output cut ...]"
        self.text, self.cut, self.first, self.given = "", 0, None, now
        return text, cut


def result_status(content: dict, collector: Collector, interrupt_requested: bool) -> str:
    """The status of a finished execution (ok, error or interrupted) from its reply's content
    and what was collected; an error the output did not show is put in the collector."""
    if content.get("status") == "ok" and collector.error is None:
        return "ok"
    name = (collector.error or {}).get("name") or content.get("ename", "")
    if name == "KeyboardInterrupt":
        return "interrupted"
    if collector.error is None:
        collector.error = {
            "name": name,
            "value": content.get("evalue", ""),
            "traceback": content.get("traceback", []),
        }
    if name == "StdinNotImplementedError":
        collector.error["value"] = (
            "input() and getpass() are not available: the code runs in a kernel without a "
            "keyboard. Put the value in the code instead."
        )
    return "interrupted" if interrupt_requested and name == "" else "error"
