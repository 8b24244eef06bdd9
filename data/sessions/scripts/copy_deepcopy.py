"""A pure question (copy or deepcopy?): a code turn retried without a reason, then a direct
answer; a follow-up answered directly too."""

from __future__ import annotations

from data.script import Answer, Retried, User

TITLE = "copy or deepcopy? (questions, answered in words)"
FOLDER = "copies"

SCRIPT = (
    User("What's the difference between copy.copy and copy.deepcopy?"),
    Retried(
        """
I will run code.
I'll compare them on a nested list.
""",
        code="""
import copy
a = [[1], [2]]
print(copy.copy(a)[0] is a[0], copy.deepcopy(a)[0] is a[0])
""",
    ),
    Answer(
        """
I can explain this.
""",
        """
- `copy.copy(x)` makes a **shallow** copy: a new outer object whose items are the same objects
  as in `x`. For a list of lists, the outer list is new but the inner lists are shared, so
  changing `copy[0].append(...)` changes `x[0]` too.
- `copy.deepcopy(x)` copies **recursively**: the inner objects are copied as well, so nothing
  is shared with `x`.

Use a shallow copy for flat data (a list of numbers or strings); use `deepcopy` when the items
are themselves mutable and you will change them.
""",
        rate="up",
    ),
    User("And is `list(a)` shallow or deep?"),
    Answer(
        """
I can explain this.
""",
        """
Shallow: `list(a)`, `a[:]` and `a.copy()` all build a new list holding the same items.
""",
    ),
)
