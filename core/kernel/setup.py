"""Code the runner installs in an IPython kernel when it starts: caps and refusals at the source.

Run once, silently, in a Python kernel (ours, or any IPython kernel): it caps what one execution
may print before the text ever leaves the kernel (a 100 MB string never crosses the wire), keeps
the last part of what was cut, and interrupts code that goes on printing far beyond the cap.
The cap counts text as a terminal shows it: a progress bar that redraws its line with a carriage
return does not lengthen the output, so it stays live however long the loop runs.
Output belongs to the request that started the code printing it: a thread carries the parent
header of the cell that started it, so what it prints after its cell ended reaches the runner as
output of that ended request (background output), counted against a budget of its own that never
interrupts the cell running now.
(`input()` is refused by the runner itself: it sends every request with `allow_stdin=False`.)
The text below is sent to the kernel as source; it must stay self-contained. So is the launch
code, which ends the kernel when its parent dies; `remove_stale_files` cleans up after a parent
that died before its kernel could (connection files, spec folders named with the owner's PID).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from pathlib import Path

SETUP_TEMPLATE = r"""
def _kyzel_setup(cap, tail_cap, hard_cap):
    import _thread
    import collections
    import sys
    import threading
    import time

    from IPython import get_ipython

    state = {"written": 0, "raw": 0, "cut": 0, "tail": collections.deque(), "tail_len": 0,
             "interrupted": False, "col": 0, "width": 0, "cell": None, "running": False}
    # Background output: at most `cap` characters per window of 5 s cross the wire.
    background = {"start": 0.0, "sent": 0, "cut": 0}
    shell = get_ipython()

    def owner(stream):
        header = getattr(stream, "parent_header", None) or {}
        return header.get("msg_id")

    def from_background(stream, passthrough, text):
        now = time.monotonic()
        if now - background["start"] > 5.0:
            cut, background["cut"] = background["cut"], 0
            background.update(start=now, sent=0)
            if cut:
                passthrough(f"[... {cut} characters of background output cut ...]\n")
        room = max(0, cap - background["sent"])
        background["sent"] += min(room, len(text))
        background["cut"] += max(0, len(text) - room)
        if room:
            passthrough(text[:room])
        return len(text)

    def growth(text):
        # How much `text` lengthens the output as shown: a carriage return overwrites its line.
        if "\r" not in text:
            newline = text.rfind("\n")
            if newline >= 0:
                state["col"] = state["width"] = len(text) - newline - 1
                return len(text)
            state["col"] += len(text)
            grown = max(0, state["col"] - state["width"])
            state["width"] = max(state["width"], state["col"])
            return grown
        grown = 0
        for index, line in enumerate(text.split("\n")):
            if index:
                grown += 1
                state["col"] = state["width"] = 0
            for step, run in enumerate(line.split("\r")):
                if step:
                    state["col"] = 0
                state["col"] += len(run)
                if state["col"] > state["width"]:
                    grown += state["col"] - state["width"]
                    state["width"] = state["col"]
        return grown

    def keep_tail(text):
        state["tail"].append(text)
        state["tail_len"] += len(text)
        while state["tail_len"] - len(state["tail"][0]) >= tail_cap:
            state["tail_len"] -= len(state["tail"].popleft())

    def capped(stream, passthrough):
        # IPython tees each stream by setting `write` on the instance, so the cap wraps that.
        def write(text):
            if not isinstance(text, str):
                return passthrough(text)
            if not state["running"] or owner(stream) != state["cell"]:
                return from_background(stream, passthrough, text)
            before = state["written"]
            state["written"] = before + growth(text)
            state["raw"] += len(text)
            if state["written"] <= cap and state["raw"] <= hard_cap:
                return passthrough(text)
            shown = max(0, cap - before)
            if shown:
                passthrough(text[:shown])
            rest = text[shown:]
            if len(rest) > tail_cap:
                state["cut"] += len(rest) - tail_cap
                rest = rest[-tail_cap:]
            state["cut"] += len(rest)
            keep_tail(rest)
            if state["raw"] > hard_cap and not state["interrupted"]:
                state["interrupted"] = True
                _thread.interrupt_main()
            return len(text)

        write.kyzel_passthrough = passthrough
        return write

    def wrap(stream):
        if stream is not None and not hasattr(stream.write, "kyzel_passthrough"):
            stream.write = capped(stream, stream.write)

    def pre_execute():
        state.update(written=0, raw=0, cut=0, tail=collections.deque(), tail_len=0,
                     interrupted=False, col=0, width=0, cell=owner(sys.stdout), running=True)
        wrap(sys.stdout)
        wrap(sys.stderr)

    def post_execute():
        state["running"] = False
        if not state["cut"]:
            return
        tail = "".join(state["tail"])[-tail_cap:]
        cut = state["cut"] - len(tail)
        note = f"\n[... {cut} characters of output cut ...]\n"
        if state["interrupted"]:
            note += f"[the code was interrupted: it printed more than {hard_cap} characters]\n"
        getattr(sys.stdout.write, "kyzel_passthrough", sys.stdout.write)(note + tail)

    def thread_start(start):
        # A thread prints on behalf of the request that started it, not of whatever runs later.
        def start_with_parent(thread):
            parent = shell.get_parent()
            run = thread.run

            def run_with_parent():
                shell.set_thread_parent(parent)
                run()

            thread.run = run_with_parent
            return start(thread)

        start_with_parent.kyzel_original = start
        return start_with_parent

    if hasattr(shell, "set_thread_parent") and hasattr(shell, "get_parent"):
        if not hasattr(threading.Thread.start, "kyzel_original"):
            threading.Thread.start = thread_start(threading.Thread.start)
    shell.events.register("pre_execute", pre_execute)
    shell.events.register("post_execute", post_execute)


