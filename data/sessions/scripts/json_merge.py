"""Two JSON files joined by hand: an order whose user does not exist is found before writing, and
the user's edit makes the output readable (indented, accents kept)."""

from __future__ import annotations

import json
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "Spend per user from users.json and orders.json, to summary.json"
FOLDER = "shop-export"

USERS = [
    {"id": 1, "name": "Zoë Martin", "email": "zoe@example.org"},
    {"id": 2, "name": "Bjørn Dahl", "email": "bjorn@example.no"},
    {"id": 3, "name": "Amara Okoye", "email": "amara@example.com"},
    {"id": 4, "name": "Luis Peña", "email": "luis@example.es"},
]

ORDERS = [
    {"order": 901, "user_id": 1, "total": 42.5},
    {"order": 902, "user_id": 3, "total": 18.0},
    {"order": 903, "user_id": 1, "total": 99.9},
    {"order": 904, "user_id": 2, "total": 12.25},
    {"order": 905, "user_id": 7, "total": 60.0},
    {"order": 906, "user_id": 3, "total": 35.75},
    {"order": 907, "user_id": 1, "total": 8.0},
]


def prepare(folder: Path) -> None:
    write(folder / "users.json", json.dumps(USERS, ensure_ascii=False, indent=1) + "\n")
    write(folder / "orders.json", json.dumps(ORDERS, indent=1) + "\n")


SCRIPT = (
    User(
        "Make me a summary.json from users.json and orders.json: for each user, their number of "
        "orders and total spent, biggest spender first."
    ),
    Code(
        """
I will run code.
I'll load both files and look at their shape and one record of each.
""",
        """
import json

with open("users.json", encoding="utf-8") as handle:
    users = json.load(handle)
with open("orders.json", encoding="utf-8") as handle:
    orders = json.load(handle)

print(len(users), "users,", len(orders), "orders")
print(users[0])
print(orders[0])
""",
        expect=("4 users, 7 orders", "'user_id': 1"),
    ),
    Retried(
        """
Users have an id, orders a user_id. I'll add up the orders per user and write summary.json
straight away.
""",
        """
totals = {}
for order in orders:
    totals[order["user_id"]] = totals.get(order["user_id"], 0) + order["total"]
names = {user["id"]: user["name"] for user in users}
summary = [{"name": names[uid], "total": total} for uid, total in totals.items()]
with open("summary.json", "w") as handle:
    json.dump(summary, handle)
""",
    ),
    Code(
        """
I will run code.
Users have an id, orders a user_id. Before writing anything I'll check the join: orders whose
user_id matches no user, and users with no orders.
""",
        """
user_ids = {user["id"] for user in users}
orphans = [order for order in orders if order["user_id"] not in user_ids]
ordered = {order["user_id"] for order in orders}
print("orders with no such user:", orphans)
print("users with no orders:", [u["name"] for u in users if u["id"] not in ordered])
""",
        expect=(
            "orders with no such user: [{'order': 905, 'user_id': 7, 'total': 60.0}]",
            "users with no orders: ['Luis Peña']",
        ),
    ),
    Edited(
        """
Order 905 belongs to user 7, who is not in users.json, and Luis Peña has no orders. I'll build
the summary for every user (Luis with 0 orders), leave order 905 out of it, and report it
separately.
""",
        """
summary = []
for user in users:
    mine = [order["total"] for order in orders if order["user_id"] == user["id"]]
    summary.append({"name": user["name"], "orders": len(mine), "total": round(sum(mine), 2)})
summary.sort(key=lambda row: row["total"], reverse=True)

with open("summary.json", "w") as handle:
    json.dump(summary, handle)
!cat summary.json
""",
    ),
    Code(
        """
I will run code.
Order 905 belongs to user 7, who is not in users.json, and Luis Peña has no orders. I'll build
the summary for every user (Luis with 0 orders), leave order 905 out of it, and report it
separately. The file is for people to read: indented, with names written as they are.
""",
        """
summary = []
for user in users:
    mine = [order["total"] for order in orders if order["user_id"] == user["id"]]
    summary.append({"name": user["name"], "orders": len(mine), "total": round(sum(mine), 2)})
summary.sort(key=lambda row: row["total"], reverse=True)

with open("summary.json", "w", encoding="utf-8") as handle:
    json.dump(summary, handle, indent=2, ensure_ascii=False)
!cat summary.json
""",
        expect=('"name": "Zoë Martin"', '"total": 150.4', '"name": "Luis Peña"'),
    ),
    Answer(
        """
The summary is written and readable. I'll report the orphan order too.
""",
        """
`summary.json` is written, biggest spender first:

| user | orders | total |
| --- | ---: | ---: |
| Zoë Martin | 3 | 150.40 |
| Amara Okoye | 2 | 53.75 |
| Bjørn Dahl | 1 | 12.25 |
| Luis Peña | 0 | 0.00 |

One thing to check: **order 905** (60.00) belongs to `user_id` 7, who is not in `users.json`.
I left it out of the summary rather than guess; it may be a deleted account or a missing
export row.
""",
        rate="up",
    ),
)
