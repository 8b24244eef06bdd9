"""A pure question (asyncio or threads for many HTTP requests?): a code turn skipped with a
reason, then a direct answer."""

from __future__ import annotations

from data.script import Answer, Skip, User

TITLE = "asyncio or threads? (a question, answered in words)"
FOLDER = "fetch"

SCRIPT = (
    User("I need to fetch about 500 URLs. Should I use asyncio or threads?"),
    Skip(
        """
I will run code.
Time both on localhost.
""",
        """
import asyncio, threading, time
print("benchmark", time.time())
""",
        reason="I'm asking for advice, not a benchmark.",
    ),
    Answer(
        """
I can explain this.
""",
        """
Both work, since the time goes into waiting on the network, not into Python.

- **Threads** (`concurrent.futures.ThreadPoolExecutor` with `requests`) are the simplest if
  your code is already synchronous: 20–50 workers fetch 500 URLs quickly.
- **asyncio** (with `aiohttp` or `httpx.AsyncClient`) scales to thousands of requests with
  little memory, and is the natural choice if the rest of the program is async.

For 500 URLs, a thread pool is usually enough. Either way, cap the concurrency and set a
timeout so that one slow server does not hold everything up.
""",
        rate="up",
    ),
)
