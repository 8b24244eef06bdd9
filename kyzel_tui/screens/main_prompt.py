"""The message box and the guard around it: nothing acts on a turn the user has not seen.

Focus moves to a turn that waits for the user only while the message box is empty and has not
been typed into for `TYPING` seconds, so letters typed meanwhile stay in the box; keys that act
on the head turn do nothing for `GUARD` seconds after it arrives (the screen's `seeing`
activity). Mixed into `MainScreen`, whose prompt, agent and actions it uses.
"""

from __future__ import annotations

import time

from textual.widgets import Input

from kyzel_tui.widgets.transcript.turn_view import TurnView

GUARD = 0.5
"""Seconds after a turn arrives during which no key acts on it (a key meant for the message box,
or pressed before the turn was seen, must not run or discard it)."""
TYPING = 1.0
"""Seconds after the last change to the message box during which focus never leaves it."""


class PromptGuard:
    """Send what the box holds, and give a waiting turn the focus when the box lets it go."""

    def box_busy(self) -> bool:
        """The message box holds text or was typed into a moment ago: focus stays there."""
        return bool(self.prompt.value) or time.monotonic() - self.typed_at < TYPING

    def too_soon(self) -> bool:
        return time.monotonic() - self.landed_at < GUARD

    def settled(self) -> bool:
        """The last turn has been seen, its keys are usable and the focus has gone where it goes
        (for tests)."""
        seen = not self.too_soon() and self.activity != "seeing" and not self.writing()
        return seen and self.focus_wanted is None

    def focus_when_untouched(self, event_id: str) -> None:
        """Focus the turn `event_id` (it waits for the user's keys) once the box has been left
        alone for `TYPING` seconds; never if the user types in the meantime."""
        self.focus_wanted, self.focus_asked_at = event_id, time.monotonic()
        self._focus_when_untouched()

    def _focus_when_untouched(self) -> None:
        if self.focus_wanted is None:
            return
        if self.typed_at > self.focus_asked_at or self.prompt.value:
            self.focus_wanted = None
            return
        wait = TYPING - (time.monotonic() - self.typed_at)
        if wait > 0:
            self.set_timer(wait, self._focus_when_untouched)
            return
        event_id, self.focus_wanted = self.focus_wanted, None
        self.call_after_refresh(self._focus_event, event_id)

    def _focus_event(self, event_id: str) -> None:
        if self.box_busy() or self.app.screen is not self:
            return
        for view in self.query(TurnView):
            if view.event_id == event_id:
                view.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.clearing and not event.value:
            self.clearing = False  # our own clearing after a send is not the user typing
            return
        self.typed_at = time.monotonic()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.typed_at = time.monotonic()
        if event.value:
            self.clearing = True
            event.input.value = ""
        if text:
            self.send(text)
        elif self.check_action("run", ()):  # not in the `GUARD` seconds after a turn lands
            self.action_run()
        elif self.check_action("continue", ()):
            self.action_continue()

    def send(self, text: str) -> None:
        if self.running:  # the result must land first; the message follows it
            self.queued.append(text)
            self.notify("Your message goes to the model once the code has finished.")
            return
        if self.generation is not None:  # an interjection: the partial turn is kept, stopped
            self.stopping = True
            self.generation.cancel()
            self.queued.append(text)
            return
        self.said(text, self.commit(self.agent.say, text))
