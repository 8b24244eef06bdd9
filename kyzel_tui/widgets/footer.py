"""The footer of the main screen: Textual's, rebuilt only when the keys it shows change.

Textual's footer rebuilds all its keys at every bindings refresh (each focus change, each change
of the screen's activity); with a turn streaming, one rebuild held the event loop 20-60 ms, which
a key pressed meanwhile waited out (bench/tui.py). Here the refreshes of one frame make one check,
and the keys are rebuilt only if what they show differs.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    _shown: tuple | None = None
    """What the last rebuild showed: (key, action, description, enabled, tooltip) per key."""
    _checking = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._checking:
            self._checking = True
            self.call_after_refresh(self._rebuild_if_changed)

    async def _rebuild_if_changed(self) -> None:
        self._checking = False
        shown = shown_keys(self.screen)
        if shown != self._shown:
            self._shown = shown
            await self.recompose()


def shown_keys(screen: Screen) -> tuple:
    """The keys a footer shows on `screen`, with whether each is enabled."""
    return tuple(
        (binding.key, binding.action, binding.description, enabled, tooltip)
        for _node, binding, enabled, tooltip in screen.active_bindings.values()
        if binding.show
    )
