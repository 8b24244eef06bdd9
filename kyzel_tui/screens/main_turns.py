"""The main screen's turns and runs: the model writing a turn (streamed from a thread), its
landing in the store, and the kernel running a turn's code. Mixed into `MainScreen`, whose
`activity` says which of them is under way.

Where a new turn grows, what it starts from and how a stopped one is kept are the agent's
decisions (`retry_target`, `continuation`, `keep`); the screen starts them and shows them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

from textual import work
from textual.worker import WorkerCancelled, WorkerFailed

from core.model.generate import Generation
from core.session import HEAD
from core.store.database import StoreError
from core.store.writer import FAILED
from kyzel_tui.messages import Generated, Streamed
from kyzel_tui.widgets.transcript.result_view import ResultView


class TurnFlow:
    """Generate, stop, retry, continue; run, interrupt; and abort both before quitting."""

    # Generating

    def generate(self, parent: object = HEAD, prefix: str = "", source: str | None = None) -> None:
        if self.agent.model is None:
            self.want_turn = parent is HEAD and not prefix
            self.status.model = "the model is still loading; your turn comes when it is ready"
            return
        try:
            self.generation = self.agent.start_turn(parent, prefix)
        except (RuntimeError, ValueError) as error:
            self.notify_error(error)
            return
        self.started_at, self.tokens = time.monotonic(), 0
        self.generating = (parent, source)
        self.transcript.begin_stream(prefix)
        self.activity = "generating"
        self.follow_generation(self.generation, parent, source)

    @work(thread=True, exclusive=True, group="generate")
    def follow_generation(self, generation: Generation, parent: object, source: str | None):
        for chunk in generation:
            self.post_message(Streamed(chunk))
        try:
            self.post_message(Generated(generation.result(), parent, source))
        except Exception as error:  # shown to the user; the session is untouched
            self.post_message(Generated(None, parent, source, error=f"generation failed: {error}"))

    def on_streamed(self, message: Streamed) -> None:
        self.tokens += 1  # one chunk per token step (a split character waits for its rest)
        self.transcript.stream(message.text)

    def on_generated(self, message: Generated) -> None:
        self.generation = None
        stopping, self.stopping = self.stopping, False
        if self.quitting:
            return  # `abort` keeps what was written
        if message.error:
            self.notify(message.error, severity="error", timeout=10, markup=False)
        if self.transcript.stream_view is not None:  # at once; the stored turn replaces it
            self.transcript.stream_view.end("stopped" if stopping else "done")
        # Stopped by escape or by a message typed meanwhile: the partial turn is kept.
        future = self._store_generated(message, keep_stopped=stopping)
        self.landed_at = time.monotonic()  # no key acts on the turn until it has been seen
        self.at_rest(force=True)
        self.land(future, stopped=stopping)

    def _store_generated(self, message: Generated, keep_stopped: bool):
        generated = message.generated
        if generated is None:
            return None
        if interrupted := generated.settings.get("interrupted"):  # a server that went away
            self.notify(
                f"{interrupted}; what it wrote is kept as a stopped turn",
                markup=False,
                severity="error",
            )
            keep_stopped = True
        if generated.cancelled and not keep_stopped:
            return None
        self.status.speed = generated.stats.summary()
        keep = self.agent.keep
        return self.commit(keep, generated, message.parent, message.source, keep_stopped)

    @work(group="store")
    async def land(self, future: concurrent.futures.Future | None, stopped: bool = False) -> None:
        """Show a generated turn once it is committed, and go on from it."""
        turn = await self.committed(future) if future is not None else None
        turn = None if turn is FAILED else turn
        if stopped:  # the stop on screen first: a long turn takes a busy machine frames to draw
            await self.wait_for_refresh()
        if self.quitting or not self.is_attached or not self.children:
            return  # the app is closing: the turn is stored, there is no screen to show it on
        self.transcript.end_stream()
        self.refresh_view()
        self.landed_at = time.monotonic()
        self.at_rest()  # keys wait `GUARD` seconds before they act on the new turn
        if self.queued:
            self.send(self.queued.pop(0))
        elif turn is not None and turn.body.code is not None and self.agent.config.auto:
            self.run_turn(turn.id)
        elif (turn is None or turn.body.answer is not None) and self.agent.stopped() is None:
            self.prompt.focus()

    def action_stop(self) -> None:
        if self.generation is not None:
            self.stopping = True
            self.generation.cancel()

    def action_retry(self) -> None:
        """A new turn beside the head turn (code, answer or stopped); after a message or a
        result, simply the model's turn."""
        if self.agent.head_event() is not None and not self.too_soon():
            self.generate(parent=self.agent.retry_target())

    def action_continue(self) -> None:
        """Resume a stopped turn from its raw text, under the grammar; or answer the head."""
        continuation = self.agent.continuation()
        if continuation is not None and not self.too_soon():
            parent, prefix, source = continuation
            self.generate(parent=parent, prefix=prefix, source=source)

    # Running

    def action_run(self) -> None:
        pending = self.agent.pending()
        if pending is not None and not self.running and not self.too_soon():
            self.run_worker_ref = self.run_turn(pending.id)

    @work(exclusive=True, group="run")
    async def run_turn(self, turn_id: str) -> None:
        self.started_at = time.monotonic()
        self.activity = "running"
        self.status.kernel = "busy"
        live: ResultView = self.transcript.begin_result()
        result = None
        try:
            result = await self.agent.run(
                turn_id,
                on_output=lambda out: live.add_live(
                    out.text + ("\n" if out.kind != "stream" else "")
                ),
            )
        except StoreError as error:  # the result could not be saved (a full disk, a deletion)
            self.store_failed(error)
        except Exception as error:  # a kernel that cannot start: say so, keep the session
            self.notify_error(error)
        finally:
            self.status.kernel = self.kernel_state()
            self.at_rest(force=True)
        self.refresh_view()
        if self.queued:
            self.send(self.queued.pop(0))
        elif result is not None and result.body.status != "interrupted":
            self.generate()  # after an interrupt the user decides what comes next

    async def action_interrupt(self) -> None:
        if self.running and self.agent.runner is not None:
            await self.agent.runner.interrupt()

    # Quitting

    async def abort(self) -> None:
        """Before quitting: stop the turn being written (kept as a stopped turn), cut the
        running code (stored as an `aborted` result with its output so far)."""
        self.quitting = True
        generation, self.generation = self.generation, None
        if generation is not None:
            generation.cancel()
            await self._keep_cut_turn(generation)
        worker = self.run_worker_ref
        if self.running and worker is not None and not worker.is_finished:
            worker.cancel()
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # what matters happened in the agent: the aborted result is stored

    async def _keep_cut_turn(self, generation: Generation) -> None:
        """Keep a turn cut by quitting as a stopped turn, as `escape` would."""
        parent, source = self.generating
        try:
            generated = await asyncio.to_thread(generation.result, 10)
        except Exception:
            return  # the generation failed: there is nothing to keep
        await self.committed(self.commit(self.agent.keep, generated, parent, source, True))
