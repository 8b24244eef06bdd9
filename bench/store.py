"""Store benchmark: durable appends, loading, exporting and importing a 10,000-event session.

    python bench/store.py [--events N] [--contention S]

Targets (latency of a write and a load): one append with its commit under 2 ms; the 10k session
loads in under 100 ms. Under contention: appends while another process takes and releases the write
lock (their latency distribution, beside the same run's uncontended figures), the notice after 1 s
of a long hold, and the event loop's longest stall when the appends run in a worker thread, as the
app must run them. Prints figures for people, then one JSON object of them as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.events import Result, Turn, UserMessage  # noqa: E402
from core.session import Session  # noqa: E402
from core.store.database import Store  # noqa: E402
from core.store.lock import LockWait  # noqa: E402

# Takes the write lock for `hold` s, lets it go for `free` s, again and again; then one long hold.
HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
hold, free, until, long_hold = map(float, sys.argv[2:6])
print("ready", flush=True)
end = time.monotonic() + until
while time.monotonic() < end:
    db.execute("BEGIN IMMEDIATE"); time.sleep(hold); db.execute("COMMIT"); time.sleep(free)
db.execute("BEGIN IMMEDIATE"); time.sleep(long_hold); db.execute("COMMIT")
"""
from core.formats.read import import_session, parse_session  # noqa: E402
from core.formats.write import session_to_xml  # noqa: E402


def body(i: int):
    match i % 4:
        case 0:
            return UserMessage(f"message {i}: please look at the data frame and plot column {i}")
        case 1 | 2:
            return Turn(
                f"thought {i}: " + "reasoning about the next step. " * 6,
                code=f"df{i} = df.groupby('k').sum()\nprint(df{i}.head())\n" * 3,
                meta={"tokens": {"prompt": 900 + i, "output": 120}},
            )
        case _:
            return Result(
                output=f"result {i}\n" + "   a   b   c\n0  1   2   3\n" * 8,
                execution_count=i,
                duration=0.01,
            )


def fill(session: Session, count: int) -> list[float]:
    """Append `count` events (a verdict on most turns), returning each append's seconds."""
    timings: list[float] = []
    i = 0
    while len(timings) < count:
        b = body(i)
        start = time.perf_counter()
        event = session.append(b)
        timings.append(time.perf_counter() - start)
        if isinstance(b, Turn) and len(timings) < count:
            start = time.perf_counter()
            session.judge(event.id, "accepted")
            timings.append(time.perf_counter() - start)
        i += 1
    return timings


