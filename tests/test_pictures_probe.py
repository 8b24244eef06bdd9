"""The terminal question, answered as kitty, a sixel terminal and a plain one answer it: the
probe runs in a real process on a real pseudo-terminal, whose other end replies."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHILD = (
    "import io, os, select, sys, time\n"
    "from PIL import Image\n"
    "from kyzel_tui.widgets.transcript.pictures import picture, ask_terminal, _state\n"
    "probe = ask_terminal()\n"
    "time.sleep(float(os.environ['LOADING']))  # the app loads meanwhile\n"
    "protocol = probe.finish(timeout=3.0)\n"
    "left = select.select([sys.stdin], [], [], 0.3)[0]\n"
    "print('LEFT', repr(os.read(0, 100) if left else b''))\n"
    "png = io.BytesIO(); Image.new('RGB', (4, 4)).save(png, format='PNG')\n"
    "kind = type(picture(png.getvalue()))\n"
    "print('RESULT', protocol, kind.__module__ + '.' + kind.__name__, *_state['cell'])\n"
)
KITTY = b"\x1b_Gi=31;OK\x1b\\\x1b[6;20;9t\x1b[?62;22;52c"
SIXEL = b"\x1b[?63;1;2;4;6;9;15;22c"  # xterm -ti vt340: attribute 4 is sixel graphics
PLAIN = b"\x1b[?1;2c"


def probe_with(answer: bytes, loading: float = 0.0) -> list[str]:
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOADING": str(loading)}
    env.pop("KYZEL_IMAGES", None)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=terminal, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    asked, said = b"", b""
    deadline = time.monotonic() + 60
    try:
        while child.poll() is None or select.select([controller], [], [], 0)[0]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer; the child said {said!r}")
            if not select.select([controller], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the child has gone and closed its end
                break
            said += chunk
            if b"\x1b[c" in said and not asked:
                asked = said
                os.write(controller, answer)
    finally:
        child.kill()
        os.close(controller)
    assert b"\x1b_Gi=31,s=1,v=1,a=q" in asked and asked.rstrip().endswith(b"\x1b[c")
    assert "LEFT b''" in said.decode()  # the whole answer was read: none of it reaches the app
    lines = [line for line in said.decode().splitlines() if "RESULT" in line]
    assert lines, said
    line = lines[0][lines[0].index("RESULT") :]
    return line.split()[1:]


@pytest.mark.parametrize(
    "answer, protocol, widget",
    [
        (KITTY, "kitty", "textual_image.widget.TGPImage"),
        (SIXEL, "sixel", "textual_image.widget.sixel.Image"),
        (PLAIN, "halfcell", "textual_image.widget.HalfcellImage"),
    ],
)
def test_the_best_protocol_the_terminal_speaks(answer, protocol, widget):
    found = probe_with(answer)
    assert found[:2] == [protocol, widget]
    if answer is KITTY:  # its cell size answer (20 rows by 9 columns of pixels), as no ioctl gives
        assert found[2:] == ["9", "20"]


def test_an_answer_that_came_while_the_app_loaded_past_the_deadline_is_still_read():
    assert probe_with(SIXEL, loading=4.0)[0] == "sixel"


def test_a_terminal_that_hangs_up_before_answering_leaves_no_process_spinning():
    """A dropped SSH link while the app starts: the question's read sees the end of the input
    and gives up (it used to read nothing forever, at full CPU)."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOADING": "1.0"}
    env.pop("KYZEL_IMAGES", None)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=terminal, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    try:
        said = b""
        while b"\x1b[c" not in said:  # asked: now hang up without an answer
            if select.select([controller], [], [], 30)[0]:
                said += os.read(controller, 4096)
            else:
                raise AssertionError(f"the child asked nothing: {said!r}")
        os.close(controller)
        controller = None
        child.wait(timeout=20)
    finally:
        child.kill()
        if controller is not None:
            os.close(controller)
