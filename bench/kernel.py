"""Kernel runner benchmark: start, round trip, interrupt, the event loop during a flood, and
memory while idle beside a thread that never stops printing.

    python bench/kernel.py [--runs N] [--idle S]

Targets (latency and liveness): `1+1` round trip median <= 5 ms; interrupt to idle <= 1 s; no stall
of the asyncio event loop over 50 ms while 100 MB of output floods in. Background output: memory
does not grow while the app idles beside a thread printing after its cell ended (it grew ~0.4 MB/s
when nobody read the kernel's messages). Prints figures for people, then one JSON object as the last
line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.kernel.config import KernelConfig  # noqa: E402
from core.kernel.runner import KernelRunner  # noqa: E402


async def largest_stall(work) -> tuple[float, object]:
    """Run `work` while a ticker measures the longest time the event loop was not free."""
    stalls = [0.0]
    done = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.monotonic()
            stalls.append(now - last - 0.001)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        result = await work
    finally:
        done.set()
        await ticker
    return max(stalls), result


async def bare_round_trip(client, code: str) -> None:
    """The same request with nothing of the runner: jupyter_client and the kernel alone."""
    msg_id = client.execute(code)
    while True:
        message = await client.get_iopub_msg(timeout=10)
        if (
            message["parent_header"].get("msg_id") == msg_id
            and message["msg_type"] == "status"
            and message["content"]["execution_state"] == "idle"
        ):
            break
    while (await client.get_shell_msg(timeout=10))["parent_header"].get("msg_id") != msg_id:
        pass


async def measure(runs: int, spec_dir: str, idle: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    starts = []
    for _ in range(3):
        runner = KernelRunner(KernelConfig(spec_dir=spec_dir))
        began = time.perf_counter()
        await runner.start()
        starts.append(time.perf_counter() - began)
        await runner.shutdown()
    figures["start_s"] = statistics.median(starts)

    runner = KernelRunner(KernelConfig(spec_dir=spec_dir))
    await runner.start()
    for _ in range(10):
        await runner.execute("1+1")
    trips = []
    for _ in range(runs):
        began = time.perf_counter()
        await runner.execute("1+1")
        trips.append(time.perf_counter() - began)
    figures["round_trip_median_ms"] = statistics.median(trips) * 1e3
    figures["round_trip_p99_ms"] = statistics.quantiles(trips, n=100)[98] * 1e3
    raw = []
    from jupyter_client.asynchronous.client import AsyncKernelClient

    # A client of its own (own zmq context too: closing one made from the manager ends the
    # runner's sockets), since the runner's reader takes every message of the runner's client.
    client = AsyncKernelClient()
    client.load_connection_info(runner.manager.get_connection_info())
    client.start_channels()
    await client.wait_for_ready(timeout=30)
    for _ in range(runs):
        began = time.perf_counter()
        await bare_round_trip(client, "1+1")
        raw.append(time.perf_counter() - began)
    client.stop_channels()
    figures["bare_client_round_trip_median_ms"] = statistics.median(raw) * 1e3

    interrupts = []
    for _ in range(5):
        started = asyncio.Event()
        task = asyncio.create_task(
            runner.execute(
                "import time\nprint('go', flush=True)\ntime.sleep(60)",
                on_output=lambda _event, started=started: started.set(),
            )
        )
        await started.wait()
        began = time.perf_counter()
        await runner.interrupt()
        result = await task
        assert result.status == "interrupted", result
        interrupts.append(time.perf_counter() - began)
    figures["interrupt_to_idle_ms"] = statistics.median(interrupts) * 1e3
    figures["interrupt_to_idle_max_ms"] = max(interrupts) * 1e3

    stall, result = await largest_stall(runner.execute("print('x' * 100_000_000)"))
    figures["flood_100mb_stall_ms"] = stall * 1e3
    figures["flood_100mb_kept_chars"] = len(result.output)
    stall, result = await largest_stall(runner.execute("for i in range(1_000_000): print(i)"))
    figures["flood_1m_lines_stall_ms"] = stall * 1e3
    await runner.shutdown()

    # The same 100 MB without the in-kernel cap: what a kernel that is not IPython costs.
    runner = KernelRunner(KernelConfig(spec_dir=spec_dir, cap_in_kernel=False))
    await runner.start()
    stall, result = await largest_stall(runner.execute("print('x' * 100_000_000)"))
    figures["flood_100mb_uncapped_stall_ms"] = stall * 1e3
    await runner.shutdown()
    figures.update(await idle_beside_a_chatty_thread(spec_dir, idle))
    return figures


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def idle_beside_a_chatty_thread(spec_dir: str, seconds: float) -> dict[str, float]:
    """This process's memory while idle, a kernel thread printing ~200 kB/s all along."""
    events = []
    runner = KernelRunner(KernelConfig(spec_dir=spec_dir), on_kernel_event=events.append)
    await runner.start()
    await runner.execute(
        "import threading, time\n"
        "def _chatter():\n"
        "    while True:\n"
        "        print('tick ' * 40); time.sleep(0.001)\n"
        "threading.Thread(target=_chatter, daemon=True).start()"
    )
    await asyncio.sleep(5)  # settle: allocator pools, the first events
    before, began = rss_mb(), time.monotonic()
    await asyncio.sleep(seconds)
    after, elapsed = rss_mb(), time.monotonic() - began
    background = [e for e in events if e.state == "background"]
    later = await runner.execute("import time; time.sleep(1); print('done')")
    await runner.shutdown()
    return {
        "idle_s": elapsed,
        "idle_rss_growth_mb_per_s": (after - before) / elapsed,
        "idle_rss_mb": after,
        "background_events": len(background),
        "background_chars_kept": sum(len(e.detail) for e in background),
        "cell_beside_thread_ok": float(later.status == "ok" and later.output == "done\n"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds idle beside the thread")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as spec_dir:
        f = asyncio.run(measure(args.runs, spec_dir, args.idle))

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"kernel start (median of 3): {f['start_s']:.2f} s")
    print(
        f"1+1 round trip over {args.runs}: median {f['round_trip_median_ms']:.2f} ms, "
        f"p99 {f['round_trip_p99_ms']:.2f} ms  (target median <= 5 ms: "
        f"{verdict(f['round_trip_median_ms'] <= 5)})"
    )
    print(
        f"  the same through jupyter_client alone, no runner: median "
        f"{f['bare_client_round_trip_median_ms']:.2f} ms (the kernel's own floor on this machine)"
    )
    print(
        f"interrupt to idle: median {f['interrupt_to_idle_ms']:.0f} ms, max "
        f"{f['interrupt_to_idle_max_ms']:.0f} ms  (target <= 1 s: "
        f"{verdict(f['interrupt_to_idle_max_ms'] <= 1000)})"
    )
    print(
        f"largest event-loop stall, 100 MB printed: {f['flood_100mb_stall_ms']:.1f} ms "
        f"(kept {f['flood_100mb_kept_chars']:.0f} characters); a million lines: "
        f"{f['flood_1m_lines_stall_ms']:.1f} ms  (target <= 50 ms: "
        f"{verdict(max(f['flood_100mb_stall_ms'], f['flood_1m_lines_stall_ms']) <= 50)})"
    )
    print(
        f"  without the in-kernel cap (a kernel that is not IPython): "
        f"{f['flood_100mb_uncapped_stall_ms']:.0f} ms"
    )
    print(
        f"idle {f['idle_s']:.0f} s beside a thread printing ~200 kB/s: memory "
        f"{f['idle_rss_growth_mb_per_s'] * 1000:+.1f} kB/s (was ~+400 kB/s), "
        f"{f['background_events']:.0f} background events kept {f['background_chars_kept']:.0f} "
        f"characters; a cell run beside it came back "
        f"{'clean' if f['cell_beside_thread_ok'] else 'NOT clean'}"
    )
    print(json.dumps({k: round(v, 3) for k, v in f.items()}))


if __name__ == "__main__":
    main()
