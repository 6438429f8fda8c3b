#!/usr/bin/env python3
"""A small web app for the berth lb demo: a page naming the instance that
served it, a health endpoint, and a WebSocket-free JSON endpoint."""
import http.server
import json
import os
import socket
import sys

NAME = sys.argv[2] if len(sys.argv) > 2 else "demo"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 3001
COUNT = 0

PAGE = """<!doctype html><html><head><title>berth demo: {name}</title>
<style>body{{font-family:sans-serif;margin:3em;background:#f4f6f8}}
.card{{background:#fff;padding:2em;border-radius:8px;max-width:36em;box-shadow:0 1px 4px #0002}}
b{{color:#0a7}}</style></head><body><div class="card">
<h1>Served by <b>{name}</b></h1>
<p>Request {count} to this instance (pid {pid}).</p>
<p>Your address as the backend sees it: {xff}</p>
<p>Reload the page: the <code>SRV</code> cookie keeps you on this instance.
Delete it (or use a private window) to be balanced again.</p>
</div></body></html>
"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s: %s\n" % (NAME, fmt % args))

    def send(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        global COUNT
        COUNT += 1
        if self.path == "/healthz":
            self.send(200, "text/plain", b"ok\n")
        elif self.path == "/api":
            self.send(200, "application/json",
                      json.dumps({"instance": NAME, "requests": COUNT}).encode() + b"\n")
        else:
            page = PAGE.format(name=NAME, count=COUNT, pid=os.getpid(),
                               xff=self.headers.get("X-Forwarded-For", "?"))
            self.send(200, "text/html; charset=utf-8", page.encode())


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET
    daemon_threads = True


if __name__ == "__main__":
    Server(("127.0.0.1", PORT), Handler).serve_forever()
