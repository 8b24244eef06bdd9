"""A pure question (why a default list grows between calls), answered directly after the user
skips a code turn: a question wants words, not a kernel run."""

from __future__ import annotations

from data.script import Answer, Skip, User

TITLE = "Why does my default list keep growing? (a question, answered in words)"
FOLDER = "defaults"

SCRIPT = (
    User(
        "Why does `def add(item, items=[])` keep the items from earlier calls? I expected a "
        "new empty list each time."
    ),
    Skip(
        """
I will run code.
I'll show it in the kernel.
""",
        """
def add(item, items=[]):
    items.append(item)
    return items
print(add(1), add(2))
""",
        reason="It's a question: explain it, no need to run anything.",
    ),
    Answer(
        """
I can explain this.
""",
        """
A default value is evaluated once, when the `def` line runs, not at each call. So every call
that leaves out `items` gets the same list object, and `append` changes that one list.

The usual fix is `None` as the default and a new list inside:

```python
def add(item, items=None):
    if items is None:
        items = []
    items.append(item)
    return items
```

The same holds for any mutable default: dicts, sets, objects.
""",
        rate="up",
    ),
)
