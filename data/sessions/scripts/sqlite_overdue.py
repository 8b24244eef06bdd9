"""SQLite: the schema first, then overdue loans on a date the user gives (a `date('now')` query is
skipped and retried), sorted the way the user wants by their edit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User

TITLE = "Overdue library loans from a SQLite database"
FOLDER = "library"

BOOKS = [
    (1, "The Left Hand of Darkness", "Ursula K. Le Guin", 1969),
    (2, "Dune", "Frank Herbert", 1965),
    (3, "Kindred", "Octavia E. Butler", 1979),
    (4, "The Dispossessed", "Ursula K. Le Guin", 1974),
    (5, "Solaris", "Stanisław Lem", 1961),
    (6, "Piranesi", "Susanna Clarke", 2020),
]

LOANS = [
    (1, 2, "Ines", "2024-05-02", "2024-05-20"),
    (2, 5, "Tariq", "2024-05-06", None),
    (3, 1, "Ines", "2024-05-21", None),
    (4, 3, "Mila", "2024-05-28", None),
    (5, 6, "Tariq", "2024-06-03", None),
    (6, 4, "Mila", "2024-04-30", "2024-05-25"),
    (7, 2, "Oren", "2024-05-10", None),
]


def prepare(folder: Path) -> None:
    with sqlite3.connect(folder / "library.db") as db:
        db.execute("create table books (id integer primary key, title, author, year)")
        db.execute(
            "create table loans (id integer primary key, book_id references books(id), member,"
            " borrowed text, returned text)"
        )
        db.executemany("insert into books values (?, ?, ?, ?)", BOOKS)
        db.executemany("insert into loans values (?, ?, ?, ?, ?)", LOANS)
    db.close()


SCRIPT = (
    User(
        "library.db has our books and loans. Which loans are overdue? A loan is overdue when it "
        "hasn't been returned 21 days after it was borrowed. Today is 2024-06-14."
    ),
    Code(
        """
I will run code.
I'll look at the schema first: table names and columns.
""",
        """
import sqlite3

db = sqlite3.connect("library.db")
for name, sql in db.execute("select name, sql from sqlite_master where type = 'table'"):
    print(sql)
print(db.execute("select * from loans limit 3").fetchall())
""",
        expect=("CREATE TABLE loans", "(2, 5, 'Tariq', '2024-05-06', None)"),
    ),
    Retried(
        """
Loans with no return date whose borrowing date is more than 21 days before today.
""",
        """
rows = db.execute(\"\"\"
    select b.title, l.member, l.borrowed
    from loans l join books b on b.id = l.book_id
    where l.returned is null and julianday('now') - julianday(l.borrowed) > 21
\"\"\").fetchall()
rows
""",
        reason="Use the date I gave you, 2024-06-14, not the clock.",
    ),
    Code(
        """
I will run code.
Dates are ISO text and `returned` is NULL while a book is out. I'll compute days out with
julianday against the date given, 2024-06-14 (a query parameter, not the clock), and keep
loans out for more than 21 days.
""",
        """
TODAY = "2024-06-14"
rows = db.execute(\"\"\"
    select b.title, l.member, l.borrowed,
           cast(julianday(?) - julianday(l.borrowed) as integer) as days_out
    from loans l join books b on b.id = l.book_id
    where l.returned is null and julianday(?) - julianday(l.borrowed) > 21
    order by b.title
\"\"\", (TODAY, TODAY)).fetchall()
for row in rows:
    print(row)
""",
        expect=("('Dune', 'Oren', '2024-05-10', 35)", "('Solaris', 'Tariq', '2024-05-06', 39)"),
        label="overdue",
    ),
    Edited(
        """
Three loans are overdue. For the librarian a count per member is handy too.
""",
        """
db.execute(\"\"\"
    select member, count(*) from loans
    where returned is null and julianday(?) - julianday(borrowed) > 21
    group by member
\"\"\", (TODAY,)).fetchall()
""",
    ),
    Code(
        """
I will run code.
Three loans are overdue. I'll list them longest overdue first, with the days past the 21-day
limit, so the librarian knows whom to chase first.
""",
        """
for title, member, borrowed, days_out in sorted(rows, key=lambda r: r[3], reverse=True):
    print(f"{days_out - 21:>3} days late  {member:<6} {title} (borrowed {borrowed})")
""",
        expect=(" 18 days late  Tariq  Solaris", "  3 days late  Ines   The Left Hand"),
    ),
    Answer(
        """
I have the list, longest overdue first.
""",
        """
On 2024-06-14, three loans are overdue (out more than 21 days, not returned):

| days late | member | book | borrowed |
| ---: | --- | --- | --- |
| 18 | Tariq | Solaris | 2024-05-06 |
| 14 | Oren | Dune | 2024-05-10 |
| 3 | Ines | The Left Hand of Darkness | 2024-05-21 |

Two more books are out but not yet overdue: Kindred (Mila, since 2024-05-28) and Piranesi
(Tariq, since 2024-06-03). Tariq will have two overdue books if Piranesi isn't back by
2024-06-24.
""",
        rate="up",
    ),
)
