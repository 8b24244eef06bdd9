"""What a real ipykernel's output becomes: streams in order, images as blobs, caps on floods,
plain text for the model, and progress bars kept as their last state."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib

import pytest

from core.chat import result_text

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
