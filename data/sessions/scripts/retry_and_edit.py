"""Disk usage of an archive: a `pip install` turn is skipped and retried beside it; a wrong sort is
corrected by the user's edit.
"""

from __future__ import annotations

import random
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User

TITLE = "What fills the archive folder? (a rejected install, an edited sort)"
FOLDER = "archive"


def prepare(folder: Path) -> None:
    """Files of deterministic sizes: what matters here is how big they are, not what they hold."""
    rng = random.Random(31)
    plan = [
        ("photos/2019", ".jpg", 14, (180_000, 420_000)),
        ("photos/2020", ".jpg", 18, (200_000, 460_000)),
        ("photos/2020/raw", ".cr2", 4, (1_100_000, 1_500_000)),
        ("videos", ".mp4", 3, (900_000, 2_600_000)),
        ("scans", ".pdf", 6, (60_000, 240_000)),
        ("notes", ".txt", 5, (300, 4_000)),
    ]
    for sub, ext, count, (low, high) in plan:
        for i in range(1, count + 1):
            stem = {"videos": "clip", "scans": "scan", "notes": "note"}.get(sub, "IMG")
            name = f"{stem}_{rng.randint(1000, 9999)}{ext}" if stem == "IMG" else f"{stem}{i}{ext}"
            path = folder / sub / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(rng.randint(low, high)))
    (folder / "photos/2019/.DS_Store").write_bytes(b"\0" * 6148)


SCRIPT = (
    User(
        "My archive folder keeps growing. Which file types take the most space, and what are the "
        "5 biggest files? Human-readable sizes please.",
    ),
    Retried(
        """
I will run code.
The humanize package formats sizes nicely. I'll install it, then walk the folder.
""",
        """
!pip install humanize
""",
        reason="No installs on this machine, it's offline. Plain Python is enough.",
    ),
    Code(
        """
I will run code.
I'll use only the standard library: walk the folder with pathlib, keep each file's size, and
write a small helper that formats bytes in KB/MB. Totals first, as a sanity check.
""",
        """
from pathlib import Path

def human(size):
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024

files = [(path, path.stat().st_size) for path in Path(".").rglob("*") if path.is_file()]
print(len(files), "files,", human(sum(size for _, size in files)))
""",
        expect=("51 files, 22.1 MB",),
    ),
    Code(
        """
51 files. Now the totals per extension (lower-cased, so .JPG and .jpg count together), largest
first, with the file count and the share of the total.
""",
        """
from collections import defaultdict

by_type = defaultdict(lambda: [0, 0])
for path, size in files:
    entry = by_type[path.suffix.lower() or path.name]
    entry[0] += 1
    entry[1] += size

total = sum(size for _, size in files)
for ext, (count, size) in sorted(by_type.items(), key=lambda kv: kv[1][1], reverse=True):
    print(f"{ext:<10}{count:>4} files {human(size):>10} {100 * size / total:5.1f} %")
""",
        expect=(
            ".jpg        32 files     9.6 MB  43.5 %",
            ".mp4         3 files     6.4 MB  29.0 %",
        ),
    ),
    Edited(
        """
.jpg photos take the most space, then the videos and the raw .cr2 files. For the five biggest
files, sort by size and take the first five.
""",
        """
for path, size in sorted(files, key=lambda item: item[1])[:5]:
    print(f"{human(size):>10}  {path}")
""",
    ),
    Code(
        """
I will run code.
.jpg photos take the most space, then the videos and the raw .cr2 files. For the five biggest
files, sort by size from largest down and take the first five.
""",
        """
for path, size in sorted(files, key=lambda item: item[1], reverse=True)[:5]:
    print(f"{human(size):>10}  {path}")
""",
        expect=("2.2 MB  videos/clip1.mp4", "1.4 MB  photos/2020/raw/IMG_6755.cr2"),
    ),
    Answer(
        """
I have both answers: space per type and the five biggest files.
""",
        """
Your archive holds 51 files, 22.1 MB in all.

**Space by type:**
| type | files | size | share |
| --- | ---: | ---: | ---: |
| .jpg | 32 | 9.6 MB | 43.5 % |
| .mp4 | 3 | 6.4 MB | 29.0 % |
| .cr2 (raw photos) | 4 | 5.3 MB | 23.9 % |
| .pdf | 6 | 795 KB | 3.5 % |
| .txt | 5 | 12 KB | 0.1 % |

**The five biggest files:**
1. `videos/clip1.mp4`: 2.2 MB
2. `videos/clip3.mp4`: 2.1 MB
3. `videos/clip2.mp4`: 2.1 MB
4. `photos/2020/raw/IMG_7313.cr2`: 1.4 MB
5. `photos/2020/raw/IMG_6755.cr2`: 1.4 MB

The photos take the most space overall, but they are spread over 32 files. The quickest win is
`videos/` and `photos/2020/raw/`: those 7 files hold more than half of the archive (11.7 MB).
There is also a stray `.DS_Store` (macOS folder metadata) in `photos/2019` that you can delete.
""",
        rate="up",
    ),
)
