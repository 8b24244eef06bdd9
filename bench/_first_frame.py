"""First frames of the app, timed on real processes: `python -m kyzel_tui --demo` on a
pseudo-terminal, from just before the process is spawned to the first bytes that draw the
screen's text (for bench/tui.py)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 40)
ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


DEVICE_ATTRIBUTES_QUERY = b"\x1b[c"
XTERM_ATTRIBUTES = b"\x1b[?62;22c"
"""What xterm answers to the device-attributes query that the app asks before its first frame
(a VT220 with colour, no sixels); a bare pseudo-terminal answers nothing and would make the app
wait out its 0.35 s limit, which no terminal emulator does."""


def first_frame(home: Path, markers: list[str], extra: list[str], timeout: float = 60) -> dict:
    """Seconds from spawning the app on a pseudo-terminal to each marker's first appearance."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    command = [sys.executable, "-m", "kyzel_tui", "--home", str(home), "--demo", "random", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    seen: dict[str, float] = {}
    screen = b""
    try:
        while len(seen) < len(markers) and time.perf_counter() - started < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:
                    break
                if DEVICE_ATTRIBUTES_QUERY in chunk:  # answered as a terminal does, in one trip
                    os.write(master, XTERM_ATTRIBUTES)
                screen += chunk
                text = ANSI.sub(b"", screen).decode("utf-8", "replace")
                for marker in markers:
                    if marker not in seen and marker in text:
                        seen[marker] = time.perf_counter() - started
        os.write(master, b"\x11")  # ctrl+q
        quit_at = time.perf_counter()
        while process.poll() is None and time.perf_counter() - quit_at < 15:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 1 << 16)
                except OSError:
                    break
        seen["quit"] = time.perf_counter() - quit_at
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(master)
    missing = [m for m in markers if m not in seen]
    if missing:
        raise RuntimeError(f"never saw {missing} on the app's screen")
    return seen


# Keys, in-process
