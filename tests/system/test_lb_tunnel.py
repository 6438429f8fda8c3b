"""berth lb tunnels: WebSocket upgrades relayed in HTTP mode (with their own
tunnel timeout), and TCP mode frontends in front of raw echo servers."""
import asyncio
import socket
import threading
import time

import pytest

from conftest import SLOW, free_port, wait_for

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed  # noqa: E402


# ---------------------------------------------------------------- helpers

def ws_lb(procs, tmpdir, backend, fe_timeouts="", be_timeouts=""):
    port = free_port()
    fe_to = "\n    timeouts: {%s}" % fe_timeouts if fe_timeouts else ""
    be_to = "\n    timeouts: {%s}" % be_timeouts if be_timeouts else ""
    cfg = f"""threads: 2
frontends:
  web:
    bind: [127.0.0.1:{port}]{fe_to}
    default_backend: app
backends:
  app:{be_to}
    servers: [{{name: {backend.name}, addr: {backend.addr}}}]
"""
    return procs.lb(cfg, tmpdir, wait_ports=[port]), port


def ws_connect(port):
    # No keepalive pings from the client: idle must mean idle.
    return websockets.connect("ws://127.0.0.1:%d/ws" % port, ping_interval=None,
                              max_size=None, close_timeout=1, open_timeout=10 * SLOW)


def run(coro):
    return asyncio.run(coro)


class EchoServer:
    """A raw TCP echo server in a thread; remembers everything it received."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = b""
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(s,), daemon=True).start()

    def _echo(self, s):
        with s:
            while True:
                try:
                    d = s.recv(65536)
                except OSError:
                    return
                if not d:
                    return
                with self.lock:
                    self.received += d
                s.sendall(d)

    def data(self):
        with self.lock:
            return self.received

    def stop(self):
        self.ls.close()


@pytest.fixture
def echo_servers():
    made = []

    def make():
        e = EchoServer()
        made.append(e)
        return e

    yield make
    for e in made:
        e.stop()


def echo_roundtrip(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            d = s.recv(65536)
            if not d:
                break
            got += d
        return got


def tcp_lb(procs, tmpdir, servers, threads=1, stats_port=None):
    port = free_port()
    srv = "\n".join("      - {name: %s, addr: %s}" % s for s in servers)
    stats = "stats: {bind: 127.0.0.1:%d}\n" % stats_port if stats_port else ""
    # A short grace: a stuck tunnel must not make the teardown wait 10 s.
    cfg = f"""threads: {threads}
grace: 2s
{stats}frontends:
  raw:
    bind: [127.0.0.1:{port}]
    mode: tcp
    default_backend: echo
