"""The agent loop, headless: the same steps the app binds to keys, with a real kernel."""

from __future__ import annotations

import pytest
import pytest_asyncio

from core.agent import Agent, AgentConfig
from core.kernel.config import KernelConfig
from core.kernel.runner import KernelRunner
from core.model.generate import Sampling
from core.model.loading import LoadedModel
from core.session import HEAD, Session
from grammars.turn import TurnFields, render

from scripted_model import scripted

pytestmark = pytest.mark.asyncio(loop_scope="module")

CODE_TURN = render(TurnFields("compute it", code="x = 6 * 7\nprint(x)"))
ANSWER_TURN = render(TurnFields("it printed 42", answer="The answer is 42."))


@pytest.fixture(scope="module")
def loaded(tiny):
    model, tokenizer = tiny
    return LoadedModel(model, tokenizer, "tiny", "cpu", False, None, "tiny · cpu")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner(tmp_path_factory):
    runner = KernelRunner(KernelConfig(timeout=20, spec_dir=str(tmp_path_factory.mktemp("k"))))
    await runner.start()
    yield runner
    await runner.shutdown()


@pytest.fixture
def agent(store, loaded, runner):
    return Agent(
        Session.create(store),
        loaded,
        runner,
        AgentConfig(sampling=Sampling(max_new_tokens=200), auto=True),
    )


async def test_a_task_runs_to_an_answer_and_every_step_is_stored(agent, store, loaded):
    with scripted(loaded.model, loaded.tokenizer, [CODE_TURN, ANSWER_TURN]):
        events = await agent.run_task("what is 6 times 7?")
    assert [e.kind for e in events] == ["user", "turn", "result", "turn"]
    turn, result, answer = events[1], events[2], events[3]
    assert turn.body.code == "x = 6 * 7\nprint(x)" and result.body.output == "42\n"
    assert agent.tree.decision(turn.id).value == "accepted"
    assert answer.body.answer == "The answer is 42." and answer.parent_id == result.id
    assert turn.body.meta["model"] == "tiny" and turn.body.meta["stats"]["output_tokens"] > 0
    stored = Session.open(store, agent.session.id)
    assert [e.kind for e in stored.tree.path()] == ["user", "turn", "result", "turn"]
    messages = agent.messages(answer.id)
    assert messages[-2]["content"] == "<result>\n42\n</result>"


async def test_without_auto_nothing_runs_unless_approved(agent, loaded):
    agent.config.auto = False
    with scripted(loaded.model, loaded.tokenizer, [CODE_TURN]):
        events = await agent.run_task("compute")
    assert [e.kind for e in events] == ["user", "turn"]
    assert agent.pending() is not None and agent.pending().id == events[1].id


async def test_a_rejection_and_its_reason_reach_the_model(agent, loaded):
    agent.config.auto = False
    decisions = iter([("skip", "use a loop instead"), "stop"])
    with scripted(loaded.model, loaded.tokenizer, [CODE_TURN, CODE_TURN]):
        events = await agent.run_task("compute", approve=lambda turn: next(decisions))
    assert [e.kind for e in events] == ["user", "turn", "verdict", "turn"]
    assert agent.tree.decision(events[1].id).reason == "use a loop instead"
    assert events[3].parent_id == events[1].id
    note = agent.messages(events[1].id)[-1]["content"]
    assert note == "The user did not run this code. Reason: use a loop instead"


async def test_edit_makes_a_pending_sibling_and_keeps_the_original(agent, loaded):
    agent.config.auto = False
    with scripted(loaded.model, loaded.tokenizer, [CODE_TURN]):
        _, original = await agent.run_task("compute")
    edited = agent.edit(original.id, "compute it better", code="print(6 * 7)")
    assert agent.tree.siblings(original.id) == [original.id, edited.id]
    assert edited.body.origin == "edited" and edited.body.source == original.id
    assert agent.pending().id == edited.id
    result = await agent.run(edited.id)
    assert result.body.output == "42\n" and agent.tree.decision(edited.id).value == "accepted"


