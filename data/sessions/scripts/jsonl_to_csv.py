"""A short task: JSON lines to CSV with the standard library; nested fields flattened, a bad line
reported instead of skipped silently (the user's edit)."""

from __future__ import annotations

import json
from pathlib import Path

from data.script import Answer, Code, Edited, User, write

TITLE = "events.jsonl to events.csv (nested fields flattened, a bad line reported)"
FOLDER = "events"

EVENTS = [
    {"ts": "2024-06-10T08:01:12", "type": "signup", "user": {"id": 41, "country": "PT"}},
    {"ts": "2024-06-10T08:03:40", "type": "login", "user": {"id": 41, "country": "PT"}},
    {
        "ts": "2024-06-10T09:15:02",
        "type": "purchase",
        "user": {"id": 7, "country": "DE"},
        "amount": 29.9,
    },
    {"ts": "2024-06-10T09:20:55", "type": "login", "user": {"id": 12, "country": "FR"}},
]


def prepare(folder: Path) -> None:
    lines = [json.dumps(event) for event in EVENTS]
    lines.insert(3, '{"ts": "2024-06-10T09:16:30", "type": "purchase", "user": {"id": 7')
    write(folder / "events.jsonl", "\n".join(lines) + "\n")


SCRIPT = (
    User("Convert events.jsonl to a CSV I can open in a spreadsheet."),
    Edited(
        """
I will run code.
JSON lines: one object per line. I'll read each line with json.loads, flatten the nested user
object into user_id and user_country, and write everything with csv.DictWriter.
""",
        """
import csv
import json

rows = []
with open("events.jsonl", encoding="utf-8") as handle:
    for line in handle:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        user = event.pop("user", {})
        rows.append({**event, "user_id": user.get("id"), "user_country": user.get("country")})

with open("events.csv", "w", newline="", encoding="utf-8") as handle:
    writer = csv.DictWriter(handle, fieldnames=["ts", "type", "user_id", "user_country", "amount"])
    writer.writeheader()
    writer.writerows(rows)
""",
    ),
    Code(
        """
I will run code.
JSON lines: one object per line. I'll read each line with json.loads, flatten the nested user
object into user_id and user_country, and write everything with csv.DictWriter. A line that is
not valid JSON is reported with its number rather than skipped silently.
""",
        """
import csv
import json

rows, bad = [], []
with open("events.jsonl", encoding="utf-8") as handle:
    for number, line in enumerate(handle, start=1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            bad.append((number, error.msg, line[:60]))
            continue
        user = event.pop("user", {})
        rows.append({**event, "user_id": user.get("id"), "user_country": user.get("country")})

with open("events.csv", "w", newline="", encoding="utf-8") as handle:
    writer = csv.DictWriter(handle, fieldnames=["ts", "type", "user_id", "user_country", "amount"])
    writer.writeheader()
    writer.writerows(rows)

print(len(rows), "rows written;", len(bad), "bad line(s):", bad)
!cat events.csv
""",
        expect=("4 rows written; 1 bad line(s): [(4,", "2024-06-10T09:15:02,purchase,7,DE,29.9"),
    ),
    Answer(
        """
Four events converted; line 4 is cut off and could not be read.
""",
        """
`events.csv` is written: 4 events, one row each, with the columns `ts`, `type`, `user_id`,
`user_country` and `amount` (empty for events without one). The nested `user` object became
the two `user_` columns.

**Line 4 of `events.jsonl` is broken**: it stops after `"user": {"id": 7`, so it is a cut-off
purchase event from 09:16:30 and is not in the CSV. If the source can resend it, add it back;
otherwise keep in mind that one purchase is missing.
""",
    ),
)
