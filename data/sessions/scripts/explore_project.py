"""An unfamiliar project folder: files, README and pyproject, maintainer notes, a run of the CLI
and its tests, then a summary.
"""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "What is the weatherlog folder? Layout, README, a test run"
FOLDER = "weatherlog"


WEATHERLOG_README = """\
# weatherlog

Small command-line tool for the CSV exports of our two rooftop weather stations.

It reads an export (one reading every three hours: timestamp, temperature in °C,
relative humidity in %, wind speed in m/s) and prints a per-day summary or the
extremes of the whole file.

## Usage

    python -m weatherlog summary data/station_a.csv
    python -m weatherlog extremes data/station_b.csv

Run it from `src/` or install the package (`pip install -e .`).

## Layout

- `src/weatherlog/readings.py`: parsing an export into `Reading` objects
- `src/weatherlog/stats.py`: daily summaries and extremes
- `src/weatherlog/cli.py`: the argument parser
- `data/`: two days of sample exports, one per station
- `tests/`: pytest tests for parsing and stats

Maintainer notes are in `NOTES.md`.
"""


WEATHERLOG_PYPROJECT = """\
[project]
name = "weatherlog"
version = "0.3.1"
description = "Summaries of rooftop weather station exports"
requires-python = ">=3.10"
dependencies = []

[project.optional-dependencies]
test = ["pytest>=7"]

[project.scripts]
weatherlog = "weatherlog.cli:main"

[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"
"""


WEATHERLOG_NOTES = """\
# Notes

- Station B drops readings when its battery is low: the humidity column is then empty.
- TODO: `extremes` should say which station a file came from.
- TODO: accept more than one file and merge them by timestamp.
- Station A was moved to the north roof on 2024-03-02; older exports are not comparable.
"""


WEATHERLOG_INIT = '''\
"""Summaries of rooftop weather station exports."""

__version__ = "0.3.1"
'''


WEATHERLOG_MAIN = """\
from weatherlog.cli import main

main()
"""


WEATHERLOG_READINGS = '''\
"""Parsing a station export into readings."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Reading:
    at: datetime
    temperature: float
    humidity: float | None
    wind: float


def read_export(path: str) -> list[Reading]:
    """The readings of one export file, in the order they appear."""
    readings = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            readings.append(
                Reading(
                    at=datetime.fromisoformat(row["timestamp"]),
                    temperature=float(row["temp_c"]),
                    humidity=float(row["humidity"]) if row["humidity"] else None,
                    wind=float(row["wind_ms"]),
                )
            )
    return readings
'''


WEATHERLOG_STATS = '''\
"""Daily summaries and extremes of a list of readings."""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

from weatherlog.readings import Reading


def daily_summary(readings: list[Reading]) -> list[tuple[str, float, float, float, float]]:
    """(day, min, max, mean temperature, max wind) for each day, in date order."""
    by_day: dict[str, list[Reading]] = defaultdict(list)
    for reading in readings:
        by_day[reading.at.date().isoformat()].append(reading)
    rows = []
    for day in sorted(by_day):
        temps = [r.temperature for r in by_day[day]]
        rows.append((day, min(temps), max(temps), mean(temps), max(r.wind for r in by_day[day])))
    return rows


def extremes(readings: list[Reading]) -> dict[str, Reading]:
    """The coldest, warmest and windiest readings."""
    return {
        "coldest": min(readings, key=lambda r: r.temperature),
        "warmest": max(readings, key=lambda r: r.temperature),
        "windiest": max(readings, key=lambda r: r.wind),
    }
'''


WEATHERLOG_CLI = '''\
"""Command line: `weatherlog summary FILE` or `weatherlog extremes FILE`."""

from __future__ import annotations

import argparse

from weatherlog.readings import read_export
from weatherlog.stats import daily_summary, extremes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="weatherlog")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("summary", "extremes"):
        sub.add_parser(name).add_argument("file")
    args = parser.parse_args(argv)
    readings = read_export(args.file)
    if args.command == "summary":
        print(f"{'day':<12}{'min':>7}{'max':>7}{'mean':>7}{'wind':>7}")
        for day, low, high, avg, wind in daily_summary(readings):
            print(f"{day:<12}{low:7.1f}{high:7.1f}{avg:7.1f}{wind:7.1f}")
    else:
        for label, reading in extremes(readings).items():
            print(f"{label:<9} {reading.at:%Y-%m-%d %H:%M}  {reading.temperature:5.1f} °C  "
                  f"{reading.wind:4.1f} m/s")
'''


WEATHERLOG_TEST_READINGS = """\
from weatherlog.readings import read_export


def test_reads_every_row():
    readings = read_export("data/station_a.csv")
    assert len(readings) == 16
    assert readings[0].temperature == 11.2


def test_missing_humidity_is_none():
    readings = read_export("data/station_b.csv")
    assert any(r.humidity is None for r in readings)
"""


WEATHERLOG_TEST_STATS = """\
from weatherlog.readings import read_export
from weatherlog.stats import daily_summary, extremes


def test_one_row_per_day():
    assert [row[0] for row in daily_summary(read_export("data/station_a.csv"))] == [
        "2024-05-06",
        "2024-05-07",
    ]


def test_extremes_are_readings():
    found = extremes(read_export("data/station_a.csv"))
    assert found["coldest"].temperature <= found["warmest"].temperature
"""


