"""Renaming photos by the dates in a CSV: an exiftool turn is skipped and retried; the user edits
the renaming turn into a dry run first, then the renames happen and are checked."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "Photos renamed to their dates from photos.csv (a dry run first)"
FOLDER = "holiday"

PHOTOS = [
    ("IMG_4471.jpg", "2024-05-03 09:12"),
    ("IMG_4472.jpg", "2024-05-03 09:40"),
    ("IMG_4490.jpg", "2024-05-03 17:05"),
    ("IMG_4502.jpg", "2024-05-04 08:55"),
    ("IMG_4503.jpg", "2024-05-04 08:55"),
    ("IMG_4530.jpg", "2024-05-05 12:20"),
]


def prepare(folder: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "taken"])
    writer.writerows(PHOTOS)
    write(folder / "photos.csv", out.getvalue())
    for name, taken in PHOTOS:
        (folder / name).write_bytes(f"jpeg bytes of {name} taken {taken}".encode())
    (folder / "IMG_4531.jpg").write_bytes(b"jpeg bytes of a photo missing from the csv")


SCRIPT = (
    User(
        "Rename the photos in this folder to their date and time, like 2024-05-03_0912.jpg. "
        "photos.csv says when each was taken."
    ),
    Retried(
        """
I will run code.
exiftool can read the date each photo was taken and rename in one go.
""",
        """
!exiftool '-FileName<DateTimeOriginal' -d '%Y-%m-%d_%H%M.%%e' .
""",
        reason="exiftool isn't installed. The dates are in photos.csv, use that.",
    ),
    Code(
        """
I will run code.
I'll read photos.csv and list the jpg files, to check that every photo has a date and every
date a photo.
""",
        """
import csv
from pathlib import Path

with open("photos.csv", newline="") as handle:
    taken = {row["file"]: row["taken"] for row in csv.DictReader(handle)}
files = sorted(p.name for p in Path(".").glob("*.jpg"))
print(len(taken), "dates,", len(files), "photos")
print("no date:", [f for f in files if f not in taken])
print("no file:", [f for f in taken if f not in files])
""",
        expect=("6 dates, 7 photos", "no date: ['IMG_4531.jpg']", "no file: []"),
    ),
    Edited(
        """
Six photos have dates; IMG_4531.jpg has none, so I'll leave it alone. I'll rename the others
to YYYY-MM-DD_HHMM.jpg.
""",
        """
for name, when in taken.items():
    new = when.replace(" ", "_").replace(":", "") + ".jpg"
    Path(name).rename(new)
    print(name, "->", new)
""",
    ),
    Code(
        """
I will run code.
Six photos have dates; IMG_4531.jpg has none, so I'll leave it alone. Before renaming anything
I'll print the plan, and check that no two photos would get the same name and that no new name
already exists.
""",
        """
from collections import Counter

plan = {name: when.replace(" ", "_").replace(":", "") + ".jpg" for name, when in taken.items()}
for old, new in plan.items():
    print(f"{old} -> {new}")
clashes = [new for new, n in Counter(plan.values()).items() if n > 1]
print("clashes:", clashes)
print("already exist:", [new for new in plan.values() if Path(new).exists()])
""",
        expect=("clashes: ['2024-05-04_0855.jpg']", "already exist: []"),
    ),
    Code(
        """
IMG_4502 and IMG_4503 were taken in the same minute, so both would become 2024-05-04_0855.jpg
and one would overwrite the other. I'll add a suffix (_2, _3, ...) when a name repeats, keep
the original order, rename, and list the folder.
""",
        """
seen = Counter()
for old in sorted(plan):
    stem = plan[old][:-4]
    seen[stem] += 1
    new = f"{stem}.jpg" if seen[stem] == 1 else f"{stem}_{seen[stem]}.jpg"
    assert not Path(new).exists(), new
    Path(old).rename(new)
!ls
""",
        expect=("2024-05-04_0855.jpg", "2024-05-04_0855_2.jpg", "IMG_4531.jpg"),
    ),
    Answer(
        """
Six renamed, no overwrite, the undated photo untouched.
""",
        """
Done: 6 photos renamed to `YYYY-MM-DD_HHMM.jpg` from `photos.csv`.

- **IMG_4502** and **IMG_4503** were taken in the same minute (2024-05-04 08:55), so the
  second one is `2024-05-04_0855_2.jpg`; without the suffix one would have overwritten the
  other.
- **IMG_4531.jpg** is not in `photos.csv`, so I left its name as it is. Add its date to the CSV
  if you want it renamed too.

Nothing was overwritten: every new name was checked not to exist before renaming.
""",
        rate="up",
    ),
)
