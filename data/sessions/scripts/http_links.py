"""Broken links on a small static site, served on 127.0.0.1 by http.server in the kernel: the
links of each page are requested over HTTP; the user's edit makes relative links resolve."""

from __future__ import annotations

from pathlib import Path

from data.script import Answer, Code, Edited, User, write

TITLE = "Broken links on a static site, served locally and crawled over HTTP"
FOLDER = "site"

PAGES = {
    "index.html": """<!doctype html>
<title>Allotment club</title>
<h1>Allotment club</h1>
<a href="about.html">About us</a>
<a href="plots/waiting-list.html">Waiting list</a>
<a href="events.html">Events</a>
<a href="/files/rules.pdf">Rules (PDF)</a>
""",
    "about.html": """<!doctype html>
<title>About</title>
<p>Founded in 1974. <a href="index.html">Home</a> · <a href="contact.html">Contact</a></p>
""",
    "events.html": """<!doctype html>
<title>Events</title>
<p><a href="index.html">Home</a> · <a href="events/seed-swap.html">Seed swap</a></p>
""",
    "plots/waiting-list.html": """<!doctype html>
<title>Waiting list</title>
<p>Ask at the shed. <a href="../index.html">Home</a> · <a href="../files/form.pdf">Form</a></p>
""",
    "files/rules.pdf": "%PDF-1.4 rules\n",
}


def prepare(folder: Path) -> None:
    for name, text in PAGES.items():
        write(folder / "public" / name, text)


SCRIPT = (
    User(
        "The public/ folder is our club's static website. Serve it locally and check every link "
        "on every page: which ones are broken?"
    ),
    Code(
        """
I will run code.
I'll serve public/ with http.server's SimpleHTTPRequestHandler on 127.0.0.1 (a free port, a
daemon thread, request logs off) and fetch the home page to check it works.
""",
        """
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import urlopen


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory="public"))
threading.Thread(target=server.serve_forever, daemon=True).start()
ROOT = f"http://127.0.0.1:{server.server_port}/"
with urlopen(ROOT + "index.html", timeout=5) as response:
    print(response.status, response.headers["Content-Type"])
""",
        expect=("200 text/html",),
    ),
    Edited(
        """
The site is served. I'll crawl it: start at index.html, collect the href of every link with
html.parser, request each one, and follow the HTML pages.
""",
        """
from html.parser import HTMLParser
from urllib.error import HTTPError


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href"):
            self.found.append(dict(attrs)["href"])


todo, seen = ["index.html"], set()
while todo:
    page = todo.pop()
    seen.add(page)
    with urlopen(ROOT + page, timeout=5) as response:
        parser = Links()
        parser.feed(response.read().decode())
    for href in parser.found:
        try:
            urlopen(ROOT + href, timeout=5).close()
            status = 200
        except HTTPError as error:
            status = error.code
        print(page, href, status)
        if status == 200 and href.endswith(".html") and href not in seen:
            todo.append(href)
""",
    ),
    Code(
        """
I will run code.
The site is served. I'll crawl it: start at index.html, collect the href of every link with
html.parser, and resolve each one against the page it is on with urljoin, since links like
../index.html are relative to their page, not to the site root. Each URL is requested once;
HTML pages that load are crawled in turn.
""",
        """
from html.parser import HTMLParser
from urllib.error import HTTPError
from urllib.parse import urljoin


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.found.append(href)


def status_of(url):
    try:
        with urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except HTTPError as error:
        return error.code, b""


start = ROOT + "index.html"
checked, todo, broken = {start: 200}, [start], []
while todo:
    page = todo.pop(0)
    status, body = status_of(page)
    parser = Links()
    parser.feed(body.decode("utf-8"))
    for href in parser.found:
        url = urljoin(page, href)
        if url not in checked:
            checked[url], _ = status_of(url)
            if checked[url] == 200 and url.endswith(".html"):
                todo.append(url)
        if checked[url] != 200:
            broken.append((page.removeprefix(ROOT), href, checked[url]))

print(len(checked), "distinct links checked")
for page, href, status in broken:
    print(f"{status}  {href:<24} on {page}")
""",
        expect=(
            "8 distinct links checked",
            "404  contact.html             on about.html",
            "404  events/seed-swap.html    on events.html",
            "404  ../files/form.pdf        on plots/waiting-list.html",
        ),
    ),
    Code(
        """
Three broken links. I'll stop the server now that the crawl is done.
""",
        """
server.shutdown()
server.server_close()
print("stopped")
""",
        expect=("stopped",),
    ),
    Answer(
        """
I have the full list and the server is stopped.
""",
        """
I served `public/` on 127.0.0.1 and crawled every page reachable from `index.html`: 4 pages,
8 distinct links. **Three links are broken** (404):

| page | link | why |
| --- | --- | --- |
| `about.html` | `contact.html` | there is no contact page |
| `events.html` | `events/seed-swap.html` | there is no `events/` folder |
| `plots/waiting-list.html` | `../files/form.pdf` | `files/` holds only `rules.pdf` |

All the other links work, including the PDF of the rules. Either add the three missing files
or remove the links. The local server is stopped.
""",
        rate="up",
    ),
)
