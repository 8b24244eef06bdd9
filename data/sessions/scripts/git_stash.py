"""A pure question about git (what `git stash` does): a shell turn skipped with a reason, then a
direct answer."""

from __future__ import annotations

from data.script import Answer, Skip, User

TITLE = "What does git stash do? (a question, answered in words)"
FOLDER = "repo"

SCRIPT = (
    User("What does `git stash` actually do, and how do I get my changes back?"),
    Skip(
        """
I will run code.
See the help.
""",
        """
!git stash --help | head -40
""",
        reason="No commands please, explain it.",
    ),
    Answer(
        """
I can explain this.
""",
        """
`git stash` saves your uncommitted changes (staged and unstaged edits to tracked files) on a
stack, then resets the working tree to the last commit, so you can switch branches or pull
with a clean tree.

To get them back:

- `git stash pop` applies the newest stash and removes it from the stack;
- `git stash apply` applies it and keeps it (handy if applying conflicts);
- `git stash list` shows what is saved.

Untracked files are left alone unless you use `git stash -u`.
""",
        rate="up",
    ),
)
