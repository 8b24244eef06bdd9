"""What code prints, as the app shows it: progress bars, long output, pictures; and the dialogs
around it (rollback, export). The real app through the pilot, a real kernel, a real store."""

from __future__ import annotations

import re

import pytest

from core.events import Result, Turn, UserMessage
from core.session import Session
from core.store.database import Store
from grammars.turn import TurnFields, render
from kyzel_tui.app import make_app
from kyzel_tui.screens.export_path import ExportPathScreen
from kyzel_tui.screens.image import ImageScreen
from kyzel_tui.screens.rollback import RollbackScreen
from kyzel_tui.widgets.transcript.image_view import ImageView
from kyzel_tui.widgets.transcript.result_view import ResultView

from app_harness import (
    ANSWER_TURN,
    SIZE,
    app_config,
    as_loaded,
    idle,
    kinds,
    model_writes,
    notice,
    ready,
    say,
    screen_text,
    stored,
    type_text,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def loaded(tiny):
    return as_loaded(tiny)


@pytest.fixture
def config(tmp_path, loaded):
    return app_config(tmp_path / "home", loaded, max_new_tokens=600)  # room for the code


async def run_code(pilot, code: str) -> None:
    """The model proposes `code`; it runs (as `enter` would) and the model answers after it."""
    app = pilot.app
    await say(pilot, "go")
    app.main.run_turn(app.agent.pending().id)
    await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "the answer", 60)


def results(app) -> list[Result]:
    return [e.body for e in stored(app) if e.kind == "result"]


PROGRESS = (
    "import time\n"
    "for i in range(1, 41):\n"
    "    print(f'\\rprogress {i:2d}/40 |' + '#' * i, end='', flush=True)\n"
    "    time.sleep(0.05)\n"
    "print()\n"
    "print('finished')"
)


async def test_a_progress_bar_redraws_one_line_live_and_is_stored_as_its_last_state(config, loaded):
    app = make_app(config)
    samples: list[list[str]] = []
    with model_writes(loaded, [render(TurnFields("show progress", code=PROGRESS)), ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "go")
            app.main.run_turn(app.agent.pending().id)
            live = lambda: app.main.transcript.live_result  # noqa: E731
            await wait_for(pilot, lambda: live() is not None and "progress" in live().live, "bar")
            while live() is not None and "finished" not in live().live:
                samples.append(re.findall(r"progress +(\d+)/40 \|#", screen_text(app)))
                await pilot.pause(0.1)
            await wait_for(pilot, lambda: kinds(app).count("turn") == 2 and idle(app), "answer")
    assert all(len(rows) == 1 for rows in samples), samples  # one line, redrawn
    counts = {rows[0] for rows in samples}
    assert len(counts) >= 3  # it moved while the code ran
    assert results(app)[0].output == f"progress 40/40 |{'#' * 40}\nfinished\n"


async def test_folded_output_marks_the_gap_where_it_is(config, loaded):
    code = "for i in range(2000):\n    print(f'line {i}')"  # within the 20,000-character cap
    app = make_app(config)
    with model_writes(loaded, [render(TurnFields("print a lot", code=code)), ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await run_code(pilot, code)
            view = app.main.query(ResultView).last()
            view.focus()
            await pilot.pause()
            rows = [re.sub(r"^[^\w…]+|[^\w…]+$", "", row) for row in screen_text(app).split("\n")]
            gap = next(i for i, row in enumerate(rows) if "lines hidden" in row)
            assert rows[gap] == "… 1,988 lines hidden (o expands) …"
            assert rows[gap - 1] == "line 5" and rows[gap + 1] == "line 1994"
            assert rows[gap + 6] == "line 1999"
            await pilot.press("o")
            await pilot.pause()
            assert view.expanded and "lines hidden" not in screen_text(app)


FIGURE = (
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots(figsize=(3, 2), dpi=60)\n"
    "ax.plot([1, 3, 2], linewidth=6)\n"
    "plt.show()\n"
    "fig"
)


async def test_a_figure_shows_once_in_half_blocks_and_o_opens_it_full_screen(config, loaded):
    app = make_app(config)
    with model_writes(loaded, [render(TurnFields("plot it", code=FIGURE)), ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await run_code(pilot, FIGURE)
            result = results(app)[0]
            assert [o["mime"] for o in result.outputs if o["mime"] != "text/plain"] == ["image/png"]
            with Store.open(app.config.data_dir) as store:
                assert store.blob(result.outputs[0]["blob"])[0].startswith(b"\x89PNG")
            pictures = app.main.query(ImageView)
            assert len(pictures) == 1
            pictures.first().focus()
            await pilot.pause()
            text = screen_text(app)
            assert text.count("picture 1/1") == 1 and text.count("▀") > 100  # half-block cells
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, ImageScreen), "the picture")
            await pilot.pause()
            full = screen_text(app)
            assert "picture 1/1  image/png" in full and full.count("▀") > text.count("▀")
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.main, "the transcript again")
            app.main.query(ResultView).last().focus()  # o on the result itself opens it too
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, ImageScreen), "the picture")


