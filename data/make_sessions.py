"""Build the example sessions in `data/sessions/`: every cell really runs in a Jupyter kernel.

Run from anywhere:

    .venv/bin/python data/make_sessions.py            # rewrite every session file
    .venv/bin/python data/make_sessions.py sales-analysis shell-logs   # only these

Each session is a script in `data/sessions/scripts/` (the steps are described in `data/script.py`):
the user's messages, the model's turns written by hand, and what the user did about each turn. This
file plays a script through the app's own agent, `core.agent.Agent`, on a temporary store and a
real `KernelRunner`: scripted turns join the session with `Session.append` where the app would
generate them, and every user action is the agent's (`say`, `run`, `reject`, `edit`, `rate`,
`rollback`, `retry_parent`). Accepted code really runs; the kernel's real `Result` is stored under
it. Then `core.formats.write.session_to_xml` writes `data/sessions/<name>.xml`.

The kernel's `HOME` is a prepared temporary folder (the script's files, fixed content, fixed seeds,
fixed file times) and its working directory the session's folder inside it, so IPython prints paths
in tracebacks as `~/...` and no temporary path shows up in an output. Each `Code` step may name
text its output must contain: the thoughts were written against these outputs, and the build stops
with `OutputMismatch` if they ever change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.agent import Agent  # noqa: E402
from core.events import Event, Result, Turn  # noqa: E402
from core.formats.write import session_to_xml  # noqa: E402
from core.kernel.config import KernelConfig  # noqa: E402
from core.kernel.runner import KernelRunner  # noqa: E402
from core.session import HEAD, Session  # noqa: E402
from core.store.database import Store  # noqa: E402
from data.script import (  # noqa: E402
    Answer,
    Code,
    Edited,
    Retried,
    Rollback,
    Skip,
    Step,
    User,
    freeze_times,
    prose,
    script_turns,
)

OUT_DIR = ROOT / "data" / "sessions"
SCRIPTS = OUT_DIR / "scripts"
MODEL_LABEL = "hand-written example (data/make_sessions.py)"


class OutputMismatch(RuntimeError):
    """A cell's real output no longer says what the hand-written thoughts rely on."""


class ScriptError(ValueError):
    """A script whose steps do not make a session (a rollback to an unknown label, ...)."""


def script_names() -> list[str]:
    """Every session script, as its session name (`sales_analysis.py` -> `sales-analysis`)."""
    return sorted(p.stem.replace("_", "-") for p in SCRIPTS.glob("[!_]*.py"))


def load_script(name: str) -> ModuleType:
    module = importlib.import_module(f"data.sessions.scripts.{name.replace('-', '_')}")
    for attribute in ("TITLE", "FOLDER", "SCRIPT"):
        if not hasattr(module, attribute):
            raise ScriptError(f"{module.__file__} does not define {attribute}")
    return module


# ---------------------------------------------------------------------------------------------
# Playing a script


@dataclass
class Player:
    """Plays one script through an agent: what the model wrote, then what the user did."""

    agent: Agent
    name: str
    strict: bool = True
    """Stop when an output lacks what the thoughts rely on (off: only report it)."""
    log: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    """Label of a `Code` step -> the id of its result."""
    parent: object = HEAD
    """Where the next turn grows: the head, or beside a retried turn."""
    edits: str | None = None
    """The turn the next turn is an edit of."""

    @property
    def session(self) -> Session:
        return self.agent.session

    async def play(self, steps: tuple[Step, ...]) -> None:
        for index, step in enumerate(steps):
            pending = self.parent is not HEAD or self.edits is not None
            if pending and not isinstance(step, Code | Answer | Retried | Edited):
                raise ScriptError(f"{self.name}: step {index} must be the turn that follows")
            await self.step(step)
        if self.parent is not HEAD or self.edits is not None:
            raise ScriptError(f"{self.name}: the script ends before the retried or edited turn")

    async def step(self, step: Step) -> None:
        if isinstance(step, User):
            self.agent.say(prose(step.text))
        elif isinstance(step, Rollback):
            self.rollback(step)
        elif isinstance(step, Skip):
            turn = self.turn(step.thought, step.code, None)
            self.agent.reject(turn.id, step.reason)
            self.rate(turn, step.rate)
        elif isinstance(step, Retried):
            turn = self.turn(step.thought, step.code, step.answer)
            if step.reason:
                self.agent.reject(turn.id, step.reason)
            self.rate(turn, step.rate)
            self.parent = self.agent.retry_parent(turn.id)
        elif isinstance(step, Edited):
            turn = self.turn(step.thought, step.code, step.answer)
            self.rate(turn, step.rate)
            self.edits = turn.id
        elif isinstance(step, Code):
            turn = self.turn(step.thought, step.code, None)
            result = await self.agent.run(turn.id)
            self.check(turn.body.code, result.body, step.expect, step.status)
            self.rate(turn, step.rate)
            if step.label:
                self.labels[step.label] = result.id
        else:
            self.rate(self.turn(step.thought, None, step.text), step.rate)

    def turn(self, thought: str, code: str | None, answer: str | None) -> Event:
        """The model's turn; or, after `Edited`, the user's edit of it."""
        ((thought, code, answer),) = script_turns((Edited(thought, code, answer),))
        if self.edits is not None:
            turn = self.agent.edit(self.edits, thought, code, answer)
        else:
            turn = self.session.append(Turn(thought, code=code, answer=answer), parent=self.parent)
        self.parent, self.edits = HEAD, None
        return turn

    def rate(self, turn: Event, value: str | None) -> None:
        if value is not None:
            self.agent.rate(turn.id, value)

    def rollback(self, step: Rollback) -> None:
        if step.to not in self.labels:
            raise ScriptError(f"{self.name}: no earlier Code step is labelled {step.to!r}")
        self.agent.rollback(self.labels[step.to])

    def check(self, code: str, result: Result, expect: tuple[str, ...], status: str) -> None:
        shown = result.output.replace("\r\n", "\n")
        if result.error:
            shown += f"\n{result.error.get('name')}: {result.error.get('value')}"
        self.log.append(f"--- {self.name} [{result.status}]\n{code}\n>>>\n{shown}")
        problems = []
        if result.status != status:
            problems.append(f"status {result.status!r}, expected {status!r}")
        problems += [f"missing {text!r}" for text in expect if text not in shown]
        if result.truncated:
            problems.append(f"{result.truncated} characters were cut")
        if problems and not self.strict:
            self.log.append(f"!!! {'; '.join(problems)}")
        elif problems:
            raise OutputMismatch(
                f"{self.name}: {'; '.join(problems)}\ncode:\n{code}\noutput:\n{shown}"
            )


