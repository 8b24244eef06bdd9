"""A pure question (counting the lines of a file too big for memory) answered directly, a first
answer that reads the whole file rated down; then the answer tried on a real file."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Retried, User

TITLE = "Counting lines of a huge file without loading it (answered, then tried)"
FOLDER = "bigfile"


def prepare(folder: Path) -> None:
    with open(folder / "events.log", "w", encoding="utf-8") as handle:
        for i in range(250_000):
            handle.write(f"{i:06d} event={'click' if i % 7 else 'purchase'} user={i % 977}\n")


SCRIPT = (
    User("How do I count the lines of a file that's too big to fit in memory?"),
    Retried(
        """
I can explain this.
""",
        answer="""
Use `len(open(path).readlines())`.
""",
        rate="down",
    ),
    Answer(
        """
I can explain this.
The point is to stream the file instead of
reading it whole: a file object yields one line at a time.
""",
        """
Iterate over the file: a file object reads it one line at a time, so memory stays flat
whatever its size.

```python
with open(path, "rb") as handle:
    count = sum(1 for _ in handle)
```

Opening in binary mode (`"rb"`) skips decoding, which is faster and never fails on a bad
byte. For very large files, counting newlines in fixed-size blocks is faster still:

```python
with open(path, "rb") as handle:
    count = sum(block.count(b"\\n") for block in iter(lambda: handle.read(1 << 20), b""))
```

(That counts newline characters, so a last line without one is not counted.) From a shell,
`wc -l path` does the same.

Avoid `len(open(path).readlines())` or `read().splitlines()`: both load the whole file first.
""",
        rate="up",
    ),
    User("Try both on events.log here and check they agree with wc."),
    Code(
        """
I will run code.
I'll run both ways on events.log and compare with wc -l.
""",
        """
with open("events.log", "rb") as handle:
    by_line = sum(1 for _ in handle)

with open("events.log", "rb") as handle:
    by_block = sum(block.count(b"\\n") for block in iter(lambda: handle.read(1 << 20), b""))

print(by_line, by_block)
!wc -l events.log
""",
        expect=("250000 250000", "250000 events.log"),
    ),
    Answer(
        """
All three agree.
""",
        """
They agree: both ways count **250,000** lines, the same as `wc -l events.log`. Neither ever
holds more than one line (or one 1 MiB block) in memory.
""",
    ),
)
