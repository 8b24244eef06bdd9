"""A matplotlib line chart saved to PNG with the Agg backend, then displayed."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Retried, User, write

TITLE = "Line chart of monthly city temperatures to a PNG"
FOLDER = "slides"


CITY_TEMPS = """\
month,Oslo,Lisbon,Toronto
Jan,-2.9,11.5,-5.5
Feb,-3.0,12.6,-4.6
Mar,0.2,14.6,-0.2
Apr,4.9,15.8,7.0
May,10.7,18.1,13.1
Jun,15.0,21.3,18.5
Jul,16.4,23.1,21.5
Aug,15.4,23.5,20.6
Sep,11.0,22.0,16.5
Oct,5.8,18.7,9.6
Nov,1.1,14.8,3.7
Dec,-2.0,12.3,-2.2
"""


def prepare(folder: Path) -> None:
    write(folder / "city_temps.csv", CITY_TEMPS)


SCRIPT = (
    User(
        "Make a line chart of the monthly averages in city_temps.csv, one line per city, saved "
        "as city_temps.png. It's for a slide, so keep it clean.",
    ),
    Code(
        """
I will run code.
A quick look at the data first: the columns, and the range of values for the y axis.
""",
        """
import pandas as pd

temps = pd.read_csv("city_temps.csv")
print(temps.head(3))
temps.describe().loc[["min", "max"]]
""",
        expect=("Lisbon", "23.5"),
    ),
    Retried(
        """
Twelve months, three cities. I'll plot the frame directly with pandas and save it.
""",
        """
ax = temps.plot(x="month")
ax.figure.savefig("city_temps.png")
""",
    ),
    Code(
        """
I will run code.
Twelve months, three cities, from about -6 to 24 °C. I'll use the Agg backend (file output,
no window), draw one line per city with markers, add a zero line since two cities go below
freezing, drop the top and right spines, and save at a resolution suitable for a slide.
""",
        """
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
for city in ["Lisbon", "Toronto", "Oslo"]:
    ax.plot(temps["month"], temps[city], marker="o", linewidth=2, label=city)
ax.axhline(0, color="grey", linewidth=0.8)
ax.set_title("Average monthly temperature")
ax.set_ylabel("°C")
ax.spines[["top", "right"]].set_visible(False)
ax.legend(frameon=False)
fig.tight_layout()
fig.savefig("city_temps.png")
plt.close(fig)

from pathlib import Path

print(Path("city_temps.png").stat().st_size > 10_000)
""",
        expect=("True",),
    ),
    Code(
        """
The file is written. I'll check its pixel size and display it to see how it looks.
""",
        """
from IPython.display import Image

image = plt.imread("city_temps.png")
print(image.shape)
Image(filename="city_temps.png")
""",
        expect=("(540, 960, 4)", "image/png"),
    ),
    Answer(
        """
The PNG is 960×540 (16:9, so it fits a slide) and displays fine. Done.
""",
        """
Saved `city_temps.png` (960 × 540 px, 16:9 so it fills a slide). One line per city with month
markers, a thin zero line (Oslo and Toronto go below freezing in winter), no top or right
border and a frameless legend.

What it shows: Lisbon stays mild all year (11.5 to 23.5 °C); Toronto has the widest swing
(-5.5 °C in January to 21.5 °C in July); Oslo is the coldest in summer. If you want a
transparent background for a dark slide, save with `fig.savefig(..., transparent=True)`.
""",
        rate="up",
    ),
)
