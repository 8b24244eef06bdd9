"""Build the example sessions in `data/sessions/`: every cell really runs in a Jupyter kernel.

Run from anywhere:

    .venv/bin/python data/make_sessions.py            # rewrite every session file
    .venv/bin/python data/make_sessions.py sales-analysis shell-logs   # only these

Each session is written here by hand (the user's messages, the assistant's thoughts, code and
answers) and built through `core.session.Session` on a temporary store. The script prepares a
temporary home folder with the files the sessions look at (deterministic content, fixed seeds,
fixed file times), starts one fresh kernel per session with its working directory inside that
home, runs every accepted turn's code and stores the kernel's real `Result`. Then it exports each
session with `core.xml_write.session_to_xml` to `data/sessions/<name>.xml`.

The kernel's `HOME` is the prepared folder, so IPython prints paths in tracebacks as `~/...` and
no temporary path shows up in an output. Each step may name text its output must contain: the
thoughts were written against these outputs, and the script stops if the outputs ever change.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.events import Event, Result, Turn, UserMessage  # noqa: E402
from core.kernel import KernelConfig, KernelRunner  # noqa: E402
from core.session import Session  # noqa: E402
from core.store import Store  # noqa: E402
from core.xml_write import session_to_xml  # noqa: E402

OUT_DIR = ROOT / "data" / "sessions"
MODEL_LABEL = "hand-written example (data/make_sessions.py)"
FILE_TIME = datetime(2024, 6, 14, 9, 30, tzinfo=UTC).timestamp()
"""Every prepared file gets this modification time, so listings do not depend on the day."""


class OutputMismatch(RuntimeError):
    """A cell's real output no longer says what the hand-written thoughts rely on."""


_BLOCK_START = re.compile(r"(- |\d+\. |\||#)")


def prose(text: str) -> str:
    """Prose as a model writes it: the line wrapping of this file undone.

    Lines of a paragraph are joined; blank lines, list items, table rows, headings and fenced
    code blocks stay as they are (a list item's indented continuation joins the item).
    """
    out: list[str] = []
    fenced = False
    for line in text.strip("\n").split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            out.append(line)
            continue
        previous = out[-1].strip() if out else ""
        joinable = previous and not previous.startswith(("```", "|", "#"))
        if fenced or not stripped or _BLOCK_START.match(stripped) or not joinable:
            out.append(line)
        else:
            out[-1] = out[-1].rstrip() + " " + stripped
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Building a session


@dataclass
class Builder:
    """One session being written: appends events and runs accepted code in its kernel."""

    session: Session
    runner: KernelRunner
    name: str
    strict: bool = True
    """Stop when an output lacks what the thoughts rely on (off: only report it)."""
    log: list[str] = field(default_factory=list)

    def user(self, text: str) -> Event:
        return self.session.append(UserMessage(text))

    def propose(self, thought: str, code: str, parent: str | None = None) -> Event:
        """A turn with code that is not run (yet): judged, edited or retried later."""
        turn = Turn(prose(thought), code=code.strip("\n"))
        if parent is None:
            return self.session.append(turn)
        return self.session.append(turn, parent=parent)

    async def run(self, turn: Event, expect: tuple[str, ...] = (), status: str = "ok") -> Result:
        """Accept `turn`, run its code in the kernel, store the real result under it."""
        self.session.judge(turn.id, "accepted")
        result = await self.runner.execute(turn.body.code)
        self.session.append(result, parent=turn.id)
        self.check(turn.body.code, result, expect, status)
        return result

    async def step(
        self, thought: str, code: str, expect: tuple[str, ...] = (), status: str = "ok"
    ) -> Result:
        """The usual turn: propose code, the user accepts it, it runs."""
        return await self.run(self.propose(thought, code), expect, status)

    def reject(self, turn: Event, reason: str) -> None:
        self.session.judge(turn.id, "rejected", reason)

    def retry(self, turn: Event, thought: str, code: str) -> Event:
        """A new turn under the same parent as `turn`, which stays as it was."""
        return self.propose(thought, code, parent=turn.parent_id)

    def edit(self, turn: Event, thought: str, code: str) -> Event:
        """The user's edit of `turn`: a sibling that names it as its source."""
        edited = Turn(prose(thought), code=code.strip("\n"), origin="edited", source=turn.id)
        return self.session.append(edited, parent=turn.parent_id)

    def answer(self, thought: str, text: str) -> Event:
        return self.session.append(Turn(prose(thought), answer=prose(text)))

    def check(self, code: str, result: Result, expect: tuple[str, ...], status: str) -> None:
        shown = result.output.replace("\r\n", "\n")
        if result.error:
            shown += f"\n{result.error.get('name')}: {result.error.get('value')}"
        self.log.append(f"--- {self.name} [{result.status}]\n{code}\n>>>\n{shown}")
        problems = []
        if result.status != status:
            problems.append(f"status {result.status!r}, expected {status!r}")
        problems += [f"missing {text!r}" for text in expect if text not in shown]
        if result.truncated:
            problems.append(f"{result.truncated} characters were cut")
        if problems and not self.strict:
            self.log.append(f"!!! {'; '.join(problems)}")
        elif problems:
            raise OutputMismatch(
                f"{self.name}: {'; '.join(problems)}\ncode:\n{code}\noutput:\n{shown}"
            )


