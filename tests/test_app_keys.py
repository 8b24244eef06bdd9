"""Every key of the main screen, pressed in the real app: the scripted tiny model writes the
turns, a real kernel runs the code, and each test checks what the key wrote to the store."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager, nullcontext

import pytest
from textual.widgets import Input, Label, TextArea
from textual.widgets._footer import FooterKey

from core.events import Turn, UserMessage
from core.model.backend import TransformersBackend
from core.session import Session
from core.store.database import Store
from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.external_editor import edit_in_editor
from kyzel_tui.screens.branches import BranchScreen
from kyzel_tui.screens.confirm import ConfirmScreen
from kyzel_tui.screens.edit import EditTurnScreen
from kyzel_tui.screens.help import HelpScreen
from kyzel_tui.screens.main import MainScreen
from kyzel_tui.screens.reason import ReasonScreen
from kyzel_tui.screens.rollback import RollbackScreen
from kyzel_tui.screens.sessions import SessionsScreen
from kyzel_tui.widgets.footer import KeysFooter
from kyzel_tui.widgets.transcript.result_view import ResultView
from kyzel_tui.widgets.transcript.turn_view import TurnView
from kyzel_tui.widgets.transcript.user_view import UserView

from app_harness import (
    ANSWER_TURN,
    CODE_TURN,
    OTHER_CODE_TURN,
    SIZE,
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    notices,
    ready,
    say,
    screen_text,
    seen,
    stored,
    type_text,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

LONG_TURN = render(TurnFields("let me think " * 100, code="print(1)"))


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


@pytest.fixture
def config(tmp_path, loaded):
    return app_config(tmp_path / "home", loaded)


def of_kind(app, kind: str) -> list:
    return [e for e in stored(app) if e.kind == kind]


def pending_id(app) -> str | None:
    pending = app.agent.pending()
    return pending.id if pending else None


def view_of(app, cls, event_id: str):
    return next(v for v in app.main.query(cls) if v.event_id == event_id)


def pending_bar(app) -> str:
    return str(app.main.query_one("#pending-bar").render())


@contextmanager
def recorded_prompts(monkeypatch):
    """The chat messages of every generation the app starts."""
    prompts: list[list[dict[str, str]]] = []
    real = TransformersBackend.start

    def spy(backend, messages, *args, **kwargs):
        prompts.append(messages)
        return real(backend, messages, *args, **kwargs)

    monkeypatch.setattr(TransformersBackend, "start", spy)
    yield prompts


def slow_steps(seconds: float):
    """An `on_step` hook that makes each token take `seconds`: time to press keys mid-turn."""

    def on_step(n: int) -> None:
        threading.Event().wait(seconds)

    return on_step


async def until_streaming(pilot, words: str = "let me") -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (view := app.main.transcript.stream_view) is not None and words in view.text,
        "the turn to stream",
    )


# Running code


async def test_enter_and_y_run_the_pending_code(config, loaded):
    second = render(TurnFields("and once more", code="x = 6 * 7\nprint(x + 1)"))
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN, second, ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            first = pending_id(app)
            assert first is not None and isinstance(app.focused, TurnView)
            assert "enter/y run" in pending_bar(app)
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "turn 2")
            await seen(pilot)
            following = pending_id(app)
            assert following is not None and following != first
            await pilot.press("y")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 3 and idle(app), "answer")
    assert kinds(app) == [
        "user", "turn", "verdict", "result", "turn", "verdict", "result", "turn",
    ]  # fmt: skip
    verdicts = of_kind(app, "verdict")
    assert [(v.parent_id, v.body.value) for v in verdicts] == [
        (first, "accepted"),
        (following, "accepted"),
    ]
    results = of_kind(app, "result")
    assert [(r.parent_id, r.body.output) for r in results] == [(first, "42\n"), (following, "43\n")]


async def test_enter_in_the_empty_prompt_runs_and_o_expands_a_long_result(config, loaded):
    many_lines = render(TurnFields("many lines", code="for i in range(30):\n    print(i)"))
    app = make_app(config)
    with model_writes(loaded, [many_lines, ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "count")
            await pilot.press("i")
            assert isinstance(app.focused, Input)
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "answer")
            view = app.main.query(ResultView).last()
            assert "18 lines hidden" in screen_text(app)
            view.focus()
            await pilot.press("o")
            await pilot.pause()
            assert view.expanded and "lines hidden" not in screen_text(app)
    assert kinds(app) == ["user", "turn", "verdict", "result", "turn"]


async def test_ctrl_c_interrupts_running_code_and_the_kernel_keeps_its_state(config, loaded):
    code = "import time\ny = 1\nprint('sleeping', flush=True)\ntime.sleep(60)"
    app = make_app(config)
    with model_writes(loaded, [render(TurnFields("wait", code=code)), ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "sleep")
            await pilot.press("enter")
            live = lambda: app.main.transcript.live_result  # noqa: E731
            await wait_for(
                pilot, lambda: live() is not None and "sleeping" in live().live, "the code to run"
            )
            assert app.main.running and app.main.status.kernel == "busy"
            assert "ctrl+c interrupts" in screen_text(app)
            await pilot.press("ctrl+c")
            await wait_for(pilot, lambda: of_kind(app, "result") and idle(app), "the result", 20)
            # Regression: the model's next turn started by itself; now it waits for the user.
            await pilot.pause(0.5)
            assert idle(app) and kinds(app).count("turn") == 1
            assert "not answered the interrupted run yet: c continue" in pending_bar(app)
            await pilot.press("c")
            await wait_for(pilot, lambda: idle(app) and kinds(app).count("turn") == 2, "answer")
            after = await app.runner.execute("print(y)")
    (result,) = of_kind(app, "result")
    assert result.body.status == "interrupted" and result.body.duration < 30
    assert after.output == "1\n"  # an interrupt is not a restart


# Editing


async def test_e_edits_the_pending_turn_into_a_new_pending_sibling(config, loaded):
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            original = pending_id(app)
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EditTurnScreen), "the editor")
            assert app.focused.id == "body" and isinstance(app.focused, TextArea)
            await type_text(pilot, "oops")
            await pilot.press("escape")  # cancelled, even from the code box: nothing changes
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
            assert kinds(app) == ["user", "turn"] and pending_id(app) == original
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EditTurnScreen), "the editor")
            await type_text(pilot, "# checked")
            await pilot.press("enter", "ctrl+s")
            await wait_for(pilot, lambda: kinds(app) == ["user", "turn", "turn"], "the edit")
            edited = of_kind(app, "turn")[1]
            await pilot.pause()
            assert app.screen is app.main and pending_id(app) == edited.id
            assert "←/→ 2/2" in pending_bar(app) and "2/2" in screen_text(app)
            assert isinstance(app.focused, TurnView) and app.focused.event_id == edited.id
    assert edited.body.origin == "edited" and edited.body.source == original
    assert edited.body.code == "# checked\nprint(6 * 7)" and edited.body.thought == "compute it"
    assert edited.parent_id == of_kind(app, "user")[0].id
    assert app.agent.tree.siblings(original) == [original, edited.id]


def write_editor(tmp_path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@contextmanager
def no_suspension():
    yield


async def test_ctrl_e_edits_the_pending_turn_in_the_editor(config, loaded, tmp_path, monkeypatch):
    """The headless driver of `run_test` cannot suspend. First the key meets that (regression:
    `SuspendNotSupported` escaped the action and ended the app; now it is a notice), then with
    `app.suspend` made a no-op the editor, a real process (sed), edits the turn's file."""
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", write_editor(tmp_path, "sed -i 's/6 \\* 7/7 * 6/' \"$1\""))
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            original = pending_id(app)
            await pilot.press("ctrl+e")
            await pilot.pause()
            assert app.is_running and kinds(app) == ["user", "turn"]
            assert any("cannot hand the terminal" in m for m in notices(app)), notices(app)
            app.suspend = no_suspension
            await pilot.press("ctrl+e")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2, "the edited turn")
            edited = of_kind(app, "turn")[1]
            await pilot.pause()
            assert pending_id(app) == edited.id
    assert edited.body.code == "print(7 * 6)" and edited.body.origin == "edited"
    assert edited.body.source == original


