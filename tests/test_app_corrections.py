"""Corrections everywhere and keys that tell the truth (issue 9, items 4 and 6): answers are
edited like code, a broken $EDITOR save comes back, the edit dialog selects all with ctrl+a,
the selection moves with up/down and k/j, and every bar and list shows the keymap in force."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from textual.widgets import Input, Label

from grammars.turn import TurnFields
from kyzel_tui.app import make_app
from kyzel_tui.external_editor import edit_in_editor
from kyzel_tui.screens.edit import EditTurnScreen
from kyzel_tui.screens.help import HelpScreen
from kyzel_tui.screens.sessions import SessionsScreen
from kyzel_tui.widgets.transcript.turn_view import TurnView
from kyzel_tui.widgets.transcript.user_view import UserView

from app_harness import (
    ANSWER_TURN,
    CODE_TURN,
    SIZE,
    app_config,
    as_loaded,
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


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


def turns(app) -> list:
    return [e for e in stored(app) if e.kind == "turn"]


def bar(app) -> str:
    return str(app.main.query_one("#pending-bar").render())


def write_editor(tmp_path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


class StubApp:
    def suspend(self):
        return nullcontext()


# Item 4: corrections everywhere


async def test_e_edits_an_answer_into_an_edited_sibling(tmp_path, loaded):
    """Regression: e and ctrl+e acted only on pending code; a wrong answer could not be fixed."""
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            await pilot.press("escape")  # an answer leaves the focus in the box
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EditTurnScreen), "the editor")
            keys = str(app.screen.query_one("#keys", Label).render())
            assert "ctrl+s save" in keys and "escape cancel" in keys and "ctrl+a select all" in keys
            await pilot.press("ctrl+a")  # selects all: typing replaces the whole answer
            await type_text(pilot, "It is 42.")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: len(turns(app)) == 2, "the edited answer")
    original, edited = turns(app)
    assert edited.body.answer == "It is 42." and edited.body.thought == original.body.thought
    assert edited.body.origin == "edited" and edited.body.source == original.id
    assert edited.parent_id == original.parent_id


async def test_ctrl_e_edits_an_answer_in_the_editor(tmp_path, loaded, monkeypatch):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", write_editor(tmp_path, "sed -i 's/42/forty-two/' \"$1\""))
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            app.suspend = nullcontext
            await pilot.press("escape", "ctrl+e")
            await wait_for(pilot, lambda: len(turns(app)) == 2, "the edited answer")
    assert turns(app)[1].body.answer == "The answer is forty-two."


def test_a_broken_editor_save_comes_back_with_the_problem(tmp_path, monkeypatch):
    """Regression: a save that did not parse was thrown away with a notice. Now the editor
    reopens on the saved text with the problem above it; the second save, fixed, is kept."""
    log = tmp_path / "seen.txt"
    editor = f"""cat "$1" >> {log}; echo ---- >> {log}
if grep -q '^# kyzel: ' "$1"; then
  printf '<thought>fixed</thought>\\n<code>print(1)</code>' > "$1"
else
  printf '<thought>half</thought>\\n<code>print(' > "$1"
fi"""
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", write_editor(tmp_path, editor))
    fields = edit_in_editor(StubApp(), CODE_TURN)
    first, second, _ = log.read_text().split("----\n")
    assert fields == TurnFields("fixed", code="print(1)")
    assert first == CODE_TURN
    assert second.startswith("# kyzel: this is not a turn")
    assert second.endswith("<thought>half</thought>\n<code>print(")


async def test_up_down_and_k_j_move_the_selection_outside_the_box(tmp_path, loaded):
    """Regression: up/down scrolled the transcript and the selection stayed put, so a
    keyboard user could not reach an earlier event to rate it or roll back to it."""
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            assert isinstance(app.focused, TurnView)
            await pilot.press("up")
            assert isinstance(app.focused, UserView)
            await pilot.press("j")
            assert isinstance(app.focused, TurnView)
            await pilot.press("k")
            assert isinstance(app.focused, UserView)
            await pilot.press("i", "k", "j", "up")  # in the box they are letters
            assert isinstance(app.focused, Input) and app.main.prompt.value == "kj"
    assert kinds(app) == ["user", "turn"]


# Item 6: keys that tell the truth


async def test_a_rebound_key_shows_in_the_bar_the_footer_and_the_help(tmp_path, loaded):
    """Regression: the waiting bar said "enter/y run" whatever config.toml said."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[keys]\nrun = "x"\n')
    app = make_app(app_config(home, loaded))
    with model_writes(loaded, [CODE_TURN, ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            assert "waiting for you: x run · e edit" in bar(app)
            assert "x Run" in screen_text(app).splitlines()[-1]  # the footer
            await pilot.press("f1")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
            assert ("x", "Run") in [row[:2] for row in app.screen.rows]
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
            await pilot.press("y")  # not bound any more
            await pilot.pause(0.2)
            assert "verdict" not in kinds(app)
            await pilot.press("x")
            await wait_for(pilot, lambda: "result" in kinds(app), "the result", 60)


async def test_bad_keys_entries_are_refused_with_their_line_and_defaults_kept(tmp_path, loaded):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[model]\nname = "x"\n\n[keys]\nretry = "R"\nfly = "f"\n'
        'run = "ctrl+nonsense"\nreject = ""\n'
    )
    app = make_app(app_config(home, loaded))
    with model_writes(loaded, [CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            (notice,) = notices(app)
            assert "config.toml:6: no action called 'fly'" in notice
            assert "config.toml:7: 'ctrl+nonsense' is not a key" in notice
            assert "run keeps its default keys" in notice
            assert "config.toml:8: reject has no key" in notice
            await say(pilot, "6*7?")
            assert "enter/y run · e edit" in bar(app) and "R retry · n skip" in bar(app)
            await pilot.press("n")  # the default key of the refused entry still works
            await wait_for(pilot, lambda: app.screen is not app.main, "the reason question")


async def test_i_goes_to_the_box_without_typing_and_new_session_focuses_the_box(tmp_path, loaded):
    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, [CODE_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "6*7?")
            await pilot.press("i")
            assert isinstance(app.focused, Input) and app.main.prompt.value == ""
            await pilot.press("escape", "ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "the list")
            await pilot.press("n")
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
            await pilot.pause()
            assert not app.agent.tree.head and isinstance(app.focused, Input)
            await seen(pilot)