# ---------------------------------------------------------------------------------------------
# The files the sessions work on


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def freeze_times(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        os.utime(path, (FILE_TIME, FILE_TIME))
    os.utime(folder, (FILE_TIME, FILE_TIME))


SALES_SEED = 20


def prepare_sales(folder: Path) -> None:
    """Orders of a small coffee-gear shop, Jan to Jun 2024: South grows, West stops selling
    grinders from May (the orders simply do not happen)."""
    rng = random.Random(SALES_SEED)
    prices = {"grinder": 89.0, "kettle": 45.0, "dripper": 22.5, "scale": 31.0}
    weights = {"grinder": 4, "kettle": 4, "dripper": 6, "scale": 3}
    regions = {"North": 18, "South": 14, "East": 19, "West": 20}
    rows = []
    for month in range(1, 7):
        for region, per_month in regions.items():
            orders = per_month + (2 * month if region == "South" else 0)
            for _ in range(orders):
                product = rng.choices(list(weights), weights=list(weights.values()))[0]
                day = rng.randint(1, 28)
                units = rng.randint(1, 4)
                if region == "West" and product == "grinder" and month >= 5:
                    continue
                rows.append((date(2024, month, day), region, product, units, prices[product]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    blanks = set(rng.sample(range(len(rows)), 3))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["order_id", "date", "region", "product", "units", "unit_price"])
    for i, (day, region, product, units, price) in enumerate(rows):
        writer.writerow(
            [f"A{1001 + i}", day.isoformat(), region, product, units, "" if i in blanks else price]
        )
    write(folder / "sales.csv", out.getvalue())


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


def prepare_weatherlog(folder: Path) -> None:
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


INVOICE_REPORT = '''\
"""Each customer's total spend and average order value, from orders.csv."""

import csv
from collections import defaultdict


def load_orders(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def totals_by_customer(orders):
    totals = defaultdict(float)
    counts = defaultdict(int)
    for row in orders:
        amount = int(row["qty"]) * float(row["unit_price"])
        totals[row["customer"]] += amount
        counts[row["customer"]] += 1
    return {name: (totals[name], totals[name] / counts[name]) for name in totals}


def main():
    orders = load_orders("orders.csv")
    for name, (total, average) in sorted(totals_by_customer(orders).items()):
        print(f"{name:<10} total {total:8.2f}   average order {average:7.2f}")


if __name__ == "__main__":
    main()
'''

INVOICE_ORDERS = """\
order_id,customer,qty,unit_price,status
5001,Halvorsen,3,12.50,shipped
5002,Okafor,1,249.00,shipped
5003,Marchetti,10,4.20,shipped
5004,Halvorsen,2,12.50,shipped
5005,Nakamura,4,18.75,shipped
5006,Okafor,2,35.00,cancelled
5007,Marchetti,5,4.20,shipped
5008,Nakamura,,18.75,cancelled
5009,Halvorsen,1,99.00,shipped
5010,Okafor,3,35.00,shipped
5011,Nakamura,2,60.00,shipped
5012,Marchetti,8,4.20,pending
"""


def prepare_invoices(folder: Path) -> None:
    write(folder / "report.py", INVOICE_REPORT)
    write(folder / "orders.csv", INVOICE_ORDERS)


CITY_TEMPS = """\
month,Oslo,Lisbon,Toronto
Jan,-2.9,11.5,-5.5
Feb,-3.0,12.6,-4.6
Mar,0.2,14.6,-0.2
Apr,4.9,15.8,7.0
May,10.7,18.1,13.1
Jun,15.0,21.3,18.5
Jul,16.4,23.1,21.5
Aug,15.4,23.5,20.6
Sep,11.0,22.0,16.5
Oct,5.8,18.7,9.6
Nov,1.1,14.8,3.7
Dec,-2.0,12.3,-2.2
"""


def prepare_temps(folder: Path) -> None:
    write(folder / "city_temps.csv", CITY_TEMPS)


def _log_lines(rng: random.Random, day: date, count: int, incident: bool) -> list[str]:
    """A day of access lines; with `incident`, payments times out from 14:05 to 14:40, users
    retry their checkouts, and the retries after 14:40 go through."""
    endpoints = [
        ("GET", "/api/products", 0.40),
        ("GET", "/api/orders", 0.22),
        ("POST", "/api/cart", 0.18),
        ("POST", "/api/checkout", 0.12),
        ("POST", "/api/login", 0.08),
    ]
    window = (14 * 3600 + 5 * 60, 14 * 3600 + 40 * 60)
    requests = [
        (second, *rng.choices(endpoints, weights=[e[2] for e in endpoints])[0][:2])
        for second in rng.sample(range(8 * 3600, 20 * 3600), count)
    ]
    if incident:
        requests += [(rng.randrange(*window), "POST", "/api/checkout") for _ in range(34)]
        after = (window[1], window[1] + 15 * 60)  # the retries that get through once it is over
        requests += [(rng.randrange(*after), "POST", "/api/checkout") for _ in range(6)]
    lines = []
    for second, method, path in sorted(requests):
        at = datetime(day.year, day.month, day.day) + timedelta(seconds=second)
        in_window = incident and window[0] <= second < window[1]
        ok = 201 if method == "POST" else 200
        if path == "/api/checkout" and in_window and rng.random() < 0.85:
            ms = rng.randint(5000, 5100)
            line = f"ERROR {method} {path} 504 {ms}ms upstream timeout (payments)"
        elif rng.random() < 0.012:
            line = f"ERROR {method} {path} 500 {rng.randint(20, 90)}ms unhandled exception"
        elif rng.random() < 0.03:
            line = f"WARN  {method} {path} {ok} {rng.randint(1200, 2500)}ms slow response"
        else:
            line = f"INFO  {method} {path} {ok} {rng.randint(8, 180)}ms"
        lines.append(f"{at:%Y-%m-%d %H:%M:%S} {line}")
    return lines


def prepare_logs(folder: Path) -> None:
    rng = random.Random(604)
    write(
        folder / "app.log.1",
        "\n".join(_log_lines(rng, date(2024, 6, 12), 260, incident=False)) + "\n",
    )
    write(
        folder / "app.log",
        "\n".join(_log_lines(rng, date(2024, 6, 13), 420, incident=True)) + "\n",
    )
    write(
        folder / "README.txt",
        "Logs copied from web-01 on 2024-06-14. app.log is 2024-06-13, app.log.1 the day before.\n",
    )


CONTACTS = """\
name,email,phone,signed_up,plan
Ada Brennan,ada.brennan@example.org,555-0101,2023-02-11,free
Tomás Ruiz,tomas.ruiz@example.com,555-0102,2023-03-05,pro
Mei Lin,Mei.Lin@Example.com,555-0103,2023-03-19,free
Jonas Weber,jonas@weber.example,555-0104,2023-04-02,pro
Ada Brennan,ADA.BRENNAN@example.org ,555-0101,2024-01-08,pro
Priya Nair,priya.nair@example.net,555-0105,2023-05-27,team
Samuel Osei,sam.osei@example.com,555-0106,2023-06-30,free
Mei Lin,mei.lin@example.com,555-0199,2024-02-14,team
Lucía Gómez,lucia.gomez@example.es,555-0107,2023-08-09,free
Jonas Weber, jonas@weber.example,555-0104,2023-04-02,pro
Hannah Kim,hannah.kim@example.com,555-0108,2023-09-21,pro
Oskar Lund,oskar.lund@example.se,555-0109,2023-10-15,free
Priya Nair,Priya.Nair@example.net,555-0105,2023-11-03,free
Farah Haddad,farah.h@example.com,555-0110,2023-12-01,team
"""


def prepare_contacts(folder: Path) -> None:
    write(folder / "contacts.csv", CONTACTS)


STAGING_CONFIG = {
    "service": {"name": "orders-api", "port": 8080, "workers": 4, "log_level": "debug"},
    "database": {"host": "db.staging.internal", "pool_size": 10, "timeout_s": 30},
    "cache": {"enabled": True, "ttl_s": 300},
    "payments": {"provider": "sandbox", "retry": {"attempts": 3, "backoff_ms": 200}},
    "features": {"new_checkout": True, "bulk_export": False},
}

PROD_CONFIG = {
    "database": {"timeout_s": 5, "host": "db.prod.internal", "pool_size": 10},
    "service": {"workers": 16, "name": "orders-api", "log_level": "info", "port": 8080},
    "payments": {"retry": {"backoff_ms": 200, "attempts": 0}, "provider": "live"},
    "features": {"bulk_export": False, "new_checkout": True},
    "cache": {"ttl_s": 300, "enabled": True},
    "rate_limit": {"per_minute": 600},
}


def prepare_configs(folder: Path) -> None:
    """The same settings in a different order, a few values changed, one section added."""
    write(folder / "config/staging.json", json.dumps(STAGING_CONFIG, indent=2) + "\n")
    write(folder / "config/prod.json", json.dumps(PROD_CONFIG, indent=2) + "\n")


def prepare_archive(folder: Path) -> None:
    """Files of deterministic sizes: what matters here is how big they are, not what they hold."""
    rng = random.Random(31)
    plan = [
        ("photos/2019", ".jpg", 14, (180_000, 420_000)),
        ("photos/2020", ".jpg", 18, (200_000, 460_000)),
        ("photos/2020/raw", ".cr2", 4, (1_100_000, 1_500_000)),
        ("videos", ".mp4", 3, (900_000, 2_600_000)),
        ("scans", ".pdf", 6, (60_000, 240_000)),
        ("notes", ".txt", 5, (300, 4_000)),
    ]
    for sub, ext, count, (low, high) in plan:
        for i in range(1, count + 1):
            stem = {"videos": "clip", "scans": "scan", "notes": "note"}.get(sub, "IMG")
            name = f"{stem}_{rng.randint(1000, 9999)}{ext}" if stem == "IMG" else f"{stem}{i}{ext}"
            path = folder / sub / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(rng.randint(low, high)))
    (folder / "photos/2019/.DS_Store").write_bytes(b"\0" * 6148)


# ---------------------------------------------------------------------------------------------
# The sessions


async def sales_analysis(b: Builder) -> None:
    b.user(
        "sales.csv has our orders for the first half of 2024. Which regions and products bring "
        "in the revenue, and is anything going wrong anywhere?"
    )
    await b.step(
        """
First a look at the file: size, columns, types, and a few rows.
""",
        """
import pandas as pd

sales = pd.read_csv("sales.csv", parse_dates=["date"])
print(sales.shape)
print(sales.dtypes)
sales.head()
""",
        expect=("(462, 6)", "datetime64"),
    )
    await b.step(
        """
462 orders, six columns, dates parsed. Before computing revenue I should check for missing
values: a blank price would silently drop out of a sum.
""",
        """
print(sales.isna().sum())
sales[sales["unit_price"].isna()]
""",
        expect=("unit_price    3", "A1136"),
    )
    await b.step(
        """
Three grinder orders have no unit price. If each product has a single list price, I can fill
the blanks from it instead of dropping the orders. Checking that, then computing revenue.
""",
        """
print(sales.groupby("product")["unit_price"].agg(["min", "max", "nunique"]))
list_price = sales.groupby("product")["unit_price"].first()
sales["unit_price"] = sales["unit_price"].fillna(sales["product"].map(list_price))
sales["revenue"] = sales["units"] * sales["unit_price"]
print("missing prices left:", sales["unit_price"].isna().sum())
print("total revenue:", sales["revenue"].sum())
""",
        expect=("missing prices left: 0", "total revenue: 51094.0", "grinder  89.0  89.0        1"),
    )
    await b.step(
        """
One price per product, so the fill is safe; total revenue is 51,094. Now revenue by region and
by product, with each one's share of the total.
""",
        """
def summary(column):
    table = sales.groupby(column)["revenue"].sum().sort_values(ascending=False).to_frame()
    table["share_%"] = (100 * table["revenue"] / table["revenue"].sum()).round(1)
    return table

print(summary("region"))
print()
print(summary("product"))
""",
        expect=("West    13929.5     27.3", "grinder  25098.0     49.1"),
    )
    await b.step(
        """
Grinders bring in about half the revenue. The regions are close: West leads with 27%, North
trails with 22%. Totals hide trends, so next a month by region pivot to see who is growing or
shrinking.
""",
        """
sales["month"] = sales["date"].dt.to_period("M")
by_month = sales.pivot_table(
    index="month", columns="region", values="revenue", aggfunc="sum"
).round(0)
by_month
""",
        expect=(
            "2024-01  2092.0  2104.0  1110.0  3142.0",
            "2024-06  2262.0  1638.0  2685.0  1095.0",
        ),
    )
    await b.step(
        """
Two things stand out. South grows from 1,110 in January to 3,140 in May. West was the top region
every month from January to April, then fell to 1,460 in May and 1,095 in June. I'll break West
down by product to find where the drop comes from.
""",
        """
west = sales[sales["region"] == "West"]
print(west.pivot_table(
    index="month", columns="product", values="units", aggfunc="sum", fill_value=0
))
grinders = west[west["product"] == "grinder"].groupby("month")["revenue"].sum()
print(grinders)
print("average per month while it sold:", grinders.mean())
""",
        expect=("2024-05       14        0", "2024-06       16        0", "sold: 1824.5"),
    )
    b.answer(
        """
West sold no grinders at all in May and June after about 20 a month, while its other products
held up. That matches the size of its drop. I have everything I need to answer.
""",
        """
Over January to June 2024: 462 orders, **51,094** in revenue. Three grinder orders had a blank
unit price; every product has a single list price, so I filled them from it.

**Products:** grinders bring in **49%** of revenue (89 each), then kettles (23%), drippers (17%)
and scales (11%).

**Regions** are fairly even: West 27%, East 26%, South 25%, North 22%.

**What is going on:**
- **South is growing fast**: monthly revenue went from 1,110 in January to 3,140 in May (2,685
  in June).
- **West has a problem.** It was the top region every month through April (2,500 to 3,100 a
  month), then fell to 1,460 in May and 1,095 in June. The cause is a single product: West sold
  **zero grinders in May and June**, after 19 to 23 a month before, while kettles, drippers and
  scales together sold as many units as in earlier months. West's grinder revenue averaged
  about 1,800 a month, so roughly 3,600 was lost over the two months.

Because it is one product in one region, and it stopped completely, this looks like a stock,
listing or pricing problem in West rather than falling demand. I'd check West's grinder
inventory and shop page from the start of May.
""",
    )


async def explore_project(b: Builder) -> None:
    b.user(
        "I've inherited the weatherlog folder from a colleague who left. What is it, how is it "
        "organised, and does it work?"
    )
    await b.step(
        """
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
    )
    await b.step(
        """
A small Python package under src/ with tests and two sample data files. The README and
pyproject.toml should say what it is meant to do.
""",
        """
print(Path("README.md").read_text())
print(Path("pyproject.toml").read_text())
""",
        expect=("weatherlog", "dependencies = []"),
    )
    await b.step(
        """
A standard-library-only CLI with two commands, summary and extremes. NOTES.md is mentioned as
maintainer notes; I'll read it together with the TODO and FIXME markers in the code.
""",
        """
print(Path("NOTES.md").read_text())
!grep -rn "TODO\\|FIXME" src tests || echo "no markers in the code"
""",
        expect=("Station B", "no markers in the code"),
    )
    await b.step(
        """
The open work lives in NOTES.md, not in the code. To see whether the tool works, I'll run both
commands on the sample data, the way the README says (from src/, so the package imports).
""",
        """
!cd src && python -m weatherlog summary ../data/station_a.csv
!cd src && python -m weatherlog extremes ../data/station_b.csv
""",
        expect=("2024-05-07", "windiest"),
    )
    await b.step(
        """
Both commands work. Last check: the tests. They open data files by relative path, so they
have to run from the project root with src on the path; I'll turn pytest's cache off so
nothing is left behind in the folder.
""",
        """
!PYTHONPATH=src python -m pytest -q --color=no -p no:cacheprovider tests
""",
        expect=("4 passed",),
    )
    b.answer(
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
    )


async def debug_traceback(b: Builder) -> None:
    b.user("report.py in this folder crashes when I run it. Can you find out why and fix it?")
    await b.step(
        """
Run it first to see the actual error.
""",
        """
%run report.py
""",
        expect=("ValueError: invalid literal for int() with base 10: ''",),
        status="error",
    )
    await b.step(
        """
`int(row["qty"])` got an empty string, so some row of orders.csv has a blank qty. Let me find
it and see what else is in the status column.
""",
        """
import csv
from collections import Counter

with open("orders.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))

print(Counter(row["status"] for row in rows))
for row in rows:
    if not row["qty"].strip() or row["status"] != "shipped":
        print(row)
""",
        expect=("'qty': ''", "cancelled", "pending"),
    )
    await b.step(
        """
The blank qty is order 5008, which was cancelled. Treating the blank as 0 would stop the crash
but still count the order in the customer's average. Order 5006 is cancelled too and has a qty,
so the script also counts a cancelled order as spend today. Cancelled orders should be skipped
entirely; pending ones are real orders and stay. Let me look at the loop before patching.
""",
        """
!grep -n "for row in orders" -A 5 report.py
""",
        expect=('int(row["qty"])',),
    )
    await b.step(
        """
I'll skip cancelled rows at the top of the loop, checking that the line I replace is there
exactly once, and show the diff.
""",
        """
import difflib
from pathlib import Path

path = Path("report.py")
before = path.read_text()
old = '    for row in orders:\\n'
new = '    for row in orders:\\n        if row["status"] == "cancelled":\\n            continue\\n'
assert before.count(old) == 1
after = before.replace(old, new)
path.write_text(after)
print("".join(difflib.unified_diff(
    before.splitlines(keepends=True), after.splitlines(keepends=True), "a/report.py", "b/report.py"
)))
""",
        expect=('+        if row["status"] == "cancelled":',),
    )
    await b.step(
        """
Now rerun the script.
""",
        """
%run report.py
""",
        expect=("Nakamura", "Okafor"),
    )
    await b.step(
        """
It runs. To be sure the numbers are right, I'll recompute Okafor by hand: orders 5002
(1 × 249.00) and 5010 (3 × 35.00), without the cancelled 5006.
""",
        """
total = 1 * 249.00 + 3 * 35.00
print(f"{total:.2f} {total / 2:.2f}")
""",
        expect=("354.00 177.00",),
    )
    b.answer(
        """
The numbers match the script's output. Time to explain the cause and the fix.
""",
        """
**Cause:** order 5008 in `orders.csv` is cancelled and has an empty `qty`, and
`totals_by_customer` calls `int(row["qty"])` on every row, so `int('')` raised
`ValueError: invalid literal for int() with base 10: ''`.

There was a second, quieter bug behind it: cancelled orders were counted as spend. Order 5006
(Okafor, cancelled, 2 × 35.00) has a quantity, so it never crashed but inflated Okafor's total
and lowered the average.

**Fix** (in `report.py`): the loop now skips cancelled orders:

```python
for row in orders:
    if row["status"] == "cancelled":
        continue
```

The script now runs; Okafor shows 354.00 total over 2 orders (average 177.00), which I checked
by hand. Pending orders (5012) are still counted; tell me if they should be left out too.
""",
    )


async def http_api(b: Builder) -> None:
    b.user(
        "Our inventory service is down today and I want to test my client code. Can you run a "
        "tiny local fake of it (GET /items and GET /items/<id>, JSON, 404 for unknown ids) and "
        "show a client that handles the 404 properly?"
    )
    await b.step(
        """
I'll write the fake with http.server: a handler that answers JSON, served by a
ThreadingHTTPServer on 127.0.0.1 in a daemon thread so the kernel stays usable. Port 0 lets
the OS pick a free port. The request log goes nowhere, so it does not spill into later cells.
""",
        """
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = {
    1: {"id": 1, "name": "hex bolt M6", "stock": 240},
    2: {"id": 2, "name": "washer 6 mm", "stock": 1150},
    3: {"id": 3, "name": "wing nut M6", "stock": 0},
}


class InventoryHandler(BaseHTTPRequestHandler):
    def send_json(self, status, payload):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        item = None
        if len(parts) == 2 and parts[0] == "items" and parts[1].isdigit():
            item = ITEMS.get(int(parts[1]))
        if parts == ["items"]:
            self.send_json(200, {"items": list(ITEMS.values())})
        elif item is not None:
            self.send_json(200, item)
        else:
            self.send_json(404, {"error": "not found", "path": self.path})

    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), InventoryHandler)
thread = threading.Thread(target=server.serve_forever, daemon=True)
thread.start()
BASE = f"http://127.0.0.1:{server.server_port}"
print("serving:", thread.is_alive())
""",
        expect=("serving: True",),
    )
    await b.step(
        """
It is up. First request: the list, checking the status and content type as well as the body.
""",
        """
from urllib.request import urlopen

with urlopen(f"{BASE}/items", timeout=5) as response:
    print(response.status, response.headers["Content-Type"])
    data = json.load(response)

for item in data["items"]:
    print(item)
""",
        expect=("200 application/json", "wing nut M6"),
    )
    await b.step(
        """
The list works. Now one existing item and one missing one. urlopen raises HTTPError for a 404,
and the error object can still be read as the response body.
""",
        """
from urllib.error import HTTPError

with urlopen(f"{BASE}/items/3", timeout=5) as response:
    print(response.status, json.load(response))

try:
    urlopen(f"{BASE}/items/42", timeout=5)
except HTTPError as error:
    print(error.code, error.reason, json.load(error))
""",
        expect=("200 {'id': 3", "404 Not Found {'error': 'not found', 'path': '/items/42'}"),
    )
    await b.step(
        """
Both behave as specified. A client function should turn a 404 into None (a missing item is an
expected answer) and let any other HTTP error raise, since that is a real failure. Checking it
on an item in stock, one out of stock, and a missing one.
""",
        """
def get_item(item_id, base=BASE):
    \"\"\"The item as a dict, or None when the service has no such item.\"\"\"
    try:
        with urlopen(f"{base}/items/{item_id}", timeout=5) as response:
            return json.load(response)
    except HTTPError as error:
        if error.code == 404:
            return None
        raise


for item_id in (1, 3, 42):
    item = get_item(item_id)
    if item is None:
        print(item_id, "-> no such item")
    else:
        print(item_id, "->", item["name"], "in stock" if item["stock"] else "OUT OF STOCK")
""",
        expect=("42 -> no such item", "3 -> wing nut M6 OUT OF STOCK"),
    )
    await b.step(
        """
The client handles all three cases. Now I'll shut the fake server down so it does not keep the
port, and check the thread has ended.
""",
        """
server.shutdown()
server.server_close()
thread.join(timeout=5)
print("serving:", thread.is_alive())
""",
        expect=("serving: False",),
    )
    b.answer(
        """
Done: the fake served, the client was tested, and the server is stopped. I'll explain how to
reuse it.
""",
        """
I ran a small fake of the inventory API on `127.0.0.1` (a free port picked by the OS), built on
`http.server.ThreadingHTTPServer` in a background thread:

- `GET /items` → `200` with `{"items": [...]}` (three sample items);
- `GET /items/<id>` → `200` with the item, or `404` with `{"error": "not found", "path": ...}`.

The client that handles the 404:

```python
def get_item(item_id, base=BASE):
    try:
        with urlopen(f"{base}/items/{item_id}", timeout=5) as response:
            return json.load(response)
    except HTTPError as error:
        if error.code == 404:
            return None      # a missing item is an answer, not a failure
        raise                # 500s and the like are real errors
```

Tested: id 1 → hex bolt M6, id 3 → wing nut M6 (out of stock), id 42 → `None`. Note that
`urlopen` raises `HTTPError` for any 4xx/5xx, and the error can still be read as JSON
(`json.load(error)`), which is useful for logging the service's message. The server is shut
down now; rerun the first cell to start it again.
""",
    )


async def plot_chart(b: Builder) -> None:
    b.user(
        "Make a line chart of the monthly averages in city_temps.csv, one line per city, saved "
        "as city_temps.png. It's for a slide, so keep it clean."
    )
    await b.step(
        """
A quick look at the data first: the columns, and the range of values for the y axis.
""",
        """
import pandas as pd

temps = pd.read_csv("city_temps.csv")
print(temps.head(3))
temps.describe().loc[["min", "max"]]
""",
        expect=("Lisbon", "23.5"),
    )
    await b.step(
        """
Twelve months, three cities, from about -6 to 24 °C. I'll use the Agg backend (file output,
no window), draw one line per city with markers, add a zero line since two cities go below
freezing, drop the top and right spines, and save at a resolution suitable for a slide.
""",
        """
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
for city in ["Lisbon", "Toronto", "Oslo"]:
    ax.plot(temps["month"], temps[city], marker="o", linewidth=2, label=city)
