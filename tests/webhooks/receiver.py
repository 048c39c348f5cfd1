#!/usr/bin/env python3
"""A webhook receiver for the test suite, verifying every delivery with the
public Standard Webhooks library (`standardwebhooks` from PyPI), not with
the server's own code.

    python3 tests/webhooks/receiver.py

Listens on 127.0.0.1 (a free port), prints exactly one line "PORT <n>"
once listening, and exits when its standard input reaches end of file.

    POST /control/<name>   {"secret": "whsec_…", "status": 200}
        what the endpoint <name> verifies with and answers (default 200)
    POST /hooks/<name>     a delivery: verified with <name>'s secret, kept
    GET  /received/<name>  what <name> received, in order: each
        {"verified": bool, "error": str|null, "headers": {...}, "body": ...}
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

LOCK = threading.Lock()
CONFIG = {}
RECEIVED = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "received":
            with LOCK:
                self._answer(200, RECEIVED.get(parts[1], []))
        else:
            self._answer(404, {"error": "no such path"})

    def do_POST(self):
        parts = self.path.strip("/").split("/")
        raw = self._body()
        if len(parts) == 2 and parts[0] == "control":
            with LOCK:
                CONFIG.setdefault(parts[1], {}).update(json.loads(raw))
            self._answer(200, {"ok": True})
            return
        if len(parts) != 2 or parts[0] != "hooks":
            self._answer(404, {"error": "no such path"})
            return
        name = parts[1]
        with LOCK:
            config = dict(CONFIG.get(name, {}))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified, error = False, None
        try:
            secret = config.get("secret")
            if not secret:
                raise ValueError("no secret registered for " + name)
            Webhook(secret).verify(raw, headers)
            verified = True
        except Exception as e:  # noqa: BLE001 - any failure is recorded
            error = f"{type(e).__name__}: {e}"
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with LOCK:
            RECEIVED.setdefault(name, []).append(
                {"verified": verified, "error": error, "headers": headers, "body": body}
            )
        self._answer(int(config.get("status", 200)), {"received": True})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
