"""How many CPU threads torch may use while a turn is generated, and setting that in the worker.

The app generates in a worker thread while its UI thread (Textual's event loop, drawing the
streamed text) keeps running. torch's intra-op pool is an OpenMP team that, by default, spans
every core; each token step ends at a barrier that waits for the slowest member. When the UI
thread or any other process takes one of those cores, a member is descheduled and the whole
step waits for it: on a 2-core machine that halved the decode speed. So the generating thread
keeps one core free for the rest of the app, unless the user chose a count (`OMP_NUM_THREADS`,
or `KYZEL_TORCH_THREADS`, which wins). Measured with bench/threads.py.
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
    return max(1, cores() - 1)


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
