"""The app in a real terminal: `python -m kyzel_tui --demo` inside tmux, driven with `send-keys`
and read with `capture-pane`, then the store it leaves behind.

The demo model is random, so its turn may be an answer (nothing to run): `r` retries, a bounded
number of times, until a turn with code is pending.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.store import Store

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ROOT = Path(__file__).resolve().parents[1]
RETRIES = 12


class Terminal:
    """One tmux server of our own (its own socket), one window of 120 x 40."""

    def __init__(self, socket: Path):
        self.socket = str(socket)

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=30
        )

    def start(self, command: str) -> None:
        started = self.tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
        assert started.returncode == 0, started.stderr

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "app", *(["-l"] if literal else []), *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app").stdout

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "app").returncode == 0

    def wait(self, predicate: Callable[[], object], what: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() > deadline:
                screen = self.screen() if self.alive() else "(the app has exited)"
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.1)
        return value

    def close(self) -> None:
        self.tmux("kill-server")


def events(home: Path) -> list:
    with Store.open(home) as store:
        sessions = store.sessions()
        return store.events(sessions[0].id) if sessions else []


def head_is_pending_code(home: Path) -> bool:
    with Store.open(home) as store:
        sessions = store.sessions()
        if not sessions or sessions[0].head is None:
            return False
        session = store.session(sessions[0].id)
        stored = {e.id: e for e in store.events(session.id)}
        head = stored[session.head]
        judged = any(e.kind == "verdict" and e.parent_id == head.id for e in stored.values())
        return head.kind == "turn" and head.body.code is not None and not judged


def test_a_session_in_tmux_from_message_to_result(tmp_path, tiny):
    model_folder = Path(tiny[1].name_or_path)  # the tiny model this test run already built
    home = tmp_path / "home"
    terminal = Terminal(tmp_path / "tmux.sock")
    command = (
        f"cd {ROOT} && KYZEL_TINY_CACHE={model_folder.parent} {sys.executable} -m kyzel_tui "
        f"--home {home} --demo random --max-new-tokens 64"
    )
    terminal.start(command)
    try:
        terminal.wait(lambda: "Type a message" in terminal.screen(), "the first frame", 30)
        terminal.wait(lambda: "kernel idle" in terminal.screen(), "the kernel", 60)
        terminal.wait(lambda: "DEMO" in terminal.screen(), "the demo model", 60)

        terminal.keys("sum the numbers 1 to 10", literal=True)
        terminal.keys("Enter")
        terminal.wait(lambda: [e for e in events(home) if e.kind == "turn"], "the first turn")
        terminal.wait(lambda: "writing…" not in terminal.screen(), "the turn to end")

        for _ in range(RETRIES):
            turns = sum(e.kind == "turn" for e in events(home))
            terminal.keys("Escape")  # out of the message box, if an answer left the focus there
            time.sleep(0.3)  # so that Escape and r do not read as alt+r
            terminal.keys("r")
            terminal.wait(
                lambda turns=turns: sum(e.kind == "turn" for e in events(home)) > turns,
                "a retry",
            )
            terminal.wait(lambda: "writing…" not in terminal.screen(), "the retry to end")
            if head_is_pending_code(home):
                break
        else:
            pytest.fail(f"no turn with code in {RETRIES} retries of the demo model")
        terminal.wait(lambda: "waiting for you" in terminal.screen(), "the pending bar")
        assert f"{sum(e.kind == 'turn' for e in events(home))}/" in terminal.screen()

        terminal.keys("Enter")
        terminal.wait(lambda: [e for e in events(home) if e.kind == "result"], "the result")
        terminal.wait(lambda: "result  " in terminal.screen(), "the result on screen")
        terminal.keys("C-q")
        terminal.wait(lambda: not terminal.alive(), "the app to quit", 15)
    finally:
        terminal.close()

    stored = events(home)
    kinds = [e.kind for e in stored]
    user = stored[0]
    assert user.kind == "user" and user.body.text == "sum the numbers 1 to 10"
    first_turns = [e for e in stored if e.kind == "turn" and e.parent_id == user.id]
    assert len(first_turns) >= 2  # the retries are siblings: nothing was overwritten
    (result,) = [e for e in stored if e.kind == "result"]
    ran = next(e for e in stored if e.id == result.parent_id)
    assert ran.kind == "turn" and ran.body.code is not None and ran.parent_id == user.id
    accepted = [e for e in stored if e.kind == "verdict" and e.parent_id == ran.id]
    assert [v.body.value for v in accepted] == ["accepted"]
    assert kinds.index("verdict") < kinds.index("result")
    assert result.body.status in ("ok", "error")
