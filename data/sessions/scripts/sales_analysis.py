"""pandas on a sales CSV: blank prices filled, revenue by region and product, a month by region
pivot, and West's missing grinders.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "Sales H1 2024: revenue by region and product, West's grinder gap"
FOLDER = "shop"


SALES_SEED = 20


def prepare(folder: Path) -> None:
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


SCRIPT = (
    User(
        "sales.csv has our orders for the first half of 2024. Which regions and products bring "
        "in the revenue, and is anything going wrong anywhere?",
    ),
    Code(
        """
I will run code.
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
    ),
    Code(
        """
462 orders, six columns, dates parsed. Before computing revenue I should check for missing
values: a blank price would silently drop out of a sum.
""",
        """
print(sales.isna().sum())
sales[sales["unit_price"].isna()]
""",
        expect=("unit_price    3", "A1136"),
    ),
    Retried(
        """
Three orders have no unit price, so they cannot be priced. I'll drop them and compute revenue
from the rest.
""",
        """
sales = sales.dropna(subset=["unit_price"])
sales["revenue"] = sales["units"] * sales["unit_price"]
print("total revenue:", sales["revenue"].sum())
""",
        reason="Don't drop real orders. If the price can be worked out, fill it in.",
    ),
    Code(
        """
I will run code.
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
    ),
    Code(
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
    ),
    Code(
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
    ),
    Edited(
        """
Two things stand out. South grows from 1,110 in January to 3,140 in May. West was the top region
every month from January to April, then fell to 1,460 in May and 1,095 in June. I'll look at
West's monthly revenue more closely.
""",
        """
sales[sales["region"] == "West"].groupby("month")["revenue"].sum()
""",
    ),
    Code(
        """
I will run code.
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
    ),
    Answer(
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
        rate="up",
    ),
)
