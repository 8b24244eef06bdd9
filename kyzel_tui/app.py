"""The Textual app: one store, one model, one kernel, and the main screen over them.

`make_app(config)` is the one factory, used by the command line and by every test. The first
frame comes at once; the model loads in a thread and the kernel starts in the background, both
reporting progress in the status bar.
"""

from __future__ import annotations

import gc
import threading

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from core.agent import AgentConfig
from core.kernel import KernelError, KernelRunner
from core.store import Store, StoreError
from kyzel_tui.config import AppConfig, read_keymap
from kyzel_tui.messages import ModelFailed, ModelReady, Progress
from kyzel_tui.screens.main import MainScreen, new_agent


class KyzelApp(App):
    TITLE = "kyzel-tui"

    def __init__(self, config: AppConfig):
        super().__init__()
        self.config = config
        self.store = Store.open(config.data_dir)
        self.runner = KernelRunner(config.kernel, put_blob=self.store.put_blob)
        session_id = self.store.resolve(config.session) if config.session else None
        self.agent = new_agent(
            self.store,
            session_id,
            None,
            self.runner,
            AgentConfig(sampling=config.sampling, auto=config.auto),
        )
        self.main: MainScreen | None = None
        self.keymap: dict[str, str] = {}
        """Key bindings rebound by the user (binding id -> keys), shown by the help."""

    def on_mount(self) -> None:
        keymap, problem = read_keymap(self.config.data_dir)
        self.keymap = {**keymap, **self.config.keymap}
        self.set_keymap(self.keymap)
        if problem:
            self.notify(problem, severity="warning", markup=False)
        self.main = MainScreen(self.agent)
        self.push_screen(self.main)
        # After the first frame: importing torch in the loading thread holds the interpreter
        # for a while, and the screen should be up before that starts.
        self.call_after_refresh(self.load_model, demo=self.config.demo)
        self.call_after_refresh(self.start_kernel)

    def load_model(self, demo: bool = False) -> None:
        """Load the model in a daemon thread, reporting to the main screen. Not a thread worker:
        the app's exit waits for those, and quitting while a model loads must not take seconds."""
        threading.Thread(
            target=self._load_model, args=(demo,), daemon=True, name="kyzel-load-model"
        ).start()

    def _load_model(self, demo: bool) -> None:
        from core.models import ModelLoadError, load_or_explain

        def progress(text: str) -> None:
            self.main.post_message(Progress(text))

        try:
            if self.config.model_loader is not None and not demo:
                model = self.config.model_loader(progress)
            else:
                model = load_or_explain(
                    self.config.model,
                    demo=demo or self.config.demo,
                    adapter=self.config.adapter,
                    progress=progress,
                )
                from kyzel_tui.train_commands import for_generation

                model = for_generation(model)  # the adapter merged: it costs no decode speed
        except ModelLoadError as error:
            self.main.post_message(ModelFailed(str(error)))
            return
        except Exception as error:  # anything else: say it, keep the app
            self.main.post_message(ModelFailed(f"the model could not be loaded: {error}"))
            return
        # The model, torch and the tokenizer are millions of long-lived objects: each full
        # garbage collection walked them all, freezing the screen ~0.2 s at a time. Leave them out.
        gc.collect()
        gc.freeze()
        self.main.post_message(ModelReady(model))

    @work(exclusive=True, group="kernel")
    async def start_kernel(self) -> None:
        status = self.main.status
        status.kernel = "starting"
        try:
            await self.runner.start()
        except KernelError as error:
            status.kernel = "failed"
            self.notify(
                f"{error}\nCode cannot run until the kernel starts; restart the app "
                "once it is fixed.",
                title="kernel",
                severity="error",
                timeout=30,
                markup=False,
            )
            return
        status.kernel = self.runner.state

    def open_session(self, session_id: str | None) -> None:
        """Switch to another session (None: a new one); the kernel restarts for it."""
        try:
            agent = new_agent(
                self.store, session_id, self.agent.model, self.runner, self.agent.config
            )
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self._forget_if_empty()
        self.agent = agent
        self.main.agent = agent
        self.main.refresh_view()
        if self.runner.client is not None:
            self.restart_kernel_for_session()

    @work(exclusive=True, group="kernel")
    async def restart_kernel_for_session(self) -> None:
        try:
            await self.runner.restart("a new session: earlier variables are gone")
        except KernelError as error:
            self.notify(str(error), severity="error", markup=False)
        self.main.refresh_view()

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
        if isinstance(screen, MainScreen):
            for binding in screen.BINDINGS:
                if binding.show and binding.description:
                    yield SystemCommand(
                        binding.description,
                        binding.tooltip or binding.action,
                        lambda action=binding.action: self.main.run_action(action),
                    )

    def toggle_auto(self) -> None:
        self.agent.config.auto = not self.agent.config.auto
        self.main.status.auto = self.agent.config.auto

    def _export(self, suffix: str, text: str) -> None:
        from pathlib import Path

        path = Path.cwd() / f"kyzel-{self.agent.session.id}.{suffix}"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            self.notify(f"cannot write {path}: {error.strerror}", severity="error", markup=False)
            return
        self.notify(f"exported to {path}", markup=False)

    def export_xml(self) -> None:
        from core.xml_write import session_to_xml

        session = self.agent.session
        info = self.store.session(session.id)
        self._export("xml", session_to_xml(info, session.tree, blob=self.store.blob))

    def export_notebook(self) -> None:
        from core.notebook import session_to_notebook

        session = self.agent.session
        info = self.store.session(session.id)
        self._export("ipynb", session_to_notebook(info, session.tree, blob=self.store.blob))

    def _forget_if_empty(self) -> None:
        # A session opened but never written to holds nothing: it would only clutter the list.
        session = self.agent.session
        if not session.tree.events and not self.store.events(session.id):
            self.store.delete_session(session.id)

    async def on_unmount(self) -> None:
        self._forget_if_empty()
        await self.runner.shutdown()
        self.store.close()


def make_app(config: AppConfig | None = None) -> KyzelApp:
    """The app, as the command line and the tests build it."""
    return KyzelApp(config or AppConfig())
