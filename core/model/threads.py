"""How many CPU threads torch may use while a turn is generated, and setting that in the worker.

The app generates in a worker thread while its UI thread (Textual's event loop, drawing the
streamed text) keeps running. torch keeps its intra-op team size per thread, so the worker sets
its own before its first op: every core by default, which on a quiet 2-core machine decodes about
15 % faster than leaving one core to the UI (bench/threads.py: 56.6 against 48.0 tokens/s, plain
`generate` 60.6). On a machine other programs keep busy, a smaller team avoids waiting at each
step's barrier for a descheduled member (one thread was many times faster there); the user
chooses that with `KYZEL_TORCH_THREADS` (which wins) or `OMP_NUM_THREADS`.
"""

from __future__ import annotations

import os
from typing import Any

ENV = "KYZEL_TORCH_THREADS"


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def generation_threads() -> int | None:
    """The intra-op thread count for a generating thread; None: the user's own setting stands."""
    chosen = os.environ.get(ENV, "").strip()
    if chosen:
        try:
            return max(1, int(chosen))
        except ValueError:
            return None  # a word where a number belongs: torch's own default
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return None
    return cores()


def enter_generation_thread(torch: Any) -> int:
    """Give the calling (worker) thread its intra-op team size; returns the size it runs with.

    torch keeps the team size per thread once a thread has run an op, so this is set in the
    thread that generates, before its first op.
    """
    wanted = generation_threads()
    if wanted is None:
        wanted = torch.get_num_threads()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted
