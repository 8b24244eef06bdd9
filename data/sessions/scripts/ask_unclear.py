"""An unclear request ("clean up the data file"): the assistant looks, then asks which file and
what clean means; the user's edit makes the cleaned copy a new file instead of an overwrite."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "Which file, and clean how? Asking before changing data"
FOLDER = "reports"

Q1 = """\
date,customer,amount
2024-01-04,Brandt,120.00
2024-01-09,Osei,75.50
2024-02-15,Brandt,210.00
2024-03-02,Lindqvist,99.90
"""

Q2 = """\
date,customer,amount
2024-04-03,Osei,80.00
2024/04/11,Brandt,
2024-04-19,Lindqvist,130.25
22.04.2024,Osei,45.00
2024-05-06,Brandt,
2024/05/14,Lindqvist,310.00
2024-06-01,Osei,62.40
17.06.2024,Brandt,155.00
"""


def prepare(folder: Path) -> None:
    write(folder / "q1.csv", Q1)
    write(folder / "q2.csv", Q2)
    write(folder / "notes.txt", "q2 came from the new till; the old one wrote other dates.\n")


SCRIPT = (
    User("Can you clean up the data file?"),
    Retried(
        """
I will run code.
I'll clean the CSV: drop rows with missing values and duplicate rows, and save it.
""",
        """
import pandas as pd

data = pd.read_csv("data.csv")
data.dropna().drop_duplicates().to_csv("data.csv", index=False)
""",
        reason="There's no data.csv. Don't guess, look first.",
    ),
    Code(
        """
I will run code.
"The data file" does not say which one. I'll see what is in this folder before doing anything.
""",
        """
from pathlib import Path

for path in sorted(Path(".").iterdir()):
    print(f"{path.stat().st_size:>5}  {path.name}")
""",
        expect=("q1.csv", "q2.csv", "notes.txt"),
    ),
    Answer(
        """
Two CSV files, and "clean up" could mean several things (blank values, date formats,
duplicates). Changing data on a guess is risky, so I'll ask.
""",
        """
There are two data files here, `q1.csv` and `q2.csv` (plus `notes.txt`). Before I change
anything:

1. Which file do you mean (or both)?
2. What should "clean" do: drop rows with missing values, make the dates one format, remove
   duplicates, something else?
""",
        rate="up",
    ),
    User(
        "q2.csv. Drop the rows with no amount, and make every date YYYY-MM-DD. notes.txt says why "
        "the dates are mixed."
    ),
    Code(
        """
I will run code.
I'll read q2.csv as text and look at which date formats occur and which rows have no amount.
""",
        """
import csv
import re

with open("q2.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))

print(len(rows), "rows")
for row in rows:
    shape = re.sub(r"\\d", "9", row["date"])
    print(f"{row['date']:<12} {shape:<12} amount={row['amount'] or '(blank)'}")
""",
        expect=("8 rows", "99.99.9999", "amount=(blank)"),
    ),
    Edited(
        """
Three date shapes: 2024-04-03, 2024/04/11 and 22.04.2024 (day first, as the day is over 12 in
both cases). Two rows have no amount. I'll convert each format explicitly, drop the blank
amounts, and write the result back to q2.csv.
""",
        """
from datetime import datetime

FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y")

def iso(text):
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            pass
    raise ValueError(f"unknown date format: {text!r}")

clean = [{**row, "date": iso(row["date"])} for row in rows if row["amount"].strip()]
with open("q2.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=["date", "customer", "amount"])
    writer.writeheader()
    writer.writerows(clean)
!cat q2.csv
""",
    ),
    Code(
        """
I will run code.
Three date shapes: 2024-04-03, 2024/04/11 and 22.04.2024 (day first, as the day is over 12 in
both cases). Two rows have no amount. I'll convert each format explicitly, drop the blank
amounts, and write the result to q2_clean.csv, keeping the original as it is.
""",
        """
from datetime import datetime

FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y")

def iso(text):
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            pass
    raise ValueError(f"unknown date format: {text!r}")

clean = [{**row, "date": iso(row["date"])} for row in rows if row["amount"].strip()]
with open("q2_clean.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=["date", "customer", "amount"])
    writer.writeheader()
    writer.writerows(clean)
!cat q2_clean.csv
""",
        expect=("2024-04-22,Osei,45.00", "2024-06-17,Brandt,155.00"),
    ),
    Answer(
        """
Six rows remain, all dates ISO. The original q2.csv is unchanged.
""",
        """
Done. The cleaned data is in **`q2_clean.csv`**; `q2.csv` itself is unchanged.

- **Dropped 2 rows** with no amount (Brandt on 2024-04-11 and 2024-05-06).
- **Dates**: the new till wrote three formats (`2024-04-03`, `2024/04/11`, `22.04.2024`); all
  six remaining rows now use `YYYY-MM-DD`. Each format is parsed explicitly, so a date in an
  unexpected format would stop the script instead of being guessed.

If you'd rather replace `q2.csv`, rename the clean file over it once you've checked it.
""",
    ),
)
