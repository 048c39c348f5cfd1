"""A local stand-in for the Stripe API calls the server makes, so that the
contract run exercises billing switched on: customers, Checkout Sessions and
Billing Portal sessions. Prints "PORT <n>" once it listens on loopback;
exits when its standard input closes.

    python3 tests/contract/fake_stripe.py <secret key>
"""
import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

SECRET_KEY = sys.argv[1]
COUNTER = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def refused(self):
        if self.headers.get("Authorization") != "Bearer " + SECRET_KEY:
            self.answer(401, {"error": {"message": "Invalid API Key provided"}})
            return True
        if self.command == "POST" and not self.headers.get("Idempotency-Key"):
            self.answer(400, {"error": {"message": "no Idempotency-Key"}})
            return True
        return False

    def do_GET(self):
        if self.refused():
            return
        self.answer(404, {"error": {"message": "No such object"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        params = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if self.refused():
            return
        n = next(COUNTER)
        base = "http://127.0.0.1:%d" % self.server.server_address[1]
        if self.path == "/v1/customers":
            self.answer(200, {"id": "cus_contract%d" % n, "object": "customer", "email": params.get("email")})
        elif self.path == "/v1/checkout/sessions":
            self.answer(200, {"id": "cs_test_%d" % n, "object": "checkout.session", "url": "%s/pay/%d" % (base, n)})
        elif self.path == "/v1/billing_portal/sessions":
            self.answer(200, {"id": "bps_%d" % n, "object": "billing_portal.session", "url": "%s/portal/%d" % (base, n)})
        else:
            self.answer(404, {"error": {"message": "Unrecognized request URL"}})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("PORT %d" % server.server_address[1], flush=True)
sys.stdin.read()
server.shutdown()
