"""A first download from the hub reports its bytes: a real huggingface_hub download, served by a
local HTTP server that answers in the hub's URL layout (HF_ENDPOINT points there), of the tiny
random model; then the model loads from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from core.model.hub import ByteMeter, size_text, wanted_files

REPO = "kyzel-test/tiny-coder"
GATED = "kyzel-test/gated-coder"  # listed, but its files answer "gated" as to a stranger
SHA = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[1]
# Each file's body waits this much longer than the previous one's, as on a slow line, so that
# the bytes arrive over more than a second instead of all at once.
STAGGER_S = 0.35


class FakeHub(BaseHTTPRequestHandler):
    folder: Path
    files: dict[str, bytes]
    requests: list[str]

    def log_message(self, *args: object) -> None:  # quiet test logs
        pass

    def do_HEAD(self) -> None:
        self.answer(body=False)

    def do_GET(self) -> None:
        self.answer(body=True)

    def answer(self, body: bool) -> None:
        path = unquote(urlparse(self.path).path)
        self.requests.append(f"{self.command} {self.path}")
        if path.startswith(f"/{GATED}/resolve/"):
            self.send_response(403)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        path = path.replace(GATED, REPO)
        if path.startswith(f"/api/models/{REPO}/revision/"):
            siblings = [{"rfilename": n, "size": len(d)} for n, d in self.files.items()]
            return self.json({"id": REPO, "sha": SHA, "siblings": siblings}, body)
        if path.startswith(f"/api/models/{REPO}/tree/"):
            tree = [
                {"type": "file", "path": n, "size": len(d), "oid": etag(d)}
                for n, d in self.files.items()
            ]
            return self.json(tree, body)
        match = re.fullmatch(rf"/{REPO}/resolve/[^/]+/(.+)", path)
        if match is None or match.group(1) not in self.files:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound" if match else "RepoNotFound")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        data = self.files[match.group(1)]
        self.send_response(200)
        self.send_header("X-Repo-Commit", SHA)
        self.send_header("ETag", f'"{etag(data)}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            time.sleep(STAGGER_S * list(self.files).index(match.group(1)))
            self.wfile.write(data)

    def json(self, value: object, body: bool) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


def etag(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@pytest.fixture
def fake_hub():
    from core.model.tiny import build_tiny_model

    folder = build_tiny_model()
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    files["README.md"] = b"# not wanted: from_pretrained never reads it\n"
    handler = type("Hub", (FakeHub,), {"files": files, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


LOAD = """
import json, sys
from core.model.loading import load_model
lines = []
loaded = load_model(sys.argv[1], device="cpu", progress=lines.append)
ids = loaded.tokenizer("print(1)")["input_ids"]
out = loaded.model.generate(
    __import__("torch").tensor([ids]), max_new_tokens=3, do_sample=False
)
print(json.dumps({"progress": lines, "new_tokens": out.shape[1] - len(ids)}))
"""


def test_first_download_reports_growing_bytes_then_loads(fake_hub, tmp_path: Path) -> None:
    endpoint, hub = fake_hub
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HF_TOKEN"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", LOAD, REPO],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["new_tokens"] == 3

    wanted = sum(len(d) for n, d in hub.files.items() if n != "README.md")
    counts = [line for line in result["progress"] if line.startswith(f"downloading {REPO}: ")]
    amounts = [re.fullmatch(rf"downloading {REPO}: (.+) of (.+) \((\d+) %\)", c) for c in counts]
    done_bytes = [in_bytes(m.group(1)) for m in amounts]
    assert len(counts) >= 3, result["progress"]
    assert done_bytes == sorted(set(done_bytes)), counts  # growing, never repeated
    assert {m.group(2) for m in amounts} == {size_text(wanted)}
    assert counts[-1] == f"downloading {REPO}: {size_text(wanted)} of {size_text(wanted)} (100 %)"
    assert result["progress"].index(counts[-1]) < result["progress"].index("loading tokenizer")
    # What from_pretrained never reads is not downloaded.
    assert not any("README.md" in line for line in hub.requests if line.startswith("GET"))
    snapshot = tmp_path / "hf" / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / SHA
    assert (snapshot / "model.safetensors").stat().st_size == len(hub.files["model.safetensors"])


def in_bytes(text: str) -> float:
    number, unit = text.split()
    return float(number.replace(",", "")) * {"kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def test_sizes_and_chosen_files() -> None:
    assert [size_text(n) for n in (0, 12_345, 988_123_456, 1_540_000_000)] == [
        "0.0 kB",
        "12.3 kB",
        "988.1 MB",
        "1.54 GB",
    ]
    listing = {"config.json": 1, "model.safetensors": 9, "pytorch_model.bin": 9, "onnx/m.json": 1}
    assert set(wanted_files(listing)) == {"config.json", "model.safetensors"}
    assert set(wanted_files({"config.json": 1, "pytorch_model.bin": 9, "README.md": 1})) == {
        "config.json",
        "pytorch_model.bin",
    }


def test_meter_reports_at_most_four_times_a_second_and_always_the_end() -> None:
    from tqdm.auto import tqdm

    lines: list[tuple[float, str]] = []
    meter = ByteMeter("org/model", 2_000_000, lambda text: lines.append((time.monotonic(), text)))
    bar_class = meter.tqdm_class()
    start = time.monotonic()
    with bar_class(total=2_000_000, unit="B") as bar:
        for _ in range(100):  # 20 KB every 15 ms: 1.5 s
            bar.update(20_000)
            time.sleep(0.015)
    with bar_class(total=3, unit="it") as files:  # not bytes: never counted
        files.update(3)
    meter.finish()
    assert issubclass(bar_class, tqdm)
    times = [at for at, _ in lines[:-1]]
    assert all(b - a >= 0.25 for a, b in zip(times, times[1:], strict=False))
    assert 4 <= len(lines) <= 2 + (time.monotonic() - start) * 4
    assert lines[0][1] == "downloading org/model: 20.0 kB of 2.0 MB (1 %)"
    assert lines[-1][1] == "downloading org/model: 2.0 MB of 2.0 MB (100 %)"


@pytest.mark.parametrize(
    ("repo", "said"),
    [
        ("kyzel-test/missing", "is neither a local folder nor a model on the Hugging Face hub"),
        (
            GATED,
            "is a gated model: accept its terms on huggingface.co, log in with `hf auth login`",
        ),
    ],
)
def test_hub_refusals_are_explained(fake_hub, tmp_path: Path, repo: str, said: str) -> None:
    endpoint, _hub = fake_hub
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}
    env["PYTHONPATH"] = str(ROOT)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HF_TOKEN"):
        env.pop(name, None)
    script = (
        "import sys\nfrom core.model.hub import ModelLoadError\n"
        "from core.model.loading import load_model\n"
        "try:\n    load_model(sys.argv[1], device='cpu')\n"
        "except ModelLoadError as error:\n    print(type(error).__name__, error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, repo], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith(f"ModelLoadError {repo} {said}"), done.stdout
