"""Writing a small function with tests: a dependency is refused with a reason, accents are lost
by the first version, the user's edit normalises them, and the module and its tests are saved
and pass."""

from __future__ import annotations

from data.script import Answer, Code, Edited, Retried, User

TITLE = "A slugify() for blog titles, with tests (accents kept as letters)"
FOLDER = "blog"

SCRIPT = (
    User(
        "Write a slugify(title) for our blog URLs: lower case, ASCII only, words joined by single "
        "hyphens, nothing at the ends. Save it as slug.py with a few pytest tests."
    ),
    Retried(
        """
I will run code.
The python-slugify package does exactly this. I'll install it.
""",
        """
!pip install python-slugify
""",
        reason="No new dependency for ten lines of code. Write it yourself.",
    ),
    Code(
        """
I will run code.
A first version with the standard library: lower-case, replace every run of characters other
than a-z and 0-9 by one hyphen, and strip hyphens from the ends. I'll try it on a few titles,
including accents and punctuation.
""",
        """
import re

def slugify(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")

for title in ["Hello, World!", "  Ten tips -- for 2024  ", "Café au lait", "Ærøskøbing & Göteborg"]:
    print(repr(title), "->", slugify(title))
""",
        expect=("'Café au lait' -> caf-au-lait", "-> ten-tips-for-2024"),
    ),
    Edited(
        """
Punctuation and spaces work, but accented letters are dropped: "Café" became "caf". I'll
encode the title to ASCII, ignoring what doesn't fit, before the substitution.
""",
        """
def slugify(title):
    ascii_title = title.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")

for title in ["Café au lait", "Ærøskøbing & Göteborg"]:
    print(repr(title), "->", slugify(title))
""",
    ),
    Code(
        """
I will run code.
Punctuation and spaces work, but accented letters are dropped: "Café" became "caf". I'll
decompose the text with unicodedata.normalize("NFKD"), which splits "é" into "e" plus a
combining accent, then drop what is not ASCII, so the base letters stay. Letters with no
decomposition (æ, ø) need a small table of their own.
""",
        """
import unicodedata

SPECIAL = str.maketrans({"æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "ß": "ss", "ł": "l", "Ł": "L"})

def slugify(title):
    text = unicodedata.normalize("NFKD", title.translate(SPECIAL))
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

for title in ["Hello, World!", "  Ten tips -- for 2024  ", "Café au lait", "Ærøskøbing & Göteborg"]:
    print(repr(title), "->", slugify(title))
""",
        expect=("'Café au lait' -> cafe-au-lait", "-> aeroskobing-goteborg"),
    ),
    Code(
        """
Every example comes out right. I'll save the function as slug.py and the examples as pytest
tests in test_slug.py, plus an edge case (a title with no letters gives an empty slug), and
run them.
""",
        """
from pathlib import Path

Path("slug.py").write_text('''\\
\"\"\"URL slugs for blog titles.\"\"\"

import re
import unicodedata

SPECIAL = str.maketrans({"æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "ß": "ss", "ł": "l", "Ł": "L"})


def slugify(title):
    \"\"\"Lower-case ASCII words joined by single hyphens: "Café au lait" -> "cafe-au-lait".\"\"\"
    text = unicodedata.normalize("NFKD", title.translate(SPECIAL))
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
''')

Path("test_slug.py").write_text('''\\
import pytest

from slug import slugify


@pytest.mark.parametrize("title, slug", [
    ("Hello, World!", "hello-world"),
    ("  Ten tips -- for 2024  ", "ten-tips-for-2024"),
    ("Café au lait", "cafe-au-lait"),
    ("Ærøskøbing & Göteborg", "aeroskobing-goteborg"),
    ("!!!", ""),
])
def test_slugify(title, slug):
    assert slugify(title) == slug
''')
!python -m pytest -q --color=no -p no:cacheprovider test_slug.py
""",
        expect=("5 passed",),
    ),
    Answer(
        """
The five tests pass.
""",
        """
`slug.py` is saved, with 5 pytest tests in `test_slug.py`, all passing.

```python
def slugify(title):
    text = unicodedata.normalize("NFKD", title.translate(SPECIAL))
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
```

- Accents are kept as their base letter (`Café` → `cafe`, `Göteborg` → `goteborg`):
  `NFKD` splits an accented letter into the letter and the accent, and the accent is dropped.
- A few letters have no such split (`æ`, `ø`, `ß`, `ł`); the `SPECIAL` table spells them out.
  Add to it if your titles use other alphabets: Greek or Cyrillic letters are dropped today.
- A title with no letters or digits gives `""`; you may want a fallback (such as the post's id)
  so that a URL is never empty.
""",
        rate="up",
    ),
)