class StubApp:
    """What `edit_in_editor` needs of the app: a `suspend()` (here, one that does nothing)."""

    def suspend(self):
        return nullcontext()


@pytest.mark.parametrize(
    ("editor", "expected"),
    [
        ("sed -i 's/print/echo/' \"$1\"", TurnFields("compute it", code="echo(6 * 7)")),
        ("exit 0", None),
        ("exit 3", "the editor exited with status 3"),
        ('echo broken > "$1"', "the edited text is not a turn any more"),
    ],
    ids=["edited", "unchanged", "editor-failed", "not-a-turn"],
)
def test_edit_in_editor(tmp_path, monkeypatch, editor, expected):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", write_editor(tmp_path, editor))
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            edit_in_editor(StubApp(), CODE_TURN)
    else:
        assert edit_in_editor(StubApp(), CODE_TURN) == expected


async def test_t_edits_the_thought_and_the_model_writes_the_rest(config, loaded):
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN, "<code>print(7 * 6)</code>"]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            original = pending_id(app)
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, EditTurnScreen), "the editor")
            assert app.focused.id == "thought" and not app.screen.query("#body")
            await type_text(pilot, "first, ")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "a turn")
            completed = of_kind(app, "turn")[1]
            assert pending_id(app) == completed.id
    assert completed.body.thought == "first, compute it" and completed.body.code == "print(7 * 6)"
    assert completed.body.origin == "edited" and completed.body.source == original
    assert app.agent.tree.siblings(original) == [original, completed.id]


