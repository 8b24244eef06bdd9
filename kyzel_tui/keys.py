"""Every key of the main screen, in one place, and the check of the user's `[keys]` table.

The main screen binds `MAIN_BINDINGS`; the footer, the help (F1), the waiting bar and the command
palette all read the keys from here through `keys_of`, so after `run = "x"` in `config.toml`
every one of them says `x run`. This module knows nothing of the screens that use it.
"""

from __future__ import annotations

from dataclasses import replace

from textual.binding import Binding
from textual.keys import REPLACED_KEYS, Keys, key_to_character

from core.config_file import line_of

MAIN_BINDINGS: list[Binding] = [
    Binding("enter,y", "run", "Run", tooltip="Run the pending code", id="run"),
    Binding(
        "e",
        "edit",
        "Edit",
        tooltip="Edit the last turn (code, answer or a stopped one); saved as a sibling",
        id="edit",
    ),
    Binding(
        "ctrl+e",
        "edit_in_editor",
        "$EDITOR",
        show=False,
        tooltip="Edit the last turn in $EDITOR",
        id="edit_in_editor",
    ),
    Binding(
        "t",
        "edit_thought",
        "Thought",
        show=False,
        id="edit_thought",
        tooltip="Edit only the thought of the pending turn; the model writes the rest",
    ),
    Binding(
        "r",
        "retry",
        "Retry",
        id="retry",
        tooltip="A new generation in the same place; the old one stays as a sibling",
    ),
    Binding(
        "c",
        "continue",
        "Continue",
        id="continue",
        tooltip="The model goes on: finishes a stopped turn, or answers a message or a result",
    ),
    Binding(
        "n",
        "reject",
        "Skip",
        id="reject",
        tooltip="Do not run the pending code; an optional reason goes to the model",
    ),
    Binding(
        "left",
        "sibling(-1)",
        "◀",
        show=False,
        id="previous_sibling",
        tooltip="The previous sibling of the pending or selected turn",
    ),
    Binding(
        "right",
        "sibling(1)",
        "▶",
        show=False,
        id="next_sibling",
        tooltip="The next sibling of the pending or selected turn",
    ),
    Binding(
        "up,k",
        "select(-1)",
        "Previous event",
        show=False,
        priority=True,
        id="select_previous",
        tooltip="Select the event above (outside the message box)",
    ),
    Binding(
        "down,j",
        "select(1)",
        "Next event",
        show=False,
        priority=True,
        id="select_next",
        tooltip="Select the event below (outside the message box)",
    ),
    Binding(
        "plus",
        "rate('up')",
        "+",
        show=False,
        id="rate_up",
        tooltip="Rate the selected turn up",
    ),
    Binding(
        "minus",
        "rate('down')",
        "-",
        show=False,
        id="rate_down",
        tooltip="Rate the selected turn down",
    ),
    Binding(
        "u",
        "rollback",
        "Roll back",
        show=False,
        id="rollback",
        tooltip="Continue from the selected event; offers to replay the kernel",
    ),
    Binding(
        "escape",
        "stop",
        "Stop",
        id="stop",
        tooltip="Stop the generation now; the partial turn is kept as a stopped sibling",
    ),
    Binding(
        "escape",
        "leave_prompt",
        "Keys",
        show=False,
        id="leave_prompt",
        tooltip="Leave the message box: the keys act on the transcript again",
    ),
    Binding(
        "ctrl+c",
        "interrupt",
        "Interrupt",
        priority=True,
        id="interrupt",
        tooltip="Interrupt the running code; the model waits until you continue",
    ),
    Binding(
        "o",
        "expand",
        "Expand",
        show=False,
        id="expand",
        tooltip="Expand or collapse the selected result",
    ),
    Binding("i", "focus_prompt", "Type", id="focus_prompt", tooltip="Write a message"),
    Binding(
        "d",
        "load_demo",
        "Embedded model",
        id="load_demo",
        tooltip="Load the small embedded model (SmolLM2-135M-Instruct) when no other model loads",
    ),
    Binding("ctrl+s", "sessions", "Sessions", id="sessions", tooltip="List, open, rename"),
    Binding(
        "ctrl+b", "branches", "Branches", show=False, id="branches", tooltip="The session's tree"
    ),
    Binding("f1", "help", "Help", id="help", tooltip="Every key, and how selection works"),
    Binding(
        "ctrl+home",
        "show_more",
        "Earlier",
        show=False,
        id="show_more",
        tooltip="Show earlier events of a long session",
    ),
]

BY_ID: dict[str, Binding] = {binding.id: binding for binding in MAIN_BINDINGS if binding.id}
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
SPELLED = {"enter": "enter"}
"""Keys whose footer symbol (⏎) a newcomer may not read; the bars and the help spell them."""
NAMED_KEYS = frozenset(k.value for k in Keys if not k.value.startswith("<"))


def keys_of(app, binding_id: str) -> str:
    """The keys of a binding as the user has them (config.toml wins), for display: "enter/y"."""
    keymap = getattr(app, "keymap", {})
    binding = BY_ID[binding_id]
    keys = keymap.get(binding_id, binding.key)
    return "/".join(
        SPELLED.get(key.strip())
        or app.get_key_display(replace(binding, key=key.strip(), key_display=None))
        for key in keys.split(",")
    )


def help_rows(app, bindings: list[Binding]) -> list[tuple[str, str, str, str]]:
    """(keys, action, details, name in [keys]) for the help, with the keys in force."""
    rows = []
    for binding in bindings:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        keys = keys_of(app, binding.id) if binding.id in BY_ID else app.get_key_display(binding)
        rows.append((keys, binding.description, binding.tooltip, binding.id or ""))
    return rows


def valid_key(key: str) -> bool:
    """Whether Textual can ever deliver `key` ("ctrl+e", "R", "plus", "f5"...)."""
    *modifiers, base = key.split("+")
    if not base or any(m not in MODIFIERS for m in modifiers):
        return False
    if len(base) == 1:
        return base.isprintable()
    return base in NAMED_KEYS or key_to_character(REPLACED_KEYS.get(base, base)) is not None


def check_keymap(keys: dict[str, object], text: str, path: str) -> tuple[dict[str, str], list[str]]:
    """The entries of a `[keys]` table that can be used, and one message per refused entry,
    naming its line; a refused action keeps its default keys."""
    good: dict[str, str] = {}
    problems: list[str] = []
    for name, value in keys.items():
        where = f"{path}:{line_of(text, 'keys', name)}"
        if name not in BY_ID:
            known = ", ".join(sorted(BY_ID))
            problems.append(f"{where}: no action called {name!r}; the actions are: {known}")
        elif not isinstance(value, str) or not value.strip():
            problems.append(f'{where}: {name} has no key; give one, like {name} = "x"')
        elif bad := [k for k in value.split(",") if not valid_key(k.strip())]:
            problems.append(f"{where}: {bad[0].strip()!r} is not a key a terminal can send")
        else:
            good[name] = ",".join(k.strip() for k in value.split(","))
            continue
        problems[-1] += f"; {name} keeps its default keys" if name in BY_ID else ""
    return good, problems
