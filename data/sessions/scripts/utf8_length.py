"""A pure question (why a string's length differs from its bytes'): answered directly at once,
then a wrong follow-up answer rated down and retried."""

from __future__ import annotations

from data.script import Answer, Retried, User

TITLE = "Characters or bytes? (questions, answered in words)"
FOLDER = "text"

SCRIPT = (
    User("Why is `len('café')` 4 but `len('café'.encode())` 5?"),
    Answer(
        """
I can explain this.
""",
        """
`len` of a `str` counts characters (code points); `len` of `bytes` counts bytes. `encode()`
uses UTF-8, where ASCII letters take one byte each but `é` takes two (`c3 a9`). So 4
characters become 5 bytes.
""",
    ),
    User("So which one should I use to check a field that allows 255 characters?"),
    Retried(
        """
I can explain this.
""",
        answer="""
Always the bytes length: it is the real size.
""",
        rate="down",
    ),
    Answer(
        """
I can explain this.
It depends on what the limit counts.
""",
        """
Check what the 255 counts. If the limit is in characters (most form fields, and a `VARCHAR(255)`
in PostgreSQL or in MySQL with utf8mb4), use `len(text)`. If it is in bytes (some file formats,
network protocols, older databases), use `len(text.encode("utf-8"))`.
""",
        rate="up",
    ),
)
