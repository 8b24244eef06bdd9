"""The main screen's keys that run, interrupt, edit and retry turns, pressed in the real app: the
scripted tiny model writes the turns, a real kernel runs the code, each test checks the store."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import pytest
from textual.widgets import Input, TextArea

from core.store.database import Store
from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.external_editor import edit_in_editor
from kyzel_tui.screens.edit import EditTurnScreen
from kyzel_tui.widgets.transcript.result_view import ResultView
from kyzel_tui.widgets.transcript.turn_view import TurnView

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
    of_kind,
    pending_bar,
    pending_id,
    ready,
    say,
    screen_text,
    seen,
    type_text,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


@pytest.fixture
def config(tmp_path, loaded):
    return app_config(tmp_path / "home", loaded)


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
