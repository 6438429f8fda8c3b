"""berth lb in HTTP mode, seen from a raw-socket client: strict request
parsing (no smuggling), forwarding headers, keep-alive and pipelining, request
and response bodies, interim responses and the client-side timeouts.

Every test starts its own lb and its own backends on ports chosen at run time.
Malformed requests go to an lb whose only server is a raw socket server in
this file that records every byte it receives, so a test can show that a
refused request never reached the backend."""
import json
import select
import socket
import threading
import time
import urllib.request

import pytest

from conftest import SLOW, free_port, wait_for


# ---------------------------------------------------------------- helpers

class Resp:
    def __init__(self, status_line, headers, body):
        self.status_line = status_line
        self.status = int(status_line.split(" ")[1])
        self.headers = headers            # [(lower-case name, value)]
        self.body = body

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower()]
        return vals[0] if vals else None

    def __repr__(self):
        return "<Resp %r %r %r>" % (self.status_line, self.headers, self.body[:200])


class Conn:
    """A raw HTTP/1.1 client connection with its own read buffer."""

    def __init__(self, port, timeout=10.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed; unread: %r" % self.buf[:200])
        self.buf += d

    def read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_only=False):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        headers = []
        for ln in lines[1:]:
            if ln:
                k, v = ln.split(":", 1)
                headers.append((k.strip().lower(), v.strip()))
        r = Resp(lines[0], headers, b"")
        if head_only or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        if (r.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    while self.read_until(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                body += self.read_exact(size)
                assert self.read_exact(2) == b"\r\n"
            r.body = body
        elif r.header("content-length") is not None:
            r.body = self.read_exact(int(r.header("content-length")))
        else:
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            r.body, self.buf = self.buf, b""
        return r

    def wait_closed(self, timeout):
        """True when the peer closes (EOF or reset) within <timeout> s;
        any bytes read meanwhile are kept in self.buf."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.s], [], [], 0.05)
            if not r:
                continue
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not d:
                return True
            self.buf += d
        return False


def request(port, data, **kw):
    c = Conn(port)
    try:
        c.send(data)
        return c.read_response(**kw)
    finally:
        c.close()


class RawServer:
    """A raw TCP server in a thread. <handler>(sock, server) runs once per
    accepted connection in its own thread; every byte it reads through
    server.recv() is recorded."""

    def __init__(self, handler):
        self.handler = handler
        self.lock = threading.Lock()
        self.received = b""
        self.conns = 0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.socks = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                self.socks.append(s)
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            self.handler(s, self)
        except OSError:
            pass
        finally:
            s.close()

    def recv(self, s):
        d = s.recv(65536)
        with self.lock:
            self.received += d
        return d

    def data(self):
        with self.lock:
            return self.received

    def stop(self):
        self.ls.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def ok_handler(s, srv):
    """Answers every request (head + Content-Length body) with 200 raw-ok."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = srv.recv(s)
            if not d:
                return
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        cl = 0
        for ln in head.split(b"\r\n")[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                cl = int(v.strip())
        while len(buf) < cl:
            d = srv.recv(s)
            if not d:
                return
            buf += d
        buf = buf[cl:]
        s.sendall(b"HTTP/1.1 200 OK\r\nX-Backend: raw\r\nContent-Length: 6\r\n\r\nraw-ok")


@pytest.fixture
def raw_servers():
    made = []

    def make(handler):
        srv = RawServer(handler)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


def http_lb(procs, tmpdir, servers, fe_timeouts="", be_timeouts="", extra_be="", stats_port=None):
    port = free_port()
    stats = "stats:\n  bind: 127.0.0.1:%d\n" % stats_port if stats_port else ""
    fe_to = "\n    timeouts: {%s}" % fe_timeouts if fe_timeouts else ""
    be_to = "\n    timeouts: {%s}" % be_timeouts if be_timeouts else ""
    srv_lines = "\n".join("      - {name: %s, addr: %s}" % (n, a) for n, a in servers)
    cfg = f"""threads: 2
frontends:
  web:
    bind: [127.0.0.1:{port}]
    mode: http{fe_to}
    default_backend: app
backends:
  app:{be_to}{extra_be}
    servers:
{srv_lines}
{stats}"""
    lb = procs.lb(cfg, tmpdir, wait_ports=[port] + ([stats_port] if stats_port else []))
    return lb, port


GOOD = b"GET /good HTTP/1.1\r\nHost: x\r\n\r\n"


def assert_still_serving(port, rec):
    r = request(port, GOOD)
    assert r.status == 200 and r.body == b"raw-ok", r
    wait_for(lambda: b"GET /good " in rec.data(), what="the good request at the backend")


# ------------------------------------------------ smuggling and bad requests

BAD_REQUESTS = {
    "cl_and_te": (400, b"POST /marker HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
    "duplicate_differing_cl": (400, b"POST /marker HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                    b"Content-Length: 6\r\n\r\nhello!"),
    "chunk_size_zz": (400, b"POST /marker HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"zz\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_negative": (400, b"POST /marker HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"-1\r\nhello\r\n0\r\n\r\n"),
    "obs_fold": (400, b"GET /marker HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"),
    "space_before_colon": (400, b"GET /marker HTTP/1.1\r\nHost: x\r\nX-Spaced : a\r\n\r\n"),
    "nul_in_value": (400, b"GET /marker HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n"),
    "bare_lf": (400, b"GET /marker HTTP/1.1\nHost: x\nX-A: b\n\n"),
    "header_20k": (431, b"GET /marker HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20480 + b"\r\n\r\n"),
    "150_headers": (431, b"GET /marker HTTP/1.1\r\nHost: x\r\n"
                         + b"".join(b"X-H-%d: v\r\n" % i for i in range(150)) + b"\r\n"),
    "te_gzip": (501, b"POST /marker HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
    "http_2_0": ((505, 400), b"GET /marker HTTP/2.0\r\nHost: x\r\n\r\n"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request_refused_before_backend(procs, tmpdir_path, raw_servers, name):
    expected, data = BAD_REQUESTS[name]
    expected = expected if isinstance(expected, tuple) else (expected,)
    rec = raw_servers(ok_handler)
    lb, port = http_lb(procs, tmpdir_path, [("raw", rec.addr)])

    c = Conn(port)
    try:
        c.send(data)
        r = c.read_response()
        assert r.status in expected, "%s: got %r" % (name, r)
        assert r.status_line.startswith("HTTP/1.1 %d" % r.status), r.status_line
        # Whatever followed the refused head must not be read as a request.
        assert c.wait_closed(5), "%s: the lb kept the connection open after %d" % (name, r.status)
    finally:
        c.close()

    assert_still_serving(port, rec)
    got = rec.data()
    assert b"marker" not in got, "%s: the backend received the refused request: %r" % (name, got[:300])
    assert got.count(b"HTTP/1.1\r\n") == 1, got[:300]
    assert lb.alive()


# ------------------------------------------------------- forwarding headers

def test_forwarded_headers(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    r = request(port, b"GET /headers HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n"
                      b"X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
    assert r.status == 200, r
    hl = json.loads(r.body)["headers"]
    values = lambda n: [v for k, v in hl if k.lower() == n.lower()]
    xff = values("X-Forwarded-For")
    # Appended to the client's own value (one header or two, both are HTTP).
    assert ", ".join(xff).replace(" ", "") == "203.0.113.7,127.0.0.1", xff
    assert values("X-Forwarded-Proto") == ["http"], hl
    assert values("X-Forwarded-Port") == [str(port)], hl


def test_forwarded_for_added_when_absent(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    r = request(port, b"GET /headers HTTP/1.1\r\nHost: x\r\n\r\n")
    hl = json.loads(r.body)["headers"]
    assert [v for k, v in hl if k.lower() == "x-forwarded-for"] == ["127.0.0.1"], hl


# ----------------------------------------------------- connection handling

def stats_json(port):
    c = Conn(port)
    try:
        c.send(b"GET /stats.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        return json.loads(r.body)
    finally:
        c.close()


def test_keep_alive_two_requests_one_connection(procs, tmpdir_path):
    b = procs.backend("a")
    port, sport = free_port(), free_port()
    cfg = f"""threads: 1
stats: {{bind: 127.0.0.1:{sport}}}
frontends:
  web:
    bind: [127.0.0.1:{port}]
    default_backend: app
backends:
  app:
    servers: [{{name: a, addr: {b.addr}}}]
"""
    procs.lb(cfg, tmpdir_path, wait_ports=[port, sport])
    # wait_ports' probe is a connection too: the counts start once the lb
    # has accepted and closed it (the probe returns as soon as the kernel
    # completed the handshake, which may be before the lb's accept).
    wait_for(lambda: (lambda fe: fe["connections"] >= 1 and fe["current_connections"] == 0)(
        stats_json(sport)["frontends"][0]), what="the probe connection counted")
    before = stats_json(sport)["frontends"][0]
    c = Conn(port)
    try:
        for path in (b"/", b"/headers"):
            c.send(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and r.header("x-backend") == "a", r
            assert (r.header("connection") or "").lower() != "close", r
        fe = stats_json(sport)["frontends"][0]
        assert fe["requests"] - before["requests"] == 2, (before, fe)
        assert fe["connections"] - before["connections"] == 1, (before, fe)
    finally:
        c.close()


def test_pipelined_requests_answered_in_order(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    c = Conn(port)
    try:
        c.send(b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /headers HTTP/1.1\r\nHost: x\r\nX-Seq: second\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthird")
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
        assert (r1.status, r1.body) == (200, b"a\n"), r1
        assert r2.status == 200 and ["X-Seq", "second"] in json.loads(r2.body)["headers"], r2
        assert (r3.status, r3.body) == (200, b"third"), r3
    finally:
        c.close()


def test_post_content_length_body_echoed(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    body = bytes(range(256)) * 300
    r = request(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert r.status == 200 and r.body == body


def test_chunked_request_body_echoed(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    parts = [b"hello ", b"chunked " * 500, b"world"]
    c = Conn(port)
    try:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for p in parts:  # separate writes: the lb must stream, not wait for one packet
            c.send(b"%x\r\n%s\r\n" % (len(p), p))
        c.send(b"0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"".join(parts), r
        # The connection is still usable afterwards.
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().body == b"a\n"
    finally:
        c.close()


def test_chunked_response_relayed(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    c = Conn(port)
    try:
        c.send(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"a-chunk-end\n", r
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().body == b"a\n"
    finally:
        c.close()


def head_handler(s, srv):
    """Answers HEAD with a Content-Length and no body (as RFC 9110 says),
    anything else with a small body."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = srv.recv(s)
            if not d:
                return
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        if head.startswith(b"HEAD "):
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Backend: raw\r\n\r\n")
        else:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Backend: raw\r\n\r\nget")


def test_head_response_has_no_body(procs, tmpdir_path, raw_servers):
    srv = raw_servers(head_handler)
    lb, port = http_lb(procs, tmpdir_path, [("raw", srv.addr)])
    c = Conn(port, timeout=3)  # a local answer takes ms; a stall must not eat the budget
    try:
        c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response(head_only=True)
        assert r.status == 200 and r.header("content-length") == "1234", r
        # No body follows: the next response on this connection is the GET's.
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"get", r2
    finally:
        c.close()


def status_handler(s, srv):
    """Answers the path /NNN with status NNN and no body, /len0 with an
    explicit Content-Length: 0, anything else with a small body."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = srv.recv(s)
            if not d:
                return
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        path = head.split(b" ")[1]
        if path == b"/len0":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        elif path[1:].isdigit():
            s.sendall(b"HTTP/1.1 %s X\r\n\r\n" % path[1:])
        else:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nget")


@pytest.mark.parametrize("path,status", [("/204", 204), ("/304", 304), ("/len0", 200)])
def test_bodiless_response_then_next_request(procs, tmpdir_path, raw_servers, path, status):
    srv = raw_servers(status_handler)
    lb, port = http_lb(procs, tmpdir_path, [("raw", srv.addr)])
    c = Conn(port, timeout=3)
    try:
        c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        r = c.read_response()
        assert r.status == status and r.body == b"", r
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"get", r2
    finally:
        c.close()


def continue_handler(s, srv):
    """Sends 100 Continue when asked, then echoes the body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = srv.recv(s)
        if not d:
            return
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    hdrs = {}
    for ln in head.split(b"\r\n")[1:]:
        k, _, v = ln.partition(b":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get(b"expect", b"").lower() == b"100-continue":
        s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    cl = int(hdrs[b"content-length"])
    while len(buf) < cl:
        d = srv.recv(s)
        if not d:
            return
        buf += d
    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (cl, buf[:cl]))


def test_expect_100_continue(procs, tmpdir_path, raw_servers):
    srv = raw_servers(continue_handler)
    lb, port = http_lb(procs, tmpdir_path, [("raw", srv.addr)])
    c = Conn(port)
    try:
        c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
        interim = c.read_response()   # no body sent yet: this must come first
        assert interim.status_line.startswith("HTTP/1.1 100"), interim
        c.send(b"hello world")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world", r
    finally:
        c.close()


def test_one_mebibyte_response_intact(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    r = request(port, b"GET /big?kb=1024 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 200
    assert len(r.body) == 1024 * 1024 and r.body == b"x" * (1024 * 1024)


def test_http10_request_answered_then_closed(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)])
    c = Conn(port)
    try:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"a\n", r
        assert c.wait_closed(5), "HTTP/1.0 connection left open"
    finally:
        c.close()


# ---------------------------------------------------------------- timeouts

def test_slowloris_closed_by_http_request_timeout(procs, tmpdir_path, raw_servers):
    rec = raw_servers(ok_handler)
    lb, port = http_lb(procs, tmpdir_path, [("raw", rec.addr)], fe_timeouts="http-request: 500ms")
    c = Conn(port)
    t0 = time.monotonic()
    closed_at = None
    try:
        c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        deadline = t0 + 5 * SLOW
        while time.monotonic() < deadline:
            try:
                c.send(b"a")          # one header byte every 100 ms
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            if c.wait_closed(0.1):
                closed_at = time.monotonic()
                break
        assert closed_at is not None, "a client trickling a head was never cut off"
        # The clock starts at accept: it cannot have fired before 500 ms.
        assert closed_at - t0 >= 0.45, "closed after only %.3fs" % (closed_at - t0)
        if c.buf:
            assert c.buf.startswith(b"HTTP/1.1 408"), c.buf[:100]
    finally:
        c.close()
    assert rec.data() == b""
    assert_still_serving(port, rec)


def test_idle_keep_alive_closed(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)], fe_timeouts="keep-alive: 500ms")
    c = Conn(port)
    try:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.wait_closed(5), "idle keep-alive connection never closed"
        assert time.monotonic() - t0 >= 0.45
        assert c.buf == b"", "an idle close should be silent: %r" % c.buf
    finally:
        c.close()


def test_client_timeout_stalled_request_body(procs, tmpdir_path):
    """A client that stops sending in the middle of its body is cut off by
    the client (inactivity) timeout, not left hanging until the server one."""
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)],
                       fe_timeouts="client: 500ms", be_timeouts="server: 30s")
    c = Conn(port)
    try:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        t0 = time.monotonic()
        assert c.wait_closed(5), "a client stalled mid-body was not timed out (client: 500ms)"
        assert time.monotonic() - t0 >= 0.45
        if c.buf:
            assert c.buf.split(b" ")[1] in (b"408", b"400", b"504"), c.buf[:100]
    finally:
        c.close()


def test_server_timeout_gives_504(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)], be_timeouts="server: 300ms")
    r = request(port, b"GET /slow?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 504, r
    r = request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 200 and r.body == b"a\n"


def test_client_timeout_client_not_reading_response(procs, tmpdir_path):
    """A client that asks for a big response and never reads it is cut off
    by the client timeout once the lb's send queue is full, not held open
    until the server timeout (60 s here)."""
    b = procs.backend("a")
    sport = free_port()
    lb, port = http_lb(procs, tmpdir_path, [("a", b.addr)], fe_timeouts="client: 500ms",
                       be_timeouts="server: 60s", stats_port=sport)
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.sendall(b"GET /big?kb=65536 HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()

        def open_sessions():
            with urllib.request.urlopen("http://127.0.0.1:%d/stats.json" % sport, timeout=5) as r:
                j = json.load(r)
            return j["frontends"][0]["current_connections"]
        wait_for(lambda: open_sessions() == 1, what="the request in flight")
        # Nothing is read from the socket meanwhile.
        wait_for(lambda: open_sessions() == 0, timeout=10,
                 what="the lb to close a client that stopped reading")
        assert time.monotonic() - t0 >= 0.45
    finally:
        s.close()
