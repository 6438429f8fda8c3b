"""A small web service for the berth demo: answers every request with the
instance that served it and a hit counter, and logs each request."""
import http.server
import json
import os
import sys
import time

PORT = int(os.environ["PORT"])
NAME = os.environ.get("BERTH_INSTANCE", "?")
hits = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global hits
        if self.path == "/healthz":
            # berth's check, every 2 s: answered, but neither counted nor logged.
            self.quiet = True
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
            return
        hits += 1
        body = json.dumps({"instance": NAME, "hits": hits, "path": self.path}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        if getattr(self, "quiet", False):
            return
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stdout.flush()


print("%s listening on 127.0.0.1:%d" % (NAME, PORT), flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