# Retrying, switching, skipping, rating


async def test_r_retries_and_left_right_switch_between_the_siblings(config, loaded):
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN, OTHER_CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            first = pending_id(app)
            await pilot.press("r")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "a retry")
            second = of_kind(app, "turn")[1].id
            await pilot.pause()
            assert pending_id(app) == second
            assert "2/2" in pending_bar(app) and "2/2" in screen_text(app)
            await pilot.press("left")
            await wait_for(pilot, lambda: app.agent.tree.head == first, "the first sibling")
            await pilot.pause()
            assert "1/2" in screen_text(app) and pending_id(app) == first
            await pilot.press("left")  # already the first: nothing moves
            await pilot.pause()
            await pilot.press("right")
            await wait_for(pilot, lambda: app.agent.tree.head == second, "the second sibling")
    assert app.agent.tree.siblings(first) == [first, second]
    assert of_kind(app, "turn")[1].body.thought == "compute it another way"
    moves = of_kind(app, "head")
    assert [(m.parent_id, m.body.previous, m.body.reason) for m in moves] == [
        (first, second, "branch"),
        (second, first, "branch"),
    ]
    with Store.open(app.config.data_dir) as store:
        assert store.session(app.agent.session.id).head == second


async def test_escape_leaves_the_prompt_and_r_retries_an_answer(config, loaded):
    """Regressions: the prompt's placeholder promised that escape leaves the box, but escape did
    nothing there; and retry was offered only for code, so a wrong answer could not be retried."""
    app = make_app(config)
    with model_writes(loaded, [ANSWER_TURN, render(TurnFields("hm", answer="Forty-two."))]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            first = of_kind(app, "turn")[0].id
            assert isinstance(app.focused, Input)
            await pilot.press("escape")
            assert isinstance(app.focused, TurnView) and app.focused.event_id == first
            await pilot.press("r")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "a retry")
            second = of_kind(app, "turn")[1]
            await pilot.pause()
            assert "2/2" in screen_text(app)
            await pilot.press("i")
            assert isinstance(app.focused, Input)
    assert second.body.answer == "Forty-two." and second.parent_id == of_kind(app, "user")[0].id
    assert app.agent.tree.siblings(first) == [first, second.id]


