"""A JSON API on http.server in a background thread on 127.0.0.1, queried with urllib, a 404
handled by a client function.
"""

from __future__ import annotations

from data.script import Answer, Code, Edited, Retried, User

TITLE = "A local fake of the inventory API and a client that handles 404"
FOLDER = "inventory-client"


SCRIPT = (
    User(
        "Our inventory service is down today and I want to test my client code. Can you run a "
        "tiny local fake of it (GET /items and GET /items/<id>, JSON, 404 for unknown ids) and "
        "show a client that handles the 404 properly?",
    ),
    Retried(
        """
I will run code.
Flask makes a small JSON API quick to write. I'll install it first.
""",
        """
!pip install flask
""",
        reason="No new packages on this machine. The standard library can do this.",
    ),
    Code(
        """
I will run code.
I'll write the fake with http.server: a handler that answers JSON, served by a
ThreadingHTTPServer on 127.0.0.1 in a daemon thread so the kernel stays usable. Port 0 lets
the OS pick a free port. The request log goes nowhere, so it does not spill into later cells.
""",
        """
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = {
    1: {"id": 1, "name": "hex bolt M6", "stock": 240},
    2: {"id": 2, "name": "washer 6 mm", "stock": 1150},
    3: {"id": 3, "name": "wing nut M6", "stock": 0},
}


class InventoryHandler(BaseHTTPRequestHandler):
    def send_json(self, status, payload):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        item = None
        if len(parts) == 2 and parts[0] == "items" and parts[1].isdigit():
            item = ITEMS.get(int(parts[1]))
        if parts == ["items"]:
            self.send_json(200, {"items": list(ITEMS.values())})
        elif item is not None:
            self.send_json(200, item)
        else:
            self.send_json(404, {"error": "not found", "path": self.path})

    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), InventoryHandler)
thread = threading.Thread(target=server.serve_forever, daemon=True)
thread.start()
BASE = f"http://127.0.0.1:{server.server_port}"
print("serving:", thread.is_alive())
""",
        expect=("serving: True",),
    ),
    Code(
        """
It is up. First request: the list, checking the status and content type as well as the body.
""",
        """
from urllib.request import urlopen

with urlopen(f"{BASE}/items", timeout=5) as response:
    print(response.status, response.headers["Content-Type"])
    data = json.load(response)

for item in data["items"]:
    print(item)
""",
        expect=("200 application/json", "wing nut M6"),
    ),
    Code(
        """
The list works. Now one existing item and one missing one. urlopen raises HTTPError for a 404,
and the error object can still be read as the response body.
""",
        """
from urllib.error import HTTPError

with urlopen(f"{BASE}/items/3", timeout=5) as response:
    print(response.status, json.load(response))

try:
    urlopen(f"{BASE}/items/42", timeout=5)
except HTTPError as error:
    print(error.code, error.reason, json.load(error))
""",
        expect=("200 {'id': 3", "404 Not Found {'error': 'not found', 'path': '/items/42'}"),
    ),
    Edited(
        """
Both behave as specified. Now a client function that returns None when the request fails.
""",
        """
def get_item(item_id, base=BASE):
    try:
        with urlopen(f"{base}/items/{item_id}", timeout=5) as response:
            return json.load(response)
    except Exception:
        return None


for item_id in (1, 3, 42):
    print(item_id, "->", get_item(item_id))
""",
    ),
    Code(
        """
I will run code.
Both behave as specified. A client function should turn a 404 into None (a missing item is an
expected answer) and let any other HTTP error raise, since that is a real failure. Checking it
on an item in stock, one out of stock, and a missing one.
""",
        """
def get_item(item_id, base=BASE):
    \"\"\"The item as a dict, or None when the service has no such item.\"\"\"
    try:
        with urlopen(f"{base}/items/{item_id}", timeout=5) as response:
            return json.load(response)
    except HTTPError as error:
        if error.code == 404:
            return None
        raise


for item_id in (1, 3, 42):
    item = get_item(item_id)
    if item is None:
        print(item_id, "-> no such item")
    else:
        print(item_id, "->", item["name"], "in stock" if item["stock"] else "OUT OF STOCK")
""",
        expect=("42 -> no such item", "3 -> wing nut M6 OUT OF STOCK"),
    ),
    Code(
        """
The client handles all three cases. Now I'll shut the fake server down so it does not keep the
port, and check the thread has ended.
""",
        """
server.shutdown()
server.server_close()
thread.join(timeout=5)
print("serving:", thread.is_alive())
""",
        expect=("serving: False",),
    ),
    Answer(
        """
Done: the fake served, the client was tested, and the server is stopped. I'll explain how to
reuse it.
""",
        """
I ran a small fake of the inventory API on `127.0.0.1` (a free port picked by the OS), built on
`http.server.ThreadingHTTPServer` in a background thread:

- `GET /items` → `200` with `{"items": [...]}` (three sample items);
- `GET /items/<id>` → `200` with the item, or `404` with `{"error": "not found", "path": ...}`.

The client that handles the 404:

```python
def get_item(item_id, base=BASE):
    try:
        with urlopen(f"{base}/items/{item_id}", timeout=5) as response:
            return json.load(response)
    except HTTPError as error:
        if error.code == 404:
            return None      # a missing item is an answer, not a failure
        raise                # 500s and the like are real errors
```

Tested: id 1 → hex bolt M6, id 3 → wing nut M6 (out of stock), id 42 → `None`. Note that
`urlopen` raises `HTTPError` for any 4xx/5xx, and the error can still be read as JSON
(`json.load(error)`), which is useful for logging the service's message. The server is shut
down now; rerun the first cell to start it again.
""",
    ),
)
