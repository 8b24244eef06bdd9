"""A pure question (`is` or `==`?) answered directly: a wrong first answer is rated down and
retried, then a follow-up is checked in the kernel."""

from __future__ import annotations

from data.script import Answer, Code, Retried, User

TITLE = "`is` or `==`? A direct answer, and why `is` fails on numbers"
FOLDER = "identity"

SCRIPT = (
    User("In Python, when do I use `is` and when `==`?"),
    Retried(
        """
I can explain this.
""",
        answer="""
They are the same, but `is` is faster, so prefer `is` when comparing numbers and strings.
""",
        rate="down",
    ),
    Answer(
        """
I can explain this.
The key is identity versus equality, and the one
place where `is` is the right choice.
""",
        """
- `==` asks whether two values are **equal** (it calls `__eq__`): `[1, 2] == [1, 2]` is
  `True`.
- `is` asks whether two names refer to the **same object**: `[1, 2] is [1, 2]` is `False`,
  because those are two separate lists.

Use `==` for comparing values: numbers, strings, lists, anything. Use `is` only for
singletons, above all `None`: write `if x is None:`. (`True`, `False` and sentinel objects you
create yourself are the other cases.)

Never use `is` to compare numbers or strings: it sometimes happens to work, because CPython
reuses small integers and some strings, and then fails for other values.
""",
        rate="up",
    ),
    User("Show me that last point."),
    Code(
        """
I will run code.
I'll build equal numbers at run time, a small one and a large one, and compare them both ways.
""",
        """
small_a, small_b = int("256"), int("256")
large_a, large_b = int("1000"), int("1000")
print("256: ==", small_a == small_b, " is", small_a is small_b)
print("1000: ==", large_a == large_b, " is", large_a is large_b)
""",
        expect=("256: == True  is True", "1000: == True  is False"),
    ),
    Answer(
        """
The output shows exactly the trap.
""",
        """
There it is: both pairs are equal (`==` is `True`), but `is` says `True` for 256 and `False`
for 1000. CPython keeps one shared object for each integer from -5 to 256, so small numbers
happen to be identical; larger ones built at run time are separate objects. Code that relies on
`is` for numbers works in a quick test and breaks on real data, so always use `==`.
""",
    ),
)
