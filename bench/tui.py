"""The Textual app benchmark: first frame, keys while a turn streams, a 10,000-event session.

    python bench/tui.py [--runs N]

Targets: the first frame within 0.5 s of the process starting; a key's action within 50 ms
while a turn streams at full speed; a 10,000-event session that opens at once and scrolls
smoothly (each scroll key within 50 ms, the event loop never stalled over 50 ms). Prints figures
for people, then one JSON object of them as the last line.

First frames are timed on real processes (`python -m kyzel_tui --demo` on a pseudo-terminal,
from just before the process is spawned to the first bytes that draw the screen's text). Keys are
timed in-process (`run_test`), posted to the driver as a terminal would, from the post to the
action's effect (state) and to the next frame written to the terminal (frame).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _first_frame import SIZE, first_frame  # noqa: E402
from textual import events  # noqa: E402

from core.events import Event, Result, Turn, UserMessage, Verdict  # noqa: E402
from core.kernel.config import KernelConfig  # noqa: E402
from core.model.generate import Sampling  # noqa: E402
from core.model.loading import load_demo  # noqa: E402
from core.store.database import SessionInfo, Store  # noqa: E402
from grammars.turn import TurnFields, render  # noqa: E402
from kyzel_tui.app import make_app  # noqa: E402
from kyzel_tui.config import AppConfig  # noqa: E402
from kyzel_tui.widgets.transcript.transcript import WINDOW  # noqa: E402
from kyzel_tui.widgets.transcript.turn_view import TurnView  # noqa: E402

from scripted_model import scripted  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIG_SESSION = "BENCH10K"
BIG_EVENTS = 10_000
LAST_OUTPUT = "the last result of the long session"


class FrameClock:
    """Notes when the app last composed a frame for its terminal (headless: not written out)."""

    def __init__(self, app) -> None:
        self.last = 0.0
        display = app._display

        def timed(screen, renderable) -> None:
            display(screen, renderable)
            if renderable is not None:
                self.last = time.perf_counter()

        app._display = timed


async def key_latency(app, clock: FrameClock, key: str, effect, timeout: float = 5) -> tuple:
    """(seconds to the effect, seconds to the next frame after it) for one key press."""
    character = {"plus": "+", "minus": "-"}.get(key, key if len(key) == 1 else None)
    event = events.Key(key, character)
    event.set_sender(app)
    started = time.perf_counter()
    app._driver.send_message(event)
    while not effect():
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{key} had no effect within {timeout} s")
        await asyncio.sleep(0.0005)
    done = time.perf_counter()
    while clock.last < done and time.perf_counter() - done < timeout:
        await asyncio.sleep(0.0005)
    return done - started, clock.last - started


class StallMeter:
    """The longest time the event loop was busy, measured by a ticker task."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.001)
            last = now

    def start(self) -> None:
        self.longest = 0.0
        self._task = asyncio.get_running_loop().create_task(self._tick())

    def stop(self) -> float:
        self._task.cancel()
        return self.longest


