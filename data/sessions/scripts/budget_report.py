"""A longer task: monthly spending against monthly budgets from a CSV and a JSON file, a quarterly
comparison retried away, the user's interjection (travel has its own budget), and a Markdown
report written without extra packages (the user's edit)."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "Over budget anywhere this quarter? Monthly spend per category, then a report"
FOLDER = "budget"

BUDGET = {"software": 900, "hardware": 1500, "travel": 2000, "office": 400, "training": 600}


def prepare(folder: Path) -> None:
    """Q2 2024 expenses: hardware spikes in May, software creeps up, travel is large."""
    rng = random.Random(88)
    base = {"software": 780, "hardware": 900, "travel": 2300, "office": 310, "training": 350}
    rows = []
    for month in (4, 5, 6):
        for category, monthly in base.items():
            growth = 1.0 + 0.12 * (month - 4) if category == "software" else 1.0
            target = monthly * growth * rng.uniform(0.98, 1.02)
            if category == "hardware" and month == 5:
                target += 1400
            parts = rng.randint(3, 6)
            weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
            for weight in weights:
                amount = round(target * weight / sum(weights), 2)
                day = date(2024, month, rng.randint(1, 28))
                rows.append((day.isoformat(), category, amount))
    rows.sort()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "category", "amount"])
    writer.writerows(rows)
    write(folder / "expenses.csv", out.getvalue())
    write(folder / "budget.json", json.dumps({"monthly": BUDGET}, indent=2) + "\n")


SCRIPT = (
    User(
        "expenses.csv has our team's spending for Q2 and budget.json the budgets. Are we over "
        "budget anywhere? Then write a short report.md I can paste into the team wiki."
    ),
    Code(
        """
I will run code.
I'll load both files and check their shape: the expense columns, the date range, and how the
budget is expressed.
""",
        """
import json
import pandas as pd

expenses = pd.read_csv("expenses.csv", parse_dates=["date"])
budget = json.load(open("budget.json"))
print(expenses.shape, expenses["date"].min().date(), expenses["date"].max().date())
print(expenses["category"].value_counts().sort_index().to_dict())
print(budget)
""",
        expect=("2024-04-", "2024-06-", "{'monthly': {'software': 900"),
    ),
    Retried(
        """
I'll total each category over the quarter and compare it with its budget.
""",
        """
totals = expenses.groupby("category")["amount"].sum()
pd.DataFrame({"spent": totals, "budget": pd.Series(budget["monthly"])})
""",
    ),
    Retried(
        """
I will run code.
The budgets are monthly. I'll compare the average month with each budget.
""",
        """
average = expenses.groupby("category")["amount"].sum() / 3
(average - pd.Series(budget["monthly"])).round(2)
""",
    ),
    Code(
        """
I will run code.
The budgets are monthly and the data covers April to June, so I'll compare each category's
spending month by month with its monthly budget: an average over the quarter could hide a
single bad month.
""",
        """
monthly = expenses.pivot_table(
    index="category", columns=expenses["date"].dt.strftime("%Y-%m"), values="amount",
    aggfunc="sum"
).round(2)
limits = pd.Series(budget["monthly"])
over = monthly.sub(limits, axis=0)
print(monthly)
print()
excess = over.stack()
print(excess[excess > 0].round(2))
""",
        expect=("hardware  2024-05    782.89", "software  2024-06     49.64"),
    ),
    User("Leave travel out, it has its own budget line with finance."),
    Edited(
        """
I will run code.
Travel left out. Hardware went over in May (2,283 against 1,500) and software in June (950
against 900). I'll write the table to report.md with pandas' to_markdown.
""",
        """
report = monthly.drop(index="travel")
with open("report.md", "w") as handle:
    handle.write(report.to_markdown())
""",
    ),
    Code(
        """
I will run code.
Travel left out. Hardware went over in May (2,283 against 1,500) and software in June (950
against 900). I'll write report.md as a Markdown table by hand, since to_markdown needs the
tabulate package, which is not installed: the budget beside each category, and the months over
budget in bold.
""",
        """
report = monthly.drop(index="travel")
limits = limits.drop("travel")
lines = ["# Q2 2024 spending against monthly budgets", "",
         "| category | budget | " + " | ".join(report.columns) + " |",
         "| --- | ---: | " + " | ".join("---:" for _ in report.columns) + " |"]
for category, row in report.iterrows():
    cells = [f"**{v:,.0f}**" if v > limits[category] else f"{v:,.0f}" for v in row]
    lines.append(f"| {category} | {limits[category]:,.0f} | " + " | ".join(cells) + " |")
lines += ["", "Bold: over the monthly budget. Travel is tracked separately with finance."]
with open("report.md", "w") as handle:
    handle.write("\\n".join(lines) + "\\n")
!cat report.md
""",
        expect=(
            "| hardware | 1,500 | 899 | **2,283** | 892 |",
            "| software | 900 | 777 | 857 | **950** |",
        ),
    ),
    Answer(
        """
Two overruns outside travel, and the report is written. I'll summarise them with the trend.
""",
        """
Yes, twice (travel left out, as you asked):

- **Hardware in May**: 2,283 against a monthly budget of 1,500 (783 over). April and June were
  both under 900, so it looks like a one-off purchase.
- **Software in June**: 950 against 900 (50 over). The trend matters more than the overrun:
  777 → 857 → 950, up about 10% a month, so July would be around 1,040 at that pace.

Office and training stayed well under budget every month.

`report.md` has the table, with the over-budget months in bold, ready to paste into the wiki.
For finance: travel was over its 2,000 budget in every month of the quarter, by 267 to 292.
""",
        rate="up",
    ),
)
