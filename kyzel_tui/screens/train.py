"""Training from the app: `kyzel-tui --train` in a subprocess, watched from a screen.

The run is the command line's own (`--train --progress json`), in a process of its own so that
the screen stays responsive and the training's memory is given back when it ends. Its stdout
brings one JSON event a line (`training.progress`): each step moves the progress bar (step,
loss, time left) and the loss curve drawn with characters; the last event is the before/after
table and whether the adapter won, that is whether the app will load it by default. Its stderr
brings the phases (`· loading ...`) and, when it fails, the one-line reason.

Escape while it runs asks first; stopping sends the process an interrupt, on which `--train`
removes its staging folder (nothing half-written is registered), and kills it if it does not
end within `STOP_GRACE` seconds. The screen knows nothing of torch: only the subprocess does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from core.text import safe_text
from training import registry
from training.plot import text_plot
from training.progress import read_event

STOP_GRACE = 20.0
"""Seconds an interrupted run gets to clean up before it is killed."""


def train_argv(config: Any, model: Any) -> list[str]:
    """The model options of the run: the model the app uses here (`model`, a backend: the
    embedded model when it stood in for the default), else what the app was started with (a
    model on a server cannot be trained here)."""
    if config.demo == "random":
        return ["--demo", "random"]
    local = model is not None and model.tokenizer is not None  # not a serving engine's
    if local and not model.demo and config.model_loader is None:
        return ["--model", model.name]
    if config.demo:
        return ["--demo", "smollm2"]
    return ["--model", config.model] if config.model else []


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class TrainScreen(Screen[None]):
    """One training run of `home`'s sessions; dismisses when the user leaves."""

    CSS_PATH = "train.tcss"

    BINDINGS = [
        Binding(
            "escape",
            "leave",
            "Back",
            tooltip="Go back (while training runs: ask, then stop it; nothing is kept)",
            id="train.leave",
        ),
    ]

    def __init__(self, home: Path, argv: list[str]) -> None:
        super().__init__()
        self.home = Path(home)
        self.argv = argv
        self.process: asyncio.subprocess.Process | None = None
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.stage = ""
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.stopped = False
        self.finished = False
        self.started = time.monotonic()
        self._staged_before: set[str] = set()
        """Runs with a staging folder before this one started: never this screen's to remove."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Training an adapter on your sessions"), id="heading")
        yield Static(Text("starting…"), id="phase")
        yield ProgressBar(total=None, show_eta=False, id="bar")
        yield Static(Text(""), id="figures")
        yield Static(Text(""), id="plot")
        yield Static(Text(""), id="outcome")
        yield Footer()

    def on_mount(self) -> None:
        self.run_training()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def command(self) -> list[str]:
        base = [sys.executable, "-m", "kyzel_tui", "--home", str(self.home), "--train"]
        return [*base, *self.argv, "--progress", "json"]

    @work(exclusive=True, group="train")
    async def run_training(self) -> None:
        self._staged_before = registry.staging_runs(self.home)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: stopping it reaches its children
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as error:
            self.error = f"cannot start {sys.executable}: {error.strerror or error}"
            self.finished = True
            self._show_end(-1)
            return
        await asyncio.gather(self._read_events(), self._read_phases())
        code = await self.process.wait()
        self.finished = True
        self._show_end(code)

    async def _read_events(self) -> None:
        async for raw in self.process.stdout:
            event = read_event(raw.decode("utf-8", "replace"))
            if event is None:
                continue
            if event["event"] == "tick":
                self._show_tick(event)
            elif event["event"] == "result":
                self.result = event

    async def _read_phases(self) -> None:
        async for raw in self.process.stderr:
            line = safe_text(raw.decode("utf-8", "replace")).strip()
            if line.startswith("· "):
                self.query_one("#phase", Static).update(Text(line[2:]))
            elif line.startswith("kyzel-tui: "):
                self.error = line.removeprefix("kyzel-tui: ")

    def _show_tick(self, tick: dict[str, Any]) -> None:
        stage, step, total = str(tick["stage"]), int(tick["step"]), int(tick["total"])
        if stage != self.stage:
            self.stage = stage
            self.series = {}
        self.query_one("#bar", ProgressBar).update(total=total, progress=step)
        if tick.get("loss") is not None:
            self.series.setdefault(f"{stage} train", []).append((step, float(tick["loss"])))
        if tick.get("eval_loss") is not None:
            points = self.series.setdefault(f"{stage} eval", [])
            if not points or points[-1][0] != step:
                points.append((step, float(tick["eval_loss"])))
        seconds = float(tick.get("seconds") or 0.0)
        left = (total - step) * seconds / step if step else 0.0
        parts = [f"{stage.upper()} step {step}/{total}"]
        if tick.get("loss") is not None:
            parts.append(f"loss {float(tick['loss']):.3f}")
        if tick.get("eval_loss") is not None:
            parts.append(f"held-out {float(tick['eval_loss']):.3f}")
        parts.append("stage done" if tick.get("done") else f"time left {clock(left)}")
        self.query_one("#figures", Static).update(Text("   ".join(parts)))
        title = f"{stage.upper()} loss"
        self.query_one("#plot", Static).update(Text(text_plot(self.series, title=title)))

    def _show_end(self, code: int) -> None:
        outcome = self.query_one("#outcome", Static)
        phase = self.query_one("#phase", Static)
        if self.result is not None and code == 0:
            phase.update(Text(f"done in {clock(time.monotonic() - self.started)}"))
            outcome.update(Text(outcome_text(self.result)))
            outcome.add_class("won" if self.result["won"] else "lost")
        elif self.stopped:
            phase.update(Text("stopped: no adapter was saved"))
        else:
            why = self.error or f"the training process ended with code {code}"
            phase.update(Text(f"training failed: {why}"))
            outcome.add_class("lost")

    def action_leave(self) -> None:
        if not self.running:
            self.dismiss(None)
            return
        self.confirm_stop()

    @work(group="train-confirm")
    async def confirm_stop(self) -> None:
        from kyzel_tui.screens.confirm import ConfirmScreen

        question = "Training is running. Stop it? Nothing of this run is kept."
        if not await self.app.push_screen_wait(ConfirmScreen(question)):
            return
        self.query_one("#phase", Static).update(Text("stopping…"))
        await self.stop()
        self.dismiss(None)

    async def stop(self) -> None:
        """Interrupt the run (it removes its staging folder), then kill it if it lingers; a
        staging folder a killed run left behind is removed here."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        self.stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        for run_id in registry.staging_runs(self.home) - self._staged_before:
            registry.discard(self.home, run_id)

    def on_unmount(self) -> None:
        # The app quit with the screen open: the run must not outlive it.
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)


def outcome_text(result: dict[str, Any]) -> str:
    """The before/after table and what the app will do with the adapter."""
    run_id, why = result["run_id"], result["why"]
    if result["won"]:
        verdict = (
            f"Adapter {run_id} improved ({why}): the app loads it by default from its next start."
        )
    else:
        verdict = (
            f"Adapter {run_id} did not improve ({why}): it is kept but not loaded by default "
            f"(`kyzel-tui --adapter {run_id}` tries it anyway)."
        )
    return f"{result['table']}\n\n{verdict}"
