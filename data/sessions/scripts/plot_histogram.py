"""Response times with a long tail: a seaborn turn is skipped (not installed) and retried; the
user edits the thought to ask for a log axis, and the histogram is saved as PNG."""

from __future__ import annotations

import random
from pathlib import Path

from data.script import Answer, Code, Edited, Retried, User, write

TITLE = "A histogram of API response times (log axis, percentiles marked)"
FOLDER = "latency"


def prepare(folder: Path) -> None:
    """Mostly fast requests, a slower mode from a cache miss, and a few very slow outliers."""
    rng = random.Random(2024)
    rows = [f"{rng.lognormvariate(3.4, 0.35):.1f}" for _ in range(1700)]
    rows += [f"{rng.lognormvariate(5.0, 0.3):.1f}" for _ in range(280)]
    rows += [f"{rng.uniform(2000, 6000):.1f}" for _ in range(20)]
    rng.shuffle(rows)
    write(folder / "latency.csv", "\n".join(["ms", *rows]) + "\n")


SCRIPT = (
    User(
        "latency.csv has 2000 response times in ms from our API. Plot their distribution to "
        "latency.png and tell me what it shows."
    ),
    Code(
        """
I will run code.
I'll load the times and look at the summary and a few percentiles first, to choose the bins.
""",
        """
import pandas as pd

ms = pd.read_csv("latency.csv")["ms"]
print(ms.describe().round(1))
print(ms.quantile([0.5, 0.9, 0.99]).round(1))
""",
        expect=("count    2000.0", "50%        33.0", "max      5864.5", "0.99    353.9"),
    ),
    Retried(
        """
I'll draw it with seaborn's histplot, which picks good bins by itself.
""",
        """
import seaborn as sns

ax = sns.histplot(ms)
ax.figure.savefig("latency.png")
""",
        reason="seaborn isn't installed, and I don't want new packages. Use matplotlib.",
    ),
    Edited(
        """
I will run code.
The median is around 33 ms but the maximum is in the seconds. I'll draw a histogram with
matplotlib and save it.
""",
        """
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
ax.hist(ms, bins=50)
fig.savefig("latency.png")
""",
    ),
    Code(
        """
I will run code.
The median is around 33 ms but the maximum is in the seconds, so on a linear axis everything
below 200 ms would be squeezed into the first bar. I'll use log-spaced bins on a log x axis, and
mark the median, p90 and p99.
""",
        """
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
bins = np.logspace(np.log10(ms.min()), np.log10(ms.max()), 60)
ax.hist(ms, bins=bins, color="#4C72B0")
ax.set_xscale("log")
for q, style in ((0.5, "-"), (0.9, "--"), (0.99, ":")):
    value = ms.quantile(q)
    ax.axvline(value, color="black", linestyle=style, linewidth=1)
    ax.text(value, ax.get_ylim()[1] * 0.95, f" p{int(q * 100)} {value:.0f} ms", fontsize=8)
ax.set_xlabel("response time (ms, log scale)")
ax.set_ylabel("requests")
ax.spines[["top", "right"]].set_visible(False)
fig.tight_layout()
fig.savefig("latency.png")
plt.close(fig)
print(plt.imread("latency.png").shape)
""",
        expect=("(540, 960, 4)",),
    ),
    Code(
        """
The chart is saved at 960 x 540. On the log axis the times should fall into a main group, a
second group around 150 ms and a thin tail in the seconds; I'll count requests in those ranges
to put numbers on what the chart shows.
""",
        """
ranges = pd.cut(ms, [0, 80, 1000, 10_000], labels=["< 80 ms", "80 ms - 1 s", "> 1 s"])
counts = ranges.value_counts().sort_index()
print(pd.DataFrame({"requests": counts, "share_%": (100 * counts / len(ms)).round(1)}))
""",
        expect=("< 80 ms          1700     85.0", "> 1 s              20      1.0"),
    ),
    Answer(
        """
85% fast, 14% in a slower group, 1% over a second. That is the picture to explain.
""",
        """
Saved **`latency.png`** (960 × 540): a histogram on a log time axis, with the median, p90 and
p99 marked. A linear axis would have squeezed almost everything into the first bar, because a
few requests take several seconds.

What it shows:
- **85% of requests are fast**: under 80 ms, median 33 ms (half between 25 and 46 ms).
- **A second, slower group of 14%** between 80 ms and 1 s, around 150 ms. Two separate humps
  usually mean two code paths, for example cache hits and cache misses; it is worth finding
  which requests those are.
- **A tail of 1%** (20 requests) between 2 and 6 seconds. They barely move the median, but
  they pull the mean up to 86 ms and are what users notice; p99 is 354 ms, p90 135 ms.

For a dashboard I'd track p50, p90 and p99 rather than the mean.
""",
        rate="up",
    ),
)