def _station(name: str, seed: int, base: float, gaps: bool) -> str:
    rng = random.Random(seed)
    out = io.StringIO()
    out.write("timestamp,temp_c,humidity,wind_ms\n")
    start = datetime(2024, 5, 6)
    for i in range(16):
        at = start + timedelta(hours=3 * i)
        swing = [-3.1, -3.6, -2.2, 1.4, 4.0, 4.6, 2.1, -0.8][i % 8]
        temp = base + swing + rng.uniform(-0.6, 0.6) + (0.9 if i >= 8 else 0)
        humidity = "" if gaps and i in (5, 6, 13) else f"{rng.uniform(48, 86):.0f}"
        wind = rng.uniform(0.5, 7.5) + (3.0 if i == 12 else 0)
        out.write(f"{at:%Y-%m-%dT%H:%M},{temp:.1f},{humidity},{wind:.1f}\n")
    return out.getvalue()


def prepare(folder: Path) -> None:
    files = {
        "README.md": WEATHERLOG_README,
        "NOTES.md": WEATHERLOG_NOTES,
        "pyproject.toml": WEATHERLOG_PYPROJECT,
        ".gitignore": "__pycache__/\n*.egg-info/\n.venv/\n",
        "src/weatherlog/__init__.py": WEATHERLOG_INIT,
        "src/weatherlog/__main__.py": WEATHERLOG_MAIN,
        "src/weatherlog/readings.py": WEATHERLOG_READINGS,
        "src/weatherlog/stats.py": WEATHERLOG_STATS,
        "src/weatherlog/cli.py": WEATHERLOG_CLI,
        "tests/test_readings.py": WEATHERLOG_TEST_READINGS,
        "tests/test_stats.py": WEATHERLOG_TEST_STATS,
    }
    for name, text in files.items():
        write(folder / name, text)
    station_a = _station("a", 11, 14.3, gaps=False)
    # The first reading is pinned: a test relies on it.
    lines = station_a.splitlines(keepends=True)
    lines[1] = "2024-05-06T00:00,11.2," + lines[1].split(",", 2)[2]
    write(folder / "data/station_a.csv", "".join(lines))
    write(folder / "data/station_b.csv", _station("b", 12, 12.8, gaps=True))


SCRIPT = (
    User(
        "I've inherited the weatherlog folder from a colleague who left. What is it, how is it "
        "organised, and does it work?",
    ),
    Code(
        """
I will run code.
Start with the layout: every file with its size, hidden files included, caches skipped.
""",
        """
from pathlib import Path

for path in sorted(Path(".").rglob("*")):
    if "__pycache__" in path.parts:
        continue
    if path.is_file():
        print(f"{path.stat().st_size:>6}  {path}")
""",
        expect=("README.md", "src/weatherlog/cli.py", "data/station_b.csv"),
    ),
    Code(
        """
A small Python package under src/ with tests and two sample data files. The README and
pyproject.toml should say what it is meant to do.
""",
        """
print(Path("README.md").read_text())
print(Path("pyproject.toml").read_text())
""",
        expect=("weatherlog", "dependencies = []"),
    ),
    Edited(
        """
A standard-library-only CLI with two commands, summary and extremes. NOTES.md is mentioned as
maintainer notes; I'll read it together with any TODO markers.
""",
        """
print(Path("NOTES.md").read_text())
!grep -rn "TODO" .
""",
    ),
    Code(
        """
I will run code.
A standard-library-only CLI with two commands, summary and extremes. NOTES.md is mentioned as
maintainer notes; I'll read it together with the TODO and FIXME markers in the code.
""",
        """
print(Path("NOTES.md").read_text())
!grep -rn "TODO\\|FIXME" src tests || echo "no markers in the code"
""",
        expect=("Station B", "no markers in the code"),
    ),
    Code(
        """
The open work lives in NOTES.md, not in the code. To see whether the tool works, I'll run both
commands on the sample data, the way the README says (from src/, so the package imports).
""",
        """
!cd src && python -m weatherlog summary ../data/station_a.csv
!cd src && python -m weatherlog extremes ../data/station_b.csv
""",
        expect=("2024-05-07", "windiest"),
    ),
    Retried(
        """
Both commands work. Last check: the tests, run from inside the tests folder.
""",
        """
!cd tests && python -m pytest -q
""",
    ),
    Code(
        """
I will run code.
Both commands work. Last check: the tests. They open data files by relative path, so they
have to run from the project root with src on the path; I'll turn pytest's cache off so
nothing is left behind in the folder.
""",
        """
!PYTHONPATH=src python -m pytest -q --color=no -p no:cacheprovider tests
""",
        expect=("4 passed",),
    ),
    Answer(
        """
I have the purpose, layout, state and open items. Time to summarise.
""",
        """
**weatherlog** (v0.3.1) is a small command-line tool, standard library only, that reads the
CSV exports of two rooftop weather stations (a reading every 3 hours: temperature, humidity,
wind) and prints either a per-day summary (min/max/mean temperature, max wind) or the extremes
of a file (coldest, warmest, windiest reading).

How it is organised:
- `src/weatherlog/readings.py`: parses an export into `Reading` objects (blank humidity becomes
  `None`);
- `src/weatherlog/stats.py`: the daily summary and the extremes;
- `src/weatherlog/cli.py`: the `summary` / `extremes` commands; `__main__.py` makes
  `python -m weatherlog` work;
- `data/`: two days of sample exports, one per station; `tests/`: 4 pytest tests.

Does it work? Yes: both commands run cleanly on the sample data and all 4 tests pass (run from
the project root with `PYTHONPATH=src`, because the tests open `data/...` relative paths).

Things to know, from `NOTES.md` (there are no TODOs in the code itself):
- station B leaves humidity empty when its battery is low;
- station A moved roofs on 2024-03-02, so older exports are not comparable;
- open TODOs: `extremes` should name the station, and the tool should merge several files.
""",
    ),
)
