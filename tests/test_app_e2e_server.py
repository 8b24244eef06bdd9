"""The app in a real terminal on a serving engine: `python -m kyzel_tui --server URL` in tmux,
against llama.cpp's llama-server with the SmolLM2 GGUF, behind an API key given only through
`KYZEL_API_KEY`. Message -> turn -> run -> result, read from the screen and from the store; the key
is nowhere in the data folder afterwards. Skipped when llama-server is not prepared
(`python tests/engines.py llamacpp`) or tmux is missing.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.engines import PREPARE_HINT, llama_server, llama_server_binary, smollm2_gguf
from tests.test_app_e2e import RETRIES, ROOT, Terminal, events, head_is_pending_code

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

KEY = "e2e-s3cret-key"


def turns_in(home: Path) -> int:
    return sum(e.kind == "turn" for e in events(home))


def test_a_session_on_llama_server_in_tmux_from_message_to_result(tmp_path):
    if llama_server_binary() is None or smollm2_gguf() is None:
        pytest.skip("llama-server is not prepared: " + PREPARE_HINT.format("llamacpp"))
    home = tmp_path / "home"
    with llama_server(smollm2_gguf(), tmp_path, api_key=KEY) as server:
        terminal = Terminal(tmp_path / "tmux.sock")
        terminal.start(
            f"cd {ROOT} && KYZEL_API_KEY={KEY} {shlex.quote(sys.executable)} -m kyzel_tui "
            f"--home {home} --server {server.url} --max-new-tokens 96"
        )
        try:
            terminal.wait(lambda: "llamacpp at 127.0.0.1" in terminal.screen(), "the server", 60)
            terminal.keys("Print the numbers from 1 to 5.", literal=True)
            terminal.keys("Enter")
            terminal.wait(lambda: turns_in(home), "the first turn", 120)
            terminal.wait(lambda: "writing…" not in terminal.screen(), "the turn to end")
            for _ in range(RETRIES):
                if head_is_pending_code(home):
                    break
                count = turns_in(home)
                time.sleep(0.6)  # no key acts on a turn in its first half second on screen
                terminal.keys("Escape")  # out of the message box, if an answer left it there
                time.sleep(0.3)
                terminal.keys("r")
                terminal.wait(lambda count=count: turns_in(home) > count, "a retry", 120)
                terminal.wait(lambda: "writing…" not in terminal.screen(), "the retry to end")
            else:
                pytest.fail(f"no turn with code in {RETRIES} tries on the server")
            terminal.wait(lambda: "waiting for you" in terminal.screen(), "the pending bar")
            assert "tok/s" in terminal.screen()  # the figures of the turn, in the status bar
            time.sleep(0.6)
            terminal.keys("Enter")
            terminal.wait(lambda: any(e.kind == "result" for e in events(home)), "the result")
            terminal.wait(lambda: "result  " in terminal.screen(), "the result on screen")
            terminal.quit()
        finally:
            terminal.close()
    stored = events(home)
    (result,) = [e for e in stored if e.kind == "result"]
    ran = next(e for e in stored if e.id == result.parent_id)
    assert ran.kind == "turn" and ran.body.meta["sampling"]["engine"] == "llamacpp"
    assert ran.body.meta["stats"]["output_tokens"] > 0
    assert result.body.status in ("ok", "error")
    for path in home.rglob("*"):  # the database, its journal, the kernel's files
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the API key is in {path}"
