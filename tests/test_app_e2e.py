"""The app in a real terminal: `python -m kyzel_tui --demo` (or `tests/scripted_app.py`, the
same app with the scripted tiny model) inside tmux, driven with `send-keys` and read with
`capture-pane`, then the store it leaves behind.

The demo model is random, so its turn may be an answer (nothing to run): `r` retries, a bounded
number of times, until a turn with code is pending.
"""

from __future__ import annotations

import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.store.database import Store
from grammars.turn import TurnFields, render

from app_harness import CODE_TURN

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

    def quit(self) -> None:
        """ctrl+q, and `y` if the app asks first (the model may be writing its next turn)."""
        self.keys("C-q")
        self.wait(lambda: not self.alive() or "Quit anyway?" in self.screen(), "quit", 15)
        if self.alive():
            self.keys("y")
        self.wait(lambda: not self.alive(), "the app to quit", 15)

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
        # The kernel starts when code first runs: opening the app writes nothing.
        terminal.wait(lambda: "kernel not started" in terminal.screen(), "the status bar", 30)
        terminal.wait(lambda: "DEMO" in terminal.screen(), "the demo model", 60)

        terminal.keys("sum the numbers 1 to 10", literal=True)
        terminal.keys("Enter")
        terminal.wait(lambda: [e for e in events(home) if e.kind == "turn"], "the first turn")
        terminal.wait(lambda: "writing…" not in terminal.screen(), "the turn to end")

        for _ in range(RETRIES):
            turns = sum(e.kind == "turn" for e in events(home))
            time.sleep(0.6)  # no key acts on a turn in its first half second on screen
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

        time.sleep(0.6)  # the guard: a key in the turn's first half second does nothing
        terminal.keys("Enter")
        terminal.wait(lambda: [e for e in events(home) if e.kind == "result"], "the result")
        terminal.wait(lambda: "result  " in terminal.screen(), "the result on screen")
        terminal.quit()
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


def start_scripted(tmp_path, tiny, seconds: float, *texts: str) -> tuple[Terminal, Path]:
    """The app with the scripted tiny model (`tests/scripted_app.py`) in tmux, model loaded."""
    home = tmp_path / "home"
    cache = Path(tiny[1].name_or_path).parent
    terminal = Terminal(tmp_path / "tmux.sock")
    quoted = " ".join(shlex.quote(t) for t in texts)
    terminal.start(
        f"cd {ROOT} && {sys.executable} tests/scripted_app.py {home} {cache} {seconds} {quoted}"
    )
    terminal.wait(lambda: "tiny · cpu" in terminal.screen(), "the model", 60)
    return terminal, home


def kinds_in(home: Path) -> list[str]:
    return [e.kind for e in events(home)]


def test_typing_through_the_moment_a_code_turn_lands_keeps_every_letter_in_the_box(tmp_path, tiny):
    """Regression (issue 9, the blocker): focus jumped to a code turn the moment it arrived and
    the next typed letters ran it ("yes"), skipped it ("n") or opened the editor ("e")."""
    terminal, home = start_scripted(tmp_path, tiny, 0.03, CODE_TURN)
    sentence = "yes run it now, then explain why does this happen "
    typed = ""
    pace = random.Random(9)
    try:
        terminal.keys("what is 6*7", literal=True)
        terminal.keys("Enter")
        terminal.wait(lambda: "user" in kinds_in(home), "the message to be sent", 30)
        # A key every 50-150 ms, through the turn's arrival and well past the half-second guard.
        landed_at = None
        while landed_at is None or len(typed) < landed_at + 15:
            char = sentence[len(typed) % len(sentence)]
            terminal.keys(char, literal=True)
            typed += char
            time.sleep(pace.uniform(0.05, 0.15))
            if landed_at is None and "turn" in kinds_in(home):
                landed_at = len(typed)
        assert 0 < landed_at < len(typed)
        terminal.wait(lambda: typed.rstrip() in terminal.screen(), "every letter in the box", 10)
        screen = terminal.screen()
        assert "Skip this code" not in screen and "Edit the turn" not in screen
    finally:
        terminal.close()
    assert kinds_in(home) == ["user", "turn"]  # no verdict, no result


def test_r_on_the_pending_turn_retries_and_i_types_nothing(tmp_path, tiny):
    """A newcomer's `r` after the turn arrives retries it; it is not sent as a message "r"."""
    other = render(TurnFields("another way", code="print(42)"))
    terminal, home = start_scripted(tmp_path, tiny, 0.0, CODE_TURN, other)
    try:
        terminal.keys("what is 6*7", literal=True)
        terminal.keys("Enter")
        terminal.wait(lambda: "waiting for you: enter/y run" in terminal.screen(), "the bar")
        time.sleep(1.2)  # the focus moves to the turn once the box has been left alone
        terminal.keys("r")
        terminal.wait(lambda: kinds_in(home).count("turn") == 2, "the retry")
        terminal.wait(lambda: "2/2" in terminal.screen(), "the sibling on screen")
        time.sleep(1.2)
        terminal.keys("i")
        time.sleep(0.5)
        assert "Message (enter sends" in terminal.screen()  # the box is still empty
    finally:
        terminal.close()
    stored = events(home)
    assert [e.body.text for e in stored if e.kind == "user"] == ["what is 6*7"]
    first, second = [e for e in stored if e.kind == "turn"]
    assert first.parent_id == second.parent_id


def test_the_status_bar_shows_tokens_and_seconds_while_a_slow_turn_streams(tmp_path, tiny):
    """Issue 9, item 3: a slow model's turn must never look frozen."""
    slow = render(TurnFields("let me think " * 30, answer="done"))
    terminal, home = start_scripted(tmp_path, tiny, 0.1, slow)
    figures = re.compile(r"writing (\d+) tok · (\d+) s · ([\d.]+) tok/s")
    try:
        terminal.keys("think slowly", literal=True)
        terminal.keys("Enter")
        first = terminal.wait(lambda: figures.search(terminal.screen()), "the figures", 30)
        later = terminal.wait(
            lambda: (
                (m := figures.search(terminal.screen())) and int(m[2]) >= int(first[2]) + 2 and m
            ),
            "the seconds to move on",
            30,
        )
        assert int(later[1]) > int(first[1]) and float(later[3]) > 0
    finally:
        terminal.close()
