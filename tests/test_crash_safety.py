"""Crash safety and concurrent writers, with real processes and real SIGKILLs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.session import Session
from core.store.database import DB_NAME, Store

WRITER = Path(__file__).with_name("writer_proc.py")
ROOT = Path(__file__).resolve().parents[1]


def start_writer(db: Path, session_id: str, count: int, *mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(db), session_id, str(count), *mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("mode", [(), ("app",)], ids=["store", "app-writer"])
def test_sigkill_at_random_moments_loses_no_reported_event(tmp_path, mode):
    """Also through the app's `StoreWriter`, whose connection commits with synchronous=NORMAL
    (WAL frames reach the OS at each commit; only a power cut could lose the last ones)."""
    db = tmp_path / DB_NAME
    with Store(db) as store:
        session_id = Session.create(store).id
    rng = random.Random(1234)
    reported: list[str] = []
    for _ in range(20):
        child = start_writer(db, session_id, 100_000, *mode)
        for _ in range(rng.randint(1, 120)):
            reported.append(child.stdout.readline().strip())
        child.send_signal(signal.SIGKILL)
        # Whatever it managed to report while being killed counts too.
        reported += [line.strip() for line in child.stdout.read().splitlines()]
        child.wait()
        assert child.returncode == -signal.SIGKILL
    with Store(db) as store:
        assert store.integrity_check() == "ok"
        stored = {e.id for e in store.events(session_id)}
        assert set(reported) <= stored
        Session.open(store, session_id)  # the tree still loads: every parent is there


def test_two_writer_processes_at_once_lose_nothing(tmp_path):
    db = tmp_path / DB_NAME
    with Store(db) as store:
        sessions = [Session.create(store).id for _ in range(3)]
    # Two writers on their own sessions and two more sharing one.
    children = [
        start_writer(db, sessions[0], 300),
        start_writer(db, sessions[1], 300),
        start_writer(db, sessions[2], 150),
        start_writer(db, sessions[2], 150),
    ]
    reported = [child.communicate(timeout=120)[0].split() for child in children]
    assert all(child.returncode == 0 for child in children)
    with Store(db) as store:
        assert store.integrity_check() == "ok"
        assert [e.id for e in store.events(sessions[0])] == reported[0]
        assert [e.id for e in store.events(sessions[1])] == reported[1]
        shared = {e.id for e in store.events(sessions[2])}
        assert shared == set(reported[2]) | set(reported[3]) and len(shared) == 300
