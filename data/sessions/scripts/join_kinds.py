"""A pure question (inner or left join?): a wrong first answer rated down and retried, then a
direct answer."""

from __future__ import annotations

from data.script import Answer, Retried, User

TITLE = "Inner join or left join? (a question, answered in words)"
FOLDER = "sql"

SCRIPT = (
    User("In SQL, what is the difference between an inner join and a left join?"),
    Retried(
        """
I can explain this.
""",
        answer="""
A left join is just a slower inner join; they return the same rows.
""",
        rate="down",
    ),
    Answer(
        """
I can explain this.
""",
        """
Both pair each row of the left table with the matching rows of the right one. The difference
is what happens to a left row with **no** match:

- an **inner join** drops it: you get only the rows that match on both sides;
- a **left join** keeps it, with `NULL` in the right table's columns.

So `customers LEFT JOIN orders` lists every customer, including those who never ordered
(their order columns are `NULL`); the inner join lists only customers with orders. Filtering a
left join with `WHERE orders.id IS NULL` finds exactly the customers without orders.
""",
        rate="up",
    ),
)
