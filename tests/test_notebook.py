"""Notebook export: the current branch as a valid nbformat v4 notebook, text kept as data."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import nbformat
import pytest

from core.events import KernelEvent, Result, Turn, UserMessage
from core.formats.notebook import literal, prose, session_to_notebook
from core.session import Session
from core.store.database import Store

from conftest import branching_session, run_cli

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "[bold]x[/bold] <script>alert(1)</script> \x1b[2J & &amp; a < b"


def tiny_png() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def full_session(store: Store) -> tuple[Session, dict]:
    """Every kind of node on one branch; returns the session and the ids worth checking."""
    session = Session.create(store, title="sales <report> & *plots*", model="qwen/coder-7b")
    session.append(UserMessage("plot the sales\nper month"))
    ok = session.append(Turn("load the data", code="print('hello')\n6 * 7"))
    session.judge(ok.id, "accepted")
    # As the kernel runner stores it: the rich output is echoed into the printed text.
    session.append(
        Result(
            output="hello\n42\n",
            outputs=[{"mime": "text/plain", "text": "42"}],
            execution_count=1,
        )
    )
    bad = session.append(Turn("divide", code="1 / 0"))
    session.judge(bad.id, "accepted")
    traceback = ["\x1b[31mZeroDivisionError\x1b[0m", "----> 1 1 / 0", "division by zero"]
    session.append(
        Result(
            status="error",
            error={
                "name": "ZeroDivisionError",
                "value": "division by zero",
                "traceback": traceback,
            },
            execution_count=2,
        )
    )
    png = tiny_png()
    sha = store.put_blob(png, "image/png")
    plot = session.append(Turn("draw it", code="plt.plot([1, 2])"))
    session.judge(plot.id, "accepted")
    session.append(
        Result(
            output="before\n[image/png 1x1, 1 KiB]\n",
            outputs=[{"mime": "image/png", "blob": sha}],
            execution_count=3,
        )
    )
    rejected = session.append(Turn("clean up", code="import shutil; shutil.rmtree('/')"))
    session.judge(rejected.id, "rejected", reason="never delete files")
    session.append(KernelEvent("restarted", detail="memory ran out"))
    session.append(Turn("all done", answer="Sales **peak** in May."))
    return session, {"rejected": rejected.id, "png": png}


def export(session: Session, store: Store) -> nbformat.NotebookNode:
    text = session_to_notebook(session.info, session.tree, blob=store.blob)
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_every_kind_of_node_becomes_the_cell_jupyter_would_have(store):
    session, ids = full_session(store)
    notebook = export(session, store)
    cells = notebook.cells
    assert [(c.cell_type, c.source.split("\n")[0]) for c in cells] == [
        ("markdown", "# sales &lt;report\\> &amp; \\*plots\\*"),
        ("markdown", "**User**"),
        ("markdown", "load the data"),
        ("code", "print('hello')"),
        ("markdown", "divide"),
        ("code", "1 / 0"),
        ("markdown", "draw it"),
        ("code", "plt.plot([1, 2])"),
        ("markdown", "clean up"),
        ("code", "import shutil; shutil.rmtree('/')"),
        ("markdown", "*Not run: the user rejected this code (never delete files).*"),
        ("markdown", "*The kernel restarted: its variables are gone: memory ran out.*"),
        ("markdown", "all done"),
        ("markdown", "Sales **peak** in May."),
    ]
    assert cells[0].source == "# sales &lt;report\\> &amp; \\*plots\\*\n\nModel: qwen\\/coder\\-7b"
    assert cells[1].source == "**User**\n\n> plot the sales\n> per month"

    first = cells[3]
    assert first.source == "print('hello')\n6 * 7" and first.execution_count == 1
    assert first.outputs == [
        {"output_type": "stream", "name": "stdout", "text": "hello\n"},
        {
            "output_type": "execute_result",
            "data": {"text/plain": "42"},
            "metadata": {},
            "execution_count": 1,
        },
    ]

    error = cells[5]
    assert error.execution_count == 2
    assert error.outputs == [
        {
            "output_type": "error",
            "ename": "ZeroDivisionError",
            "evalue": "division by zero",
            "traceback": ["\x1b[31mZeroDivisionError\x1b[0m", "----> 1 1 / 0", "division by zero"],
        }
    ]

    image = cells[7]
    assert image.execution_count == 3
    assert [o.output_type for o in image.outputs] == ["stream", "display_data"]
    assert image.outputs[0].text == "before\n"  # the runner's "[image/png …]" echo is not repeated
    assert base64.b64decode(image.outputs[1].data["image/png"]) == ids["png"]

    rejected = cells[9]
    assert rejected.metadata == {"kyzel": {"verdict": "rejected", "reason": "never delete files"}}
    assert rejected.outputs == [] and rejected.execution_count is None
    assert all(not c.metadata for c in cells if c is not rejected)

    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.language_info.name == "python"
    assert notebook.metadata.kyzel == {"session": session.id, "head": session.head}


def test_the_same_branch_exports_to_the_same_text(store):
    session, _ = full_session(store)
    first = session_to_notebook(session.info, session.tree, blob=store.blob)
    again = Session.open(store, session.id)
    assert session_to_notebook(again.info, again.tree, blob=store.blob) == first
    ids = [cell["id"] for cell in json.loads(first)["cells"]]
    assert len(set(ids)) == len(ids) and ids[0] == "title"


def test_results_made_elsewhere_and_missing_images(store):
    session = Session.create(store, title="elsewhere")
    session.append(Turn("go", code="show()"))
    session.append(
        Result(
            status="timeout",
            output="count: 42\n",  # no echo of the rich outputs: nothing is cut from the text
            outputs=[
                {"mime": "text/html", "text": "<b>42</b>"},
                {"mime": "image/png", "blob": "0" * 64},
                {"mime": "image/png", "size": 10},
            ],
        )
    )
    cells = export(session, store).cells
    outputs = cells[2].outputs
    assert outputs[0] == {"output_type": "stream", "name": "stdout", "text": "count: 42\n"}
    assert [o.output_type for o in outputs[1:]] == ["display_data"] * 3
    assert outputs[1].data == {"text/plain": "<b>42</b>"}  # never rendered as HTML
    assert outputs[2].data == {"text/plain": "[image/png, not stored]"}
    assert outputs[3].data == {"text/plain": "[image/png, 10 bytes, not stored]"}
    assert cells[3].source == "*The run took too long and was interrupted.*"
    # Without a blob callable, an image is a placeholder too.
    notebook = nbformat.reads(session_to_notebook(session.info, session.tree), as_version=4)
    assert notebook.cells[2].outputs[2].data == {"text/plain": "[image/png, not stored]"}


def test_only_the_current_branch_is_exported(store):
    session = branching_session(store)
    notebook = export(session, store)
    sources = "\n".join(c.source for c in notebook.cells)
    assert "plot it with matplotlib" in sources and "plt.plot(df)" in sources
    assert "import pandas as pd" in sources
    # The sibling turn not on the path, and the turn the edit replaced, are absent.
    assert "another look" not in sources and "print(1)" not in sources
    assert "df.plot()" not in sources
    assert notebook.metadata.kyzel["head"] == session.head


def test_hostile_text_is_data_never_markup(store):
    session = Session.create(store)
    session.append(UserMessage(HOSTILE))
    turn = session.append(Turn(HOSTILE, code=f"print({HOSTILE!r})\n# {HOSTILE}"))
    session.judge(turn.id, "rejected", reason="<img src=x onerror=alert(1)>")
    session.append(Turn("done", answer="[x](javascript:alert(1)) and [y]: javascript:alert(2)"))
    text = session_to_notebook(session.info, session.tree)
    assert "\x1b" not in text and "\\u001b" in text  # a terminal printing the file sees no escape
    cells = nbformat.reads(text, as_version=4).cells
    user, thought, code, note, done, answer = cells[1:]
    # Code is kept exactly, escape sequence included.
    assert code.source == f"print({HOSTILE!r})\n# {HOSTILE}"
    # Prose stays markdown but cannot open a tag; `[bold]`, `a < b` and the escape stay as written.
    escaped = "[bold]x[/bold] &lt;script>alert(1)&lt;/script> \x1b[2J & &amp;amp; a < b"
    assert thought.source == escaped
    assert user.source == "**User**\n\n> " + escaped
    assert code.metadata.kyzel.reason == "<img src=x onerror=alert(1)>"
    for cell in (user, thought, note, done, answer):
        assert "<script" not in cell.source and "<img" not in cell.source
    assert answer.source == "[x]\\(javascript:alert(1)) and [y]\\: javascript:alert(2)"


@pytest.mark.parametrize(
    "text, markdown",
    [
        ("a <b> c", "a &lt;b> c"),
        ("</p><!-- x --><?php", "&lt;/p>&lt;!-- x -->&lt;?php"),
        ("1 < 2 && 3 > 2", "1 < 2 && 3 > 2"),
        ("&lt; &#60; &#x3c; &copy", "&amp;lt; &amp;#60; &amp;#x3c; &copy"),
        ("![img](http://x/y.png)", "![img]\\(http://x/y.png)"),
        ("`a[0]` [note]", "`a[0]` [note]"),
    ],
)
def test_prose_escapes_only_what_could_become_markup(text, markdown):
    assert prose(text) == markdown


def test_literal_labels_escape_every_markdown_character():
    assert literal("# 1. *a*  _b_\n<c> & [d](e)") == (
        "\\# 1\\. \\*a\\* \\_b\\_ &lt;c\\> &amp; \\[d\\]\\(e\\)"
    )


def test_c1_controls_and_lone_surrogates_are_escaped_in_the_file(store):
    session = Session.create(store)
    session.append(Turn("x", code="print('\x9b2J \x7f')"))
    session.append(Result(output="\ud800\n"))
    text = session_to_notebook(session.info, session.tree)
    assert not any(c in text for c in "\x9b\x7f\ud800")
    text.encode("utf-8")  # no lone surrogate left to fail on
    cell = nbformat.reads(text, as_version=4).cells[2]
    assert cell.source == "print('\x9b2J \x7f')" and cell.outputs[0].text == "\ud800\n"


# The command line


def test_cli_writes_a_notebook_when_the_file_ends_with_ipynb(tmp_path):
    home = tmp_path / "home"
    with Store.open(home) as store:
        session, ids = full_session(store)
        session_id = session.id
    out = tmp_path / "out.ipynb"
    done = run_cli(home, "export", session_id, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "as a notebook" in done.stderr
    notebook = nbformat.read(out, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kyzel["session"] == session_id
    assert base64.b64decode(notebook.cells[7].outputs[1].data["image/png"]) == ids["png"]
    assert not list(tmp_path.glob(".*.tmp"))

    to_stdout = run_cli(home, "export", session_id, "--format", "ipynb")
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert nbformat.reads(to_stdout.stdout, as_version=4).cells[0].source.startswith("# sales")

    xml = run_cli(home, "export", session_id, "-o", str(tmp_path / "out.ipynb.xml"))
    assert xml.returncode == 0 and (tmp_path / "out.ipynb.xml").read_text().startswith("<?xml")
    forced = run_cli(home, "export", session_id, "--format", "xml", "-o", str(tmp_path / "x.ipynb"))
    assert forced.returncode == 0 and (tmp_path / "x.ipynb").read_text().startswith("<?xml")


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "ipynb", "--tree"],
        ["--tree", "-o", "OUT"],
        ["--format", "ipynb", "--tree", "-o", "OUT"],
    ],
)
def test_cli_refuses_a_notebook_of_every_branch(tmp_path, args):
    home = tmp_path / "home"
    with Store.open(home) as store:
        session_id = branching_session(store).id
    out = tmp_path / "out.ipynb"
    refused = run_cli(home, "export", session_id, *[str(out) if a == "OUT" else a for a in args])
    assert refused.returncode == 2
    assert "a notebook holds one branch" in refused.stderr and "--tree" in refused.stderr
    assert refused.stdout == "" and not out.exists()


def test_cli_xml_export_defaults_to_every_branch_as_documented(tmp_path):
    home = tmp_path / "home"
    with Store.open(home) as store:
        session_id = branching_session(store).id
    whole = run_cli(home, "export", session_id)
    branch = run_cli(home, "export", session_id, "--branch")
    assert whole.returncode == 0 and branch.returncode == 0, whole.stderr + branch.stderr
    assert "another look" in whole.stdout and "another look" not in branch.stdout
