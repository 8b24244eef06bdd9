"""Training from the app: the palette's "Train an adapter on your sessions" runs `--train` in a
subprocess on the demo model, the screen follows its steps and shows the before/after table and
the verdict; escape asks, then stops the run, and nothing of it is registered.

Real app (pilot), real subprocess, real training of the tiny random model for a few steps; the
run's settings come from the data folder's config.toml, as a user's would."""

from __future__ import annotations

import pytest
from test_training_build import small_store
from test_training_cli import tiny_cache  # noqa: F401

from core.store.database import Store
from kyzel_tui.app import make_app
from kyzel_tui.config import AppConfig
from training import registry

from app_harness import SIZE, wait_for

SHORT = """[train]
examples = false
eval_share = 0.5
eval_prompts = 1
eval_max_new_tokens = 8
"""
LONG = "epochs = 500\npatience = 0\n"
"""Far longer than a test: no early stop either (it ended such a run before escape reached it)."""


@pytest.fixture
def home(tmp_path, tiny_cache, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KYZEL_TINY_CACHE", str(tiny_cache))
    folder = tmp_path / "home"
    with Store.open(folder) as store:
        small_store(store, 4)
    return folder


async def open_training(pilot):
    """The palette's entry, typed and chosen as a user would; the training screen it opens."""
    from kyzel_tui.screens.train import TrainScreen

    app = pilot.app
    await wait_for(pilot, lambda: app.agent.model is not None, "the model to load", 60)
    await pilot.press("ctrl+p")
    for key in "Train an adapter":
        await pilot.press("space" if key == " " else key)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen), "the training screen")
    return app.screen


async def test_training_from_the_palette_shows_progress_and_the_verdict(home):
    from textual.widgets import ProgressBar, Static

    (home / "config.toml").write_text(SHORT + "max_steps = 3\n")
    app = make_app(AppConfig(home=home, demo="random"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot)
        assert screen.command()[-2:] == ["--progress", "json"]
        assert ["--demo", "random"] == screen.argv
        await wait_for(pilot, lambda: screen.finished, "the run to end", 300)
        await pilot.pause()
        assert screen.error is None and screen.result is not None, screen.error
        runs = registry.list_adapters(home)
        assert [r.run_id for r in runs] == [screen.result["run_id"]]
        won, why = registry.verdict(runs[0].metrics)
        assert screen.result["won"] is won and screen.result["why"] == why
        bar = screen.query_one("#bar", ProgressBar)
        assert bar.total == bar.progress == runs[0].meta["stages"][-1]["steps"]
        outcome = str(screen.query_one("#outcome", Static).render())
        assert "held-out figure" in outcome and "before" in outcome and "after" in outcome
        expected = "loads it by default" if won else "not loaded by default"
        assert expected in outcome
        plot = str(screen.query_one("#plot", Static).render())
        assert "loss" in plot and "•" in plot  # the last stage's curve, one mark a step
        await pilot.press("escape")  # finished: escape just goes back
        await wait_for(pilot, lambda: app.screen is app.main, "the main screen")


async def test_escape_asks_then_stops_the_run_and_nothing_is_registered(home):
    from kyzel_tui.screens.confirm import ConfirmScreen
    from kyzel_tui.screens.train import TrainScreen

    (home / "config.toml").write_text(SHORT + LONG)
    app = make_app(AppConfig(home=home, demo="random"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot)
        await wait_for(pilot, lambda: screen.stage == "sft", "the first training step", 300)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")  # keep going
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen), "the screen again")
        assert screen.running
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is app.main, "the main screen", 60)
        assert screen.process.returncode is not None and screen.stopped
    assert registry.list_adapters(home) == []
    leftovers = (
        list(registry.adapters_dir(home).glob("*")) if registry.adapters_dir(home).exists() else []
    )
    assert leftovers == [], leftovers  # not even a staging folder


async def test_a_run_killed_before_it_cleans_up_leaves_no_staging_folder(home, monkeypatch):
    # A run that does not answer the interrupt (here it never gets it: signal 0 only checks that
    # the process exists) is killed after the grace period, so it cannot remove its own staging
    # folder: the screen removes it, and only it (another run's stays).
    import signal
    import types

    from kyzel_tui.screens import train

    monkeypatch.setattr(train, "STOP_GRACE", 0.5)
    monkeypatch.setattr(train, "signal", types.SimpleNamespace(SIGINT=0, SIGKILL=signal.SIGKILL))
    (home / "config.toml").write_text(SHORT + LONG)
    other = registry.staging(home, "19990101-000000")
    app = make_app(AppConfig(home=home, demo="random"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot)
        await wait_for(pilot, lambda: screen.stage == "sft", "the first training step", 300)
        await screen.stop()
        assert screen.process.returncode is not None and screen.stopped
    assert registry.list_adapters(home) == []
    assert list(registry.adapters_dir(home).glob("*")) == [other]
