"""Failing tests traced to an off-by-one in a paginator: a wrong first fix is rated down and rolled
back; the right fix is checked in memory, written to the file, and the tests pass."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Rollback, User, write

TITLE = "Why do the pager tests fail? An off-by-one (a wrong fix rolled back)"
FOLDER = "pager"

PAGER = '''\
"""Splitting a list of results into pages."""


def paginate(items, page, per_page=10):
    """The items on `page` (pages are numbered from 1)."""
    start = page * per_page
    return items[start:start + per_page]


def page_count(items, per_page=10):
    return -(-len(items) // per_page)
'''

TESTS = """\
from pager import page_count, paginate

ITEMS = list(range(1, 24))


def test_first_page():
    assert paginate(ITEMS, 1) == list(range(1, 11))


def test_last_page_is_short():
    assert paginate(ITEMS, 3) == [21, 22, 23]


def test_page_count():
    assert page_count(ITEMS) == 3
"""


def prepare(folder: Path) -> None:
    write(folder / "pager.py", PAGER)
    write(folder / "test_pager.py", TESTS)


SCRIPT = (
    User("The tests in this folder fail and I can't see why. Can you fix it?"),
    Code(
        """
I will run code.
I'll run the tests first to see which ones fail and how.
""",
        """
!python -m pytest -q --color=no -p no:cacheprovider
""",
        expect=("2 failed, 1 passed",),
    ),
    Code(
        """
Both failing tests are about paginate; page_count passes. I'll read the function.
""",
        """
!cat pager.py
""",
        expect=("start = page * per_page",),
        label="source",
    ),
    Code(
        """
The start index is off. I'll subtract one and check page 1 and page 3 in memory before
touching the file.
""",
        """
def paginate(items, page, per_page=10):
    start = page * per_page - 1
    return items[start:start + per_page]

items = list(range(1, 24))
print(paginate(items, 1))
print(paginate(items, 3))
""",
        expect=("[10, 11, 12",),
        rate="down",
    ),
    Rollback("source"),
    Code(
        """
The docstring says pages are numbered from 1, but `start = page * per_page` treats them as
numbered from 0: page 1 starts at index 10, the eleventh item. The start should be
`(page - 1) * per_page`. I'll check that in memory on every page of the test data before
changing the file.
""",
        """
def paginate(items, page, per_page=10):
    start = (page - 1) * per_page
    return items[start:start + per_page]

items = list(range(1, 24))
for page in (1, 2, 3, 4):
    print(page, paginate(items, page))
""",
        expect=("1 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "3 [21, 22, 23]", "4 []"),
    ),
    Code(
        """
Pages 1 to 3 are right and page 4 is empty. I'll write the fix into pager.py (checking the
line is there exactly once) and run the tests again.
""",
        """
from pathlib import Path

path = Path("pager.py")
source = path.read_text()
old = "    start = page * per_page\\n"
assert source.count(old) == 1
path.write_text(source.replace(old, "    start = (page - 1) * per_page\\n"))
!python -m pytest -q --color=no -p no:cacheprovider
""",
        expect=("3 passed",),
    ),
    Answer(
        """
All three tests pass now.
""",
        """
Fixed: it was an off-by-one in `paginate` (`pager.py`).

The docstring says pages are numbered from 1, but the code computed `start = page * per_page`,
which treats them as numbered from 0. So page 1 returned items 11 to 20 and page 3 returned
nothing, which is exactly what the two failing tests caught.

The fix is one line:

```python
start = (page - 1) * per_page
```

All 3 tests pass now. Note that page 0 or a negative page now gives odd slices instead of an
error; if callers can pass those, `paginate` should raise `ValueError` for `page < 1`.
""",
        rate="up",
    ),
)