# ---------------------------------------------------------------------------------------------
# Running


def kernel_environment(base: Path, home: Path) -> dict[str, str]:
    """The kernel's environment: the prepared home, this Python first on PATH, fixed locale."""
    state = base / "state"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER", "IPYTHON", "MPL", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        IPYTHONDIR=str(state / "ipython"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTER_CONFIG_DIR=str(state / "jupyter-config"),
        JUPYTER_DATA_DIR=str(state / "jupyter-data"),
        MPLCONFIGDIR=str(state / "matplotlib"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
        TZ="UTC",
        COLUMNS="100",
        PIP_NO_INPUT="1",
    )
    return env


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """The kernel inherits the process environment when it starts: swap it in for that."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def warm_up(env: dict[str, str]) -> None:
    """Build matplotlib's font cache now, so that no session's output says it is doing so."""
    subprocess.run(
        [sys.executable, "-c", "import matplotlib.pyplot"],
        env=env,
        check=True,
        capture_output=True,
    )


def previous_id(path: Path) -> str | None:
    """The session id in an earlier build of `path`, if there is one: a rebuilt session keeps
    its id, so training's split by session id keeps it on the same side."""
    if not path.is_file():
        return None
    for _, element in ElementTree.iterparse(path, events=("start",)):
        return element.get("id") if element.tag == "session" else None
    return None


async def build_one(
    name: str, base: Path, store: Store, env: dict[str, str], strict: bool, session_id: str | None
) -> Player:
    script = load_script(name)
    folder = Path(env["HOME"]) / script.FOLDER
    if folder.exists():
        raise ScriptError(f"{name}: another session already uses the folder {script.FOLDER!r}")
    folder.mkdir(parents=True)
    if hasattr(script, "prepare"):
        script.prepare(folder)
    freeze_times(folder)
    info = store.create_session(model=MODEL_LABEL, session_id=session_id)
    store.rename(info.id, script.TITLE)
    session = Session.open(store, info.id)
    runner = KernelRunner(
        KernelConfig(spec_dir=str(base / "kernelspec"), cwd=str(folder), timeout=60.0),
        put_blob=store.put_blob,
    )
    agent = Agent(session, runner=runner)  # before the kernel starts: it hears kernel events
    with environment(env):
        await runner.start()
    player = Player(agent, name, strict)
    try:
        await player.play(script.SCRIPT)
    finally:
        await runner.shutdown()
    return player


def export(store: Store, session: Session, path: Path) -> None:
    info = store.session(session.id)
    path.write_text(session_to_xml(info, session.tree, blob=store.blob), encoding="utf-8")


async def main(
    names: list[str], show: bool = False, strict: bool = True, out_dir: Path = OUT_DIR
) -> None:
    """Build the named sessions (all when none is named) into `out_dir`."""
    known = script_names()
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown session(s): {', '.join(sorted(unknown))}; known: {known}")
    base = Path(tempfile.mkdtemp(prefix="kyzel-examples-"))
    try:
        home = base / "home"
        home.mkdir()
        env = kernel_environment(base, home)
        warm_up(env)
        store = Store(base / "store" / "kyzel.db")
        for name in names or known:
            started = time.monotonic()
            path = out_dir / f"{name}.xml"
            player = await build_one(name, base, store, env, strict, previous_id(path))
            export(store, player.session, path)
            if show:
                print("\n\n".join(player.log))
            seconds = time.monotonic() - started
            print(f"{path.name}: {len(player.session.tree)} events, {seconds:.1f} s")
        store.close()
        if not names:  # a full run owns the folder: drop files of sessions that no longer exist
            for stale in out_dir.glob("*.xml"):
                if stale.stem not in known:
                    stale.unlink()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="sessions to build (default: all)")
    parser.add_argument("--show", action="store_true", help="print every cell and its output")
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="report outputs that lack their expected text instead of stopping (for writing)",
    )
    arguments = parser.parse_args()
    started = time.monotonic()
    try:
        asyncio.run(main(arguments.names, arguments.show, not arguments.no_check))
    except (OutputMismatch, ScriptError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"done in {time.monotonic() - started:.1f} s")
