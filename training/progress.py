"""Training progress as JSON lines, for a program that runs `kyzel-tui --train --progress json`.

Each line on stdout is one JSON object with an "event":
- "tick": a step of a stage (`training.loop.Tick`'s fields: stage, step, total, loss, eval_loss,
  tokens, seconds, done);
- "result": the end of a run that registered its adapter: run_id, won and why (the registry's
  `verdict`), the before and after figures (`training.evaluate.EvalReport.as_dict`) and `table`,
  the before/after table as text.
What happens between the stages (loading, evaluating) stays on stderr as `· ...` lines. A run
that fails or is stopped writes no "result": nothing was registered. `read_event` is the
reader's half: one line in, one event dict (or None for any other line) out.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from typing import Any, TextIO


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity (a diverged run has them): those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _clean(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_clean(v) for v in data]
    return _finite(data)


class JsonProgress:
    """A `training.loop` callback writing one "tick" line per step; `result` writes the end."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.out = stream or sys.stdout

    def _write(self, event: str, fields: dict[str, Any]) -> None:
        self.out.write(json.dumps(_clean({"event": event, **fields})) + "\n")
        self.out.flush()

    def __call__(self, tick: Any) -> None:
        self._write("tick", asdict(tick))

    def result(self, run_id: str, won: bool, why: str, before: Any, after: Any) -> None:
        from training.evaluate import compare

        self._write(
            "result",
            {
                "run_id": run_id,
                "won": won,
                "why": why,
                "before": before.as_dict(),
                "after": after.as_dict(),
                "table": compare(before, after),
            },
        )

    def close(self) -> None:
        """Nothing to tear down (the rich bar has a display to close)."""


def read_event(line: str) -> dict[str, Any] | None:
    """The event on one line of `--progress json` output, or None when the line is not one."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None
