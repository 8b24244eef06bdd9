"""A pure question (HTTP 401 or 403?): a code turn is retried with a reason, then a direct
answer."""

from __future__ import annotations

from data.script import Answer, Retried, User

TITLE = "HTTP 401 or 403? (a question, answered in words)"
FOLDER = "web"

SCRIPT = (
    User("What is the difference between HTTP 401 and 403?"),
    Retried(
        """
I will run code.
Let me look at the status names.
""",
        code="""
from http import HTTPStatus
print(HTTPStatus(401).phrase, HTTPStatus(403).phrase)
""",
        reason="Just answer, this is a question.",
    ),
    Answer(
        """
I can explain this.
""",
        """
- **401 Unauthorized** means the server does not know who you are: no credentials, or bad
  ones. Logging in (or sending a valid token) can fix it, and the response should carry a
  `WWW-Authenticate` header saying how.
- **403 Forbidden** means the server knows who you are, and you may not do this. Logging in
  again will not help; you need other permissions.

In short: 401 is "who are you?", 403 is "not you".
""",
    ),
)
