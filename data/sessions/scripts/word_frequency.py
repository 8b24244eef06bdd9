"""Word counts in a text: a first count that splits on spaces is rated down and rolled back; the
new branch normalises case and punctuation."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Retried, Rollback, User, write

TITLE = "The most common words of a talk (a rated-down count, rolled back)"
FOLDER = "talk"

TALK = """\
Water is the quiet engine of this valley. Water fills the reservoir in spring, water turns the
old mill, and water decides, every summer, whether the orchards survive.

When the river runs low, the orchards suffer first. Farmers watch the river, they watch the
sky, and they watch each other's pumps. A dry June means a hard winter.

This year we propose a simple plan: meter the pumps, share the water by season, and repair the
canal before the river runs low again. The plan costs less than one bad harvest.

Water, orchards, the mill, the canal: the valley works when the water works. Let us keep the
water where the valley needs it.
"""


def prepare(folder: Path) -> None:
    write(folder / "talk.txt", TALK)


SCRIPT = (
    User(
        "What are the 10 most common words in talk.txt? Leave out little words like 'the' and "
        "'and'."
    ),
    Retried(
        """
I will run code.
A shell pipeline counts words quickly.
""",
        """
!tr -s ' ' '\\n' < talk.txt | sort | uniq -c | sort -rn | head
""",
        reason="Do it in Python, I want to reuse the code.",
    ),
    Code(
        """
I will run code.
I'll read the file and check its size first.
""",
        """
from pathlib import Path

text = Path("talk.txt").read_text(encoding="utf-8")
print(len(text), "characters,", len(text.split()), "words")
print(text[:120])
""",
        expect=("characters,", "Water is the quiet engine"),
        label="read",
    ),
    Code(
        """
A short talk. I'll split it into words, drop a list of common stop words, and count the rest.
""",
        """
from collections import Counter

STOP = {"the", "and", "a", "of", "in", "is", "to", "we", "they", "this", "when", "than", "it",
        "let", "us", "each", "one", "by", "before", "where", "every", "whether"}
counts = Counter(word for word in text.split() if word not in STOP)
counts.most_common(10)
""",
        expect=("('water', 5)", "('Water', 2)", "('mill,', 2)"),
        rate="down",
    ),
    Rollback("read"),
    Code(
        """
I'll lower-case the text and take runs of letters (keeping apostrophes inside words), so that
"Water", "water," and "water." count as one word. Then drop common stop words and count.
""",
        """
import re
from collections import Counter

STOP = {"the", "and", "a", "of", "in", "is", "to", "we", "they", "this", "when", "than", "it",
        "let", "us", "each", "one", "by", "before", "where", "every", "whether"}
words = re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())
counts = Counter(word for word in words if word not in STOP)
print(len(words), "words,", len(counts), "distinct after stop words")
for word, n in counts.most_common(10):
    print(f"{n:>3}  {word}")
""",
        expect=("46 distinct after stop words", "  8  water", "  3  valley"),
    ),
    Answer(
        """
"water" clearly leads; the rest of the top ten are the valley's themes.
""",
        """
The ten most common words in `talk.txt` (114 words; case and punctuation ignored, little words
like "the", "and", "we" left out):

| count | words |
| ---: | --- |
| 8 | water |
| 3 | valley, orchards, river, watch |
| 2 | mill, runs, low, pumps, plan |

"Water" is by far the main theme: it appears 8 times, more than twice as often as any other
word. The words within each group are tied; they are listed in the order they first appear.
""",
    ),
)