ax.axhline(0, color="grey", linewidth=0.8)
ax.set_title("Average monthly temperature")
ax.set_ylabel("°C")
ax.spines[["top", "right"]].set_visible(False)
ax.legend(frameon=False)
fig.tight_layout()
fig.savefig("city_temps.png")
plt.close(fig)

from pathlib import Path

print(Path("city_temps.png").stat().st_size > 10_000)
""",
        expect=("True",),
    )
    await b.step(
        """
The file is written. I'll check its pixel size and display it to see how it looks.
""",
        """
from IPython.display import Image

image = plt.imread("city_temps.png")
print(image.shape)
Image(filename="city_temps.png")
""",
        expect=("(540, 960, 4)", "image/png"),
    )
    b.answer(
        """
The PNG is 960×540 (16:9, so it fits a slide) and displays fine. Done.
""",
        """
Saved `city_temps.png` (960 × 540 px, 16:9 so it fills a slide). One line per city with month
markers, a thin zero line (Oslo and Toronto go below freezing in winter), no top or right
border and a frameless legend.

What it shows: Lisbon stays mild all year (11.5 to 23.5 °C); Toronto has the widest swing
(-5.5 °C in January to 21.5 °C in July); Oslo is the coldest in summer. If you want a
transparent background for a dark slide, save with `fig.savefig(..., transparent=True)`.
""",
    )


async def shell_logs(b: Builder) -> None:
    b.user(
        "These are yesterday's logs from web-01. Users complained that checkout failed in the "
        "afternoon. How many errors were there, and what happened?"
    )
    await b.step(
        """
