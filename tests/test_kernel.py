"""The kernel runner against a real ipykernel: results, faults, interrupts, attaching, replay.

What the output becomes (streams, images, caps, progress bars): `test_kernel_output.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import pytest_asyncio

from core.events import Result, Turn, UserMessage
from core.kernel.config import KernelConfig, KernelError
from core.kernel.replay import cells_to_replay, replay
from core.kernel.runner import KernelRunner
from core.session import Session
from core.text import strip_ansi

from conftest import started_runner

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_one_plus_one(runner):
    result = await runner.execute("1+1")
    assert (result.status, result.output, result.error) == ("ok", "2\n", None)
    assert result.outputs == [{"mime": "text/plain", "text": "2"}]
    assert result.execution_count >= 1 and result.duration < 5


async def test_an_exception_comes_back_with_its_traceback(runner):
    result = await runner.execute("def f():\n    raise ValueError('bad value')\nf()")
    assert result.status == "error"
    assert result.error["name"] == "ValueError" and result.error["value"] == "bad value"
    assert "raise ValueError" in strip_ansi("\n".join(result.error["traceback"]))


async def test_interrupt_is_quick_and_keeps_the_state(runner):
    await runner.execute("kept = 41")
    started = asyncio.Event()
    task = asyncio.create_task(
        runner.execute(
            "import time\nprint('go', flush=True)\ntime.sleep(60)",
            on_output=lambda event: started.set(),
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    asked = time.monotonic()
    await runner.interrupt()
    result = await asyncio.wait_for(task, 10)
    assert result.status == "interrupted" and time.monotonic() - asked < 1.0
    assert (await runner.execute("kept + 1")).output == "42\n"


async def test_input_and_getpass_are_refused_clearly(runner):
    for code in ("input('name? ')", "import getpass; getpass.getpass()"):
        result = await asyncio.wait_for(runner.execute(code), 10)
        assert result.status == "error"
        assert "not available" in result.error["value"] and "Put the value" in result.error["value"]


async def test_background_processes_and_threads_do_not_block(runner):
    started = time.monotonic()
    result = await runner.execute(
        "import subprocess, threading, time\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "print('spawned')"
    )
    assert result.status == "ok" and time.monotonic() - started < 5
    assert (await runner.execute("child.kill(); 'next'")).status == "ok"


@pytest_asyncio.fixture(loop_scope="module")
async def own_runner(tmp_path):
    """A kernel of its own, for the tests that kill or restart it."""
    runner = await started_runner(timeout=2, interrupt_grace=2, spec_dir=str(tmp_path))
    yield runner
    await runner.shutdown()


@pytest.mark.parametrize(
    "code",
    [
        "import os; os._exit(1)",
        "import ctypes; ctypes.string_at(0)",
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
    ],
)
async def test_a_dead_kernel_is_noticed_restarted_and_reported(own_runner, code):
    await own_runner.execute("doomed = 1")
    started = time.monotonic()
    result = await asyncio.wait_for(own_runner.execute(code), 30)
    assert result.status == "died" and time.monotonic() - started < 10
    assert [e.state for e in own_runner.events] == ["started", "died", "restarted"]
    after = await own_runner.execute("'doomed' in globals()")
    assert after.output == "False\n"


async def test_timeout_interrupts_and_keeps_the_kernel(own_runner):
    await own_runner.execute("kept = 1")
    result = await asyncio.wait_for(own_runner.execute("import time; time.sleep(60)"), 20)
    assert result.status == "timeout"
    assert [e.state for e in own_runner.events] == ["started"]
    assert (await own_runner.execute("kept")).output == "1\n"


async def test_timeout_restarts_a_kernel_that_ignores_the_interrupt(own_runner):
    code = (
        "import time\nwhile True:\n    try:\n        time.sleep(10)\n"
        "    except KeyboardInterrupt:\n        pass"
    )
    result = await asyncio.wait_for(own_runner.execute(code), 30)
    assert result.status == "timeout"
    assert [e.state for e in own_runner.events] == ["started", "restarted"]
    assert (await own_runner.execute("1")).status == "ok"


async def test_replay_reruns_the_branch_in_a_fresh_kernel(own_runner, store):
    session = Session.create(store)
    session.append(UserMessage("count"))
    for code in ("a = 1", "b = a + 1", "c = b * 10"):
        turn = session.append(Turn("step", code=code))
        session.judge(turn.id, "accepted")
        session.append(await own_runner.execute(code))
    unrun = session.append(Turn("never ran", code="d = 1/0"))
    assert [code for _, code in cells_to_replay(session.tree.path(unrun.id))] == [
        "a = 1",
        "b = a + 1",
        "c = b * 10",
    ]
    session.move_head(session.tree.path(unrun.id)[-2].id)
    seen = []
    report = await replay(session, own_runner, progress=lambda i, n: seen.append((i, n)))
    assert (report.ran, report.cells, report.failed) == (3, 3, None)
    assert seen[-1] == (3, 3)
    assert (await own_runner.execute("c")).output == "20\n"
    last = session.tree.path()[-1]
    assert last.kind == "kernel" and last.body.state == "replayed"
    assert [e.state for e in own_runner.events][-1] == "restarted"


async def test_replay_stops_at_the_first_failing_cell(own_runner, store):
    session = Session.create(store)
    session.append(UserMessage("go"))
    for code, result in (
        ("x = 1", Result()),
        ("open('/nonexistent/file')", Result()),
        ("y = 2", Result()),
    ):
        session.append(Turn("t", code=code))
        session.append(result)
    report = await replay(session, own_runner)
    assert (report.ran, report.cells) == (1, 3) and report.result.status == "error"
    assert "failed" in session.tree.path()[-1].body.detail


async def test_attach_to_a_kernel_started_elsewhere(tmp_path):
    connection = tmp_path / "kernel.json"
    kernel = subprocess.Popen(
        [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if connection.exists() and connection.stat().st_size:
                break
            await asyncio.sleep(0.1)
        json.loads(connection.read_text())
        events = []
        runner = KernelRunner(
            KernelConfig(existing=str(connection), timeout=30), on_kernel_event=events.append
        )
        await runner.start()
        assert (await runner.execute("21 * 2")).output == "42\n"
        task = asyncio.create_task(runner.execute("import time; time.sleep(60)"))
        await asyncio.sleep(0.5)
        await runner.interrupt()
        assert (await asyncio.wait_for(task, 10)).status == "interrupted"
        os.kill(kernel.pid, signal.SIGKILL)
        result = await asyncio.wait_for(runner.execute("1"), 30)
        assert result.status == "died" and runner.state == "dead"
        assert [e.state for e in events] == ["started", "died"]
        await runner.shutdown()
    finally:
        kernel.kill()


async def test_start_failures_say_what_to_do(tmp_path):
    with pytest.raises(KernelError, match="no kernel named 'no-such-kernel'"):
        await KernelRunner(KernelConfig(kernel_name="no-such-kernel")).start()
    with pytest.raises(KernelError, match="no connection file"):
        await KernelRunner(KernelConfig(existing=str(tmp_path / "missing.json"))).start()
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(KernelError, match="not a kernel connection file"):
        await KernelRunner(KernelConfig(existing=str(bad))).start()


async def test_the_kernel_noise_goes_to_its_log_not_the_screen(tmp_path, capfd):
    log = tmp_path / "kernel.log"
    runner = KernelRunner(KernelConfig(spec_dir=str(tmp_path), log_file=str(log)))
    await runner.start()
    await runner.execute("import sys; print('to the log', file=sys.__stderr__, flush=True)")
    await runner.shutdown()
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err and "to the log" not in captured.err
    assert "to the log" in log.read_text()


async def test_replay_skips_cells_cut_short_and_goes_on_past_old_errors(own_runner, store):
    session = Session.create(store)
    session.append(UserMessage("go"))
    for code, status in (
        ("a = 1", "ok"),
        ("import time; time.sleep(600); never = 1", "interrupted"),
        ("1 / 0", "error"),
        ("while True: pass", "timeout"),
        ("b = a + 1", "ok"),
    ):
        session.append(Turn("t", code=code))
        session.append(Result(status=status))
    assert [code for _, code in cells_to_replay(session.tree.path())] == [
        "a = 1",
        "1 / 0",
        "b = a + 1",
    ]
    seen = []
    report = await asyncio.wait_for(
        replay(session, own_runner, progress=lambda i, n: seen.append((i, n))), 30
    )
    assert (report.ran, report.cells, report.failed) == (3, 3, None)
    assert [cell.status for cell in report.skipped] == ["interrupted", "timeout"]
    assert seen == [(1, 3), (2, 3), (3, 3), (3, 3)]  # the cell being run, counted from 1
    assert (await own_runner.execute("b")).output == "2\n"
    event = session.tree.path()[-1]
    assert "skipped 2 whose first run was interrupted or timeout" in event.body.detail
    assert event.body.meta["skipped"] == [cell.turn_id for cell in report.skipped]
