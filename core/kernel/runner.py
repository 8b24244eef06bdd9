"""The Jupyter kernel runner: approved code runs here, and nothing it does may hang the caller.

`KernelRunner` starts a kernel (by default an ipykernel of this very Python, from a kernel spec
the runner writes itself; any installed spec by name; or an already running kernel through its
connection file), runs code with jupyter_client's async API and streams what it prints. Every
execution ends with a `core.events.Result`: ok, error, interrupted, timeout or died, with its
duration and execution count. Faults are the runner's job:

- interrupt on request (the kernel keeps its state);
- a timeout that interrupts, then restarts the kernel if the interrupt does not take;
- a dead kernel, noticed by polling its process (or heartbeat) and restarted; the caller hears of
  it through `on_kernel_event` so that the model can be told its variables are gone;
- output floods, capped inside the kernel (`core.kernel.setup`) and again here;
- `input()`, refused: requests never allow stdin;
- output of no running request (a thread still printing after its cell ended): a reader task
  takes every kernel message as it comes, so none pile up, gives each to the execution it belongs
  to (`parent_header.msg_id`) and reports the rest, capped, as "background" kernel events;
- a parent that dies without a word (SIGKILL): the kernel watches for it and ends itself, and
  the next start removes connection files and spec folders that dead runners left.

Its settings are `core.kernel.config.KernelConfig`; what one execution printed is gathered by
`core.kernel.output`. It knows nothing of sessions or the UI; `core.kernel.replay` re-runs a
branch's cells.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.events import KernelEvent, Result
from core.kernel.config import KernelConfig, KernelError
from core.kernel.output import Background, Collector, OutputEvent, result_status
from core.kernel.setup import (
    SPEC_NAME,
    owned_name,
    remove_stale_files,
    setup_code,
    write_kernel_spec,
)

__all__ = ["KernelConfig", "KernelError", "KernelRunner", "OutputEvent", "write_kernel_spec"]


class KernelRunner:
    """One kernel, started on demand, that runs code and survives what the code does."""

    def __init__(
        self,
        config: KernelConfig | None = None,
        *,
        put_blob: Callable[[bytes, str], str] | None = None,
        on_kernel_event: Callable[[KernelEvent], None] | None = None,
    ):
        self.config = config or KernelConfig()
        self.put_blob = put_blob
        self.on_kernel_event = on_kernel_event
        self.state = "stopped"
        """stopped, starting, idle, busy or dead."""
        self.manager: Any = None
        self.client: Any = None
        self.capped_in_kernel = False
        self._interrupt_requested = False
        self._log: Any = None
        self._spec_tmp: Any = None
        self._reader: asyncio.Task | None = None
        self._active: str | None = None
        """The msg_id of the execution running now."""
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._background = Background(cap=self.config.background_cap)

    @property
    def attached(self) -> bool:
        return self.config.existing is not None

    def _event(self, state: str, detail: str = "") -> None:
        if self.on_kernel_event is not None:
            self.on_kernel_event(KernelEvent(state, detail))  # type: ignore[arg-type]

    async def start(self) -> None:
        self.state = "starting"
        try:
            if self.attached:
                await self._attach()
            else:
                await self._launch()
            await self._setup()
        except KernelError:
            self.state = "dead"
            raise
        self._start_reader()
        self.state = "idle"
        self._event("started", self._describe())

    def _describe(self) -> str:
        if self.attached:
            return f"attached to {self.config.existing}"
        return f"kernel {self.config.kernel_name or SPEC_NAME}"

    async def _launch(self) -> None:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = Path(jupyter_runtime_dir())
        remove_stale_files(runtime)
        env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONUNBUFFERED": "1"}
        if self.config.kernel_name is None:
            folder = self.config.spec_dir
            if folder is None:
                import tempfile

                self._spec_tmp = tempfile.TemporaryDirectory(prefix=owned_name("kernelspec"))
                folder = env["KYZEL_SPEC_DIR"] = self._spec_tmp.name
            specs = KernelSpecManager(kernel_dirs=[str(write_kernel_spec(Path(folder)))])
            self.manager = AsyncKernelManager(kernel_name=SPEC_NAME, kernel_spec_manager=specs)
        else:
            self.manager = AsyncKernelManager(kernel_name=self.config.kernel_name)
        runtime.mkdir(parents=True, exist_ok=True)
        # Named with our PID, so that a later start can tell the files of a dead runner.
        name = f"{owned_name('kernel')}{os.urandom(6).hex()}.json"
        self.manager.connection_file = str(runtime / name)
        sink = open(self.config.log_file, "ab") if self.config.log_file else open(os.devnull, "wb")
        self._log = sink
        try:
            await self.manager.start_kernel(stdout=sink, stderr=sink, cwd=self.config.cwd, env=env)
        except NoSuchKernel:
            raise KernelError(
                f"no kernel named {self.config.kernel_name!r}: `jupyter kernelspec list` shows the "
                "installed ones; leave out --kernel to use the built-in Python kernel"
            ) from None
        except (OSError, RuntimeError) as error:
            raise KernelError(f"the kernel did not start: {error}") from error
        self.client = self.manager.client()
        self.client.start_channels()
        await self._wait_ready()

    async def _attach(self) -> None:
        from jupyter_client.asynchronous.client import AsyncKernelClient

        path = Path(self.config.existing).expanduser()
        if not path.exists():
            raise KernelError(f"no connection file at {path}: start the kernel and pass its file")
        self.client = AsyncKernelClient()
        try:
            self.client.load_connection_file(str(path))
        except (ValueError, KeyError, json.JSONDecodeError) as error:
            raise KernelError(f"{path} is not a kernel connection file: {error}") from None
        self.client.start_channels()
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        try:
            await self.client.wait_for_ready(timeout=self.config.startup_timeout)
        except (RuntimeError, TimeoutError) as error:
            await self._close_quietly()
            raise KernelError(
                f"the kernel did not answer within {self.config.startup_timeout:.0f} s ({error}); "
                "check that ipykernel works in this environment (`python -m ipykernel --version`)"
            ) from None

    async def _setup(self) -> None:
        """Install the in-kernel caps where the kernel is IPython; elsewhere the caps here do."""
        info = await self._request("kernel_info", {})
        language = info.get("content", {}).get("language_info", {}).get("name", "")
        if language != "python" or not self.config.cap_in_kernel:
            return
        c = self.config
        reply = await self._run_silently(setup_code(c.output_cap, c.tail_cap, c.hard_cap))
        self.capped_in_kernel = reply.get("status") == "ok"

    async def _request(self, kind: str, content: dict) -> dict:
        message = self.client.session.msg(f"{kind}_request", content)
        self.client.shell_channel.send(message)
        return await self._reply(message["header"]["msg_id"], self.config.startup_timeout)

    async def _reply(self, msg_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = await self.client.get_shell_msg(
                    timeout=max(0.05, deadline - time.monotonic())
                )
            except queue.Empty:
                raise KernelError("the kernel stopped answering") from None
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return reply

    async def _run_silently(self, code: str) -> dict:
        msg_id = self.client.execute(code, silent=True, store_history=False, allow_stdin=False)
        return (await self._reply(msg_id, self.config.startup_timeout)).get("content", {})

    async def alive(self) -> bool:
        if self.client is None:
            return False
        if self.manager is not None:
            return bool(await self.manager.is_alive())
        return bool(self.client.hb_channel.is_beating())

    async def interrupt(self) -> None:
        """Interrupt the running code; the kernel and its variables stay."""
        if self.client is None:
            return
        self._interrupt_requested = True
        if self.manager is not None:
            await self.manager.interrupt_kernel()
        else:
            self.client.control_channel.send(self.client.session.msg("interrupt_request", {}))

    async def restart(self, reason: str = "") -> None:
        """A fresh kernel: every variable is gone (the caller's `on_kernel_event` hears it)."""
        if self.attached:
            raise KernelError(
                "the attached kernel cannot be restarted from here: restart it "
                "where it runs, then attach again"
            )
        self.state = "starting"
        await self._stop_reader()
        await self.manager.restart_kernel(now=True)
        await self._wait_ready()
        await self._setup()
        self._start_reader()
        self.state = "idle"
        self._event("restarted", reason)

    async def execute(
        self, code: str, on_output: Callable[[OutputEvent], None] | None = None
    ) -> Result:
        """Run `code`; stream its outputs to `on_output`; always come back with a `Result`."""
        if self.client is None:
            await self.start()
        limit = self.config.output_cap
        if self.capped_in_kernel:  # room for the kernel's own note and tail after its cap
            limit += self.config.tail_cap + 1000
        collector = Collector(self.config, self.put_blob, on_output, limit)
        self._interrupt_requested = False
        self.state = "busy"
        self._give_background(force=True)
        started = time.monotonic()
        self._inbox = asyncio.Queue()
        msg_id = self._active = self.client.execute(code, allow_stdin=False, store_history=True)
        try:
            status = await self._follow(msg_id, collector, started)
        finally:
            self._active = None
        duration = time.monotonic() - started
        count = None
        if status in ("ok", "timeout"):
            content = (await self._reply(msg_id, 10.0)).get("content", {})
            count = content.get("execution_count")
            if status == "ok":
                status = result_status(content, collector, self._interrupt_requested)
        if status in ("died", "stuck"):
            await self._recover(status)
            status = "timeout" if status == "stuck" else status
        else:
            self.state = "idle"
        return Result(
            status=status,
            output=collector.text(),
            error=collector.error,  # type: ignore[arg-type]
            outputs=collector.outputs,
            execution_count=count,
            duration=duration,
            truncated=collector.truncated(),
        )

    async def _follow(self, msg_id: str, collector: Collector, started: float) -> str:
        """Read the execution's messages until the kernel is idle; the fault, if any."""
        interrupted_at: float | None = None
        while True:
            try:
                message = await asyncio.wait_for(self._inbox.get(), 0.2)
            except TimeoutError:
                if not await self.alive():
                    return "died"
                if self._reader is None or self._reader.done():
                    return "died"  # the messages no longer come: as good as dead, restart it
                now = time.monotonic()
                if interrupted_at is None and now - started > self.config.timeout:
                    interrupted_at = now
                    await self.interrupt()
                elif (
                    interrupted_at is not None
                    and now - interrupted_at > self.config.interrupt_grace
                ):
                    return "stuck"  # the interrupt did not take
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                return "timeout" if interrupted_at is not None else "ok"
            collector.handle(kind, content)
            if interrupted_at is None and time.monotonic() - started > self.config.timeout:
                interrupted_at = time.monotonic()
                await self.interrupt()

    async def _recover(self, status: str) -> None:
        if status == "died":
            self._event("died", "the kernel process ended while the code ran")
        if self.attached:
            self.state = "dead"
            return
        reason = (
            "the code ignored an interrupt after its timeout"
            if status == "stuck"
            else ("after the kernel died")
        )
        await self.restart(reason)

    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_iopub())

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None

    async def _read_iopub(self) -> None:
        """Take every iopub message as it comes: the running execution's, or background output."""
        while self.client is not None:
            try:
                message = await self.client.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                message = None
            if message is None:
                with contextlib.suppress(Exception):  # as below: the reading must go on
                    self._give_background()
                continue
            parent = message.get("parent_header", {}).get("msg_id")
            if parent is not None and parent == self._active:
                self._inbox.put_nowait(message)
                continue
            self._background.add(message["msg_type"], message["content"], time.monotonic())
            try:
                self._give_background()
            except Exception:  # noqa: BLE001 - a failing listener must not stop the reading
                # Without this task every execution would wait for messages nobody hands on.
                pass

    def _give_background(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._background.first is None or not (force or self._background.due(now)):
            return
        text, cut = self._background.take(now)
        meta = {"cut": cut} if cut else {}
        if self.on_kernel_event is not None:
            self.on_kernel_event(KernelEvent("background", text, meta=meta))

    async def _close_quietly(self) -> None:
        # Background output not yet given is dropped: the caller is closing, its session may be
        # gone already (an app that quits deletes an empty one), and nobody would read it.
        await self._stop_reader()
        if self.client is not None:
            self.client.stop_channels()
        if self.manager is not None:
            try:
                await self.manager.shutdown_kernel(now=True)
            except Exception:  # a kernel that is already gone has nothing to shut down
                pass

    async def shutdown(self) -> None:
        await self._close_quietly()
        self.client = self.manager = None
        self.state = "stopped"
        if self._log is not None:
            self._log.close()
        if self._spec_tmp is not None:
            self._spec_tmp.cleanup()
