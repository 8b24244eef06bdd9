"""A pure question (list or tuple?) answered directly; a sweeping first answer is rated down and
retried; a follow-up question is settled by running two lines."""

from __future__ import annotations

from data.script import Answer, Code, Retried, User

TITLE = "List or tuple? A question answered directly, then checked in the kernel"
FOLDER = "scratch"

SCRIPT = (
    User("What is the difference between a list and a tuple in Python? When should I use which?"),
    Retried(
        """
I can explain this.
""",
        answer="""
Tuples are faster and smaller than lists in every case, so you should always use a tuple
unless you need to change the data.
""",
        rate="down",
    ),
    Answer(
        """
I can explain this.
A conceptual question about the language: no code needed, a direct answer with the practical
rule of thumb.
""",
        """
The core difference is **mutability**:

- a **list** (`[1, 2, 3]`) can change after it is made: `append`, `remove`, `sort`, item
  assignment;
- a **tuple** (`(1, 2, 3)`) cannot: once built, its items stay the same.

What follows from that:
- a tuple can be a **dict key** or a **set member** (if its items are hashable too); a list
  cannot;
- a tuple signals "this is a fixed record" (a point `(x, y)`, a row, a function returning two
  values), a list "a collection of similar things that may grow";
- tuples are slightly smaller and faster to create, but that rarely matters.

Rule of thumb: use a **list** for a sequence you build up or modify, a **tuple** for a
fixed-size group of values whose positions mean something, or whenever you need it hashable.
""",
        rate="up",
    ),
    User("Can a tuple be a dict key if one of its items is a list?"),
    Code(
        """
I will run code.
No: a tuple is hashable only if all its items are. Two lines in the kernel show the exact
error.
""",
        """
key = ("monday", [9, 17])
hours = {key: "open"}
""",
        expect=("TypeError: unhashable type: 'list'",),
        status="error",
    ),
    Answer(
        """
The kernel confirms it: hashing the tuple fails on the list inside.
""",
        """
No. A tuple is hashable only if every item in it is hashable, and a list is not:
`{("monday", [9, 17]): "open"}` raises `TypeError: unhashable type: 'list'`.

Make the inner part a tuple too, and it works: `{("monday", (9, 17)): "open"}`.
""",
    ),
)
