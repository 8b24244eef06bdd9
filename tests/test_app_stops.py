"""Every stop can be undone (issue 9, item 2): a stopped turn is kept and can be edited,
continued or retried; the model waits after an interrupt and after reopening; quitting asks
first and records the cut run; opening a session writes nothing."""

from __future__ import annotations

import threading
import time

import pytest
from textual.widgets import Input

from core.events import Result, Turn, UserMessage
from core.session import Session
from core.store.database import Store
from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.screens.confirm import ConfirmScreen
from kyzel_tui.screens.edit import EditTurnScreen
from training.datasets import turn_quality

from app_harness import (
    ANSWER_TURN,
    LONG_TURN,
    SIZE,
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    ready,
    say,
    seen,
    stored,
    type_text,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

THINKING = render(TurnFields("let me think " * 20, code="print(1)"))
"""Short enough for the thought's share of the token budget when it is continued."""


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


def slow_steps(seconds: float):
    def on_step(n: int) -> None:
        threading.Event().wait(seconds)

    return on_step


def turns(app) -> list:
    return [e for e in stored(app) if e.kind == "turn"]


def bar(app) -> str:
    return str(app.main.query_one("#pending-bar").render())


async def test_escape_keeps_the_partial_turn_which_e_edits_c_continues_and_r_retries(
    tmp_path, loaded
):
    """Regression: escape threw the half-written turn away. Now it is a stopped sibling (never a
    good training turn); `e` edits it, `c` finishes it under the grammar from where it stopped,
    `r` writes a new one beside it."""
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=1000))
    script, delay = [THINKING], [0.02]
    with model_writes(loaded, script, on_step=lambda n: threading.Event().wait(delay[0])):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await type_text(pilot, "think")
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: (v := app.main.transcript.stream_view) and "let me think let" in v.text,
                "the turn to stream",
            )
            await pilot.press("escape")
            await wait_for(pilot, lambda: idle(app) and len(turns(app)) == 1, "the stop", 10)
            await seen(pilot)
            (stopped,) = turns(app)
            script.append(THINKING[len(stopped.body.raw) :])  # what `c` will write
            delay[0] = 0.0
            assert "■ stopped mid-turn: c continue · e edit · r retry" in bar(app)
            assert app.agent.pending() is None  # nothing to run
            assert app.focused.event_id == stopped.id
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EditTurnScreen), "the editor")
            await pilot.press("ctrl+a")
            await type_text(pilot, "print(2)")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: len(turns(app)) == 2, "the edit")
            await pilot.pause()
            await pilot.press("left")
            await wait_for(pilot, lambda: app.agent.tree.head == stopped.id, "the stopped turn")
            await seen(pilot)
            await pilot.press("c")
            await wait_for(pilot, lambda: len(turns(app)) == 3 and idle(app), "the rest", 60)
            script.append(THINKING)  # what `r` will write
            await pilot.press("left", "left")
            await wait_for(pilot, lambda: app.agent.tree.head == stopped.id, "the stopped turn")
            await seen(pilot)
            await pilot.press("r")
            await wait_for(pilot, lambda: len(turns(app)) == 4 and idle(app), "a retry", 60)
    stopped, edited, continued, retried = turns(app)
    assert stopped.body.meta["status"] == "stopped" and stopped.body.raw.startswith("<thought>")
    assert stopped.body.thought.startswith("let me think let") and "</" not in stopped.body.thought
    assert edited.body.origin == "edited" and edited.body.source == stopped.id
    assert edited.body.code == "print(2)"
    assert render(TurnFields(continued.body.thought, code=continued.body.code)) == THINKING
    assert continued.body.meta.get("status") is None and continued.body.origin == "generated"
    assert {t.parent_id for t in (edited, continued, retried)} == {stopped.parent_id}
    assert turn_quality(app.agent.tree, stopped.id) is None  # never a good training turn


async def test_a_message_after_a_stop_follows_the_message_not_the_partial_turn(tmp_path, loaded):
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=1000))
    with model_writes(loaded, [LONG_TURN, ANSWER_TURN], on_step=slow_steps(0.02)):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await type_text(pilot, "think")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.main.transcript.stream_view, "the turn")
            await pilot.pause(0.3)
            await pilot.press("escape")
            await wait_for(pilot, lambda: idle(app) and turns(app), "the stop", 10)
            await say(pilot, "just answer")
    first, second = [e for e in stored(app) if e.kind == "user"]
    assert second.parent_id == first.id  # the model never sees the half turn


def write_session(home, *bodies) -> Session:
    with Store.open(home) as store:
        session = Session.create(store, title="old")
        for body in bodies:
            session.append(body)
        Session.create(store, title="newer").append(UserMessage("later"))
    return session


