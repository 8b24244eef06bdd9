"""Nothing acts on a turn the user has not seen, and a slow turn never looks frozen (issue 9,
items 1 and 3): the real app, the scripted tiny model slowed down token by token, a real kernel."""

from __future__ import annotations

import re
import threading

import pytest
from textual.widgets import Input

from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.widgets.transcript.turn_view import TurnView
from kyzel_tui.widgets.transcript.user_view import UserView

from app_harness import (
    CODE_TURN,
    KEY_NAMES,
    SIZE,
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    ready,
    say,
    seen,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


def slow_steps(seconds: float):
    def on_step(n: int) -> None:
        threading.Event().wait(seconds)

    return on_step


async def send(pilot, text: str) -> None:
    pilot.app.main.prompt.value = text
    await pilot.press("enter")


async def test_letters_typed_while_a_code_turn_lands_stay_in_the_box(tmp_path, loaded):
    """Regression: focus jumped to the code turn the moment it arrived, so typing "yes" ran
    the code and "why" opened the skip dialog. Now every letter stays in the box."""
    sentence = "yes why does this happen ney yes "
    app = make_app(app_config(tmp_path / "home", loaded))
    typing = threading.Event()

    def on_step(n: int) -> None:  # the turn lands only once the user is typing
        if n == 3:
            typing.wait(30)
        threading.Event().wait(0.01)

    with model_writes(loaded, [CODE_TURN], on_step=on_step):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await send(pilot, "6*7?")
            typed = ""
            while not (app.agent.pending() and len(typed) >= len(sentence)):
                if len(app.main.prompt.value) >= 3:
                    typing.set()
                char = sentence[len(typed) % len(sentence)]
                await pilot.press(KEY_NAMES.get(char, char))
                typed += char
                await pilot.pause(0.03)
            for char in "after it landed yes":  # and on, past the guard
                await pilot.press(KEY_NAMES.get(char, char))
                typed += char
                await pilot.pause(0.03)
            await pilot.pause(0.3)
            assert app.screen is app.main and isinstance(app.focused, Input)
            assert app.main.prompt.value == typed
    assert kinds(app) == ["user", "turn"]  # no verdict, no result


async def test_no_key_acts_on_a_turn_within_half_a_second_of_its_arrival(tmp_path, loaded):
    """A key pressed as the turn arrives (meant for something else) must not run it; once the
    turn has been on screen for the guard's half second, the same key runs it."""
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [CODE_TURN], on_step=slow_steps(0.01)):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await send(pilot, "6*7?")
            await wait_for(pilot, lambda: app.main.query(UserView), "the message")
            app.main.query_one(UserView).focus()  # the user is looking at the transcript
            await wait_for(pilot, lambda: app.agent.pending() is not None, "the turn", 30)
            app.main.query_one(TurnView).focus()
            await pilot.press("y")
            await pilot.press("n")
            await pilot.pause(0.1)
            assert kinds(app) == ["user", "turn"] and app.screen is app.main
            await seen(pilot)
            await pilot.press("y")
            await wait_for(pilot, lambda: "result" in kinds(app), "the result", 60)
    assert kinds(app)[:4] == ["user", "turn", "verdict", "result"]


async def test_a_newcomers_r_acts_on_the_turn_when_the_box_was_left_alone(tmp_path, loaded):
    """With the box empty and untouched, the turn's single keys work at once: `r` retries (no
    message "r" is sent), `enter` runs."""
    other = render(TurnFields("another way", code="print(42)"))
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [CODE_TURN, other]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            assert isinstance(app.focused, TurnView)
            await pilot.press("r")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "a retry")
            await seen(pilot)
            await pilot.press("enter")
            await wait_for(pilot, lambda: "result" in kinds(app), "the result", 60)
    assert kinds(app)[:4] == ["user", "turn", "turn", "verdict"]  # no message "r"
    first, retried = [e for e in app.agent.tree.turns()][:2]
    assert first.parent_id == retried.parent_id


async def test_the_status_bar_counts_tokens_and_seconds_live(tmp_path, loaded):
    """Regression: a slow turn showed nothing but "writing…" until it ended, and running code
    showed no time: now tokens, seconds and tokens/s update while the turn streams, and the
    seconds while code runs."""
    code = render(TurnFields("wait", code="import time\ntime.sleep(2.5)\nprint('done')"))
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=200))
    figures = re.compile(r"writing (\d+) tok · (\d+) s · ([\d.]+) tok/s")
    with model_writes(loaded, [code], on_step=slow_steps(0.05)):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await send(pilot, "wait")
            await wait_for(pilot, lambda: figures.search(app.main.status.activity), "figures")
            first = int(figures.search(app.main.status.activity)[1])
            await wait_for(
                pilot,
                lambda: (m := figures.search(app.main.status.activity)) and int(m[1]) > first + 5,
                "the token count to grow",
            )
            await wait_for(pilot, lambda: app.agent.pending() is not None, "the turn", 60)
            assert app.main.status.activity == "" and "tok/s" in app.main.status.speed
            await seen(pilot)
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: "running 1 s" in app.main.status.activity, "the run timer", 30
            )
            await wait_for(pilot, lambda: "running 2 s" in app.main.status.activity, "a second")
            await wait_for(pilot, lambda: "result" in kinds(app), "the result", 30)