async def test_retry_switch_and_rollback_move_the_head_without_losing_anything(agent, loaded):
    agent.config.auto = False
    with scripted(loaded.model, loaded.tokenizer, [CODE_TURN, ANSWER_TURN]):
        _, first = await agent.run_task("compute")
        retried = agent.generate_turn(parent=agent.retry_parent(first.id))
    assert agent.tree.siblings(first.id) == [first.id, retried.id]
    assert agent.tree.sibling_position(retried.id) == (2, 2)
    assert agent.switch(retried.id, -1) is not None and agent.tree.head == first.id
    assert agent.switch(first.id, -1) is None
    assert agent.switch(first.id, +1) is not None and agent.tree.head == retried.id
    user = agent.tree.path()[0]
    agent.rollback(user.id)
    assert agent.tree.head == user.id and len(agent.tree.children(user.id)) == 2
    heads = [e for e in agent.tree if e.kind == "head"]
    assert [h.body.reason for h in heads] == ["branch", "branch", "rollback"]


async def test_a_dead_kernel_is_told_to_the_model(agent, loaded):
    with scripted(
        loaded.model,
        loaded.tokenizer,
        [render(TurnFields("crash", code="import os; os._exit(1)")), ANSWER_TURN],
    ):
        events = await agent.run_task("crash the kernel")
    kinds = [e.kind for e in agent.tree.path()]
    assert kinds == ["user", "turn", "result", "kernel", "kernel", "turn"]
    states = [e.body.state for e in agent.tree.path() if e.kind == "kernel"]
    assert states == ["died", "restarted"]
    result = next(e for e in events if e.kind == "result")
    assert result.body.status == "died"
    text = "\n".join(m["content"] for m in agent.messages(agent.tree.head))
    assert "every variable, import and open file is gone" in text


async def test_a_cancelled_generation_stores_nothing(agent, loaded):
    before = len(agent.tree)
    agent.say("hello")
    generation = agent.start_turn()
    generation.cancel()
    assert agent.finish_turn(generation.result()) is None
    assert len(agent.tree) == before + 1


async def test_each_key_of_the_app_finds_its_target_and_parent_in_the_agent(agent, loaded):
    """retry, continue, edit, the edited thought and the branch view: what the main screen asks
    the agent instead of working it out itself."""
    agent.config.auto = False
    with pytest.raises(ValueError, match="send a message first"):
        agent.retry_target()
    assert agent.continuation() is None and agent.edit_target() is None
    message = agent.say("compute")
    assert agent.retry_target() is HEAD and agent.continuation() == (HEAD, "", None)
    with scripted(loaded.model, loaded.tokenizer, [CODE_TURN, CODE_TURN]):
        turn = agent.generate_turn()
        assert agent.edit_target().id == turn.id and agent.retry_target() == message.id
        parent, prefix, source = agent.rethink(turn.id, "compute it twice")
        assert (parent, source) == (message.id, turn.id)
        assert prefix == "<thought>compute it twice</thought>\n"
        rethought = agent.keep(agent.start_turn(parent, prefix).result(), parent, source)
    assert rethought.body.thought == "compute it twice" and rethought.body.origin == "edited"
    assert rethought.body.source == turn.id and agent.tree.siblings(turn.id)[-1] == rethought.id
    assert agent.go_to(message.id).body.reason == "branch view" and agent.tree.head == message.id
    assert agent.go_to(message.id) is None  # already there: nothing written


async def test_a_stopped_generation_is_kept_only_when_the_user_stopped_it(agent, loaded):
    agent.say("think")
    long_turn = render(TurnFields("let me think " * 50, code="print(1)"))
    with scripted(loaded.model, loaded.tokenizer, [long_turn]):
        generation = agent.start_turn(prefix="<thought>let me")  # 200 tokens take seconds
        generation.cancel()  # the user presses escape
        generated = generation.result()
    assert generated.cancelled and generated.raw.startswith("<thought>let me")
    assert agent.keep(generated) is None  # cancelled for another reason: not a model turn
    stopped = agent.keep(generated, stopped=True)
    assert stopped.body.meta["status"] == "stopped" and agent.stopped().id == stopped.id
    parent, prefix, source = agent.continuation()
    assert parent == stopped.parent_id and prefix == generated.raw and source is None
    assert agent.retry_target() == stopped.parent_id
