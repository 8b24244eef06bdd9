"""The embedded real model (SmolLM2-135M-Instruct, 4-bit NF4 on the CPU) through the product's
paths: loading by short name, by GGUF file and as the offline fallback; constrained turns at high
temperatures; and the agent loop end to end with a real kernel. Token budgets are short: the
whole file costs well under a minute once the model is converted (first run: about a minute more).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from core.agent import Agent, AgentConfig
from core.kernel.config import KernelConfig
from core.kernel.runner import KernelRunner
from core.model.generate import Sampling, start_generation
from core.session import Session

from real_models import smollm2_gguf_path

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_the_embedded_model_loads_in_four_bit_with_a_repaired_tokenizer(embedded) -> None:
    import bitsandbytes as bnb

    assert embedded.quantized and embedded.label.startswith("SmolLM2-135M-Instruct (embedded)")
    assert embedded.tokenizer.eos_token == "<|im_end|>"
    layers = [m for n, m in embedded.model.named_modules() if n.endswith("q_proj")]
    assert layers and all(isinstance(m, bnb.nn.Linear4bit) for m in layers)
    # 4-bit weights take under a third of what float32 would (twice the converted bfloat16 file).
    from core.model.embedded import smollm2_folder

    float32_bytes = 2 * (smollm2_folder() / "model.safetensors").stat().st_size
    assert embedded.model.get_memory_footprint() < float32_bytes / 3


@pytest.mark.parametrize("temperature", [1.0, 1.5, 2.0])
def test_constrained_turns_at_high_temperature_parse(embedded, temperature: float) -> None:
    messages = [{"role": "user", "content": "Print the first five square numbers."}]
    sampling = Sampling(temperature=temperature, top_p=1.0, max_new_tokens=40, seed=3)
    turn = start_generation(embedded.model, embedded.tokenizer, messages, sampling).result()
    assert turn.fields is not None, (turn.raw, turn.parse_error)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner(tmp_path_factory):
    runner = KernelRunner(KernelConfig(timeout=30, spec_dir=str(tmp_path_factory.mktemp("k"))))
    await runner.start()
    yield runner
    await runner.shutdown()


@pytest.mark.asyncio(loop_scope="module")
async def test_agent_loop_message_turn_run_result_next_turn(store, embedded, runner) -> None:
    agent = Agent(
        Session.create(store),
        embedded,
        runner,
        AgentConfig(sampling=Sampling(temperature=0.7, max_new_tokens=48, seed=1), auto=True),
    )
    user = agent.say("Compute 6 * 7 in Python and print it.")
    # The turn starts as a code turn (the grammar consumes the prefix); the model writes on.
    generation = agent.start_turn(prefix="<thought>Compute it.</thought>\n<code>print(6 * 7)")
    first = await asyncio.to_thread(generation.result)
    turn = agent.finish_turn(first)
    assert turn is not None and turn.parent_id == user.id and turn.body.code.startswith("print(")
    result = await agent.run(turn.id)
    assert result.parent_id == turn.id and result.body.status in ("ok", "error")
    if result.body.status == "ok":
        assert "42" in result.body.output
    assert agent.messages(result.id)[-1]["content"].startswith("<result>")
    following = await asyncio.to_thread(agent.generate_turn)
    assert following is not None and following.parent_id == result.id
    assert (following.body.code is None) != (following.body.answer is None)
    assert following.body.meta["stats"]["output_tokens"] > 0


def test_a_gguf_file_loads_and_converts_once(embedded) -> None:
    from core.model.embedded import smollm2_folder
    from core.model.source import local_source

    path = smollm2_gguf_path()
    # The same file by path and by short name: one conversion, one folder.
    assert local_source(str(path), print) == smollm2_folder()
    assert local_source(str(path.parent), print) == smollm2_folder()


def test_offline_without_the_default_the_embedded_model_stands_in(tmp_path: Path) -> None:
    """No cache for the hardware's default and a hub that does not answer: `ask` says which
    model it could not get and answers with the embedded one, without waiting on the network."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env |= {
        "HF_HUB_CACHE": str(tmp_path / "empty-hub"),
        "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: refused at once
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-m", "kyzel_tui", "--home", str(tmp_path / "home"), "ask", "hi"]
        + ["--max-new-tokens", "24", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Could not get Qwen/Qwen2.5-Coder" in out.stderr and "embedded" in out.stderr
    assert "downloading" not in out.stderr
    assert '"model": "SmolLM2-135M-Instruct (embedded)' in out.stdout