def session_with_cut_short_cell(home) -> str:
    with Store.open(home) as store:
        session = Session.create(store, title="cut short")
        session.append(UserMessage("count"))
        for code, status in (
            ("a = 1", "ok"),
            ("import time; time.sleep(600)", "interrupted"),
            ("b = a + 1", "ok"),
        ):
            turn = session.append(Turn("step", code=code))
            session.judge(turn.id, "accepted")
            session.append(Result(status=status, output=""))
        # An answer after the last result, so that rolling back to that result moves the head.
        session.append(Turn("all counted", answer="b is 2"))
        return session.id


def replays(app) -> list:
    return [e.body for e in stored(app) if e.kind == "kernel" and e.body.state == "replayed"]


def dialog_text(app) -> str:
    region = app.screen.query_one("#dialog").region
    rows = screen_text(app).split("\n")[region.y : region.bottom]
    inside = " ".join(row[region.x + 1 : region.right - 1].strip(" ▊▎▌┃│") for row in rows)
    return " ".join(inside.split())


async def test_rollback_fits_80_columns_and_enter_only_rolls_back(tmp_path, loaded):
    home = tmp_path / "home"
    config = app_config(home, loaded, session=session_with_cut_short_cell(home))
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        last = app.main.query(ResultView).last()
        last.focus()
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen), "the question")
        await pilot.pause()
        region = app.screen.query_one("#dialog").region
        assert region.x >= 0 and region.right <= 80
        text = dialog_text(app)
        for whole in (
            "Continue from the selected event? Later events stay as another branch.",
            "The kernel keeps its variables. Replaying restarts it and re-runs the 2 code cells "
            "up to here; it skips 1 code cell whose first run was cut short (interrupted or "
            "aborted).",
            "Roll back only (enter)",
            "And replay (r)",
            "Cancel (esc)",
        ):
            assert whole in text, text
        head_before = app.agent.tree.head
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.main, "the dialog to close")
        await wait_for(pilot, lambda: app.agent.tree.head != head_before, "the rollback")
        await pilot.pause(0.5)
        assert idle(app) and not replays(app)  # nothing re-ran
        app.main.query(ResultView).last().focus()
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen), "the question")
        await pilot.press("r")
        await wait_for(pilot, lambda: replays(app) and idle(app), "the replay", 60)
        await notice(pilot, "skipped 1 cut short")
        assert (await app.runner.execute("print(a, b)")).output == "1 2\n"
    replayed = replays(app)[-1]
    assert replayed.meta["ran"] == 2 and replayed.meta["cells"] == 2
    assert "skipped 1 whose first run was interrupted" in replayed.detail


async def test_palette_exports_ask_where_and_are_private(config, loaded):
    app = make_app(config)
    with model_writes(loaded, [ANSWER_TURN]):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await say(pilot, "secret plans")
            for command, suffix in (("Export session as XML", "xml"), ("notebook", "ipynb")):
                await pilot.press("ctrl+p")
                await pilot.pause()
                await type_text(pilot, command)
                await pilot.pause(0.3)
                await pilot.press("enter")
                await wait_for(
                    pilot, lambda: isinstance(app.screen, ExportPathScreen), "the question"
                )
                path = app.screen.query_one("#path").value
                default = app.config.data_dir / "exports" / f"kyzel-{app.agent.session.id}"
                assert path == f"{default}.{suffix}"
                if suffix == "ipynb":  # somewhere else, typed by the user
                    await pilot.press("ctrl+u")
                    await type_text(pilot, str(app.config.data_dir / "mine" / "plans.ipynb"))
                await pilot.press("enter")
                await wait_for(pilot, lambda: app.screen is app.main, "the export")
            await pilot.pause()
    exports = app.config.data_dir / "exports"
    xml = exports / f"kyzel-{app.agent.session.id}.xml"
    notebook = app.config.data_dir / "mine" / "plans.ipynb"
    assert "secret plans" in xml.read_text() and "secret plans" in notebook.read_text()
    assert xml.stat().st_mode & 0o777 == 0o600 and notebook.stat().st_mode & 0o777 == 0o600
    assert exports.stat().st_mode & 0o777 == 0o700
    assert not list(exports.glob(".*"))  # no temporary file left behind


async def test_a_stored_result_with_a_figure_twice_and_an_svg(tmp_path, loaded):
    """Results stored before each picture was kept once still show each picture once; an SVG,
    which the terminal cannot draw, says so instead of failing."""
    from test_pictures_tmux import figure_png

    home = tmp_path / "home"
    with Store.open(home) as store:
        session = Session.create(store, title="old plots")
        session.append(UserMessage("plot"))
        session.append(Turn("plot", code="plt.show(); fig"))
        png = store.put_blob(figure_png(), "image/png")
        svg = store.put_blob(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
        outputs = [{"mime": "image/png", "blob": png}] * 2 + [
            {"mime": "image/svg+xml", "blob": svg}
        ]
        session.append(Result(output="", outputs=outputs))
    app = make_app(app_config(home, loaded, session=session.id))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.pause()
        text = screen_text(app)
        assert "picture 1/2 (image/png): o opens it full-screen" in text
        assert "picture 2/2 (image/svg+xml): cannot be drawn here" in text
        app.main.query(ImageView).first().focus()
        await pilot.press("o", "right")
        await wait_for(pilot, lambda: isinstance(app.screen, ImageScreen), "the pictures")
        await pilot.pause()
        assert "this picture is an SVG" in screen_text(app)
