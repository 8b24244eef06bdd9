"""Pictures in a real terminal: the app asks tmux what it can draw before Textual starts (and
loses no key to the question), draws a stored figure in half-block cells, and `o` shows it
full-screen."""

from __future__ import annotations

import io
import shutil
import sys
import time
from pathlib import Path

import pytest
from test_app_e2e import ROOT, Terminal

from core.events import Result, Turn, UserMessage
from core.session import Session
from core.store.database import Store

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def figure_png() -> bytes:
    from PIL import Image

    picture = Image.new("RGB", (120, 80), "white")
    for x in range(120):
        for y in range(80):
            if abs(y - (x * 2 // 3)) < 4:
                picture.putpixel((x, y), (200, 30, 30))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def test_a_stored_figure_in_tmux_inline_and_full_screen(tmp_path, tiny):
    home = tmp_path / "home"
    with Store.open(home) as store:
        session = Session.create(store, title="a plot")
        session.append(UserMessage("plot it"))
        turn = session.append(Turn("plot", code="fig"))
        session.judge(turn.id, "accepted")
        sha = store.put_blob(figure_png(), "image/png")
        session.append(
            Result(
                output="[image/png 120x80, 1 KiB]\n", outputs=[{"mime": "image/png", "blob": sha}]
            )
        )
    model_folder = Path(tiny[1].name_or_path)
    terminal = Terminal(tmp_path / "tmux.sock")
    terminal.start(
        f"cd {ROOT} && KYZEL_TINY_CACHE={model_folder.parent} {sys.executable} -m kyzel_tui "
        f"--home {home} --demo random --session {session.id}"
    )
    try:
        terminal.wait(lambda: "picture 1/1" in terminal.screen(), "the picture", 30)
        screen = terminal.screen()
        assert screen.count("▀") > 50 and "Gi=31" not in screen and "\x1b" not in screen
        terminal.wait(lambda: "DEMO" in terminal.screen(), "the demo model", 60)
        terminal.keys("Escape")  # out of the box: the last event (the picture) is selected
        time.sleep(0.3)
        terminal.keys("o")
        terminal.wait(lambda: "picture 1/1  image/png" in terminal.screen(), "full screen", 10)
        assert terminal.screen().count("▀") > screen.count("▀")
        terminal.keys("Escape")
        terminal.wait(lambda: "picture 1/1  image/png" not in terminal.screen(), "back", 10)
        terminal.keys("C-q")
        terminal.wait(lambda: not terminal.alive(), "the app to quit", 15)
    finally:
        terminal.close()


def test_the_terminal_is_asked_once_and_answers_at_once(tmp_path):
    """tmux 3.3 answers the device-attributes query (no sixel, no kitty graphics): half-block
    cells, known after one round trip rather than a timeout."""
    terminal = Terminal(tmp_path / "tmux.sock")
    script = (
        "import time; from kyzel_tui.widgets.transcript.pictures import probe_terminal; "
        "t = time.monotonic(); p = probe_terminal(timeout=2.0); "
        "print('probed', p, int((time.monotonic() - t) * 1000), 'ms'); time.sleep(30)"
    )
    terminal.start(f'cd {ROOT} && {sys.executable} -c "{script}"')
    try:
        line = terminal.wait(
            lambda: next((s for s in terminal.screen().splitlines() if "probed" in s), None),
            "the answer",
            30,
        )
        _, protocol, elapsed, _ = line.split()
        assert protocol == "halfcell" and int(elapsed) < 1000  # well before the 2 s timeout
    finally:
        terminal.close()
