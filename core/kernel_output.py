"""What one execution printed, gathered into the fields of a `Result` within the caps.

`Collector` receives the kernel's iopub messages (stream, execute_result, display_data,
update_display_data, clear_output, error), passes each on as an `OutputEvent` for the screen,
and keeps the text, the rich outputs (images as blobs) and the error for the stored result.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_KERNEL_NOTE = re.compile(r"\[\.\.\. (\d+) characters of output cut \.\.\.\]")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


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

    def emit(self, event: OutputEvent) -> None:
        if self.on_output is not None:
            self.on_output(event)

    def add_text(self, text: str) -> None:
        if self.clear_pending:
            self.output, self.tail, self.clear_pending = "", "", False
        room = self.limit - len(self.output)
        if room > 0:
            self.output += text[:room]
            text = text[room:]
        if text:
            self.tail = (self.tail + text)[-self.config.tail_cap :]
            self.cut += len(text)

    def truncated(self) -> int:
        """Characters cut here and, as its notes say, inside the kernel."""
        return self.cut + sum(int(n) for n in _KERNEL_NOTE.findall(self.output + self.tail))

    def text(self) -> str:
        if not self.cut:
            return self.output
        hidden = self.cut - len(self.tail)
        return f"{self.output}\n[... {hidden} characters of output cut ...]\n{self.tail}"

    def handle(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "stream":
            # Shell commands (`!ls`) print through a pty, which ends lines with \r\n.
            text = content.get("text", "").replace("\r\n", "\n")
            self.add_text(text)
            self.emit(OutputEvent("stream", text, name=content.get("name", "")))
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
        for mime in IMAGE_TYPES:
            if mime in data:
                raw = data[mime]
                blob = raw.encode() if mime == "image/svg+xml" else base64.b64decode(raw)
                sha = self.put_blob(blob, mime) if self.put_blob else None
                entry = {"mime": mime, "blob": sha} if sha else {"mime": mime, "size": len(blob)}
                text = f"[{mime} {_image_size(blob, mime)}]"
                self.emit(OutputEvent("display", text, mime=mime, data=blob))
                break
        else:
            text = str(data.get("text/plain", ""))
            entry = {"mime": "text/plain", "text": text}
            self.emit(OutputEvent("result" if kind == "execute_result" else "display", text))
        display_id = content.get("transient", {}).get("display_id")
        if kind == "update_display_data" and display_id in self.displays:
            self.outputs[self.displays[display_id]] = entry
            return
        if display_id:
            self.displays[display_id] = len(self.outputs)
        self.outputs.append(entry)
        self.add_text(text if text.endswith("\n") else text + "\n")


def _image_size(blob: bytes, mime: str) -> str:
    if mime == "image/png" and blob[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) >= 24:
        width, height = int.from_bytes(blob[16:20]), int.from_bytes(blob[20:24])
        return f"{width}x{height}, {len(blob) // 1024 or 1} KiB"
    return f"{len(blob) // 1024 or 1} KiB"
