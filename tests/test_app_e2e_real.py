"""The offline first run in a real terminal (tmux): no model named, the hardware's default neither
cached nor reachable. The app must say which model it could not get and that it uses the embedded
one, load that one without a key pressed, and stream a real turn for a typed message.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.store.database import Store

from real_models import smollm2_gguf_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(400),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ROOT = Path(__file__).resolve().parents[1]


class Tmux:
    """A tmux server of our own (its own socket) holding one 120 x 40 window."""

    def __init__(self, socket: Path):
        self.socket = str(socket)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=30
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app").stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", "app").returncode == 0

    def wait(self, predicate: Callable[[], object], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                screen = self.screen() if self.alive() else "(the app has exited)"
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.2)


def stored_events(home: Path) -> list:
    if not (home / "kyzel.db").exists():
        return []
    with Store.open(home) as store:
        sessions = store.sessions()
        return store.events(sessions[0].id) if sessions else []


def test_offline_first_run_streams_a_real_turn_from_the_embedded_model(tmp_path, embedded):
    smollm2_gguf_path()  # skipped without the wheel; `embedded` has converted it already
    home = tmp_path / "home"
    env = {
        "HF_HUB_CACHE": str(tmp_path / "empty-hub"),  # the default model is not cached
        "HF_ENDPOINT": "http://127.0.0.1:9",  # and the hub refuses at once
        "PYTHONPATH": str(ROOT),
    }
    if "KYZEL_MODEL_CACHE" in os.environ:
        env["KYZEL_MODEL_CACHE"] = os.environ["KYZEL_MODEL_CACHE"]
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = (
        f"cd {ROOT} && env -u HF_HUB_OFFLINE -u TRANSFORMERS_OFFLINE {exports} "
        f"{sys.executable} -m kyzel_tui --home {home} --max-new-tokens 48"
    )
    tmux = Tmux(tmp_path / "tmux.sock")
    started = tmux.run("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
    assert started.returncode == 0, started.stderr
    try:
        tmux.wait(lambda: "Could not get" in tmux.screen(), "the fallback notice", 120)
        notice = tmux.screen()
        assert "embedded" in notice and "Qwen/Qwen2.5-Coder" in notice
        tmux.wait(lambda: "SmolLM2" in tmux.screen(), "the embedded model in the status", 120)

        tmux.run("send-keys", "-t", "app", "-l", "print the numbers 1 to 3")
        tmux.run("send-keys", "-t", "app", "Enter")
        tmux.wait(
            lambda: any(e.kind == "turn" for e in stored_events(home)), "a streamed turn", 180
        )
        tmux.run("send-keys", "-t", "app", "C-q")
        tmux.wait(lambda: not tmux.alive(), "the app to quit", 20)
    finally:
        tmux.run("kill-server")
    events = stored_events(home)
    user = events[0]
    assert user.kind == "user" and user.body.text == "print the numbers 1 to 3"
    turn = next(e for e in events if e.kind == "turn")
    assert turn.parent_id == user.id and turn.body.meta["model"] == "smollm2"
    assert (turn.body.code is None) != (turn.body.answer is None)