async def test_opening_a_session_writes_nothing_and_c_answers_its_last_message(tmp_path, loaded):
    """Regressions: opening a session started a kernel, wrote a `restarted` event over the
    unanswered message and moved the session to the top of the list; and the app started
    writing a turn on its own. Now nothing is written until the user acts, and the bar says
    the model has not answered."""
    home = tmp_path / "home"
    session = write_session(home, UserMessage("6*7?"))
    with Store.open(home) as store:
        order = [s.id for s in store.sessions()]
    config = app_config(home, loaded)
    config.session = session.id
    app = make_app(config)
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await pilot.pause(0.5)
            assert kinds(app) == ["user"] and app.runner.client is None
            assert app.main.status.kernel == "not started"
            assert "the model has not answered your message yet: enter continue" in bar(app)
            with Store.open(home) as store:
                assert [s.id for s in store.sessions()] == order
            assert isinstance(app.focused, Input)  # in the box, enter is the key that continues
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app) == ["user", "turn"] and idle(app), "answer")
    assert app.runner.client is None  # no code ran: no kernel


async def test_a_reopened_result_waits_and_the_first_run_starts_the_kernel(tmp_path, loaded):
    home = tmp_path / "home"
    code = render(TurnFields("again", code="print(6 * 7)"))
    turn = Turn("look", code="x = 1")
    session = write_session(home, UserMessage("go"), turn)
    with Store.open(home) as store:
        again = Session.open(store, session.id)
        again.judge(again.head, "accepted")
        again.append(Result(status="interrupted", output="partial\n"), parent=again.head)
    config = app_config(home, loaded)
    config.session = session.id
    app = make_app(config)
    with model_writes(loaded, [code, ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await pilot.pause(0.3)
            assert "not answered the interrupted run yet: enter continue" in bar(app)
            await pilot.press("escape")  # out of the box, the bar names the single key
            assert "not answered the interrupted run yet: c continue" in bar(app)
            await pilot.press("c")
            await wait_for(pilot, lambda: app.agent.pending() and idle(app), "a code turn")
            await seen(pilot)
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: kinds(app).count("turn") == 3 and idle(app), "the answer", 60
            )
    assert kinds(app)[-3:] == ["result", "kernel", "turn"]
    kernel = [e for e in stored(app) if e.kind == "kernel"][0]
    assert kernel.body.state == "restarted"  # the model is told its variables are gone


def run_app(app, steps) -> None:
    """Run the app as the command line does (`App.run`), driven by `steps(pilot)`."""
    app.run(headless=True, auto_pilot=steps, size=SIZE)


def test_quitting_while_code_runs_asks_and_records_an_aborted_result(tmp_path, loaded):
    """Regression: ctrl+q mid-run quit at once and left a turn marked "ran" with no result."""
    code = render(TurnFields("wait", code="print('started', flush=True)\nimport time\n"
                             "time.sleep(60)"))  # fmt: skip
    app = make_app(app_config(tmp_path / "home", loaded))

    async def steps(pilot) -> None:
        await ready(pilot)
        await say(pilot, "wait")
        await pilot.press("enter")
        live = lambda: app.main.transcript.live_result  # noqa: E731
        await wait_for(pilot, lambda: live() and "started" in live().live, "the run", 60)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")  # no: the code goes on
        await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
        assert app.main.running
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")

    with model_writes(loaded, [code]):
        started = time.monotonic()
        run_app(app, steps)
    assert time.monotonic() - started < 60
    assert kinds(app) == ["user", "turn", "verdict", "result"]
    result = [e for e in stored(app) if e.kind == "result"][0]
    assert result.body.status == "aborted" and result.body.output == "started\n"


def test_quitting_while_the_model_writes_asks_first_and_keeps_the_partial_turn(tmp_path, loaded):
    """Quitting mid-turn asks first; once confirmed, what the model wrote is kept as a stopped
    turn (as escape keeps it), not thrown away."""
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=1000))
    answers: list[bool] = []

    async def steps(pilot) -> None:
        await ready(pilot)
        app.main.query_one("#prompt", Input).value = "think"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.transcript.stream_view, "the turn")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        answers.append("writing a turn" in str(app.screen.question))
        await pilot.press("escape")  # no
        await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
        answers.append(app.main.generation is not None)
        await pilot.press("ctrl+q", "y")

    with model_writes(loaded, [LONG_TURN], on_step=slow_steps(0.03)):
        run_app(app, steps)
    assert answers == [True, True]
    assert kinds(app) == ["user", "turn"]
    (user, stopped) = stored(app)
    assert stopped.body.meta["status"] == "stopped" and stopped.parent_id == user.id
    assert stopped.body.raw.startswith("<thought>let me think")
