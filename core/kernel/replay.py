"""Replay: bring a fresh kernel back in line with the conversation.

After a rollback (the kernel holds variables of a branch the conversation left) or a kernel death
(it holds nothing), the code cells of the current branch that ran are run again, in order, in a
fresh kernel. A cell whose first run was cut short (interrupted, aborted by quitting, timed out,
or killed with its kernel) is skipped, and the report says so: it never ran to its end, and
running it again would hang or kill the kernel the same way. A cell that failed the first time
may fail again (the conversation went on from that error); replay stops at the first cell that
fails now but succeeded then. The replay is recorded as a `kernel` event, so the model knows
which state it is in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.events import Event, KernelEvent, Result, Turn
from core.kernel.runner import KernelRunner
from core.session import Session

CUT_SHORT = ("interrupted", "aborted", "timeout", "died")
"""Statuses of runs that did not reach their end: their cells are not replayed."""


@dataclass
class Cell:
    turn_id: str
    code: str
    status: str
    """How its first run ended."""


@dataclass
class ReplayReport:
    cells: int
    """Cells to run again (those on the branch that ran, less the skipped ones)."""
    ran: int
    """Cells run again successfully (or failing as they failed the first time)."""
    failed: str | None = None
    """The turn whose code failed on replay, if any."""
    result: Result | None = None
    """The failing cell's result."""
    skipped: list[Cell] = field(default_factory=list)
    """Cells not run again because their first run was cut short."""


def cells_on(path: list[Event]) -> list[Cell]:
    """Each turn on the path whose code ran (a result follows it), with how that run ended."""
    cells = []
    for turn, after in zip(path, path[1:], strict=False):
        if isinstance(turn.body, Turn) and turn.body.code is not None and after.kind == "result":
            cells.append(Cell(turn.id, turn.body.code, after.body.status))
    return cells


def cells_to_replay(path: list[Event]) -> list[tuple[str, str]]:
    """(turn id, code) of each cell on the path that a replay runs again."""
    return [(c.turn_id, c.code) for c in cells_on(path) if c.status not in CUT_SHORT]


def skipped_cells(path: list[Event]) -> list[Cell]:
    """The cells on the path that a replay skips: their first run was cut short."""
    return [c for c in cells_on(path) if c.status in CUT_SHORT]


async def replay(
    session: Session,
    runner: KernelRunner,
    progress: Callable[[int, int], None] | None = None,
    write: Callable[..., Awaitable] | None = None,
) -> ReplayReport:
    """Restart the kernel and re-run the branch's cells; record a `replayed` kernel event.

    `progress(n, total)` hears the number of the cell being run (1 for the first), and at the
    end how many ran. `write(fn, *args)`, when given, commits the event (the app's writer thread,
    so that the event loop never waits on the database's lock); else it is committed here.
    """
    every = cells_on(session.tree.path())
    cells = [c for c in every if c.status not in CUT_SHORT]
    if runner.client is None:
        await runner.start()
    else:
        await runner.restart("to replay the branch")
    report = ReplayReport(cells=len(cells), ran=0, skipped=[c for c in every if c not in cells])
    for number, cell in enumerate(cells, 1):
        if progress is not None:
            progress(number, len(cells))
        result = await runner.execute(cell.code)
        if result.status != "ok" and not (result.status == "error" and cell.status == "error"):
            report.failed, report.result = cell.turn_id, result
            break
        report.ran += 1
    if progress is not None:
        progress(report.ran, len(cells))
    event = KernelEvent("replayed", detail=describe(report), meta=_meta(report))
    if write is None:
        session.append(event)
    else:
        await write(session.append, event)
    return report


def describe(report: ReplayReport) -> str:
    """One line for the user and the model: what ran again, what failed, what was skipped."""
    detail = f"re-ran {report.ran} of {report.cells} code cells of this branch"
    if report.failed:
        detail += f"; the cell of turn {report.failed} failed ({report.result.status})"
    if report.skipped:
        how = sorted({cell.status for cell in report.skipped})
        turns = ", ".join(cell.turn_id for cell in report.skipped)
        detail += (
            f"; skipped {len(report.skipped)} whose first run was {' or '.join(how)} "
            f"(turn {turns}): their variables are missing"
        )
    return detail


def _meta(report: ReplayReport) -> dict:
    meta = {"ran": report.ran, "cells": report.cells, "failed": report.failed}
    if report.skipped:
        meta["skipped"] = [cell.turn_id for cell in report.skipped]
    return meta
