"""Where torch runs in the app: never on the UI thread, and in a worker that leaves a core free."""

from __future__ import annotations

import threading

import pytest

from core.model import threads
from kyzel_tui.app import make_app

from app_harness import SIZE, app_config, as_loaded, kinds, ready, say

pytestmark = pytest.mark.timeout(120)


def test_the_worker_uses_every_core_unless_the_user_chose_a_count(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.generation_threads() == threads.cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.generation_threads() is None  # the user's setting stands
    monkeypatch.setenv(threads.ENV, "5")
    assert threads.generation_threads() == 5
    monkeypatch.setenv(threads.ENV, "many")
    assert threads.generation_threads() is None


@pytest.fixture
def forward_calls():
    """(thread name, thread id, torch's team size there) of every module call in any thread."""
    import torch

    calls: list[tuple[str, int, int]] = []

    def record(module, args):
        thread = threading.current_thread()
        calls.append((thread.name, thread.ident, torch.get_num_threads()))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    yield calls
    handle.remove()


async def test_the_ui_thread_runs_no_model_op_during_a_turn(tmp_path, tiny, forward_calls):
    app = make_app(app_config(tmp_path / "home", as_loaded(tiny), max_new_tokens=60))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        forward_calls.clear()  # from here on: one turn, as the user sees it
        await say(pilot, "add two and two")
    assert kinds(app).count("turn") == 1
    assert forward_calls, "the model never ran"
    main = threading.main_thread().ident
    assert all(ident != main for _, ident, _ in forward_calls)
    assert {name for name, _, _ in forward_calls} == {"kyzel-generate"}
    expected = threads.generation_threads()
    if expected is not None:
        assert {size for _, _, size in forward_calls} == {expected}
