"""The main screen's keys that rate, roll back, stop, quit and open dialogs, pressed
in the real app (the scripted tiny model writes, a real kernel runs); each test checks the store."""

from __future__ import annotations

import threading
import time

import pytest
from textual.widgets import Input, Label
from textual.widgets._footer import FooterKey

from core.events import Turn, UserMessage
from core.session import Session
from core.store.database import Store
from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.screens.branches import BranchScreen
from kyzel_tui.screens.confirm import ConfirmScreen
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
    LONG_TURN,
    OTHER_CODE_TURN,
    SIZE,
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    notices,
    of_kind,
    pending_id,
    ready,
    recorded_prompts,
    say,
    screen_text,
    slow_steps,
    type_text,
    until_streaming,
    view_of,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


@pytest.fixture
def config(tmp_path, loaded):
    return app_config(tmp_path / "home", loaded)


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