Shell tools fit here. First what is in the folder and how long each file is.
""",
        """
!ls
!cat README.txt
!wc -l app.log app.log.1
""",
        expect=("460 app.log", "260 app.log.1"),
    )
    await b.step(
        """
app.log is yesterday (2024-06-13), app.log.1 the day before. I'll look at the line format and
count the errors in both days for comparison.
""",
        """
!head -n 3 app.log
!grep -c " ERROR " app.log
!grep -c " ERROR " app.log.1
""",
        expect=("INFO  GET /api/products", "\n35\n1\n"),
    )
    await b.step(
        """
35 errors yesterday against 1 the day before. The fields are date, time, level, method, path and
status, so I'll count the errors by endpoint and status.
""",
        """
!grep " ERROR " app.log | awk '{print $4, $5, $6}' | sort | uniq -c | sort -rn
""",
        expect=("30 POST /api/checkout 504", "3 GET /api/products 500"),
    )
    await b.step(
        """
30 of the 35 are 504s on POST /api/checkout. Next, when they happened and what they say. The
first 15 characters of a line give the timestamp to the ten minutes.
""",
        """
!grep " ERROR POST /api/checkout 504" app.log | cut -c 1-15 | uniq -c
!grep " ERROR POST /api/checkout 504" app.log | sed -n '1p;$p'
!grep " ERROR POST /api/checkout 504" app.log | grep -o "upstream.*" | sort | uniq -c
""",
        expect=("14:05:48", "14:38:51", "30 upstream timeout (payments)"),
    )
    await b.step(
        """