async def test_n_skips_with_a_reason_that_reaches_the_next_generation(config, loaded, monkeypatch):
    app = make_app(config)
    with (
        recorded_prompts(monkeypatch) as prompts,
        model_writes(loaded, [CODE_TURN, OTHER_CODE_TURN]),
    ):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            skipped = pending_id(app)
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), "the question")
            await pilot.press("escape")  # cancelled: still pending, nothing stored
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
            assert pending_id(app) == skipped and kinds(app) == ["user", "turn"]
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), "the question")
            await type_text(pilot, "use a loop")
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "a turn")
    (verdict,) = of_kind(app, "verdict")
    assert verdict.parent_id == skipped
    assert (verdict.body.value, verdict.body.reason) == ("rejected", "use a loop")
    assert of_kind(app, "turn")[1].parent_id == skipped
    assert len(prompts) == 2
    told = [m["content"] for m in prompts[1] if m["role"] == "user"]
    assert "The user did not run this code. Reason: use a loop" in told[-1]


async def test_the_footer_is_rebuilt_only_when_its_keys_change(config, loaded):
    """Regression (bench/tui.py): Textual's footer rebuilt every key at each bindings refresh
    (a focus change, a write), and a rating pressed while a turn streamed waited it out."""
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            code_turn = pending_id(app)
            footer = app.main.query_one(KeysFooter)
            keys = list(footer.query(FooterKey))
            assert "Run" in [key.description for key in keys]
            await pilot.press("minus")
            await wait_for(pilot, lambda: app.agent.tree.rating(code_turn) == "down", "rating")
            await pilot.press("up", "down")  # the focus moves: the bindings are refreshed
            await pilot.pause()
            assert list(footer.query(FooterKey)) == keys  # the very same widgets
            await pilot.press("enter")  # Run goes, Interrupt then Stop come
            await wait_for(pilot, lambda: list(footer.query(FooterKey)) != keys, "new keys")
            await wait_for(pilot, lambda: idle(app), "the next turn")


async def test_plus_and_minus_rate_the_selected_turn_and_keep_it_selected(config, loaded):
    """Regression: rating redrew the whole transcript, so the selection was lost and the next
    +/- went to the last turn instead."""
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN, ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            code_turn = pending_id(app)
            await pilot.press("minus")  # the pending turn has the focus
            await wait_for(pilot, lambda: app.agent.tree.rating(code_turn) == "down", "rating")
            assert app.focused.event_id == code_turn and pending_id(app) == code_turn
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "answer")
            answer = of_kind(app, "turn")[1].id
            await pilot.click(view_of(app, TurnView, code_turn))
            await pilot.press("plus")
            await wait_for(pilot, lambda: app.agent.tree.rating(code_turn) == "up", "rating +")
            assert app.focused.event_id == code_turn
            await pilot.press("minus", "plus")
            await pilot.pause()
            assert "rated +" in screen_text(app)
    ratings = [(v.parent_id, v.body.value) for v in of_kind(app, "verdict")]
    assert ratings == [
        (code_turn, "down"),
        (code_turn, "accepted"),
        (code_turn, "up"),
        (code_turn, "down"),
        (code_turn, "up"),
    ]
    assert app.agent.tree.rating(answer) is None


