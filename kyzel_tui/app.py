"""The Textual app: one store, one model, one kernel, and the main screen over them.

`make_app(config)` is the one factory, used by the command line and by every test. The first
frame comes at once; the model loads in a thread (or, with `--server`, the serving engine is
connected to), reporting progress in the status bar; the screen holds it as a
`core.model.backend.Backend`. The
kernel starts when code first runs, so opening a session to look at it writes nothing.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from contextlib import suppress

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from core.agent import AgentConfig
from core.kernel.runner import KernelRunner
from core.store.database import Store, StoreError
from core.store.writer import StoreWriter
from kyzel_tui.config import AppConfig, read_keymap
from kyzel_tui.keys import MAIN_BINDINGS, keys_of
from kyzel_tui.messages import ModelFailed, ModelReady, Progress
from kyzel_tui.screens.main import MainScreen, new_agent
from kyzel_tui.server_options import ServerChoice


class KyzelApp(App):
    TITLE = "kyzel-tui"

    def __init__(self, config: AppConfig):
        super().__init__()
        self.config = config
        self.store = Store.open(config.data_dir)
        session_id = self.store.resolve(config.session) if config.session else None
        self.writer = StoreWriter(self.store.path)
        """Commits the sessions' events in a thread of its own: the screen never waits on a lock."""
        # Kernel images too: a blob is queued ahead of the result that refers to it.
        self.runner = KernelRunner(config.kernel, put_blob=self.writer.put_blob)
        self.main: MainScreen | None = None
        self._creating: list = []
        """Creations of new sessions queued before the main screen could await them."""
        self.agent = self._new_agent(
            session_id, None, AgentConfig(sampling=config.sampling, auto=config.auto)
        )
        self.keymap: dict[str, str] = {}
        """Key bindings rebound by the user (binding id -> keys), shown by the help."""
        self._asking_to_quit = False

    def on_mount(self) -> None:
        keymap, problems = read_keymap(self.config.data_dir)
        self.keymap = {**keymap, **self.config.keymap}
        self.set_keymap(self.keymap)
        if problems:
            self.notify(
                "\n".join(problems),
                title="config.toml",
                severity="warning",
                timeout=30,
                markup=False,
            )
        self.main = MainScreen(self.agent)
        self.push_screen(self.main)
        for created in self._creating:
            self.main.track(created)  # a failure (or a wait on another process) is said
        self._creating.clear()
        # After the first frame: importing torch in the loading thread holds the interpreter
        # for a while, and the screen should be up before that starts.
        self.call_after_refresh(self.load_model, demo=self.config.demo)

    def load_model(self, demo: bool | str = False) -> None:
        """Load the model in a daemon thread, reporting to the main screen. Not a thread worker:
        the app's exit waits for those, and quitting while a model loads must not take seconds."""
        threading.Thread(
            target=self._load_model, args=(demo,), daemon=True, name="kyzel-load-model"
        ).start()

    def _load_model(self, demo: bool | str) -> None:
        from core.model.backend import as_backend
        from core.model.loading import ModelLoadError, load_or_explain
        from core.model.remote import RemoteError

        def progress(text: str) -> None:
            self.main.post_message(Progress(text))

        try:
            if self.config.server is not None and not demo:
                model = connect_server(self.config.server, progress)
            elif self.config.model_loader is not None and not demo:
                model = self.config.model_loader(progress)
            else:
                from kyzel_tui.model_choice import choose_adapter, default_adapters

                adapter, demo = self.config.adapter, demo or self.config.demo
                by_default = adapter is None and self.config.default_adapter
                if by_default and demo == "random":
                    adapter, _ = choose_adapter(None, None, demo, self.config.data_dir)
                model = load_or_explain(
                    self.config.model,
                    demo=demo,
                    adapter=adapter,
                    precision=self.config.precision,
                    progress=progress,
                    # Asked for the model that loads: the embedded one may stand in for the default.
                    default_adapter=default_adapters(self.config.data_dir) if by_default else None,
                )
                from kyzel_tui.model_choice import for_generation

                model = for_generation(model)  # the adapter merged: it costs no decode speed
        except (ModelLoadError, RemoteError) as error:
            self.main.post_message(ModelFailed(str(error)))
            return
        except Exception as error:  # anything else: say it, keep the app
            self.main.post_message(ModelFailed(f"the model could not be loaded: {error}"))
            return
        # The model, torch and the tokenizer are millions of long-lived objects: each full
        # garbage collection walked them all, freezing the screen ~0.2 s at a time. Leave them out.
        gc.collect()
        gc.freeze()
        # The embedded model stands in for the default: say so, and keep it on screen a while.
        if getattr(model, "notice", None):
            with suppress(RuntimeError):  # the app quit while the model loaded
                self.call_from_thread(
                    self.notify,
                    model.notice,
                    title="model",
                    severity="warning",
                    timeout=20,
                    markup=False,
                )
        self.main.post_message(ModelReady(as_backend(model)))

    def open_session(self, session_id: str | None) -> None:
        """Switch to another session (None: a new one). Nothing is written: the kernel of the
        session left stops, and a new one starts when code of this session first runs."""
        try:
            agent = self._new_agent(session_id, self.agent.model, self.agent.config)
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self._forget_if_empty()
        self.agent = agent
        self.main.agent = agent
        self.main.refresh_view()
        self.main.prompt.focus()
        if self.runner.client is not None:
            self.stop_kernel()

    def _new_agent(self, session_id: str | None, model, config: AgentConfig):
        """The agent of a session; a new session is created by the writer, not here, so that
        another process's lock never holds up the screen."""
        if session_id is not None:
            return new_agent(self.store, session_id, model, self.runner, config, self.writer)
        session, created = self.writer.new_session(self.store)
        if self.main is None:
            self._creating.append(created)
        else:
            self.main.track(created)
        return new_agent(self.store, None, model, self.runner, config, self.writer, session)

    @work(exclusive=True, group="kernel")
    async def stop_kernel(self) -> None:
        await self.runner.shutdown()
        self.main.status.kernel = self.main.kernel_state()

    async def action_quit(self) -> None:
        """Quit; while code runs or a turn is being written, ask first."""
        main = self.main
        busy = main is not None and (main.running or main.generation is not None)
        if not busy or self._asking_to_quit:
            if main is not None:
                await main.abort()
            self.exit()
            return
        self.confirm_quit()

    @work(group="quit")
    async def confirm_quit(self) -> None:
        from kyzel_tui.screens.confirm import ConfirmScreen

        what = (
            "Code is running: quitting cuts it (what it printed so far is kept)."
            if self.main.running
            else "The model is writing a turn: quitting keeps what it wrote as a stopped turn."
        )
        self._asking_to_quit = True
        try:
            quit_now = await self.push_screen_wait(ConfirmScreen(f"{what}\nQuit anyway?"))
        finally:
            self._asking_to_quit = False
        if quit_now:
            await self.main.abort()
            self.exit()

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Export session as XML", "Write the session tree to a file", self.export_xml
        )
        yield SystemCommand(
            "Export session as notebook", "Write the current branch as .ipynb", self.export_notebook
        )
        yield SystemCommand(
            "Toggle auto mode", "Run code without asking (or stop doing so)", self.toggle_auto
        )
        yield SystemCommand(
            "Train an adapter on your sessions",
            "Fine-tune the model on your corrections, in the background, then compare",
            self.open_training,
        )
        if isinstance(screen, MainScreen):
            for binding in MAIN_BINDINGS:
                if screen.check_action(binding.action.split("(")[0], ()):
                    yield SystemCommand(
                        binding.description,
                        f"{binding.tooltip} ({keys_of(self, binding.id)})",
                        lambda action=binding.action: self.main.run_action(action),
                    )

    def open_training(self) -> None:
        from kyzel_tui.screens.train import TrainScreen, train_argv

        self.push_screen(
            TrainScreen(self.config.data_dir, train_argv(self.config, self.agent.model))
        )

    def toggle_auto(self) -> None:
        self.agent.config.auto = not self.agent.config.auto
        self.main.status.auto = self.agent.config.auto

    @work(group="export")
    async def _export(self, suffix: str, text: str) -> None:
        """Ask where (default: exports/ in the data folder), then write it for the user alone."""
        from kyzel_tui.cli.sessions import write_private
        from kyzel_tui.screens.export_path import ExportPathScreen

        folder = self.config.data_dir / "exports"
        default = folder / f"kyzel-{self.agent.session.id}.{suffix}"
        what = "the session tree as XML" if suffix == "xml" else "the branch as a notebook"
        path = await self.push_screen_wait(ExportPathScreen(what, default))
        if path is None:
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.parent == folder:
                folder.chmod(0o700)  # what was exported before stays private too
            write_private(path, text)
        except OSError as error:
            self.notify(f"cannot write {path}: {error.strerror}", severity="error", markup=False)
            return
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.notify(f"exported to {path}", markup=False)

    def _info(self, session):
        # A new session's row may still wait for another process's lock: export what is known.
        try:
            return self.store.session(session.id)
        except StoreError:
            return session.info

    def export_xml(self) -> None:
        from core.formats.write import session_to_xml

        session = self.agent.session
        info = self._info(session)
        self._export("xml", session_to_xml(info, session.tree, blob=self.store.blob))

    def export_notebook(self) -> None:
        from core.formats.notebook import session_to_notebook

        session = self.agent.session
        info = self._info(session)
        self._export("ipynb", session_to_notebook(info, session.tree, blob=self.store.blob))

    def _forget_if_empty(self, track: bool = True) -> None:
        # A session opened but never written to holds nothing: it would only clutter the list.
        # Checked and deleted by the writer, after what was queued before (a message waiting
        # for the lock keeps its session).
        forget = self.writer.forget_if_empty(self.agent.session.id)
        if track and self.main is not None:
            self.main.track(forget)

    async def on_unmount(self) -> None:
        # Whatever failed to be saved (a full disk) was said on screen: quitting still stops the
        # kernel and closes the database, and prints no traceback.
        try:
            self._forget_if_empty(track=False)
            await asyncio.to_thread(self.writer.close)  # what is queued is committed first
        except StoreError:
            pass
        finally:
            await self.runner.shutdown()
            self.store.close()


def connect_server(choice: ServerChoice, progress: Callable[[str], None]):
    """The backend of a serving engine: asks the server what it is and what it serves."""
    from core.model.backend import RemoteBackend

    progress(f"connecting to {choice.url}…")
    return RemoteBackend.connect(choice.url, choice.model, choice.engine)


def make_app(config: AppConfig | None = None) -> KyzelApp:
    """The app, as the command line and the tests build it."""
    return KyzelApp(config or AppConfig())
