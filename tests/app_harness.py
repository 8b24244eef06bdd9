"""Driving the whole app in tests: the tiny model, a real kernel, and waiting on conditions.

The app is built with `make_app(AppConfig(...))` exactly as the command line builds it, with the
session-scoped tiny model handed in through `model_loader`. Tests wait on predicates (the store,
the screen's state), never on fixed sleeps alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from core.events import Event
from core.kernel.config import KernelConfig
from core.model.backend import TransformersBackend
from core.model.generate import Sampling
from core.model.loading import LoadedModel
from core.store.database import Store
from grammars.turn import TurnFields, render
from kyzel_tui.app import KyzelApp
from kyzel_tui.config import AppConfig

from scripted_model import scripted

SIZE = (120, 40)
CODE_TURN = render(TurnFields("compute it", code="print(6 * 7)"))
OTHER_CODE_TURN = render(TurnFields("compute it another way", code="print(42)"))
ANSWER_TURN = render(TurnFields("it printed 42", answer="The answer is 42."))
LONG_TURN = render(TurnFields("let me think " * 100, code="print(1)"))
"""A turn long enough to still be streaming when a test presses a key (with `slow_steps`)."""
KEY_NAMES = {" ": "space", "+": "plus", "-": "minus", ".": "full_stop", ",": "comma"}


def as_loaded(tiny) -> LoadedModel:
    """The `tiny` fixture's (model, tokenizer) as the app's model loader returns it."""
    model, tokenizer = tiny
    return LoadedModel(model, tokenizer, "tiny", "cpu", False, None, "tiny · cpu")


def app_config(home: Path, loaded: LoadedModel, max_new_tokens: int = 120, **kw) -> AppConfig:
    return AppConfig(
        home=home,
        kernel=KernelConfig(spec_dir=str(home / "kernel-spec"), timeout=60),
        model_loader=lambda progress: loaded,
        sampling=Sampling(max_new_tokens=max_new_tokens, temperature=0.7, seed=0),
        **kw,
    )


async def wait_for(pilot, predicate: Callable[[], object], what: str, timeout: float = 30.0):
    """Let the app run until `predicate()` holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)


async def ready(pilot) -> None:
    """The model loaded (the kernel starts when code first runs)."""
    app = pilot.app
    await wait_for(pilot, lambda: app.agent.model is not None, "the model to load")


async def seen(pilot) -> None:
    """The guard after a turn's arrival has passed and the focus has gone where it goes."""
    await wait_for(pilot, lambda: pilot.app.main.settled(), "the turn to be seen")
    await pilot.pause()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*(KEY_NAMES.get(c, c) for c in text))


def stored(app: KyzelApp) -> list[Event]:
    """Every event of the app's session, read back from the database on disk."""
    with Store.open(app.config.data_dir) as store:
        return store.events(app.agent.session.id)


def kinds(app: KyzelApp) -> list[str]:
    return [e.kind for e in stored(app)]


def idle(app: KyzelApp) -> bool:
    main = app.main
    return main is not None and main.generation is None and not main.running and not main.writing()


async def say(pilot, text: str) -> None:
    """Type a message in the prompt and send it; wait until the model's turn is stored."""
    app = pilot.app
    app.main.query_one("#prompt").focus()
    turns = kinds(app).count("turn")
    await type_text(pilot, text)
    await pilot.press("enter")
    await wait_for(
        pilot, lambda: kinds(app).count("turn") > turns and idle(app), "the model's turn"
    )
    await seen(pilot)


def screen_text(app: KyzelApp) -> str:
    """What the active screen shows, as plain text (one line per terminal row)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def notices(app: KyzelApp) -> list[str]:
    """The texts of the notifications the app has shown and not yet dismissed."""
    return [notification.message for notification in app._notifications]


async def notice(pilot, text: str, timeout: float = 30.0) -> None:
    """Wait until a notification says `text`. `notify` posts a message, so a notice lands a
    moment after the state change that sent it; on timeout, fail with the notices shown."""
    try:
        await wait_for(pilot, lambda: any(text in m for m in notices(pilot.app)), text, timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; the notices: {notices(pilot.app)!r}") from None


@contextmanager
def model_writes(loaded: LoadedModel, texts: list[str], on_step=None):
    """The tiny model writes `texts`, one per generation (the last one again after that)."""
    with scripted(loaded.model, loaded.tokenizer, texts, on_step=on_step):
        yield


def of_kind(app, kind: str) -> list:
    return [e for e in stored(app) if e.kind == kind]


def pending_id(app) -> str | None:
    pending = app.agent.pending()
    return pending.id if pending else None


def view_of(app, cls, event_id: str):
    return next(v for v in app.main.query(cls) if v.event_id == event_id)


def pending_bar(app) -> str:
    return str(app.main.query_one("#pending-bar").render())


@contextmanager
def recorded_prompts(monkeypatch):
    """The chat messages of every generation the app starts."""
    prompts: list[list[dict[str, str]]] = []
    real = TransformersBackend.start

    def spy(backend, messages, *args, **kwargs):
        prompts.append(messages)
        return real(backend, messages, *args, **kwargs)

    monkeypatch.setattr(TransformersBackend, "start", spy)
    yield prompts


def slow_steps(seconds: float):
    """An `on_step` hook that makes each token take `seconds`: time to press keys mid-turn."""

    def on_step(n: int) -> None:
        threading.Event().wait(seconds)

    return on_step


async def until_streaming(pilot, words: str = "let me") -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (view := app.main.transcript.stream_view) is not None and words in view.text,
        "the turn to stream",
    )