async def test_rating_while_the_model_writes_keeps_the_turn_streaming(tmp_path, loaded):
    """Regression: a rating redrew the transcript, which dropped the turn being written from the
    screen while the model went on writing it."""
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=1000))
    with model_writes(loaded, [ANSWER_TURN, LONG_TURN], on_step=slow_steps(0.02)):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "hi")
            answer = of_kind(app, "turn")[0].id
            await type_text(pilot, "think")
            await pilot.press("enter")
            await until_streaming(pilot)
            view_of(app, TurnView, answer).focus()
            await pilot.press("plus")
            await wait_for(pilot, lambda: app.agent.tree.rating(answer) == "up", "the rating")
            stream = app.main.transcript.stream_view
            written = len(stream.text)
            await wait_for(pilot, lambda: len(stream.text) > written + 20, "more text")
            assert stream.is_attached and "writing…" in screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: idle(app), "the generation to stop", 10)
    assert kinds(app) == ["user", "turn", "user", "verdict", "turn"]
    assert of_kind(app, "turn")[1].body.meta["status"] == "stopped"


# Moving back


async def test_u_rolls_back_with_or_without_a_replay(config, loaded):
    code = render(TurnFields("keep it", code="x = 6 * 7\nprint(x)"))
    app = make_app(config)
    with model_writes(loaded, [code, ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            app.set_focus(None)
            await pilot.press("u")  # nothing selected: a hint, no question
            await pilot.pause()
            assert app.screen is app.main and any("Select an event" in m for m in notices(app))
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "answer")
            user, turn = of_kind(app, "user")[0], of_kind(app, "turn")[0]
            result = of_kind(app, "result")[0]
            await app.runner.execute("x = 0")  # the kernel drifts from the branch
            view_of(app, ResultView, result.id).focus()
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen), "the question")
            labels = " ".join(str(label.render()) for label in app.screen.query(Label))
            assert "re-runs the 1 code cell up to here" in labels
            await pilot.press("r")
            await wait_for(pilot, lambda: of_kind(app, "kernel") and idle(app), "the replay", 60)
            replayed = (await app.runner.execute("print(x)")).output
            assert app.agent.tree.head == of_kind(app, "kernel")[-1].id
            await pilot.pause()
            view_of(app, UserView, user.id).focus()
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen), "the question")
            await pilot.press("o")
            await wait_for(pilot, lambda: app.agent.tree.head == user.id, "the rollback")
            await pilot.pause()
            assert not app.main.query(TurnView)  # only the user's message is on the path
    moves = of_kind(app, "head")
    assert [(m.parent_id, m.body.reason) for m in moves] == [
        (result.id, "rollback"),
        (user.id, "rollback"),
    ]
    states = [k.body.state for k in of_kind(app, "kernel")]
    assert states == ["restarted", "replayed"]  # "only" replays nothing
    assert of_kind(app, "kernel")[-1].body.meta == {"ran": 1, "cells": 1, "failed": None}
    assert replayed == "42\n"
    assert app.agent.tree.children(user.id) == [turn.id]


# Stopping and interjecting


async def test_a_message_typed_while_the_model_writes_interrupts_it(tmp_path, loaded):
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=1000))
    with model_writes(loaded, [LONG_TURN, ANSWER_TURN], on_step=slow_steps(0.03)):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await type_text(pilot, "think")
            await pilot.press("enter")
            await until_streaming(pilot)
            assert isinstance(app.focused, Input)
            await type_text(pilot, "no")
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "answer")
    users = of_kind(app, "user")
    assert [u.body.text for u in users] == ["think", "no"]
    # The partial turn is kept as a stopped sibling of the message (issue 9, item 2).
    assert kinds(app) == ["user", "turn", "user", "turn"]
    stopped, answer = of_kind(app, "turn")
    assert stopped.body.meta["status"] == "stopped" and stopped.parent_id == users[0].id
    assert users[1].parent_id == users[0].id and answer.parent_id == users[1].id


