"""What the main screen looks like, as SVG snapshots (update with `--snapshot-update`).

The app runs as the user starts it, with the scripted tiny model and a real kernel. What varies
from run to run is fixed first: the kernel is idle before anything is typed, and the status bar's
tokens-per-second figure is set to a stub.
"""

from __future__ import annotations

import threading

import pytest

from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.screens.edit import EditTurnScreen
from kyzel_tui.screens.help import HelpScreen

from app_harness import (
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    ready,
    type_text,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

SIZE = (100, 30)
SPEED = "12.3 tok/s"
ACTIVITY = "writing 12 tok · 1 s · 12.0 tok/s"
SMALL = (80, 24)
PLOT_TURN = render(
    TurnFields(
        "Group the **sales** by month, then plot them.",
        code="import pandas as pd\n\nsales = pd.read_csv('sales.csv')\n"
        "sales.groupby('month')['amount'].sum().plot()",
    )
)


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


@pytest.fixture
def app(tmp_path, loaded):
    return make_app(app_config(tmp_path / "home", loaded, max_new_tokens=200))


async def steady(pilot) -> None:
    """The model loaded, and the message box's cursor shown without blinking."""
    await ready(pilot)
    pilot.app.main.query_one("#prompt").cursor_blink = False


async def send(pilot, text: str, turns: int = 1) -> None:
    """Send `text`, wait for the model's turn and for the focus to settle on it."""
    app = pilot.app
    await steady(pilot)
    app.main.query_one("#prompt").value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: kinds(app).count("turn") == turns and idle(app), "a turn")
    await wait_for(pilot, app.main.settled, "the focus to settle")
    app.main.status.speed = SPEED
    await pilot.pause()


class TestMainScreenSnapshots:
    """The main screen: the status bar on top (model, speed, kernel, ask before running, title),
    the transcript, the bar that says what the keys do with a pending turn, the message box and
    the footer of keys."""

    def test_idle(self, snap_compare, app):
        """A new session: "tiny · cpu  kernel not started  ask before running  new session" on
        top, the hint "Type a message below to start. F1 lists every key.", the empty message box
        with its placeholder, and the footer."""

        async def run_before(pilot) -> None:
            await steady(pilot)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_streaming(self, snap_compare, app, loaded):
        """A turn being written: "you  plot sales by month", then a box headed "model  writing…
        escape stops" holding the first tokens of the turn as raw text (`<thought>Group the
        ...`), frozen mid-turn; no pending bar; "Stop" in the footer; the live figures
        "writing 12 tok · 1 s · 12.0 tok/s" in the status bar."""
        reached, released = threading.Event(), threading.Event()

        def freeze(step: int) -> None:
            if step == 12:
                reached.set()
                while app.is_running and not released.wait(0.05):
                    pass

        async def run_before(pilot) -> None:
            app = pilot.app
            await steady(pilot)
            app.main.query_one("#prompt").value = "plot sales by month"
            await pilot.press("enter")
            await wait_for(pilot, reached.is_set, "the generation to reach the freeze")
            view = app.main.transcript.stream_view
            seen = None
            while seen != view.text:  # the last tokens before the freeze arrive
                seen = view.text
                await pilot.pause(0.2)
            assert seen and PLOT_TURN.startswith(seen)
            app.main.progress_timer.pause()
            app.main.status.activity = ACTIVITY

        with model_writes(loaded, [PLOT_TURN], on_step=freeze):
            try:
                assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
            finally:
                released.set()

    def test_pending_turn(self, snap_compare, app, loaded):
        """A turn waiting for the user: its thought (markdown, **sales** in bold), its code
        highlighted, a rounded yellow border, the bar "▶ waiting for you: enter/y run · e edit ·
        ^e $EDITOR · t edit thought · r retry · n skip", "12.3 tok/s" and "kernel not started"
        on top, and the footer "⏎ Run  e Edit  r Retry  n Skip  i Type  ^s Sessions  f1 Help"."""

        async def run_before(pilot) -> None:
            await send(pilot, "plot sales by month")

        with model_writes(loaded, [PLOT_TURN]):
            assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_edited_sibling(self, snap_compare, app, loaded):
        """After `e`: the edited turn, headed "model  2/2  edited", pending, with "# by month"
        added at the top of its code, and "←/→ 2/2" at the end of the pending bar."""

        async def run_before(pilot) -> None:
            app = pilot.app
            await send(pilot, "plot sales by month")
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, EditTurnScreen), "the editor")
            await type_text(pilot, "# by month")
            await pilot.press("enter", "ctrl+s")
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2, "the edit")
            await wait_for(pilot, lambda: app.screen is app.main, "the main screen")
            await pilot.pause()

        with model_writes(loaded, [PLOT_TURN]):
            assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_pending_turn_at_80_by_24(self, snap_compare, app, loaded):
        """The same at 80 x 24: the status bar keeps the model, speed and kernel; the waiting bar
        wraps onto two lines with every key of the pending turn; the footer ends with f1 Help."""

        async def run_before(pilot) -> None:
            await send(pilot, "plot sales by month")

        with model_writes(loaded, [PLOT_TURN]):
            assert snap_compare(app, terminal_size=SMALL, run_before=run_before)

    def test_stopped_turn(self, snap_compare, app, loaded):
        """After escape mid-turn: the partial turn kept, headed "model  stopped" (its thought so
        far), and the bar "■ stopped mid-turn: c continue · e edit · r retry"."""
        reached, released = threading.Event(), threading.Event()

        def slow(step: int) -> None:  # escape comes while step 12 waits: the stop is exact
            if step == 12:
                reached.set()
                released.wait(30)

        async def run_before(pilot) -> None:
            app = pilot.app
            await steady(pilot)
            app.main.query_one("#prompt").value = "plot sales by month"
            await pilot.press("enter")
            await wait_for(pilot, reached.is_set, "the generation to reach step 12")
            await pilot.press("escape")
            released.set()
            await wait_for(pilot, lambda: kinds(app).count("turn") == 1 and idle(app), "the stop")
            await wait_for(pilot, app.main.settled, "the focus to settle")
            app.main.status.speed = SPEED
            await pilot.pause()

        with model_writes(loaded, [PLOT_TURN], on_step=slow):
            assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestHelpSnapshots:
    def test_help(self, snap_compare, app):
        """F1 over the main screen: how selection works (up/down or k/j, ctrl+q quits), then a
        table titled "kyzel-tui keys" of key, action, details and [keys] name for every key of
        the main screen (enter/y Run ... ^home Earlier, ^q Quit)."""

        async def run_before(pilot) -> None:
            await steady(pilot)
            await pilot.press("f1")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help")

        assert snap_compare(app, terminal_size=(100, 36), run_before=run_before)

    def test_help_at_80_by_24(self, snap_compare, app):
        """F1 at 80 x 24: the box fills the screen, the selection note and the first rows of
        the table readable, the rest reached by scrolling."""

        async def run_before(pilot) -> None:
            await steady(pilot)
            await pilot.press("f1")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help")

        assert snap_compare(app, terminal_size=SMALL, run_before=run_before)
