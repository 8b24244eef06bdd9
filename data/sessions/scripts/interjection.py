"""Deduplicating contacts; midway the user sends a second message that changes the plan."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Retried, User, write

TITLE = "Deduplicating contacts.csv (the user changes the plan midway)"
FOLDER = "crm"


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


def prepare(folder: Path) -> None:
    write(folder / "contacts.csv", CONTACTS)


SCRIPT = (
    User(
        "contacts.csv has the same people in it more than once. Normalise the email addresses "
        "and remove the duplicates.",
    ),
    Code(
        """
I will run code.
I'll load the file as strings, so nothing gets reinterpreted, and look at it.
""",
        """
import pandas as pd

contacts = pd.read_csv("contacts.csv", dtype=str)
print(contacts.shape)
contacts[["name", "email", "signed_up", "plan"]]
""",
        expect=("(14, 5)",),
    ),
    Code(
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
    ),
    User(
        "Hold on: don't overwrite contacts.csv, other scripts read it. And don't keep the first "
        "row: for each email keep the most recent signup (latest signed_up), since that has the "
        "current plan. Write the result to contacts_clean.csv.",
    ),
    Retried(
        """
I will run code.
Change of plan: keep the latest row per email, and write to a new file.
""",
        """
latest = contacts.drop_duplicates("email", keep="last")
latest.to_csv("contacts_clean.csv", index=False)
print(len(latest), "rows written")
""",
    ),
    Code(
        """
I will run code.
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
    ),
    Code(
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
    ),
    Answer(
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
        rate="up",
    ),
)