Every one is an upstream timeout to payments after about 5 s, from 14:05:48 to 14:38:51. To
see whether checkout recovered, I'll tally every checkout request from 14:00 to 15:59 by
ten-minute slot and status.
""",
        """
!grep " 1[45]:.*POST /api/checkout" app.log | awk '{print substr($2,1,4) "0", $6}' | sort | uniq -c
""",
        expect=("5 14:40 201", "14 14:10 504"),
    )
    b.answer(
        """
In the window 30 of 34 checkout attempts failed; from 14:40 they succeed again. The other
errors are a few scattered 500s. I'll write it up.
""",
        """
Checkout broke on the afternoon of 2024-06-13, and the cause was the payments service, not the
web app itself:

- **35 errors** yesterday, against 1 the day before (`app.log.1`).
- **30 of them** are `504` on `POST /api/checkout`, each logged as `upstream timeout (payments)`
  after about 5 s (the gateway's timeout), all between **14:05:48 and 14:38:51**. In that half
  hour 30 of 34 checkout attempts failed; there were far more attempts than usual, which looks
  like users retrying.
- From 14:40 checkouts go through again (5 in the next ten minutes), so it was a ~35-minute
  outage, not a lasting fault.
- The other 5 errors are scattered `500 unhandled exception`s (3 on `/api/products`, 1 on
  `/api/cart`, 1 on checkout), unrelated to the outage but worth a look separately.

Next steps: check the payments provider's status page or its logs for 14:05 to 14:40 UTC. It
would also help to fail faster there, with a clear "payment service unavailable" message,
rather than making users wait 5 s and then retry into the same outage.
""",
    )


async def interjection(b: Builder) -> None:
    b.user(
        "contacts.csv has the same people in it more than once. Normalise the email addresses "
        "and remove the duplicates."
    )
    await b.step(
        """
I'll load the file as strings, so nothing gets reinterpreted, and look at it.
""",
        """
import pandas as pd

contacts = pd.read_csv("contacts.csv", dtype=str)
print(contacts.shape)
contacts[["name", "email", "signed_up", "plan"]]
""",
        expect=("(14, 5)",),
    )
    await b.step(
        """
Some emails differ only in case (Mei.Lin@Example.com and mei.lin@example.com), and there may
be stray spaces too. I'll normalise them (strip, lower-case) and list the groups that share an
address. The plan after that: keep the first row of each group and save back to contacts.csv.
""",
        """
print("distinct emails as written:", contacts["email"].nunique())
contacts["email"] = contacts["email"].str.strip().str.lower()
print("distinct after normalising:", contacts["email"].nunique(), "in", len(contacts), "rows")
dupes = contacts[contacts.duplicated("email", keep=False)].sort_values(["email", "signed_up"])
dupes[["name", "email", "phone", "signed_up", "plan"]]
""",
        expect=("as written: 14", "after normalising: 10 in 14 rows"),
    )
    b.user(
        "Hold on: don't overwrite contacts.csv, other scripts read it. And don't keep the first "
        "row: for each email keep the most recent signup (latest signed_up), since that has the "
        "current plan. Write the result to contacts_clean.csv."
    )
    await b.step(
        """
Change of plan: keep the latest signup per email, and write to a new file. The dates are
ISO strings, so sorting them as text sorts them by date. I'll sort by signed_up, keep the last
row per email, then restore the original order and show what was kept for the duplicated
addresses.
""",
        """
latest = (
    contacts.sort_values("signed_up", kind="stable")
    .drop_duplicates("email", keep="last")
    .sort_index()
)
print(len(latest), "rows kept")
latest[latest["email"].isin(dupes["email"])][["name", "email", "phone", "signed_up", "plan"]]
""",
        expect=("10 rows kept", "2024-01-08", "2024-02-14"),
    )
    await b.step(
        """
Each kept row is the latest one: Ada is now on pro, Mei on team with her new phone, Priya's
latest is free. Jonas had two identical rows, so either will do. Now I'll write
contacts_clean.csv, read it back to check it, and confirm contacts.csv is untouched.
""",
        """
latest.to_csv("contacts_clean.csv", index=False)

clean = pd.read_csv("contacts_clean.csv", dtype=str)
original = pd.read_csv("contacts.csv", dtype=str)
print("clean:", clean.shape, "unique emails:", clean["email"].is_unique)
print("original still has", len(original), "rows")
!head -n 4 contacts_clean.csv
""",
        expect=("clean: (10, 5) unique emails: True", "original still has 14 rows"),
    )
    b.answer(
        """
Everything is written and checked. I'll summarise, including what normalising changed.
""",
        """
Done, and `contacts.csv` is untouched. The cleaned list is in **`contacts_clean.csv`**:
10 contacts, one per email address (from 14 rows).

- **Emails normalised** (spaces trimmed, lower-cased). That is what exposed the duplicates: as
  written, all 14 addresses were different; normalised, there are 10. For example
  `Mei.Lin@Example.com` and `mei.lin@example.com` are the same person.
- **Duplicates resolved by the latest signup**, as you asked:
  - Ada Brennan: kept 2024-01-08 (plan pro; the 2023 row was free);
  - Mei Lin: kept 2024-02-14 (plan team, phone 555-0199);
  - Priya Nair: kept 2023-11-03 (plan free; the earlier row said team; may be a downgrade
    worth confirming);
  - Jonas Weber: two identical rows, one kept.
- Rows keep their original order; all columns are kept as text, so phone numbers and dates are
  written exactly as they were.
""",
    )


async def retry_and_edit(b: Builder) -> None:
    b.user(
        "My archive folder keeps growing. Which file types take the most space, and what are the "
        "5 biggest files? Human-readable sizes please."
    )
    first = b.propose(
        """
The humanize package formats sizes nicely. I'll install it, then walk the folder.
""",
        """
!pip install humanize
""",
    )
    b.reject(first, "No installs on this machine, it's offline. Plain Python is enough.")
    retry = b.retry(
        first,
        """
I'll use only the standard library: walk the folder with pathlib, keep each file's size, and
write a small helper that formats bytes in KB/MB. Totals first, as a sanity check.
""",
        """
from pathlib import Path

def human(size):
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024

files = [(path, path.stat().st_size) for path in Path(".").rglob("*") if path.is_file()]
print(len(files), "files,", human(sum(size for _, size in files)))
""",
    )
    await b.run(retry, expect=("51 files, 22.1 MB",))
    await b.step(
        """
51 files. Now the totals per extension (lower-cased, so .JPG and .jpg count together), largest
first, with the file count and the share of the total.
""",
        """
from collections import defaultdict

by_type = defaultdict(lambda: [0, 0])
for path, size in files:
    entry = by_type[path.suffix.lower() or path.name]
    entry[0] += 1
    entry[1] += size

total = sum(size for _, size in files)
for ext, (count, size) in sorted(by_type.items(), key=lambda kv: kv[1][1], reverse=True):
    print(f"{ext:<10}{count:>4} files {human(size):>10} {100 * size / total:5.1f} %")
""",
        expect=(
            ".jpg        32 files     9.6 MB  43.5 %",
            ".mp4         3 files     6.4 MB  29.0 %",
        ),
    )
    original = b.propose(
        """
.jpg photos take the most space, then the videos and the raw .cr2 files. For the five biggest
files, sort by size and take the first five.
""",
        """
for path, size in sorted(files, key=lambda item: item[1])[:5]:
    print(f"{human(size):>10}  {path}")
""",
    )
    edited = b.edit(
        original,
        """
.jpg photos take the most space, then the videos and the raw .cr2 files. For the five biggest
files, sort by size from largest down and take the first five.
""",
        """
for path, size in sorted(files, key=lambda item: item[1], reverse=True)[:5]:
    print(f"{human(size):>10}  {path}")
""",
    )
    await b.run(edited, expect=("2.2 MB  videos/clip1.mp4", "1.4 MB  photos/2020/raw/IMG_6755.cr2"))
    b.answer(
        """
I have both answers: space per type and the five biggest files.
""",
        """
Your archive holds 51 files, 22.1 MB in all.

**Space by type:**
| type | files | size | share |
| --- | ---: | ---: | ---: |
| .jpg | 32 | 9.6 MB | 43.5 % |
| .mp4 | 3 | 6.4 MB | 29.0 % |
| .cr2 (raw photos) | 4 | 5.3 MB | 23.9 % |
| .pdf | 6 | 795 KB | 3.5 % |
| .txt | 5 | 12 KB | 0.1 % |

**The five biggest files:**
1. `videos/clip1.mp4`: 2.2 MB
2. `videos/clip3.mp4`: 2.1 MB
3. `videos/clip2.mp4`: 2.1 MB
4. `photos/2020/raw/IMG_7313.cr2`: 1.4 MB
5. `photos/2020/raw/IMG_6755.cr2`: 1.4 MB

The photos take the most space overall, but they are spread over 32 files. The quickest win is
`videos/` and `photos/2020/raw/`: those 7 files hold more than half of the archive (11.7 MB).
There is also a stray `.DS_Store` (macOS folder metadata) in `photos/2019` that you can delete.
""",
    )


async def config_diff(b: Builder) -> None:
    b.user(
        "Orders sometimes fail in prod with payment errors, never in staging. What's different "
        "between config/staging.json and config/prod.json?"
    )
    first = b.propose(
        """
A diff of the two files shows every line that differs.
""",
        """
!diff config/staging.json config/prod.json
""",
    )
    b.reject(
        first,
        "The keys are in a different order in the two files, so a line diff is mostly noise. "
        "Compare the parsed JSON instead.",
    )
    await b.step(
        """
Right: with the keys in a different order, a line diff would flag nearly everything. I'll
parse both files, flatten the nested keys into dotted paths, and print only the paths whose
values differ or that exist in one file only.
""",
        """
import json

def flatten(value, prefix=""):
    if not isinstance(value, dict):
        return {prefix: value}
    flat = {}
    for key, inner in value.items():
        flat.update(flatten(inner, f"{prefix}.{key}" if prefix else key))
    return flat

with open("config/staging.json") as handle:
    staging = flatten(json.load(handle))
with open("config/prod.json") as handle:
    prod = flatten(json.load(handle))

keys = sorted(staging.keys() | prod.keys())
print(f"{'key':<25} {'staging':<21} prod")
for key in keys:
    old, new = staging.get(key, "(missing)"), prod.get(key, "(missing)")
    if old != new:
        print(f"{key:<25} {old!s:<21} {new!s}")
same = sum(staging.get(key) == prod.get(key) for key in keys)
print(f"\\n{len(keys)} keys, {same} identical")
""",
        expect=(
            "payments.retry.attempts   3                     0",
            "database.timeout_s        30                    5",
            "rate_limit.per_minute     (missing)             600",
            "15 keys, 8 identical",
        ),
    )
    b.answer(
        """
Seven keys differ. Host, provider, log level and worker count are the expected differences
between environments. Two are not, and both bear on failing payments.
""",
        """
15 settings in all; 8 are identical and 7 differ. Most differences are what you'd expect
between environments: `database.host`, `payments.provider` (sandbox vs live),
`service.log_level` (debug vs info), `service.workers` (4 vs 16), and a `rate_limit` section
that only prod has (600 per minute).

Two differences stand out for intermittent payment failures in prod:

- **`payments.retry.attempts` is 0 in prod** (3 in staging). Any transient error from the
  payment provider fails the order at once in prod, while staging quietly retries it. This is
  the most likely cause.
- **`database.timeout_s` is 5 in prod** (30 in staging). With 16 workers, slow queries under
  load could hit that limit. It is worth checking whether the failed orders log database
  timeouts too.

I'd set the retry attempts in prod to match staging (3, with the same 200 ms backoff), as long
as payment requests are idempotent (an idempotency key per order) so that a retry never charges
twice.
""",
    )


@dataclass
class Spec:
    name: str
    title: str
    folder: str
    prepare: Callable[[Path], None]
    build: Callable[[Builder], Awaitable[None]]


SESSIONS = [
    Spec(
        "sales-analysis",
        "Sales H1 2024: revenue by region and product, West's grinder gap",
        "shop",
        prepare_sales,
        sales_analysis,
    ),
    Spec(
        "explore-project",
        "What is the weatherlog folder? Layout, README, a test run",
        "weatherlog",
        prepare_weatherlog,
        explore_project,
    ),
    Spec(
        "debug-traceback",
        "Fixing report.py: ValueError on a cancelled order",
        "invoices",
        prepare_invoices,
        debug_traceback,
    ),
    Spec(
        "http-api",
        "A local fake of the inventory API and a client that handles 404",
        "inventory-client",
        lambda folder: None,
        http_api,
    ),
    Spec(
        "plot-chart",
        "Line chart of monthly city temperatures to a PNG",
        "slides",
        prepare_temps,
        plot_chart,
    ),
    Spec(
        "shell-logs",
        "Checkout errors in web-01's logs, with grep, awk and uniq",
        "logs",
        prepare_logs,
        shell_logs,
    ),
    Spec(
        "interjection",
        "Deduplicating contacts.csv (the user changes the plan midway)",
        "crm",
        prepare_contacts,
        interjection,
    ),
    Spec(
        "config-diff",
        "Staging vs prod config: a rejected line diff, then a parsed comparison",
        "orders-api",
        prepare_configs,
        config_diff,
    ),
    Spec(
        "retry-and-edit",
        "What fills the archive folder? (a rejected install, an edited sort)",
        "archive",
        prepare_archive,
        retry_and_edit,
    ),
]


# ---------------------------------------------------------------------------------------------
# Running


def kernel_environment(base: Path, home: Path) -> dict[str, str]:
    """The kernel's environment: the prepared home, this Python first on PATH, fixed locale."""
    state = base / "state"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER", "IPYTHON", "MPL", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        IPYTHONDIR=str(state / "ipython"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTER_CONFIG_DIR=str(state / "jupyter-config"),
        JUPYTER_DATA_DIR=str(state / "jupyter-data"),
        MPLCONFIGDIR=str(state / "matplotlib"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
        TZ="UTC",
        COLUMNS="100",
        PIP_NO_INPUT="1",
    )
    return env


def warm_up(env: dict[str, str]) -> None:
    """Build matplotlib's font cache now, so that no session's output says it is doing so."""
    subprocess.run(
        [sys.executable, "-c", "import matplotlib.pyplot"],
        env=env,
        check=True,
        capture_output=True,
    )


async def build_one(
    spec: Spec, base: Path, store: Store, env: dict[str, str], strict: bool
) -> Builder:
    home = Path(env["HOME"])
    folder = home / spec.folder
    folder.mkdir(parents=True)
    spec.prepare(folder)
    freeze_times(folder)
    session = Session.create(store, model=MODEL_LABEL)
    store.rename(session.id, spec.title)
    runner = KernelRunner(
        KernelConfig(spec_dir=str(base / "kernelspec"), cwd=str(folder), timeout=60.0),
        put_blob=store.put_blob,
    )
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        await runner.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    builder = Builder(session, runner, spec.name, strict)
    try:
        await spec.build(builder)
    finally:
        await runner.shutdown()
    return builder


def export(store: Store, builder: Builder, path: Path) -> None:
    info = store.session(builder.session.id)
    text = session_to_xml(info, builder.session.tree, blob=store.blob)
    path.write_text(text, encoding="utf-8")


async def main(names: list[str], show: bool, strict: bool) -> None:
    chosen = [s for s in SESSIONS if not names or s.name in names]
    unknown = set(names) - {s.name for s in SESSIONS}
    if unknown:
        raise SystemExit(f"unknown session(s): {', '.join(sorted(unknown))}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="kyzel-examples-"))
    try:
        home = base / "home"
        home.mkdir()
        env = kernel_environment(base, home)
        warm_up(env)
        store = Store(base / "store" / "kyzel.db")
        for spec in chosen:
            started = time.monotonic()
            builder = await build_one(spec, base, store, env, strict)
            path = OUT_DIR / f"{spec.name}.xml"
            export(store, builder, path)
            if show:
                print("\n\n".join(builder.log))
            seconds = time.monotonic() - started
            print(f"{path.relative_to(ROOT)}: {len(builder.session.tree)} events, {seconds:.1f} s")
        store.close()
        if not names:  # a full run owns the folder: drop files of sessions that no longer exist
            keep = {f"{s.name}.xml" for s in SESSIONS}
            for stale in OUT_DIR.glob("*.xml"):
                if stale.name not in keep:
                    stale.unlink()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="sessions to build (default: all)")
    parser.add_argument("--show", action="store_true", help="print every cell and its output")
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="report outputs that lack their expected text instead of stopping (for writing)",
    )
    arguments = parser.parse_args()
    started = time.monotonic()
    asyncio.run(main(arguments.names, arguments.show, not arguments.no_check))
    print(f"done in {time.monotonic() - started:.1f} s")
