"""Meeting times in UTC shown in three offices' local time: fixed offsets are edited into zoneinfo
by the user (daylight saving), and a meeting that falls at night is flagged."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "UTC meeting times in Tokyo, Berlin and New York local time (DST-aware)"
FOLDER = "calendar"

MEETINGS = """\
title,start_utc
Quarterly planning,2024-03-05T08:00
Release review,2024-03-28T13:00
Design sync,2024-04-09T15:00
All hands,2024-11-05T14:00
"""


def prepare(folder: Path) -> None:
    write(folder / "meetings.csv", MEETINGS)


SCRIPT = (
    User(
        "meetings.csv lists our meetings in UTC. Show each one in Tokyo, Berlin and New York time, "
        "and tell me if any is at an awkward hour somewhere (before 8 or after 20)."
    ),
    Retried(
        """
I will run code.
I'll convert the times with pytz.
""",
        """
import pytz
""",
    ),
    Code(
        """
I will run code.
I'll read the file and check the times parse.
""",
        """
import csv
from datetime import datetime, timezone

with open("meetings.csv", newline="") as handle:
    meetings = [
        (row["title"], datetime.fromisoformat(row["start_utc"]).replace(tzinfo=timezone.utc))
        for row in csv.DictReader(handle)
    ]
for title, start in meetings:
    print(f"{title:<20} {start:%Y-%m-%d %H:%M %Z}")
""",
        expect=("Quarterly planning   2024-03-05 08:00 UTC", "All hands"),
    ),
    Edited(
        """
Four meetings, all parsed as UTC. I'll convert with each office's offset: Tokyo +9, Berlin +1,
New York -5.
""",
        """
from datetime import timedelta

OFFSETS = {"Tokyo": 9, "Berlin": 1, "New York": -5}
for title, start in meetings:
    local = {city: start + timedelta(hours=h) for city, h in OFFSETS.items()}
    print(title, {city: f"{t:%H:%M}" for city, t in local.items()})
""",
    ),
    Code(
        """
I will run code.
Four meetings, all parsed as UTC. Berlin and New York switch to summer time on different dates
in March, so fixed offsets would be wrong for some of these; I'll convert with zoneinfo, show
each local time with its zone abbreviation, and mark hours before 8 or from 20 on.
""",
        """
from zoneinfo import ZoneInfo

ZONES = {"Tokyo": "Asia/Tokyo", "Berlin": "Europe/Berlin", "New York": "America/New_York"}
for title, start in meetings:
    cells = []
    for city, zone in ZONES.items():
        local = start.astimezone(ZoneInfo(zone))
        odd = " !" if local.hour < 8 or local.hour >= 20 else ""
        cells.append(f"{city} {local:%a %H:%M %Z}{odd}")
    print(f"{title:<20}" + " | ".join(cells))
""",
        expect=(
            "Tokyo Tue 17:00 JST | Berlin Tue 09:00 CET | New York Tue 03:00 EST !",
            "Tokyo Thu 22:00 JST ! | Berlin Thu 14:00 CET | New York Thu 09:00 EDT",
            "Tokyo Wed 00:00 JST ! | Berlin Tue 17:00 CEST | New York Tue 11:00 EDT",
            "Tokyo Tue 23:00 JST ! | Berlin Tue 15:00 CET | New York Tue 09:00 EST",
        ),
    ),
    Answer(
        """
Every meeting is at an awkward hour in at least one office; I'll lay them out in a table.
""",
        """
Each meeting in local time (bold: before 8:00 or from 20:00):

| meeting | UTC | Tokyo | Berlin | New York |
| --- | --- | --- | --- | --- |
| Quarterly planning | Tue 5 Mar 08:00 | 17:00 | 09:00 | **03:00** |
| Release review | Thu 28 Mar 13:00 | **22:00** | 14:00 | 09:00 |
| Design sync | Tue 9 Apr 15:00 | **00:00** (Wed) | 17:00 | 11:00 |
| All hands | Tue 5 Nov 14:00 | **23:00** | 15:00 | 09:00 |

So all four are awkward somewhere: the quarterly planning is at 3 am in New York, and the other
three are late at night in Tokyo. That is hard to avoid: Tokyo and New York are 13 to 14 hours
apart, so no hour falls between 8 and 20 in both. Alternating the slot between Tokyo-friendly
and New York-friendly times is the usual fix.

Note the release review on 28 March: New York was already on summer time (EDT) and Berlin not
yet (CET), so converting with fixed offsets would have put it an hour off in New York.
""",
        rate="up",
    ),
)