def percentiles(timings: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(timings, n=100)
    return {
        "median_ms": statistics.median(timings) * 1e3,
        "p90_ms": cuts[89] * 1e3,
        "p99_ms": cuts[98] * 1e3,
        "max_ms": max(timings) * 1e3,
    }


async def contended_appends(store: Store, seconds: float) -> dict[str, float]:
    """Append from a worker thread every 20 ms while another process holds the write lock 200 ms
    of every 500 ms, then 3 s at once; a ticker meanwhile watches the event loop."""
    session = Session.create(store, title="contended")
    notices: list[LockWait] = []
    store.lock_notice = notices.append
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.path), "0.2", "0.3", str(seconds), "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    holder.stdout.readline()
    timings: list[float] = []
    stalls = [0.0]
    loop_free = True

    async def tick() -> None:
        last = time.monotonic()
        while loop_free:
            await asyncio.sleep(0.001)
            now = time.monotonic()
            stalls.append(now - last - 0.001)
            last = now

    def append_one() -> float:
        start = time.perf_counter()
        session.append(UserMessage("a message while another process writes"))
        return time.perf_counter() - start

    ticker = asyncio.create_task(tick())
    while holder.poll() is None:
        timings.append(await asyncio.to_thread(append_one))
        await asyncio.sleep(0.02)
    loop_free = False
    await ticker
    long_waits = [n.waited for n in notices if not n.done]
    return {
        **{f"contended_{k}": v for k, v in percentiles(timings).items()},
        "contended_appends": len(timings),
        "contended_waited_over_100ms": sum(t > 0.1 for t in timings),
        "notices": len(long_waits),
        "notice_after_s": long_waits[0] if long_waits else -1.0,
        "loop_stall_max_ms": max(stalls) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--contention", type=float, default=6.0, help="seconds of lock churn")
    args = parser.parse_args()
    figures: dict[str, float | int | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "contended.db") as store:
            figures.update(asyncio.run(contended_appends(store, args.contention)))
        for sync in ("FULL", "NORMAL"):
            with Store(Path(tmp) / f"append-{sync}.db", synchronous=sync) as store:
                timings = fill(Session.create(store), 2000)
                figures[f"append_{sync.lower()}_median_ms"] = statistics.median(timings) * 1e3
                figures[f"append_{sync.lower()}_p99_ms"] = (
                    statistics.quantiles(timings, n=100)[98] * 1e3
                )
                figures[f"appends_per_s_{sync.lower()}"] = len(timings) / sum(timings)

        with Store(Path(tmp) / "big.db") as store:
            session = Session.create(store, title="big")
            timings = fill(session, args.events)
            events = len(session.tree)
            loads = []
            for _ in range(5):
                start = time.perf_counter()
                loaded = Session.open(store, session.id)
                loads.append(time.perf_counter() - start)
            assert len(loaded.tree) == events
            start = time.perf_counter()
            xml = session_to_xml(loaded.info, loaded.tree)
            export_s = time.perf_counter() - start
            start = time.perf_counter()
            parsed = parse_session(xml.encode("utf-8"))
            parse_s = time.perf_counter() - start
            start = time.perf_counter()
            import_session(store, parsed)
            insert_s = time.perf_counter() - start

    figures.update(
        session_events=events,
        load_ms=min(loads) * 1e3,
        load_median_ms=statistics.median(loads) * 1e3,
        export_ms=export_s * 1e3,
        export_mib=len(xml.encode()) / 2**20,
        import_parse_ms=parse_s * 1e3,
        import_insert_ms=insert_s * 1e3,
        import_ms=(parse_s + insert_s) * 1e3,
    )
    print(
        f"append + commit, synchronous=FULL (the default): median "
        f"{figures['append_full_median_ms']:.3f} ms, p99 {figures['append_full_p99_ms']:.3f} ms, "
        f"{figures['appends_per_s_full']:.0f}/s  (target: < 2 ms)"
    )
    print(
        f"append + commit, synchronous=NORMAL: median {figures['append_normal_median_ms']:.3f} ms,"
        f" {figures['appends_per_s_normal']:.0f}/s"
    )
    print(
        f"load a {events}-event session: {figures['load_ms']:.1f} ms (best of 5), "
        f"median {figures['load_median_ms']:.1f} ms  (target: < 100 ms)"
    )
    print(f"export it to XML: {figures['export_ms']:.1f} ms ({figures['export_mib']:.1f} MiB)")
    print(
        f"import it back: {figures['import_ms']:.1f} ms (parse {figures['import_parse_ms']:.1f} "
        f"ms, insert {figures['import_insert_ms']:.1f} ms)"
    )
    print(
        f"append while another process holds the write lock 200 ms of every 500 ms "
        f"({figures['contended_appends']} appends from a worker thread): median "
        f"{figures['contended_median_ms']:.1f} ms, p90 {figures['contended_p90_ms']:.1f} ms, "
        f"p99 {figures['contended_p99_ms']:.1f} ms, max {figures['contended_max_ms']:.0f} ms; "
        f"{figures['contended_waited_over_100ms']} waited over 100 ms"
    )
    print(
        f"  a 3 s hold: the writer's notice came after {figures['notice_after_s']:.2f} s "
        f"(target: 1 s); longest event-loop stall meanwhile "
        f"{figures['loop_stall_max_ms']:.1f} ms (target <= 50 ms: the append blocks only the "
        "thread that calls it, so the app must not call it on its UI thread)"
    )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