def test_ctrl_q_mid_turn_quits_at_once(tmp_path, loaded):
    """Regression: the exit waited for the worker following the generation, so quitting while
    the model wrote hung until the turn reached its token budget. Run as the command line runs
    the app (`App.run`, whose loop waits for worker threads), not under `run_test`."""
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=1000))
    pressed: list[float] = []

    async def auto_pilot(pilot) -> None:
        await ready(pilot)
        app.main.query_one("#prompt", Input).value = "think"
        await pilot.press("enter")
        await until_streaming(pilot)
        await pilot.press("ctrl+q")  # it asks first; y quits
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        pressed.append(time.monotonic())
        await pilot.press("y")

    with model_writes(loaded, [LONG_TURN], on_step=slow_steps(0.05)):
        app.run(headless=True, auto_pilot=auto_pilot, size=SIZE)
        quit_after = time.monotonic() - pressed[0]
    assert quit_after < 3, f"quitting took {quit_after:.1f} s"
    assert kinds(app) == ["user", "turn"]  # the partial turn is kept, stopped (issue 9, item 2)
    assert of_kind(app, "turn")[0].body.meta["status"] == "stopped"


def test_ctrl_q_while_the_model_loads_quits_at_once(tmp_path, loaded):
    """Regression: the model loaded in a thread worker, which the exit waits for: quitting in
    the first seconds took as long as loading the model."""
    loading = threading.Event()
    release = threading.Event()

    def slow_loader(progress):
        loading.set()
        release.wait(60)
        return loaded

    config = app_config(tmp_path / "home", loaded)
    config.model_loader = slow_loader
    app = make_app(config)
    pressed: list[float] = []

    async def auto_pilot(pilot) -> None:
        await wait_for(pilot, loading.is_set, "the model to start loading")
        pressed.append(time.monotonic())
        await pilot.press("ctrl+q")

    try:
        app.run(headless=True, auto_pilot=auto_pilot, size=SIZE)
        quit_after = time.monotonic() - pressed[0]
    finally:
        release.set()
    assert quit_after < 5, f"quitting took {quit_after:.1f} s"


# Other screens


async def test_ctrl_s_opens_the_sessions_and_ctrl_b_the_branches(config, loaded):
    app = make_app(config)
    with model_writes(loaded, [CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await pilot.press("ctrl+b")  # nothing yet: a note, no screen
            await pilot.pause()
            assert app.screen is app.main and any("Nothing here yet" in m for m in notices(app))
            await say(pilot, "6*7?")
            for key, screen in (("ctrl+s", SessionsScreen), ("ctrl+b", BranchScreen)):
                await pilot.press(key)
                await wait_for(pilot, lambda s=screen: isinstance(app.screen, s), screen.__name__)
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
    assert kinds(app) == ["user", "turn"]


async def test_f1_lists_every_key_as_the_user_bound_it(tmp_path, loaded):
    """Regression: help showed the default keys even where config.toml rebinds them."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[keys]\nretry = "R"\n')
    app = make_app(app_config(home, loaded))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        text = screen_text(app)
        keys = {description: key for key, description, _, _ in app.screen.rows}
        assert keys.keys() >= {b.description for b in MainScreen.BINDINGS}
        assert keys["Retry"] == "R" and keys["Quit"] == "^q" and keys["Run"] == "enter/y"
        assert "up/down (or k/j) select" in text and "ctrl+q quits" in text
        for key in ("enter/y", "^e", "^c", "^s", "^b", "f1", "esc", "+", "-", "←", "→"):
            assert key in text, key
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main, "the main screen")


# Known faults elsewhere


async def test_a_reopened_session_still_offers_its_pending_turn(tmp_path, loaded):
    home = tmp_path / "home"
    with Store.open(home) as store:
        session = Session.create(store)
        session.append(UserMessage("6*7?"))
        turn = session.append(Turn("compute it", code="print(6 * 7)"))
    config = app_config(home, loaded)
    config.session = session.id
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.pause()
        assert pending_id(app) == turn.id
