"""The status bar marks the demo model by `LoadedModel.demo`, not by the words of its label."""

from __future__ import annotations

from textual.app import App, ComposeResult

from core.model.loading import LoadedModel
from kyzel_tui.widgets.status_bar import StatusBar


class _Bar(App):
    def compose(self) -> ComposeResult:
        yield StatusBar()


def _loaded(label: str, demo: bool) -> LoadedModel:
    return LoadedModel(None, None, "m", "cpu", False, None, label, demo=demo)


def _model_style(bar: StatusBar) -> str:
    text = bar.render()
    first = text.spans[0]
    assert text.plain[first.start : first.end] == bar.model
    return str(first.style)


async def test_demo_flag_not_label_text_makes_it_red() -> None:
    app = _Bar()
    async with app.run_test() as pilot:
        bar = app.query_one(StatusBar)
        bar.show_loaded(_loaded("tiny · float32 · cpu", demo=True))
        await pilot.pause()
        assert bar.demo and _model_style(bar) == "bold red"
        bar.show_loaded(_loaded("DEMO of nothing · cpu", demo=False))
        await pilot.pause()
        assert not bar.demo and _model_style(bar) == "bold"
        bar.show_loaded(_loaded("tiny · float32 · cpu", demo=True))
        bar.model = "loading tokenizer"  # progress of the next load: no longer the demo
        await pilot.pause()
        assert not bar.demo and _model_style(bar) == "bold"
        bar.model = "no model: press d for the small embedded model"
        assert _model_style(bar) == "bold red"
