"""Comparing two JSON configs: a line diff is skipped with a reason, and the next turn, which sees
it, compares the parsed JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from data.script import Answer, Code, Edited, Skip, User, write

TITLE = "Staging vs prod config: a rejected line diff, then a parsed comparison"
FOLDER = "orders-api"


STAGING_CONFIG = {
    "service": {"name": "orders-api", "port": 8080, "workers": 4, "log_level": "debug"},
    "database": {"host": "db.staging.internal", "pool_size": 10, "timeout_s": 30},
    "cache": {"enabled": True, "ttl_s": 300},
    "payments": {"provider": "sandbox", "retry": {"attempts": 3, "backoff_ms": 200}},
    "features": {"new_checkout": True, "bulk_export": False},
}


PROD_CONFIG = {
    "database": {"timeout_s": 5, "host": "db.prod.internal", "pool_size": 10},
    "service": {"workers": 16, "name": "orders-api", "log_level": "info", "port": 8080},
    "payments": {"retry": {"backoff_ms": 200, "attempts": 0}, "provider": "live"},
    "features": {"bulk_export": False, "new_checkout": True},
    "cache": {"ttl_s": 300, "enabled": True},
    "rate_limit": {"per_minute": 600},
}


def prepare(folder: Path) -> None:
    """The same settings in a different order, a few values changed, one section added."""
    write(folder / "config/staging.json", json.dumps(STAGING_CONFIG, indent=2) + "\n")
    write(folder / "config/prod.json", json.dumps(PROD_CONFIG, indent=2) + "\n")


SCRIPT = (
    User(
        "Orders sometimes fail in prod with payment errors, never in staging. What's different "
        "between config/staging.json and config/prod.json?",
    ),
    Skip(
        """
I will run code.
A diff of the two files shows every line that differs.
""",
        """
!diff config/staging.json config/prod.json
""",
        "The keys are in a different order in the two files, so a line diff is mostly noise. "
        "Compare the parsed JSON instead.",
    ),
    Edited(
        """
I will run code.
Right: with the keys in a different order, a line diff flags nearly everything. I'll parse
both files and compare them section by section.
""",
        """
import json

staging = json.load(open("config/staging.json"))
prod = json.load(open("config/prod.json"))
for section in sorted(staging.keys() | prod.keys()):
    if staging.get(section) != prod.get(section):
        print(section, "differs")
""",
    ),
    Code(
        """
I will run code.
Right: with the keys in a different order, a line diff would flag nearly everything. I'll
parse both files, flatten the nested keys into dotted paths, and print only the paths whose
values differ or that exist in one file only.
""",
        """
import json

def flatten(value, prefix=""):
    if not isinstance(value, dict):
        return {prefix: value}
    flat = {}
    for key, inner in value.items():
        flat.update(flatten(inner, f"{prefix}.{key}" if prefix else key))
    return flat

with open("config/staging.json") as handle:
    staging = flatten(json.load(handle))
with open("config/prod.json") as handle:
    prod = flatten(json.load(handle))

keys = sorted(staging.keys() | prod.keys())
print(f"{'key':<25} {'staging':<21} prod")
for key in keys:
    old, new = staging.get(key, "(missing)"), prod.get(key, "(missing)")
    if old != new:
        print(f"{key:<25} {old!s:<21} {new!s}")
same = sum(staging.get(key) == prod.get(key) for key in keys)
print(f"\\n{len(keys)} keys, {same} identical")
""",
        expect=(
            "payments.retry.attempts   3                     0",
            "database.timeout_s        30                    5",
            "rate_limit.per_minute     (missing)             600",
            "15 keys, 8 identical",
        ),
    ),
    Answer(
        """
Seven keys differ. Host, provider, log level and worker count are the expected differences
between environments. Two are not, and both bear on failing payments.
""",
        """
15 settings in all; 8 are identical and 7 differ. Most differences are what you'd expect
between environments: `database.host`, `payments.provider` (sandbox vs live),
`service.log_level` (debug vs info), `service.workers` (4 vs 16), and a `rate_limit` section
that only prod has (600 per minute).

Two differences stand out for intermittent payment failures in prod:

- **`payments.retry.attempts` is 0 in prod** (3 in staging). Any transient error from the
  payment provider fails the order at once in prod, while staging quietly retries it. This is
  the most likely cause.
- **`database.timeout_s` is 5 in prod** (30 in staging). With 16 workers, slow queries under
  load could hit that limit. It is worth checking whether the failed orders log database
  timeouts too.

I'd set the retry attempts in prod to match staging (3, with the same 200 ms backoff), as long
as payment requests are idempotent (an idempotency key per order) so that a retry never charges
twice.
""",
        rate="up",
    ),
)
