"""A pure question (what exit code 137 means): the first turn wants to run a shell command; the
user skips it and the answer comes in words."""

from __future__ import annotations

from data.script import Answer, Skip, User

TITLE = "What does exit code 137 mean? (a question, answered in words)"
FOLDER = "jobs"

SCRIPT = (
    User("My training job died with exit code 137. What does that mean?"),
    Skip(
        """
I will run code.
Check the kernel log.
""",
        """
!dmesg | tail -20
""",
        reason="Don't run anything, just tell me what 137 means.",
    ),
    Answer(
        """
I can explain this.
""",
        """
An exit code above 128 means the process was killed by a signal: 137 − 128 = 9, which is
`SIGKILL`. Nothing inside the program can catch it.

The usual sender is the kernel's out-of-memory killer (or a container limit, or a job
scheduler) stopping a process that used too much memory. To check, look for "Out of memory" or
"oom-kill" in `dmesg` or the container's events. The fixes are the usual ones: a smaller batch,
less data held at once, or a higher memory limit.
""",
        rate="up",
    ),
)
