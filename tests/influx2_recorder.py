"""A recording stand-in for the InfluxDB 2.x buckets, tasks and query APIs, on loopback.

No server here runs the 2.x tasks API or Flux, so the 2.x calls are tested as the exact HTTP
requests influxdb-client sends; this answers them the way the 2.x API does (shapes from its
OpenAPI definition), keeping just enough state for a second `pusher setup` to find what the
first created.
"""

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ORG_ID = "0a1b2c3d4e5f6071"


class Recorder:
    def __init__(self, csv_for=None):
        self.requests: list[tuple[str, str, dict, object]] = []  # method, path, query, body
        self.buckets: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.csv_for = csv_for or (lambda query: "")
        self._ids = (f"{n:016x}" for n in itertools.count(0xA000))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def writes(self):
        """The requests that change something (not GET)."""
        return [r for r in self.requests if r[0] != "GET"]

    def answer(self, method, path, query, body):
        if path == "/api/v2/orgs":
            return 200, {"orgs": [{"id": ORG_ID, "name": "acme"}]}
        if path == "/api/v2/buckets" and method == "GET":
            return 200, {"buckets": [b for b in self.buckets.values()
                                     if b["name"] == query.get("name", [b["name"]])[0]]}
        if path == "/api/v2/buckets" and method == "POST":
            bucket = body | {"id": next(self._ids), "type": "user"}
            self.buckets[bucket["id"]] = bucket
            return 201, bucket
        if match := re.fullmatch(r"/api/v2/buckets/(\w+)", path):
            self.buckets[match[1]].update(body)
            return 200, self.buckets[match[1]]
        if path == "/api/v2/tasks" and method == "GET":
            return 200, {"tasks": list(self.tasks.values())}
        if path == "/api/v2/tasks" and method == "POST":
            # The server takes name and schedule from the script's `option task`.
            name = re.search(r'option task = \{name: "([^"]+)"', body["flux"])[1]
            task = {"id": next(self._ids), "orgID": ORG_ID, "name": name, "flux": body["flux"],
                    "status": body.get("status", "active"), "every": "1h"}
            self.tasks[task["id"]] = task
            return 201, task
        if match := re.fullmatch(r"/api/v2/tasks/(\w+)", path):
            if method == "DELETE":
                del self.tasks[match[1]]
                return 204, None
            self.tasks[match[1]].update(body)
            return 200, self.tasks[match[1]]
        if path == "/api/v2/query":
            return 200, self.csv_for(body["query"])
        return 404, {"code": "not found", "message": f"{method} {path}"}

    def _handler(self):
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = parse_qs(url.query)
                recorder.requests.append((self.command, url.path, query, body))
                status, answer = recorder.answer(self.command, url.path, query, body)
                text = answer if isinstance(answer, str) else json.dumps(answer)
                data = b"" if answer is None else text.encode()
                self.send_response(status)
                kind = "text/csv" if isinstance(answer, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):
                pass

        return Handler
