"""`%run report.py` fails with a ValueError: the CSV is inspected, the script patched (diff shown),
rerun and checked by hand.
"""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Retried, User, write

TITLE = "Fixing report.py: ValueError on a cancelled order"
FOLDER = "invoices"


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


def prepare(folder: Path) -> None:
    write(folder / "report.py", INVOICE_REPORT)
    write(folder / "orders.csv", INVOICE_ORDERS)


SCRIPT = (
    User(
        "report.py in this folder crashes when I run it. Can you find out why and fix it?",
    ),
    Code(
        """
I will run code.
Run it first to see the actual error.
""",
        """
%run report.py
""",
        expect=("ValueError: invalid literal for int() with base 10: ''",),
        status="error",
    ),
    Code(
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
    ),
    Retried(
        """
Some row has a blank qty. I'll make the script treat a blank quantity as 0.
""",
        """
from pathlib import Path

path = Path("report.py")
path.write_text(path.read_text().replace('int(row["qty"])', 'int(row["qty"] or 0)'))
%run report.py
""",
        reason="That only hides it. Find out why the qty is blank first.",
    ),
    Code(
        """
I will run code.
The blank qty is order 5008, which was cancelled. Treating the blank as 0 would stop the crash
but still count the order in the customer's average. Order 5006 is cancelled too and has a qty,
so the script also counts a cancelled order as spend today. Cancelled orders should be skipped
entirely; pending ones are real orders and stay. Let me look at the loop before patching.
""",
        """
!grep -n "for row in orders" -A 5 report.py
""",
        expect=('int(row["qty"])',),
    ),
    Code(
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
    ),
    Code(
        """
Now rerun the script.
""",
        """
%run report.py
""",
        expect=("Nakamura", "Okafor"),
    ),
    Code(
        """
It runs. To be sure the numbers are right, I'll recompute Okafor by hand: orders 5002
(1 × 249.00) and 5010 (3 × 35.00), without the cancelled 5006.
""",
        """
total = 1 * 249.00 + 3 * 35.00
print(f"{total:.2f} {total / 2:.2f}")
""",
        expect=("354.00 177.00",),
    ),
    Answer(
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
        rate="up",
    ),
)
