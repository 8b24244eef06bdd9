"""Pictures in the terminal: which graphics protocol it speaks, and a widget that draws in it.

Kitty's graphics protocol and sixels draw real pixels (over SSH too, since they travel in the
byte stream); every other terminal gets half-block cells, two pixels per character. The
`textual-image` package draws all three; this module decides which one and feeds it.

The terminal can only be asked before Textual starts: once the app runs, Textual reads every
byte the terminal sends. So the command line asks (`ask_terminal`) as it starts, before it loads
the app, and reads the answer (`Probe.finish`) just before `app.run()`: one round trip of a kitty
graphics query, a cell-size query and a device-attributes query, which every terminal emulator
answers, so the answer's end is known without waiting out a timeout (a bare pseudo-terminal that
answers nothing costs at most 0.35 s from the question, mostly spent loading the app anyway).
Where nobody asked (tests under `run_test`, a pipe, tmux tests of other things), pictures are
half-block cells and nothing is sent to the terminal. `KYZEL_IMAGES=kitty|sixel|halfcell`
forces a protocol.

`textual-image` probes the terminal itself when its renderers are imported with a terminal on
stdout; it is imported here with that probe turned off, and told the cell size found here.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time
from typing import Any

PROTOCOLS = ("kitty", "sixel", "halfcell")
_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\" + "\x1b[16t" + "\x1b[c"
_DEVICE_ATTRIBUTES = re.compile(rb"\x1b\[\?([0-9;]*)c")
_CELL_SIZE = re.compile(rb"\x1b\[6;(\d+);(\d+)t")

_state: dict[str, Any] = {"protocol": "halfcell", "cell": (10, 20)}


def protocol() -> str:
    """The protocol pictures are drawn with: kitty, sixel or halfcell."""
    return _state["protocol"]


class Probe:
    """The terminal question, asked: its answer is read by `finish`, meanwhile the app loads."""

    def __init__(self, fd_in: int, fd_out: int, saved: Any):
        self.fd_in, self.fd_out, self.saved = fd_in, fd_out, saved
        self.asked = time.monotonic()

    def finish(self, timeout: float = 0.35) -> str:
        """Read the answer (until `timeout` seconds after asking), put the terminal back as it
        was, remember the protocol and return it. Once only: later calls return the protocol."""
        import select
        import termios

        if self.saved is None:
            return _state["protocol"]
        reply = b""
        try:
            while not _DEVICE_ATTRIBUTES.search(reply):
                # Past the deadline, what has already come is still read (the app may have
                # taken longer to load than the answer to travel).
                left = max(0.0, self.asked + timeout - time.monotonic())
                if not select.select([self.fd_in], [], [], left)[0]:
                    break
                chunk = os.read(self.fd_in, 1024)
                if not chunk:  # the terminal hung up (a dropped SSH link): no answer will come
                    break
                reply += chunk
        except OSError:
            pass
        finally:
            termios.tcsetattr(self.fd_in, termios.TCSANOW, self.saved)
            self.saved = None
        _state["protocol"] = _protocol_from(reply)
        _state["cell"] = _cell_size(self.fd_out, reply)
        return _state["protocol"]


def ask_terminal() -> Probe | None:
    """Ask the terminal what it can draw, before Textual starts; None where nothing is asked
    (`KYZEL_IMAGES` set, no terminal, not POSIX). The answer is read by `Probe.finish`, so
    that the app can load while it travels (over SSH, a round trip)."""
    forced = os.environ.get("KYZEL_IMAGES", "").strip().lower()
    if forced in PROTOCOLS:
        _state["protocol"] = forced
        return None
    stdin, stdout = sys.__stdin__, sys.__stdout__
    if not (stdin and stdout and stdin.isatty() and stdout.isatty()):
        return None
    try:
        import termios
        import tty
    except ImportError:  # not a POSIX terminal: half-block cells need no question
        return None
    fd_in, fd_out = stdin.fileno(), stdout.fileno()
    try:
        saved = termios.tcgetattr(fd_in)
        tty.setcbreak(fd_in)  # the answer must not echo, and comes without a newline
        os.write(fd_out, _QUERY.encode())
    except (OSError, termios.error):
        return None
    return Probe(fd_in, fd_out, saved)


def probe_terminal(timeout: float = 0.35) -> str:
    """Ask the terminal and wait for its answer: the protocol pictures will be drawn with."""
    probe = ask_terminal()
    return probe.finish(timeout) if probe is not None else _state["protocol"]


def _protocol_from(reply: bytes) -> str:
    if b"\x1b_Gi=31;OK" in reply:
        return "kitty"
    attributes = _DEVICE_ATTRIBUTES.search(reply)
    if attributes and b"4" in attributes.group(1).split(b";"):
        return "sixel"
    return "halfcell"


def _cell_size(fd_out: int, reply: bytes) -> tuple[int, int]:
    """Pixels per cell: from the kernel's window size, else the terminal's answer, else 10x20."""
    import fcntl
    import struct
    import termios

    try:
        rows, columns, width, height = struct.unpack(
            "HHHH", fcntl.ioctl(fd_out, termios.TIOCGWINSZ, b"\0" * 8)
        )
        if rows and columns and width and height:
            return width // columns, height // rows
    except OSError:
        pass
    match = _CELL_SIZE.search(reply)
    if match and int(match.group(1)) and int(match.group(2)):
        return int(match.group(2)), int(match.group(1))
    return _state["cell"]


def _widgets() -> Any:
    """`textual_image.widget`, imported without letting it query the terminal."""
    if "textual_image.widget" in sys.modules:
        return sys.modules["textual_image.widget"]
    from textual_image import _terminal

    _terminal.get_cell_size._result = _terminal.CellSize(*_state["cell"])  # type: ignore[attr-defined]
    real = sys.__stdout__
    sys.__stdout__ = io.StringIO()  # not a terminal: its import-time probe is skipped
    try:
        import textual_image.widget as widgets
    finally:
        sys.__stdout__ = real
    return widgets


def picture(data: bytes, **kwargs: Any) -> Any:
    """A Textual widget drawing the picture `data` (PNG, JPEG, GIF) with the chosen protocol."""
    from PIL import Image as PILImage

    widgets = _widgets()
    kind = {"kitty": widgets.TGPImage, "sixel": widgets.SixelImage}
    cls = kind.get(_state["protocol"], widgets.HalfcellImage)
    return cls(PILImage.open(io.BytesIO(data)), **kwargs)
