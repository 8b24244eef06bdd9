"""The kernel runner against a real ipykernel: outputs, faults, attaching, replay, rendering."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import pytest
import pytest_asyncio

from core.chat import result_text
from core.events import Result, Turn, UserMessage
from core.kernel.config import KernelConfig, KernelError
from core.kernel.replay import cells_to_replay, replay
from core.kernel.runner import KernelRunner
from core.session import Session
from core.text import strip_ansi

pytestmark = pytest.mark.asyncio(loop_scope="module")


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner(tmp_path_factory):
    """One kernel shared by the tests whose state does not matter."""
    events = []
    runner = KernelRunner(
        KernelConfig(
            timeout=30,
            output_cap=2000,
            tail_cap=500,
            hard_cap=200_000,
            spec_dir=str(tmp_path_factory.mktemp("spec")),
        ),
        on_kernel_event=events.append,
    )
    runner.events = events
    await runner.start()
    yield runner
    await runner.shutdown()


async def test_one_plus_one(runner):
    result = await runner.execute("1+1")
    assert (result.status, result.output, result.error) == ("ok", "2\n", None)
    assert result.outputs == [{"mime": "text/plain", "text": "2"}]
    assert result.execution_count >= 1 and result.duration < 5


async def test_print_streams_as_it_comes_in_order(runner):
    seen = []
    result = await runner.execute(
        "import sys, time\nprint('first')\nprint('oops', file=sys.stderr)\n"
        "sys.stdout.flush(); sys.stderr.flush(); time.sleep(0.6)\nprint('last')",
        on_output=lambda event: seen.append((time.monotonic(), event)),
    )
    finished = time.monotonic()
    assert result.output == "first\noops\nlast\n"
    names = [e.name for _, e in seen if e.kind == "stream"]
    assert names[0] == "stdout" and "stderr" in names
    assert seen[0][0] < finished - 0.4, "the first line arrived only at the end"


async def test_images_are_kept_as_blobs_with_a_placeholder(runner, store):
    runner.put_blob = store.put_blob
    png = tiny_png()
    try:
        result = await runner.execute(
            "from IPython.display import Image, SVG, display\n"
            f"display(Image(data={png!r}))\n"
            'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\'))'
        )
    finally:
        runner.put_blob = None
    assert result.status == "ok"
    kinds = [o["mime"] for o in result.outputs]
    assert kinds == ["image/png", "image/svg+xml"]
    assert store.blob(result.outputs[0]["blob"]) == (png, "image/png")
    assert "[image/png 3x2, 1 KiB]" in result.output


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


async def test_a_million_lines_are_capped_and_interrupted(runner):
    result = await asyncio.wait_for(runner.execute("for i in range(1_000_000): print(i)"), 60)
    assert result.status == "interrupted"
    assert len(result.output) < 5000
    assert "characters of output cut" in result.output and "interrupted" in result.output
    assert result.truncated > 150_000
    assert result.output.startswith("0\n1\n2\n")


async def test_a_100_mb_string_never_crosses_the_wire(runner):
    started = time.monotonic()
    result = await asyncio.wait_for(runner.execute("print('x' * 100_000_000)"), 60)
    assert result.status in ("ok", "interrupted")
    assert len(result.output) < 5000 and result.truncated > 99_000_000
    assert time.monotonic() - started < 10


async def test_the_model_sees_plain_text_within_its_budget(runner):
    result = await runner.execute("print('\\x1b[31mred\\x1b[0m ' * 20 + 'y' * 5000)\n1/0")
    text = result_text(result, budget=1000)
    assert "\x1b" not in text and "red red" in text
    assert "characters cut" in text and len(text) < 1200
    assert text.startswith('<result status="error">') and "ZeroDivisionError" in text


@pytest_asyncio.fixture(loop_scope="module")
async def own_runner(tmp_path):
    """A kernel of its own, for the tests that kill or restart it."""
    events = []
    runner = KernelRunner(
        KernelConfig(timeout=2, interrupt_grace=2, spec_dir=str(tmp_path)),
        on_kernel_event=events.append,
    )
    runner.events = events
    await runner.start()
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


# Carriage returns: a progress bar is one line, live and stored


PROGRESS_LOOP = (
    "import time\n"
    "for i in range(400):\n"
    "    print(f'\\r{i / 4:5.1f}% |' + '#' * (i // 20), end='', flush=True)\n"
    "    time.sleep(0.001)\n"
    "print(' done')\n"
    "print('next line')"
)


async def test_a_progress_bar_keeps_only_its_last_state(runner):
    seen = []
    result = await runner.execute(PROGRESS_LOOP, on_output=seen.append)
    # 400 redraws of ~30 characters are far over this runner's 2,000-character cap: kept whole,
    # because a redrawn line does not lengthen the output, in the kernel or here.
    assert result.output == " 99.8% |################### done\nnext line\n"
    assert result.truncated == 0 and result.status == "ok"
    pieces = "".join(e.text for e in seen if e.kind == "stream")
    assert pieces.count("\r") >= 100  # the screen got every redraw, live
    assert "\r" not in result_text(result)


async def test_real_tqdm_on_stderr_and_pip_style_redraws(runner):
    result = await runner.execute(
        "import sys\nfrom tqdm import tqdm\n"
        "for _ in tqdm(range(300), mininterval=0, ncols=60, file=sys.stderr):\n    pass\n"
        "sys.stderr.flush()\nprint('abcdef\\rXY')"
    )
    lines = result.output.splitlines()
    assert len(lines) == 2 and "\r" not in result.output
    assert "100%" in lines[0] and "300/300" in lines[0]
    assert lines[1] == "XYcdef"  # overwritten as a terminal and Jupyter do, not erased


async def test_plt_show_then_fig_keeps_the_figure_once(runner, store):
    runner.put_blob = store.put_blob
    try:
        result = await runner.execute(
            "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(2, 1), dpi=50)\nax.plot([1, 3, 2])\n"
            "plt.show()\nfig"
        )
    finally:
        runner.put_blob = None
    images = [o for o in result.outputs if o["mime"] == "image/png"]
    assert result.status == "ok" and len(images) == 1
    assert result.output.count("[image/png") == 1
    data, mime = store.blob(images[0]["blob"])
    assert mime == "image/png" and data.startswith(b"\x89PNG")


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


async def test_a_value_shown_after_an_unfinished_bar_gets_its_own_line(runner):
    seen = []
    result = await runner.execute(
        "print(' 50%', end='\\r', flush=True)\ndisplay(7 * 6)\nprint('next')",
        on_output=seen.append,
    )
    assert result.output == " 50%\n42\nnext\n"
    assert "".join(e.text + ("\n" if e.kind != "stream" else "") for e in seen) == (
        " 50%\r\n42\nnext\n"
    )