_kyzel_setup({cap}, {tail_cap}, {hard_cap})
del _kyzel_setup
"""


def setup_code(cap: int, tail_cap: int, hard_cap: int) -> str:
    """The setup source for the given caps (characters per execution)."""
    return (
        SETUP_TEMPLATE.replace("{cap}", str(int(cap)))
        .replace("{tail_cap}", str(int(tail_cap)))
        .replace("{hard_cap}", str(int(hard_cap)))
    )


SPEC_NAME = "kyzel-python"

LAUNCH_CODE = r"""
import os, sys, threading, time

def _kyzel_watch_parent(parent, files, folder):
    # The app may be killed without a word (SIGKILL): then its kernel must not live on, nor
    # leave its connection file (it holds the HMAC key) and the app's spec folder behind.
    while os.getppid() == parent:
        time.sleep(0.5)
    for path in files:
        try:
            os.unlink(path)
        except OSError:
            pass
    if folder:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)

# This watch replaces ipykernel's own (JPY_PARENT_PID), which would end the kernel first and
# leave the files behind.
os.environ.pop("JPY_PARENT_PID", None)
_kyzel_files = [sys.argv[sys.argv.index("-f") + 1]] if "-f" in sys.argv[:-1] else []
threading.Thread(
    target=_kyzel_watch_parent,
    args=(os.getppid(), _kyzel_files, os.environ.pop("KYZEL_SPEC_DIR", "")),
    name="kyzel-parent-watch",
    daemon=True,
).start()
del _kyzel_files
if sys.path and sys.path[0] == "":
    del sys.path[0]
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""
"""Source that starts an ipykernel (as `python -c`) with a thread that ends it when its parent
process is gone, removing the connection file and the spec folder the parent made for it."""


def write_kernel_spec(folder: Path) -> Path:
    """A kernel spec for an ipykernel of this Python, so that nobody has to install one."""
    spec = folder / SPEC_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-c", LAUNCH_CODE, "-f", "{connection_file}"],
                "display_name": "Python (kyzel-tui)",
                "language": "python",
                "metadata": {"debugger": False},
            }
        )
    )
    return folder


def owned_name(kind: str, pid: int | None = None) -> str:
    """The start of a file name that says which process made it: `kyzel-<kind>-<pid>-`."""
    return f"kyzel-{kind}-{os.getpid() if pid is None else pid}-"


_OWNED = re.compile(r"kyzel-(kernel|kernelspec)-(\d+)-")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to judge
        return True
    return True


def remove_stale_files(runtime_dir: Path, temp_dir: Path | None = None) -> list[Path]:
    """Remove connection files and spec folders left by runners whose process is gone.

    Only names this module gives (`owned_name`) and only of dead PIDs: a connection file holds the
    kernel's HMAC key, so one left by a killed app is a key lying around for nothing.
    """
    import shutil
    import tempfile

    removed = []
    places = [(runtime_dir, "kernel"), (Path(temp_dir or tempfile.gettempdir()), "kernelspec")]
    for folder, kind in places:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            match = _OWNED.match(path.name)
            if match is None or match[1] != kind or _process_alive(int(match[2])):
                continue
            try:
                if path.owner() != getpass.getuser():
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except (OSError, KeyError):
                continue
            removed.append(path)
    return removed
