"""What a person sees of a training run: the progress line, the loss curve and the summary tables.

`progress_bar` makes a callback for the training loop's ticks: a rich progress bar per stage
(step, loss, eval loss, speed, time left) on a terminal, a compact line every tenth of a stage
into a log file or a pipe. `text_plot` draws loss curves with characters, for the
terminal and for SSH; `save_png` draws them with matplotlib (Agg: no display needed). `table`
lines up columns. This module computes nothing about the model; it only shows numbers.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, TextIO

Series = dict[str, list[tuple[float, float]]]
"""A name ("sft train", "sft eval") -> (step, value) points."""

MARKS = "•o*x+#"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h"


def progress_bar(stream: TextIO | None = None) -> Any:
    """A callback for `training.loop.Tick`s: a rich progress bar per stage (step, loss, eval
    loss, tokens/s, time left) on a terminal; off one (a log, a pipe) a `progress_line` every
    tenth of a stage. Call `.close()` when training ends or fails."""
    out = stream or sys.stderr
    live = hasattr(out, "isatty") and out.isatty()

    class Bar:
        def __init__(self) -> None:
            self.progress: Any = None
            self.tasks: dict[str, Any] = {}
            self.shown: dict[str, int] = {}

        def __call__(self, tick: Any) -> None:
            if live:
                self._rich(tick)
            else:
                due = max(1, tick.total // 10)
                if tick.done or tick.step % due == 0 and self.shown.get(tick.stage) != tick.step:
                    self.shown[tick.stage] = tick.step
                    line = progress_line(
                        tick.stage,
                        tick.step,
                        tick.total,
                        0.0,
                        tick.loss,
                        tick.eval_loss,
                        tick.seconds,
                        tick.tokens,
                    )
                    out.write(line + "\n")
                    out.flush()

        def _rich(self, tick: Any) -> None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            if self.progress is None:
                self.progress = Progress(
                    TextColumn("{task.description:4}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[figures]}"),
                    TimeRemainingColumn(),
                    console=Console(file=out),
                    transient=False,
                )
                self.progress.start()
            if tick.stage not in self.tasks:
                self.tasks[tick.stage] = self.progress.add_task(
                    tick.stage, total=tick.total, figures=""
                )
            figures = "" if tick.loss is None else f"loss {tick.loss:.3f}"
            if tick.eval_loss is not None:
                figures += f"  eval {tick.eval_loss:.3f}"
            if tick.seconds:
                figures += f"  {tick.tokens / tick.seconds:,.0f} tok/s"
            task = self.tasks[tick.stage]
            self.progress.update(task, completed=tick.step, total=tick.total, figures=figures)

        def close(self) -> None:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return Bar()


def progress_line(
    stage: str,
    step: int,
    total: int,
    epoch: float,
    loss: float | None,
    eval_loss: float | None,
    seconds: float,
    tokens: int = 0,
) -> str:
    """One line: `sft [#####.....] 12/40 ep 1.50 loss 2.314 eval 2.401 3.1 it/s 812 tok/s 0:09`."""
    total = max(total, 1)
    filled = round(10 * min(step, total) / total)
    parts = [f"{stage:4}", "[" + "#" * filled + "." * (10 - filled) + "]", f"{step}/{total}"]
    parts.append(f"ep {epoch:.2f}")
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    if eval_loss is not None:
        parts.append(f"eval {eval_loss:.3f}")
    if seconds > 0 and step:
        parts.append(f"{step / seconds:.2f} it/s")
        if tokens:
            parts.append(f"{tokens / seconds:,.0f} tok/s")
        parts.append(f"eta {_clock((total - step) * seconds / step)}")
    return "  ".join(parts)


def text_plot(series: Series, width: int = 60, height: int = 12, title: str = "loss") -> str:
    """The curves drawn with characters; each series has its own mark, listed in a legend."""
    points = [(x, y) for values in series.values() for x, y in values if math.isfinite(y)]
    if not points:
        return f"{title}: no points to plot"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    if x1 == x0:
        x1 = x0 + 1
    grid = [[" "] * width for _ in range(height)]
    legend = []
    for index, (name, values) in enumerate(series.items()):
        mark = MARKS[index % len(MARKS)]
        legend.append(f"{mark} {name}")
        for x, y in values:
            if not math.isfinite(y):
                continue
            col = round((x - x0) / (x1 - x0) * (width - 1))
            row = height - 1 - round((y - y0) / (y1 - y0) * (height - 1))
            grid[row][col] = mark
    label_width = max(len(f"{y1:.3g}"), len(f"{y0:.3g}"))
    lines = [f"{title}  ({'   '.join(legend)})"]
    for row, cells in enumerate(grid):
        label = f"{y1:.3g}" if row == 0 else f"{y0:.3g}" if row == height - 1 else ""
        lines.append(f"{label:>{label_width}} │" + "".join(cells).rstrip())
    lines.append(" " * label_width + " └" + "─" * width)
    left, right = f"step {x0:g}", f"{x1:g}"
    lines.append(" " * (label_width + 2) + left + right.rjust(width - len(left)))
    return "\n".join(lines)


def save_png(series: Series, path: Path, title: str = "loss") -> Path | None:
    """The curves as a PNG; None (nothing written) when there is nothing to draw."""
    if not any(series.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: over SSH and in tests
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        for name, values in series.items():
            if values:
                xs, ys = zip(*values, strict=True)
                style = "o-" if "eval" in name else "-"
                axes.plot(xs, ys, style, label=name, markersize=4)
        axes.set_xlabel("step")
        axes.set_ylabel("loss")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path


def table(header: list[str], rows: list[list[Any]]) -> str:
    """Columns lined up: text to the left, numbers to the right."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    numeric = [all(_is_number(row[i]) for row in rows) and rows for i in range(len(header))]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line([str(h) for h in header]), line(["─" * w for w in widths])]
    return "\n".join(out + [line(r) for r in cells])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) or value is None


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
