"""Preparing the serving engines: atomic, locked, cached, and a failure that skips, never fails.

Real processes race and get killed here; the builds are small ones of the tests' own (a real
llama.cpp build takes 13–26 min), except for the llama.cpp preparation's own first checks, which
run for real in a fresh cache folder (`KYZEL_ENGINES_DIR`), never touching the machine's cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engines import LLAMACPP, Engine, PrepareError, prepared, unprepared_reason
from tests.engines_prepare import Steps, prepare

ROOT = Path(__file__).resolve().parents[1]
TOY = Engine("toy", "toy engine", "toy", "1.0", "bin/tool", 0.0)
# A preparation of the toy engine in its own process: its build counts itself in COUNTER, makes
# the product, says it got there, then waits for RELEASE (or forever, to be killed).
WORKER = """
import sys, time
from pathlib import Path
from tests.engines import Engine
from tests.engines_prepare import prepare

counter, started, release = map(Path, sys.argv[1:4])
toy = Engine("toy", "toy engine", "toy", "1.0", "bin/tool", 0.0)

def build(work, steps):
    steps.run("counting", [sys.executable, "-c", f"open({str(counter)!r}, 'a').write('x')"])
    (work / "bin").mkdir()
    (work / "bin" / "tool").write_text("half")
    started.touch()
    while not release.exists():
        time.sleep(0.05)
    (work / "bin" / "tool").write_text("done")

print(prepare(toy, build))
"""


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "engines"
    monkeypatch.setenv("KYZEL_ENGINES_DIR", str(folder))
    return folder


def worker(tmp: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "KYZEL_ENGINES_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    args = [str(tmp / name) for name in ("counter", "started", "release")]
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_a_killed_preparation_is_never_ready_and_the_next_one_clears_it(tmp_path, cache):
    first = worker(tmp_path, cache)
    wait_for(tmp_path / "started")  # the product exists in the temporary folder by now
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert prepared(TOY) is None and not TOY.folder.exists()
    (leftover,) = cache.glob(".toy-1.0.*")
    assert (leftover / "bin" / "tool").read_text() == "half"

    (tmp_path / "release").touch()
    second = worker(tmp_path, cache)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert Path(out.strip()) == TOY.folder / "bin" / "tool" == prepared(TOY)
    assert prepared(TOY).read_text() == "done" and not leftover.exists()
    assert (tmp_path / "counter").read_text() == "xx"
    assert "toy engine: counting" in err and "toy engine: ready in" in err


def test_two_racing_preparations_build_once(tmp_path, cache):
    first = worker(tmp_path, cache)
    wait_for(tmp_path / "started")
    second = worker(tmp_path, cache)
    time.sleep(1)  # the second one is blocked on the lock, not building
    assert second.poll() is None and (tmp_path / "counter").read_text() == "x"
    (tmp_path / "release").touch()
    outs = [process.communicate(timeout=60) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0]
    assert {out.strip() for out, _ in outs} == {str(TOY.folder / "bin" / "tool")}
    assert (tmp_path / "counter").read_text() == "x"  # built once
    assert "another run is preparing it; waiting" in outs[1][1]
    assert not list(cache.glob(".toy-1.0.*"))


def test_a_failure_is_recorded_for_the_skips_and_a_later_success_clears_it(cache):
    def failing(work: Path, steps: Steps) -> None:
        steps.run("a step that fails", [sys.executable, "-c", "raise SystemExit(3)"])

    with pytest.raises(PrepareError, match=r"a step that fails failed \(exit 3\)"):
        prepare(TOY, failing)
    reason = unprepared_reason(TOY)
    assert reason.startswith("toy engine could not be prepared: a step that fails failed (exit 3)")
    assert (
        str(TOY.beside(".log")) in reason
        and "raise SystemExit(3)" in TOY.beside(".log").read_text()
    )
    assert prepared(TOY) is None and not list(cache.glob(".toy-1.0.*"))

    def working(work: Path, steps: Steps) -> None:
        (work / "bin").mkdir()
        (work / "bin" / "tool").write_text("ok")

    assert prepare(TOY, working) == TOY.folder / "bin" / "tool"
    assert not TOY.beside(".failed").exists()
    assert prepared(TOY).read_text() == "ok"


def test_a_step_past_the_time_limit_fails_with_the_setting_to_raise_it(cache):
    def slow(work: Path, steps: Steps) -> None:
        steps.run("a slow step", [sys.executable, "-c", "import time; time.sleep(30)"])

    started = time.monotonic()
    with pytest.raises(PrepareError, match="a slow step did not finish .*KYZEL_ENGINES_TIMEOUT"):
        prepare(TOY, slow, timeout=1)
    assert time.monotonic() - started < 15


def test_a_build_that_makes_no_product_is_not_ready(cache):
    with pytest.raises(PrepareError, match="did not make bin/tool"):
        prepare(TOY, lambda work, steps: None)
    assert prepared(TOY) is None


def test_a_build_for_another_cpu_is_not_taken(cache):
    (TOY.folder / "bin").mkdir(parents=True)
    (TOY.folder / "bin" / "tool").write_text("ok")
    (TOY.folder / "ready").write_text(json.dumps({"cpu": "another"}))
    assert prepared(TOY) is None and "built for another CPU" in unprepared_reason(TOY)


def test_llamacpp_without_cmake_is_skipped_with_the_reason_and_the_tests_go_on(tmp_path, cache):
    empty = tmp_path / "no-tools"
    empty.mkdir()
    env = {**os.environ, "KYZEL_ENGINES_DIR": str(cache), "PATH": str(empty)}
    command = [sys.executable, "tests/engines.py", "prepare", "llamacpp"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0  # what ./dev test runs never stops the tests
    assert "llama.cpp: not prepared: building llama-server needs cmake" in done.stderr
    assert "its tests will be skipped" in done.stderr
    assert prepared(LLAMACPP) is None
    assert "needs cmake and a C++ compiler" in unprepared_reason(LLAMACPP)
    direct = [sys.executable, "tests/engines.py", "llamacpp"]
    alone = subprocess.run(direct, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert alone.returncode == 1  # asked for by name, a failure is an error
    status = [sys.executable, "tests/engines.py", "status"]
    shown = subprocess.run(status, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "llama.cpp could not be prepared: building llama-server needs cmake" in shown.stdout
    assert "vLLM is not prepared; prepare it with ./dev test" in shown.stdout
