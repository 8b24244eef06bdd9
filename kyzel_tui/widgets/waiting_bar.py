"""The waiting bar, above the message box: what the model waits for and the keys that give it,
as the user has them bound; hidden while nothing waits (or while the model writes or code runs).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static

from core.agent import Agent


class WaitingBar(Static):
    def show(self, agent: Agent | None, key: Callable[[str], str], in_box: bool) -> None:
        """Say what `agent`'s head waits for (None: nothing waits); `key(binding_id)` gives a
        binding's keys in force; `in_box`: the message box has the focus."""
        text = waiting_text(agent, key, in_box) if agent is not None else ""
        self.update(text)
        self.display = bool(text)


def waiting_text(agent: Agent, key: Callable[[str], str], in_box: bool) -> str:
    # In the message box the single keys type letters: say how to reach them.
    leave = f"{key('leave_prompt')}, then " if in_box else ""
    if (pending := agent.pending()) is not None:
        return (
            f"▶ waiting for you: {leave}{key('run')} run · {key('edit')} edit · "
            f"{key('edit_in_editor')} $EDITOR · {key('edit_thought')} edit thought · "
            f"{key('retry')} retry · {key('reject')} skip{_siblings(agent, pending.id, key)}"
        )
    if (stopped := agent.stopped()) is not None:
        return (
            f"■ stopped mid-turn: {leave}{key('continue')} continue · {key('edit')} edit · "
            f"{key('retry')} retry{_siblings(agent, stopped.id, key)}"
        )
    if (head := agent.unanswered()) is not None:
        what = {"user": "your message", "result": "this result", "kernel": "this"}[head.kind]
        if head.kind == "result" and head.body.status in ("interrupted", "aborted"):
            what = f"the {head.body.status} run"
        keys = "enter" if in_box else key("continue")  # enter in the empty box continues
        return f"▶ the model has not answered {what} yet: {keys} continue"
    return ""


def _siblings(agent: Agent, event_id: str, key: Callable[[str], str]) -> str:
    index, count = agent.tree.sibling_position(event_id)
    keys = f"{key('previous_sibling')}/{key('next_sibling')}"
    return f" · {keys} {index}/{count}" if count > 1 else ""