async def wait(pilot, predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("the app never got there")
        await pilot.pause(0.02)


def answered_session(store: Store) -> str:
    """A session with one answered question, to have a turn to rate."""
    at = time.time()
    events_ = [
        Event("RATE0", "RATE", None, UserMessage("hello"), at),
        Event("RATE1", "RATE", "RATE0", Turn("greet", answer="Hello!"), at + 1),
    ]
    store.insert_session(SessionInfo("RATE", "rate me", at, at, "tiny", "RATE1"), events_, {})
    return "RATE"


async def streaming_keys(loaded, home: Path, presses: int) -> dict:
    """Keys pressed while the model streams a long turn as fast as it can."""
    with Store.open(home) as store:
        session = answered_session(store)
    config = AppConfig(
        home=home,
        session=session,
        kernel=KernelConfig(spec_dir=str(home / "spec")),
        model_loader=lambda progress: loaded,
        sampling=Sampling(max_new_tokens=3000),
    )
    long_turn = render(TurnFields("thinking about it " * 1000, code="print(1)"))
    app = make_app(config)
    figures: dict[str, float] = {}
    with scripted(loaded.model, loaded.tokenizer, [long_turn]):
        async with app.run_test(size=SIZE) as pilot:
            main = app.main
            await wait(pilot, lambda: app.agent.model is not None)
            clock = FrameClock(app)
            prompt = main.query_one("#prompt")
            prompt.value = "think it over"
            await pilot.press("enter")
            await wait(pilot, lambda: main.transcript.stream_view is not None)
            stream = main.transcript.stream_view
            await wait(pilot, lambda: len(stream.text) > 200)
            meter = StallMeter()
            meter.start()
            first_chars, first_at = len(stream.text), time.perf_counter()

            typing = []
            for _ in range(presses):
                before = prompt.value
                typing.append(
                    await key_latency(app, clock, "x", lambda b=before: prompt.value != b)
                )
                await asyncio.sleep(0.05)
            rated = main.query(TurnView).last()
            rated.focus()  # as a click would: escape in the box stops the turn while it streams
            # A person's pause: the footer follows the focus (its Stop key shows outside the box)
            # and rebuilds its keys, which a key pressed 50 ms after the click waited out.
            await asyncio.sleep(0.3)
            rating = []
            rate_meter = StallMeter()  # the rating's commit runs in the writer thread
            rate_meter.start()
            for index in range(presses):
                key, value = ("plus", "up") if index % 2 == 0 else ("minus", "down")
                rating.append(
                    await key_latency(
                        app, clock, key, lambda v=value: app.agent.tree.rating(rated.event_id) == v
                    )
                )
                await asyncio.sleep(0.05)
            figures["stall_while_rating_ms"] = rate_meter.stop() * 1e3
            streamed = (len(stream.text) - first_chars) / (time.perf_counter() - first_at)
            tokens = stream.text.count("thinking")
            stop = await key_latency(app, clock, "escape", lambda: main.generation is None)
            figures["stall_while_streaming_ms"] = meter.stop() * 1e3
            figures["streamed_chars_per_s"] = streamed
            figures["streamed_words"] = tokens
    for name, samples in (("type", typing), ("rate", rating)):
        figures[f"{name}_effect_median_ms"] = statistics.median(s[0] for s in samples) * 1e3
        figures[f"{name}_effect_max_ms"] = max(s[0] for s in samples) * 1e3
        figures[f"{name}_frame_median_ms"] = statistics.median(s[1] for s in samples) * 1e3
        figures[f"{name}_frame_max_ms"] = max(s[1] for s in samples) * 1e3
    figures["stop_effect_ms"], figures["stop_frame_ms"] = (s * 1e3 for s in stop)
    return figures


# A long session


def long_session(store: Store, size: int = BIG_EVENTS) -> None:
    """`size` events in one branch: user, turn with code, verdict, result, over and over."""
    at = time.time() - size
    out: list[Event] = []
    parent = None
    for index in range(size // 4):
        last = index == size // 4 - 1
        bodies = [
            UserMessage(f"step {index}: load the next file and count its rows"),
            Turn(f"Read file {index} with pandas and count.", code=f"len(pd.read_csv('{index}'))"),
            Verdict("accepted"),
            Result(output=LAST_OUTPUT if last else f"{index * 7}\n", duration=0.01),
        ]
        for body in bodies:
            event_id = f"{BIG_SESSION}{len(out):06d}"
            event_parent = out[-2].id if isinstance(body, Result) else parent
            out.append(Event(event_id, BIG_SESSION, event_parent, body, at + len(out)))
            if body.kind != "verdict":
                parent = event_id
    info = SessionInfo(BIG_SESSION, "a long session", at, at + size, "tiny", parent)
    store.insert_session(info, out, {})


async def long_session_scrolling(home: Path, loaded) -> dict:
    config = AppConfig(
        home=home,
        session=BIG_SESSION,
        kernel=KernelConfig(spec_dir=str(home / "spec")),
        model_loader=lambda progress: loaded,
    )
    started = time.perf_counter()
    app = make_app(config)
    figures: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        transcript = app.main.transcript
        await wait(pilot, lambda: len(transcript.children) >= min(WINDOW, BIG_EVENTS) // 2)
        await pilot.pause()
        figures["open_in_process_s"] = time.perf_counter() - started
        clock = FrameClock(app)
        transcript.focus()
        await pilot.pause()
        meter = StallMeter()
        meter.start()
        samples = []
        for key in ["home", "end"] + ["pageup"] * 10 + ["pagedown"] * 5 + ["end"]:
            before = transcript.scroll_target_y
            samples.append(
                await key_latency(app, clock, key, lambda b=before: transcript.scroll_target_y != b)
            )
            await asyncio.sleep(0.1)
        figures["scroll_stall_ms"] = meter.stop() * 1e3
        figures["scroll_effect_max_ms"] = max(s[0] for s in samples) * 1e3
        figures["scroll_frame_median_ms"] = statistics.median(s[1] for s in samples) * 1e3
        figures["scroll_frame_max_ms"] = max(s[1] for s in samples) * 1e3
        turn = app.main.query(TurnView).last()
        turn.focus()
        await pilot.pause()
        rated = await key_latency(
            app, clock, "plus", lambda: app.agent.tree.rating(turn.event_id) == "up"
        )
        figures["rate_in_long_session_ms"] = rated[1] * 1e3
        figures["new_event_long_session_ms"] = await new_event(app, clock) * 1e3
        shown = len(transcript.children)
        more = await key_latency(app, clock, "ctrl+home", lambda: len(transcript.children) > shown)
        figures["show_500_more_ms"] = more[1] * 1e3
    return figures


async def new_event(app, clock: FrameClock) -> float:
    """Seconds from a new event (a message) to the frame that shows it at the end."""
    transcript = app.main.transcript
    count = len(transcript.children)
    started = time.perf_counter()
    app.main.agent.say("one more message")
    app.main.refresh_view()
    await asyncio.sleep(0)
    while len(transcript.children) <= count or not all(c.is_mounted for c in transcript.children):
        await asyncio.sleep(0.0005)
    mounted = time.perf_counter()
    while clock.last < mounted:
        await asyncio.sleep(0.0005)
    return clock.last - started


def target(value: float, limit: float, unit: str) -> str:
    return f"(target < {limit:g} {unit}: {'met' if value < limit else 'MISSED'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="process starts to time (default 3)")
    parser.add_argument("--presses", type=int, default=20, help="keys of each kind (default 20)")
    args = parser.parse_args()

    loaded = load_demo()  # built once in the user's cache (or $KYZEL_TINY_CACHE), as --demo does
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kyzel-bench-tui-") as folder:
        root = Path(folder)
        starts = [
            first_frame(root / f"start{run}", ["Type a message", "DEMO"], [])
            for run in range(args.runs)
        ]
        figures["first_frame_s"] = statistics.median(s["Type a message"] for s in starts)
        figures["first_frame_min_s"] = min(s["Type a message"] for s in starts)
        figures["model_ready_s"] = statistics.median(s["DEMO"] for s in starts)
        figures["quit_s"] = statistics.median(s["quit"] for s in starts)

        figures.update(asyncio.run(streaming_keys(loaded, root / "keys", args.presses)))

        big = root / "big"
        with Store.open(big) as store:
            long_session(store)
        opened = first_frame(big, ["a long session", LAST_OUTPUT], ["--session", BIG_SESSION])
        figures["open_10k_first_frame_s"] = opened["a long session"]
        figures["open_10k_transcript_s"] = opened[LAST_OUTPUT]
        figures.update(asyncio.run(long_session_scrolling(big, loaded)))

    print(
        f"first frame: {figures['first_frame_s']:.3f} s median of {args.runs} process starts "
        f"(best {figures['first_frame_min_s']:.3f} s)  {target(figures['first_frame_s'], 0.5, 's')}"
    )
    print(
        f"  then the demo model ready at {figures['model_ready_s']:.2f} s (the kernel starts "
        f"when code first runs); ctrl+q to exit {figures['quit_s']:.2f} s"
    )
    print(
        f"while a turn streams ({figures['streamed_chars_per_s']:.0f} characters/s, the tiny model "
        f"at full speed): longest event-loop stall {figures['stall_while_streaming_ms']:.1f} ms"
    )
    for name, what in (("type", "a letter into the message box"), ("rate", "+/- on a turn")):
        print(
            f"  {what}: effect median {figures[f'{name}_effect_median_ms']:.1f} ms, max "
            f"{figures[f'{name}_effect_max_ms']:.1f} ms; on screen median "
            f"{figures[f'{name}_frame_median_ms']:.1f} ms, max "
            f"{figures[f'{name}_frame_max_ms']:.1f} ms  "
            f"{target(figures[f'{name}_frame_max_ms'], 50, 'ms')}"
        )
    print(
        f"  (+/- is done once committed, in the writer thread: the event loop's longest stall "
        f"while they were committed was {figures['stall_while_rating_ms']:.1f} ms)"
    )
    print(
        f"  escape: stopped in {figures['stop_effect_ms']:.1f} ms, on screen in "
        f"{figures['stop_frame_ms']:.1f} ms  {target(figures['stop_frame_ms'], 50, 'ms')}"
    )
    print(
        f"a {BIG_EVENTS}-event session: first frame {figures['open_10k_first_frame_s']:.3f} s, "
        f"its last events on screen {figures['open_10k_transcript_s']:.3f} s after the process "
        f"starts (in-process {figures['open_in_process_s']:.3f} s)  "
        f"{target(figures['open_10k_transcript_s'], 1, 's')}"
    )
    print(
        f"  scrolling (home, end, page up/down): on screen median "
        f"{figures['scroll_frame_median_ms']:.1f} ms, max {figures['scroll_frame_max_ms']:.1f} ms,"
        f" longest stall {figures['scroll_stall_ms']:.1f} ms  "
        f"{target(figures['scroll_frame_max_ms'], 50, 'ms')}"
    )
    print(
        f"  +/- on a turn there: {figures['rate_in_long_session_ms']:.1f} ms on screen; a new "
        f"event at the end of it: {figures['new_event_long_session_ms']:.0f} ms on screen"
    )
    print(f"  ctrl+home, 500 earlier events: {figures['show_500_more_ms']:.0f} ms")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
