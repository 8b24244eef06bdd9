"""Kernel side effects against a real ipykernel: threads that outlive their cell, unread
messages, and what a killed app leaves behind (a real SIGKILL of a real parent process)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from core.kernel.config import KernelConfig
from core.kernel.runner import KernelRunner
from core.kernel.setup import remove_stale_files

from conftest import started_runner

CHATTY_THREAD = """
import threading, time
def _chatter():
    while True:
        print("tick " * 40)
        time.sleep(0.001)
threading.Thread(target=_chatter, daemon=True).start()
"""


async def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return condition()


@pytest.fixture
async def chatty(tmp_path):
    runner = await started_runner(
        timeout=30, output_cap=2000, tail_cap=500, hard_cap=20_000, spec_dir=str(tmp_path)
    )
    yield runner
    await runner.shutdown()


async def test_a_thread_printing_after_its_cell_never_reaches_later_cells(chatty):
    first = await chatty.execute(CHATTY_THREAD)
    assert first.status == "ok"
    for _ in range(2):
        later = await chatty.execute("import time; time.sleep(2); print('done')")
        assert later.status == "ok", later
        assert later.output == "done\n"
        assert later.truncated == 0
    background = [e for e in chatty.events if e.state == "background"]
    assert background and "tick" in background[0].detail
    cap = chatty.config.background_cap
    assert all(len(e.detail) <= cap + 100 for e in background)
    # Cut by the runner (meta) or, when the machine is slow and the events come in smaller
    # pieces, by the kernel's own budget (its note travels in the text).
    assert any(
        e.meta.get("cut") or "characters of background output cut" in e.detail for e in background
    )


async def test_a_thread_started_in_a_cell_prints_into_it_while_it_runs(chatty):
    code = (
        "import threading\n"
        "t = threading.Thread(target=lambda: print('from the thread'))\n"
        "t.start(); t.join(); print('after')"
    )
    result = await chatty.execute(code)
    assert result.output == "from the thread\nafter\n"
    assert not [e for e in chatty.events if e.state == "background"]


async def test_background_output_is_read_and_reported_while_idle(chatty):
    await chatty.execute(CHATTY_THREAD)
    # Nobody executes anything: the runner reads on its own, so nothing piles up.
    assert await wait_until(lambda: any(e.state == "background" for e in chatty.events), timeout=15)
    assert len(chatty._background.text) <= chatty.config.background_cap
    assert chatty._inbox.qsize() == 0


PARENT = """
import asyncio, json, sys
from core.kernel.config import KernelConfig
from core.kernel.runner import KernelRunner

async def main():
    runner = KernelRunner(KernelConfig())
    await runner.start()
    info = {
        "kernel_pid": runner.manager.provisioner.process.pid,
        "connection_file": runner.manager.connection_file,
        "spec_dir": runner._spec_tmp.name,
    }
    print(json.dumps(info), flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it runs nothing.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_a_killed_parent_takes_its_kernel_and_its_key_files_along(tmp_path):
    runtime, temp = tmp_path / "runtime", tmp_path / "tmp"
    temp.mkdir()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "TMPDIR": str(temp),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], env=env, stdout=subprocess.PIPE, text=True
    )
    info = json.loads(parent.stdout.readline())
    try:
        assert Path(info["connection_file"]).exists()
        assert oct(Path(info["connection_file"]).stat().st_mode & 0o777) == "0o600"
        assert pid_alive(info["kernel_pid"])
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        while pid_alive(info["kernel_pid"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pid_alive(info["kernel_pid"]), "the kernel outlived its killed parent"
        assert not Path(info["connection_file"]).exists()
        assert not Path(info["spec_dir"]).exists()
    finally:
        if pid_alive(info["kernel_pid"]):
            os.kill(info["kernel_pid"], signal.SIGKILL)
        parent.kill()
        parent.wait(10)


def test_the_next_start_removes_what_dead_runners_left(tmp_path):
    """A runner killed together with its kernel (kill -9 of the group) cannot clean up: the next
    start does, for names with a dead PID, and leaves a live runner's files alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runtime, temp = tmp_path / "runtime", tmp_path / "tmp"
    runtime.mkdir()
    temp.mkdir()
    stale_key = runtime / f"kyzel-kernel-{dead.pid}-abc.json"
    stale_key.write_text("{}")
    stale_spec = temp / f"kyzel-kernelspec-{dead.pid}-xyz"
    (stale_spec / "kyzel-python").mkdir(parents=True)
    live_key = runtime / f"kyzel-kernel-{os.getpid()}-def.json"
    live_key.write_text("{}")
    foreign = runtime / "kernel-1234.json"
    foreign.write_text("{}")
    removed = remove_stale_files(runtime, temp)
    assert set(removed) == {stale_key, stale_spec}
    assert live_key.exists() and foreign.exists()
    assert not stale_key.exists() and not stale_spec.exists()


async def test_start_cleans_up_stale_files_it_owns(tmp_path, monkeypatch):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale_key = runtime / f"kyzel-kernel-{dead.pid}-abc.json"
    stale_key.write_text("{}")
    stale_spec = tmp_path / f"kyzel-kernelspec-{dead.pid}-xyz"
    stale_spec.mkdir()
    runner = KernelRunner(KernelConfig())
    try:
        await runner.start()
        assert not stale_key.exists() and not stale_spec.exists()
        own = Path(runner.manager.connection_file)
        assert own.parent == runtime and own.name.startswith(f"kyzel-kernel-{os.getpid()}-")
    finally:
        await runner.shutdown()


def test_the_transcript_shows_background_output_literally():
    from core.events import Event, KernelEvent
    from kyzel_tui.widgets.transcript.kernel_view import KernelView

    body = KernelEvent("background", "tick \x1b[2J[bold]x[/bold] \u202eevil\n")
    shown = KernelView(Event.new("s", None, body)).render()
    assert shown.plain.startswith("background output")
    assert "tick [bold]x[/bold] ⟨U+202E⟩evil" in shown.plain
    assert "\x1b" not in shown.plain
