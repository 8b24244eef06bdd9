"""Pulling ticket ids and email addresses out of a support export with `re`; the user edits a
too-narrow email pattern before it runs."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "Ticket ids and customer emails from a support export, with regular expressions"
FOLDER = "support"

EXPORT = """\
From: maria.gonzalez@shop.example.com
Subject: Re: [TCK-1042] refund not received
Hi, I am still waiting for the refund for order 5531. Ref TCK-1042.

From: j.smith@mail.example.co.uk
Subject: [TCK-1057] wrong size delivered
The shoes are a 42, I ordered 43. Also see TCK-1042, my sister's ticket, same problem?

From: noreply@helpdesk.example.com
Subject: Ticket TCK-1061 was closed
This ticket has been closed automatically.

From: ahmed+orders@example.org
Subject: question about TCK-1057 and TCK-1063
Can you merge my tickets? tck-1063 is a duplicate.
"""


def prepare(folder: Path) -> None:
    write(folder / "export.txt", EXPORT)


SCRIPT = (
    User(
        "export.txt is a dump of support emails. List every ticket id mentioned (like TCK-1042) "
        "and the customer emails, without our own noreply address."
    ),
    Retried(
        """
I will run code.
I'll print the whole export to see what's in it.
""",
        """
print(open("export.txt").read())
""",
    ),
    Code(
        """
I will run code.
I'll look at the size and the From and Subject lines first, to see how ids and addresses are
written.
""",
        """
from pathlib import Path

text = Path("export.txt").read_text(encoding="utf-8")
print(len(text.splitlines()), "lines")
!grep -n "^From:\\|^Subject:" export.txt
""",
        expect=("15 lines", "From: ahmed+orders@example.org", "[TCK-1057]"),
    ),
    Edited(
        """
Ids look like TCK-1042, once in lower case (tck-1063). Addresses have dots, plus signs and
multi-part domains. I'll extract both with regular expressions.
""",
        """
import re

tickets = sorted(set(re.findall(r"TCK-\\d+", text)))
emails = sorted(set(re.findall(r"\\w+@\\w+\\.\\w+", text)))
print(tickets)
print(emails)
""",
    ),
    Code(
        """
I will run code.
Ids look like TCK-1042, once in lower case (tck-1063). Addresses have dots, plus signs and
multi-part domains. I'll match ids case-insensitively and normalise them to upper case, take
addresses from the From lines only, and drop our noreply address.
""",
        """
import re

tickets = sorted({t.upper() for t in re.findall(r"\\bTCK-\\d{4}\\b", text, re.IGNORECASE)})
senders = re.findall(r"^From:\\s*([\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+)\\s*$", text, re.MULTILINE)
customers = sorted({s.lower() for s in senders if not s.lower().startswith("noreply@")})
print(tickets)
print(customers)
""",
        expect=(
            "['TCK-1042', 'TCK-1057', 'TCK-1061', 'TCK-1063']",
            "'ahmed+orders@example.org'",
            "'j.smith@mail.example.co.uk'",
        ),
    ),
    Answer(
        """
Four distinct tickets and three customer addresses.
""",
        """
**Ticket ids** (4, case normalised, duplicates removed): TCK-1042, TCK-1057, TCK-1061,
TCK-1063. `tck-1063` appears in lower case once; TCK-1061 is only mentioned by the helpdesk's
"closed" notice.

**Customer emails** (3, from the `From:` lines, noreply left out):
- ahmed+orders@example.org
- j.smith@mail.example.co.uk
- maria.gonzalez@shop.example.com

The patterns used: `\\bTCK-\\d{4}\\b` (case-insensitive) for ids, and
`[\\w.+-]+@[\\w-]+(\\.[\\w-]+)+` for addresses, which allows dots and `+` before the `@` and
domains with several parts (`mail.example.co.uk`).
""",
        rate="up",
    ),
)
