"""Foreign text is data: what the model, the kernel or the user writes shows literally.

Console markup (`[bold]`, `[@click=app.quit]`) is never interpreted, terminal control sequences
(clear screen, reset, window title, hyperlinks) never reach the screen, and the app keeps working
afterwards: clicking where a `[@click=app.quit]` is written does not quit.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input
from textual.widgets._toast import Toast

from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.screens.help import HelpScreen
from kyzel_tui.widgets.transcript.result_view import ResultView
from kyzel_tui.widgets.transcript.stream_view import StreamView
from kyzel_tui.widgets.transcript.turn_view import TurnView

from app_harness import (
    SIZE,
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    notices,
    ready,
    screen_text,
    seen,
    stored,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

MARKUP = "[bold]loud[/] [@click=app.quit]quit[/] [/]"
CONTROLS = "\x1b[2J\x1bc\x1b]0;evil title\x07\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\"
HOSTILE = MARKUP + " " + CONTROLS
KERNEL_OUTPUT = (
    "[bold]kernel[/] [@click=app.quit]quit[/] [/]\n" + CONTROLS + "after\n\x1b[31mred\x1b[0m\n"
)
# The code builds the sequences from pieces, so that its own text on screen holds none of them.
HOSTILE_CODE = r"""E, B = chr(27), chr(7)
print("[bold]kernel[/] [@click=app.quit]quit[/] [/]")
print(E + "[2J" + E + "c" + E + "]0;evil" + " title" + B + E + "]8;;http:" + "//evil.example"
      + E + "\\link" + E + "]8;;" + E + "\\after")
print(E + "[31mred" + E + "[0m")"""
NEVER_SHOWN = ("\x1b", "\x07", "\x9b", "evil title", "http://evil.example")


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


def assert_literal(text: str, *literals: str) -> None:
    for literal in literals:
        assert literal in text, literal
    for hidden in NEVER_SHOWN:
        assert hidden not in text, repr(hidden)


def region_text(text: str, region) -> str:
    """The part of the screen's text inside `region`."""
    rows = text.split("\n")[region.y : region.y + region.height]
    return "\n".join(row[region.x : region.x + region.width] for row in rows)


def where(text: str, needle: str) -> tuple[int, int]:
    """(column, row) of `needle` on the screen."""
    for row, line in enumerate(text.split("\n")):
        if needle in line:
            return line.index(needle), row
    raise AssertionError(f"{needle!r} is not on the screen")


async def test_model_kernel_and_user_text_show_literally_and_obey_nothing(tmp_path, loaded):
    turn = render(TurnFields(HOSTILE, code=HOSTILE_CODE))
    answer = render(TurnFields("done", answer="all " + MARKUP))
    app = make_app(app_config(tmp_path / "home", loaded, max_new_tokens=700))
    with model_writes(loaded, [turn, answer]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            prompt = app.main.query_one("#prompt", Input)
            prompt.value = "me " + HOSTILE
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 1 and idle(app), "a turn")
            await seen(pilot)  # no key acts on a turn in its first half second
            text = screen_text(app)
            assert_literal(text, "you  me [bold]loud[/] [@click=app.quit]quit[/] [/] link")
            assert_literal(text, "[bold]loud[/] [@click=app.quit]quit[/]")
            assert "me [bold]loud[/]" in text.split("\n")[0]  # the session title, in the status bar
            await pilot.press("enter")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "answer")
            await pilot.pause()
            text = screen_text(app)
            output = region_text(text, app.main.query_one(ResultView).region)
            assert_literal(
                output, "[bold]kernel[/] [@click=app.quit]quit[/] [/]", "linkafter", "red"
            )
            answer_view = app.main.query(TurnView).last()
            assert_literal(region_text(text, answer_view.region), "all " + MARKUP)
            assert_literal(text)
            svg = app.export_screenshot()
            assert "[bold]kernel[/]" in svg and "\x1b" not in svg and "\x07" not in svg

            column, row = where(text, "[@click=app.quit]quit[/] [/]")
            await pilot.click(offset=(column + 5, row))
            await pilot.pause()
            assert app.is_running and app.return_code is None
            await pilot.press("escape", "f1")  # the keys still work
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
    turn_event, answer_event = (e for e in stored(app) if e.kind == "turn")
    assert turn_event.body.thought == HOSTILE  # stored as written: only the screen cleans it
    result = next(e for e in stored(app) if e.kind == "result")
    assert result.body.output == KERNEL_OUTPUT and result.body.status == "ok"


async def test_an_error_message_with_markup_in_it_is_shown_as_written(tmp_path, loaded):
    """Regression: notifications took their text as markup, so an error quoting foreign text
    could turn `[@click=app.quit]` into a live link or crash the app on a stray `[/]`."""
    message = "[@click=app.quit]boom[/] [/] [bold"

    def fail(step: int) -> None:
        raise RuntimeError(message)

    app = make_app(app_config(tmp_path / "home", loaded))
    with model_writes(loaded, ["<thought>x</thought>\n<answer>y</answer>"], on_step=fail):
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await ready(pilot)
            app.main.query_one("#prompt", Input).value = "hi"
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.query(Toast), "the error to show")
            await pilot.pause()
            assert any(message in m for m in notices(app))
            text = screen_text(app)
            assert "[@click=app.quit]boom[/] [/] [bold" in text
            column, row = where(text, "[@click=app.quit]boom")
            await pilot.click(offset=(column + 3, row))
            await pilot.pause()
            assert app.is_running and app.return_code is None
            assert idle(app) and kinds(app) == ["user"]


def test_the_stream_view_shows_a_partial_turn_literally():
    view = StreamView("<thought>" + HOSTILE)
    assert_literal(view.render().plain, "<thought>" + MARKUP + " link")
