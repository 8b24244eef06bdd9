"""A local webhook receiver on http.server that validates POSTed JSON (201 or 400 with reasons);
a curl turn is skipped because curl is not installed, and the next one uses urllib."""

from __future__ import annotations

from data.script import Answer, Code, Edited, Skip, User

TITLE = "A local webhook receiver that validates JSON, tested with urllib"
FOLDER = "webhook"

SCRIPT = (
    User(
        "I need to test a client that POSTs orders as JSON to /orders. Can you run a local "
        "receiver that checks each order has an id (int), an email with an @, and a positive "
        "amount, answering 201 or 400 with the problems?"
    ),
    Code(
        """
I will run code.
I'll write a handler on http.server: POST /orders reads the JSON body, collects every problem
instead of stopping at the first, and answers 201 with the order or 400 with the list. It runs
on 127.0.0.1 on a free port, in a daemon thread, with request logging off.
""",
        """
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = []

def problems(order):
    found = []
    if not isinstance(order.get("id"), int):
        found.append("id must be an integer")
    if "@" not in str(order.get("email", "")):
        found.append("email must contain @")
    amount = order.get("amount")
    if not isinstance(amount, (int, float)) or amount <= 0:
        found.append("amount must be a positive number")
    return found


class OrdersHandler(BaseHTTPRequestHandler):
    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/orders":
            return self.reply(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length", 0))
        try:
            order = json.loads(self.rfile.read(length))
        except json.JSONDecodeError:
            return self.reply(400, {"problems": ["body is not JSON"]})
        found = problems(order) if isinstance(order, dict) else ["body must be an object"]
        if found:
            return self.reply(400, {"problems": found})
        received.append(order)
        self.reply(201, order)

    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), OrdersHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
URL = f"http://127.0.0.1:{server.server_port}/orders"
print("listening:", URL.startswith("http://127.0.0.1:"))
""",
        expect=("listening: True",),
    ),
    Skip(
        """
The receiver is up. I'll post a valid order with curl.
""",
        """
!curl -s -d '{"id": 1, "email": "a@b.c", "amount": 5}' $URL
""",
        "curl isn't installed on this machine. Use Python.",
    ),
    Edited(
        """
I will run code.
No curl, so I'll post from Python with urllib: one valid order and one with every field wrong.
""",
        """
from urllib.request import Request, urlopen

for order in ({"id": 17, "email": "ana@example.com", "amount": 24.5},
              {"id": "17", "email": "ana.example.com", "amount": -3}):
    request = Request(URL, data=json.dumps(order).encode(),
                      headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=5) as response:
        print(response.status, json.load(response))
""",
    ),
    Code(
        """
I will run code.
No curl, so I'll post from Python with urllib: one valid order, one with every field wrong,
and a body that is not JSON. urlopen raises HTTPError for the 400s; its body still holds the
JSON answer.
""",
        """
from urllib.error import HTTPError
from urllib.request import Request, urlopen

def post(body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = Request(URL, data=data, headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except HTTPError as error:
        return error.code, json.load(error)

print(post({"id": 17, "email": "ana@example.com", "amount": 24.5}))
print(post({"id": "17", "email": "ana.example.com", "amount": -3}))
print(post(b"not json"))
print(len(received), "order(s) stored")
""",
        expect=(
            "(201, {'id': 17, 'email': 'ana@example.com', 'amount': 24.5})",
            "(400, {'problems': ['id must be an integer', 'email must contain @', 'amount must "
            "be a positive number']})",
            "(400, {'problems': ['body is not JSON']})",
            "1 order(s) stored",
        ),
    ),
    Answer(
        """
All three cases behave as asked, and only the valid order was stored. The receiver keeps
running for the user's client.
""",
        """
The receiver is running on `127.0.0.1` (the port is in `URL` in the kernel), and `POST /orders`
behaves like this:

- a valid order → **201** with the order echoed back (and kept in `received`);
- an invalid one → **400** with *every* problem, not just the first:
  `{"problems": ["id must be an integer", "email must contain @",
  "amount must be a positive number"]}`;
- a body that is not JSON → **400** `{"problems": ["body is not JSON"]}`.

Point your client at `URL` to test it; `received` shows what got through. When you're done,
`server.shutdown()` stops it.
""",
        rate="up",
    ),
)
