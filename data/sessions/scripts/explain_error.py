"""A pure question about an error message, answered directly; a terse first answer is rated down
and retried."""

from __future__ import annotations

from data.script import Answer, Retried, User

TITLE = "What does 'NoneType object is not subscriptable' mean? (answered directly)"
FOLDER = "errors"

SCRIPT = (
    User(
        "What does TypeError: 'NoneType' object is not subscriptable mean? I get it on "
        "`config['port']`."
    ),
    Retried(
        """
I can explain this.
The value being indexed is None.
""",
        answer="""
It means the thing you index with `[...]` is `None`. Check where `config` comes from: some
function returned `None`.
""",
        rate="down",
    ),
    Answer(
        """
I can explain this.
`config` is None at that point,
and the usual cause is a function that returns nothing on some path.
""",
        """
It means `config` is `None` at that line, and `None` cannot be indexed with `[...]`.

The usual cause is a function that returns nothing on some path. For example:

```python
def load_config(path):
    if os.path.exists(path):
        return json.load(open(path))
    # falls off the end: returns None

config = load_config("settings.json")
config["port"]   # TypeError if settings.json is missing
```

To fix it, find where `config` is assigned and make that function either return a value on
every path or raise a clear error (`FileNotFoundError`, say) instead of returning `None`.
`print(type(config))` just before the failing line confirms it.
""",
        rate="up",
    ),
)