backends:
  echo:
    balance: roundrobin
    servers:
{srv}
"""
    return procs.lb(cfg, tmpdir, wait_ports=[port] + ([stats_port] if stats_port else [])), port


# -------------------------------------------------------------- WebSocket

def test_websocket_echo_many_messages(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = ws_lb(procs, tmpdir_path, b)

    async def go():
        async with ws_connect(port) as ws:
            assert ws.response_headers.get("X-Backend") == "a"
            # One at a time, text and binary, growing sizes.
            for i in range(100):
                msg = "msg-%d-" % i + "y" * (i * 37)
                await ws.send(msg)
                assert await ws.recv() == msg
            # A burst in flight both ways before reading anything.
            burst = [bytes([i % 256]) * (1 + i * 101) for i in range(50)]
            for m in burst:
                await ws.send(m)
            for m in burst:
                assert await ws.recv() == m
            big = bytes(range(256)) * 400        # 100 KiB
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("after-big")
            assert await ws.recv() == "after-big"

    run(go())


def test_websocket_idle_closed_by_tunnel_timeout(procs, tmpdir_path):
    b = procs.backend("a")
    lb, port = ws_lb(procs, tmpdir_path, b, be_timeouts="tunnel: 500ms")

    async def go():
        async with ws_connect(port) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            t0 = time.monotonic()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5 * SLOW)
            return time.monotonic() - t0

    idle = run(go())
    assert idle >= 0.45, "closed after %.3fs idle, before the 500ms tunnel timeout" % idle


def test_websocket_active_outlives_tunnel_client_server_timeouts(procs, tmpdir_path):
    """client and server timeouts are far shorter than the gaps between
    messages; only the tunnel timeout applies to an upgraded connection, and
    traffic keeps resetting it."""
    b = procs.backend("a")
    lb, port = ws_lb(procs, tmpdir_path, b, fe_timeouts="client: 100ms",
                     be_timeouts="server: 100ms, tunnel: 500ms")

    async def go():
        async with ws_connect(port) as ws:
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 2.0:
                await ws.send("tick-%d" % n)
                assert await asyncio.wait_for(ws.recv(), 5 * SLOW) == "tick-%d" % n
                n += 1
                await asyncio.sleep(0.2)   # the client's pace, not a wait for the proxy
            await ws.send("last")
            assert await asyncio.wait_for(ws.recv(), 5 * SLOW) == "last"
            return n

    assert run(go()) >= 5


# --------------------------------------------------------------- TCP mode

def test_tcp_mode_roundrobin_over_two_echo_servers(procs, tmpdir_path, echo_servers):
    e1, e2 = echo_servers(), echo_servers()
    lb, port = tcp_lb(procs, tmpdir_path, [("e1", e1.addr), ("e2", e2.addr)])
    n = 10
    for i in range(n):
        token = b"<conn-%d>" % i
        assert echo_roundtrip(port, token) == token
    who = []
    for i in range(n):
        token = b"<conn-%d>" % i
        in1, in2 = token in e1.data(), token in e2.data()
        assert in1 != in2, "connection %d reached %s" % (i, "both" if in1 else "neither")
        who.append(1 if in1 else 2)
    # One worker thread, equal weights: consecutive connections alternate.
    assert all(who[i] != who[i + 1] for i in range(n - 1)), who

    big = bytes(range(256)) * 4096          # 1 MiB both ways
    assert echo_roundtrip(port, big) == big


def test_tcp_mode_dead_server_redispatched(procs, tmpdir_path, echo_servers):
    live = echo_servers()
    dead_port = free_port()                 # nothing listens there
    lb, port = tcp_lb(procs, tmpdir_path, [("dead", "127.0.0.1:%d" % dead_port), ("live", live.addr)])
    for i in range(6):
        token = b"<try-%d>" % i
        assert echo_roundtrip(port, token) == token, "connection %d was not redispatched" % i
        assert token in live.data()


def test_tcp_mode_client_half_close_passed_on(procs, tmpdir_path, echo_servers):
    """A client that sends and half-closes at once (printf x | nc -N) gets
    its echo and then the end of the stream: the FIN reaches the server even
    when it arrives before the server connection is up."""
    e = echo_servers()
    lb, port = tcp_lb(procs, tmpdir_path, [("e", e.addr)])
    for i in range(3):
        token = b"<half-%d>" % i
        with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
            s.sendall(token)
            s.shutdown(socket.SHUT_WR)
            got = b""
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    got += d
            except socket.timeout:
                pytest.fail("connection %d: no end of stream after the client's FIN (got %r)" % (i, got))
            assert got == token


def test_tcp_mode_abandoned_connections_released(procs, tmpdir_path, echo_servers):
    """Clients that connect and go away at once leave no session behind."""
    e = echo_servers()
    sport = free_port()
    lb, port = tcp_lb(procs, tmpdir_path, [("e", e.addr)], stats_port=sport)
    for _ in range(3):
        socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW).close()
    assert echo_roundtrip(port, b"ping") == b"ping"   # a normal one still works

    def current():
        import json
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/stats.json" % sport, timeout=5) as r:
            j = json.load(r)
        return j["frontends"][0]["current_connections"], j["backends"][0]["current_connections"]

    try:
        wait_for(lambda: current() == (0, 0), timeout=5, what="no open sessions")
    except AssertionError:
        pytest.fail("sessions left open after every client closed: (frontend, backend) = %r" % (current(),))
