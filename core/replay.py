"""Replay: bring a fresh kernel back in line with the conversation.

After a rollback (the kernel holds variables of a branch the conversation left) or a kernel death
(it holds nothing), the accepted code cells of the current branch are run again, in order, in a
fresh kernel, stopping at the first that fails. The replay is recorded as a `kernel` event, so the
model knows which state it is in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.events import Event, KernelEvent, Result, Turn
from core.kernel import KernelRunner
from core.session import Session


@dataclass
class ReplayReport:
    cells: int
    """Cells on the branch that had run."""
    ran: int
    """Cells run again successfully."""
    failed: str | None = None
    """The turn whose code failed on replay, if any."""
    result: Result | None = None
    """The failing cell's result."""


def cells_to_replay(path: list[Event]) -> list[tuple[str, str]]:
    """(turn id, code) of each turn on the path whose code ran (a result follows it)."""
    cells = []
    for turn, after in zip(path, path[1:], strict=False):
        if isinstance(turn.body, Turn) and turn.body.code is not None and after.kind == "result":
            cells.append((turn.id, turn.body.code))
    return cells


async def replay(
    session: Session,
    runner: KernelRunner,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Restart the kernel and re-run the branch's cells; record a `replayed` kernel event."""
    cells = cells_to_replay(session.tree.path())
    if runner.client is None:
        await runner.start()
    else:
        await runner.restart("to replay the branch")
    report = ReplayReport(cells=len(cells), ran=0)
    for index, (turn_id, code) in enumerate(cells):
        if progress is not None:
            progress(index, len(cells))
        result = await runner.execute(code)
        if result.status != "ok":
            report.failed, report.result = turn_id, result
            break
        report.ran += 1
    if progress is not None:
        progress(report.ran, len(cells))
    detail = f"re-ran {report.ran} of {report.cells} code cells of this branch"
    if report.failed:
        detail += f"; the cell of turn {report.failed} failed ({report.result.status})"
    session.append(
        KernelEvent(
            "replayed",
            detail=detail,
            meta={"ran": report.ran, "cells": report.cells, "failed": report.failed},
        )
    )
    return report
