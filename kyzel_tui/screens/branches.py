"""The branch view: the whole session tree, to move the head anywhere in it.

One line per node (user message, turn, result, kernel event): its kind, a short excerpt, the
verdicts on a turn as markers, its position among its siblings ("2/3") when it has any, the path
to the head in bold and the head itself marked. The screen only reads the tree; it dismisses with
the chosen event id and the caller moves the head.

Layout: a chain of single children is shown flat, each node as the next line at the same depth,
and indentation only starts where the session forks. A long linear session is then a plain list
of lines rather than a staircase thousands of levels deep (unreadable, and each line's guides
would cost its depth), and the depth on screen is the number of forks on the way, which is what
the user navigates by. Lines under a fork are built when it is first expanded, so opening a big
session only builds the head's path and the alternatives next to it.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree
from textual.widgets.tree import NodeID, TreeNode

from core.events import KernelEvent, Result, Turn, UserMessage
from core.text import one_line, safe_text
from core.tree import SessionTree

EXCERPT = 60
"""Characters of text on a line, at most."""
HEAD_MARK = "◀ head"
STATUS_STYLES = {"ok": "green", "error": "red"}
"""Result statuses with their own colour; the others (interrupted, timeout, died) are yellow."""


def first_line(text: str | None, width: int = EXCERPT) -> str:
    """The first non-blank line of `text`, safe and at most `width` characters."""
    for line in safe_text(text or "").splitlines():
        if line.strip():
            return one_line(line, width)
    return ""


def _excerpt(tree: SessionTree, event_id: str) -> Text:
    body = tree.node(event_id).body
    match body:
        case UserMessage(text=text):
            return Text(one_line(text, EXCERPT))
        case Turn():
            return _turn_excerpt(tree, event_id, body)
        case Result(status=status):
            output = first_line(body.output)
            if not output and body.error:
                output = first_line(f"{body.error.get('name', '')} {body.error.get('value', '')}")
            style = STATUS_STYLES.get(status, "yellow")
            return Text.assemble((status, style), " ", output)
        case KernelEvent(state=state, detail=detail):
            return Text.assemble((state, "yellow"), " ", first_line(detail))
    return Text("")


def _turn_excerpt(tree: SessionTree, event_id: str, turn: Turn) -> Text:
    action = first_line(turn.code if turn.code is not None else turn.answer, EXCERPT // 2)
    thought = first_line(turn.thought)
    text = Text(thought or action)
    if thought and action:
        text.append(f"  {action}", style="dim")
    if turn.origin == "edited":
        text.append(" edited", style="italic cyan")
    decision = tree.decision(event_id)
    if decision is not None:
        accepted = decision.value == "accepted"
        text.append(" ✓" if accepted else " ✗", style="green" if accepted else "red")
    rating = tree.rating(event_id)
    if rating is not None:
        text.append(" +" if rating == "up" else " -", style="green" if rating == "up" else "red")
    return text


def node_label(
    tree: SessionTree, event_id: str, *, on_path: bool = False, is_head: bool = False
) -> Text:
    """One line for a node: position among siblings, kind, excerpt, markers; bold on the path."""
    label = Text(no_wrap=True, overflow="ellipsis")
    index, count = tree.sibling_position(event_id)
    if count > 1:
        label.append(f"{index}/{count} ", style="magenta")
    label.append(f"{tree.node(event_id).kind:<6} ", style="bold blue")
    label.append_text(_excerpt(tree, event_id))
    if is_head:
        label.append(f"  {HEAD_MARK}", style="bold yellow")
    if on_path:
        label.stylize("bold")
    return label


class BranchTree(Tree[str]):
    """A `Tree` whose line widths are cheap: it measures every line each time lines change."""

    def get_label_width(self, node: TreeNode[str]) -> int:
        icon = cell_len(self.ICON_NODE) if node.allow_expand else 0
        return icon + node.label.cell_len  # labels are always Text here


class BranchScreen(Screen[str | None]):
    """Every node of `tree`; enter dismisses with the selected node's id, escape with None."""

    CSS_PATH = "branches.tcss"

    BINDINGS = [
        Binding(
            "enter",
            "choose",
            "Go here",
            tooltip="Move the head to the selected event",
            id="branches.choose",
            priority=True,
        ),
        Binding("h", "show_head", "Head", tooltip="Back to the head", id="branches.head"),
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back, leaving the head where it is",
            id="branches.back",
        ),
    ]

    def __init__(self, tree: SessionTree) -> None:
        super().__init__()
        self.session_tree = tree
        self._on_path = {event.id for event in tree.path()}
        self._lines: dict[str, TreeNode[str]] = {}
        """The lines built so far, by event id."""
        self._unbuilt: dict[NodeID, str] = {}
        """Lines that hold more (a fork's alternatives, a branch's continuation) not built yet."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Branches: pick an event to continue from"), id="heading")
        yield Static(Text("This session has no events yet."), id="empty")
        yield BranchTree(Text("session"), id="branches")
        yield Footer()

    def on_mount(self) -> None:
        view = self.query_one(Tree)
        view.show_root = False
        view.guide_depth = 3
        self._build(view.root, None)
        self.query_one("#empty").display = not self._lines
        view.focus()
        self.action_show_head()

    def _build(self, line: TreeNode[str], event_id: str | None) -> None:
        """Add under `line` what follows `event_id`: the run of single children, or the fork."""
        self._unbuilt.pop(line.id, None)
        children = self.session_tree.children(event_id)
        if len(children) != 1:
            for child in children:
                self._add_line(line, child, holds_more=bool(self.session_tree.children(child)))
            return
        current = children[0]
        while True:
            following = self.session_tree.children(current)
            self._add_line(line, current, holds_more=len(following) > 1)
            if len(following) != 1:
                return
            current = following[0]

    def _add_line(self, parent: TreeNode[str], event_id: str, *, holds_more: bool) -> None:
        label = node_label(
            self.session_tree,
            event_id,
            on_path=event_id in self._on_path,
            is_head=event_id == self.session_tree.head,
        )
        line = parent.add(label, data=event_id, allow_expand=holds_more)
        self._lines[event_id] = line
        if holds_more:
            self._unbuilt[line.id] = event_id

    def _open(self, line: TreeNode[str]) -> None:
        if line.id in self._unbuilt:
            self._build(line, self._unbuilt[line.id])
        line.expand()

    def reveal(self, event_id: str) -> TreeNode[str]:
        """The line of `event_id`, built and expanded down to if need be."""
        for event in self.session_tree.path(event_id):
            if event.id not in self._lines:
                self._open(self._lines[event.parent_id])
        line = self._lines[event_id]
        ancestor = line.parent
        while ancestor is not None:
            if not ancestor.is_expanded:
                ancestor.expand()
            ancestor = ancestor.parent
        return line

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node.id in self._unbuilt:
            self._build(event.node, self._unbuilt[event.node.id])

    def action_show_head(self) -> None:
        head = self.session_tree.head
        if head is None:
            return
        view = self.query_one(Tree)
        line = self.reveal(head)
        view.last_line  # noqa: B018 - builds the tree's lines, so that the head has its line number
        view.move_cursor(line)
        # Scrolling needs the tree's size, which it only has after the first refresh.
        self.call_after_refresh(view.scroll_to_node, line, animate=False)

    def action_choose(self) -> None:
        line = self.query_one(Tree).cursor_node
        if line is not None and line.data is not None:
            self.dismiss(line.data)

    def action_back(self) -> None:
        self.dismiss(None)
