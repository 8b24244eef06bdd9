"""IPython `!` lines (ls, wc, grep, awk, sort | uniq -c) find a checkout outage in a web log."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "Checkout errors in web-01's logs, with grep, awk and uniq"
FOLDER = "logs"


def _log_lines(rng: random.Random, day: date, count: int, incident: bool) -> list[str]:
    """A day of access lines; with `incident`, payments times out from 14:05 to 14:40, users
    retry their checkouts, and the retries after 14:40 go through."""
    endpoints = [
        ("GET", "/api/products", 0.40),
        ("GET", "/api/orders", 0.22),
        ("POST", "/api/cart", 0.18),
        ("POST", "/api/checkout", 0.12),
        ("POST", "/api/login", 0.08),
    ]
    window = (14 * 3600 + 5 * 60, 14 * 3600 + 40 * 60)
    requests = [
        (second, *rng.choices(endpoints, weights=[e[2] for e in endpoints])[0][:2])
        for second in rng.sample(range(8 * 3600, 20 * 3600), count)
    ]
    if incident:
        requests += [(rng.randrange(*window), "POST", "/api/checkout") for _ in range(34)]
        after = (window[1], window[1] + 15 * 60)  # the retries that get through once it is over
        requests += [(rng.randrange(*after), "POST", "/api/checkout") for _ in range(6)]
    lines = []
    for second, method, path in sorted(requests):
        at = datetime(day.year, day.month, day.day) + timedelta(seconds=second)
        in_window = incident and window[0] <= second < window[1]
        ok = 201 if method == "POST" else 200
        if path == "/api/checkout" and in_window and rng.random() < 0.85:
            ms = rng.randint(5000, 5100)
            line = f"ERROR {method} {path} 504 {ms}ms upstream timeout (payments)"
        elif rng.random() < 0.012:
            line = f"ERROR {method} {path} 500 {rng.randint(20, 90)}ms unhandled exception"
        elif rng.random() < 0.03:
            line = f"WARN  {method} {path} {ok} {rng.randint(1200, 2500)}ms slow response"
        else:
            line = f"INFO  {method} {path} {ok} {rng.randint(8, 180)}ms"
        lines.append(f"{at:%Y-%m-%d %H:%M:%S} {line}")
    return lines


def prepare(folder: Path) -> None:
    rng = random.Random(604)
    write(
        folder / "app.log.1",
        "\n".join(_log_lines(rng, date(2024, 6, 12), 260, incident=False)) + "\n",
    )
    write(
        folder / "app.log",
        "\n".join(_log_lines(rng, date(2024, 6, 13), 420, incident=True)) + "\n",
    )
    write(
        folder / "README.txt",
        "Logs copied from web-01 on 2024-06-14. app.log is 2024-06-13, app.log.1 the day before.\n",
    )


SCRIPT = (
    User(
        "These are yesterday's logs from web-01. Users complained that checkout failed in the "
        "afternoon. How many errors were there, and what happened?",
    ),
    Code(
        """
I will run code.
Shell tools fit here. First what is in the folder and how long each file is.
""",
        """
!ls
!cat README.txt
!wc -l app.log app.log.1
""",
        expect=("460 app.log", "260 app.log.1"),
    ),
    Code(
        """
app.log is yesterday (2024-06-13), app.log.1 the day before. I'll look at the line format and
count the errors in both days for comparison.
""",
        """
!head -n 3 app.log
!grep -c " ERROR " app.log
!grep -c " ERROR " app.log.1
""",
        expect=("INFO  GET /api/products", "\n35\n1\n"),
    ),
    Edited(
        """
35 errors yesterday against 1 the day before. I'll count the errors by endpoint.
""",
        """
!grep " ERROR " app.log | awk '{print $3, $4}' | sort | uniq -c | sort -rn
""",
    ),
    Code(
        """
I will run code.
35 errors yesterday against 1 the day before. The fields are date, time, level, method, path and
status, so I'll count the errors by endpoint and status.
""",
        """
!grep " ERROR " app.log | awk '{print $4, $5, $6}' | sort | uniq -c | sort -rn
""",
        expect=("30 POST /api/checkout 504", "3 GET /api/products 500"),
    ),
    Retried(
        """
30 of the 35 are 504s on POST /api/checkout. I'll look at some of them.
""",
        """
!grep " 504 " app.log | head
""",
    ),
    Code(
        """
I will run code.
30 of the 35 are 504s on POST /api/checkout. Next, when they happened and what they say. The
first 15 characters of a line give the timestamp to the ten minutes.
""",
        """
!grep " ERROR POST /api/checkout 504" app.log | cut -c 1-15 | uniq -c
!grep " ERROR POST /api/checkout 504" app.log | sed -n '1p;$p'
!grep " ERROR POST /api/checkout 504" app.log | grep -o "upstream.*" | sort | uniq -c
""",
        expect=("14:05:48", "14:38:51", "30 upstream timeout (payments)"),
    ),
    Code(
        """
Every one is an upstream timeout to payments after about 5 s, from 14:05:48 to 14:38:51. To
see whether checkout recovered, I'll tally every checkout request from 14:00 to 15:59 by
ten-minute slot and status.
""",
        """
!grep " 1[45]:.*POST /api/checkout" app.log | awk '{print substr($2,1,4) "0", $6}' | sort | uniq -c
""",
        expect=("5 14:40 201", "14 14:10 504"),
    ),
    Answer(
        """
In the window 30 of 34 checkout attempts failed; from 14:40 they succeed again. The other
errors are a few scattered 500s. I'll write it up.
""",
        """
Checkout broke on the afternoon of 2024-06-13, and the cause was the payments service, not the
web app itself:

- **35 errors** yesterday, against 1 the day before (`app.log.1`).
- **30 of them** are `504` on `POST /api/checkout`, each logged as `upstream timeout (payments)`
  after about 5 s (the gateway's timeout), all between **14:05:48 and 14:38:51**. In that half
  hour 30 of 34 checkout attempts failed; there were far more attempts than usual, which looks
  like users retrying.
- From 14:40 checkouts go through again (5 in the next ten minutes), so it was a ~35-minute
  outage, not a lasting fault.
- The other 5 errors are scattered `500 unhandled exception`s (3 on `/api/products`, 1 on
  `/api/cart`, 1 on checkout), unrelated to the outage but worth a look separately.

Next steps: check the payments provider's status page or its logs for 14:05 to 14:40 UTC. It
would also help to fail faster there, with a clear "payment service unavailable" message,
rather than making users wait 5 s and then retry into the same outage.
""",
    ),
)
