"""Helpers for the agent's system tests: a real `berth agent` on a data dir
of the test's own, the berth CLI pointed at it, and clean-up of every
instance process the test caused, by process group, even when it fails."""
import glob
import json
import os
import random
import signal
import subprocess
import time

from conftest import BERTH, SLOW, SANITIZER_MARKERS, wait_for


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def proc_table():
    """(pid, fields) of every process, the fields of /proc/PID/stat after
    the command name: state, ppid, pgrp, ... (the name may hold spaces and
    parentheses, so they start after the last ')')."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        yield int(d), st[st.rindex(")") + 2:].split()


def pgid_alive(pgid):
    """Whether any live (not zombie) process is in process group <pgid>."""
    return any(f[0] != "Z" and int(f[2]) == pgid for _, f in proc_table())


class Agent:
    """`berth agent` on <data_dir>, started and stopped by PID."""

    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = data_dir
        self.sock = os.path.join(data_dir, "berth.sock")
        base = random.randrange(20000, 60000, 500)
        self.port_range = (base, base + 199)
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.env.pop("BERTH_DATA_DIR", None)
        self.proc = None
        self.log_path = os.path.join(data_dir, "agent-test.log")
        os.makedirs(data_dir, exist_ok=True)
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        argv = [BERTH, "agent", "--data-dir", self.data_dir, "--port-range", "%d-%d" % self.port_range,
                "--lease-ttl", "5s", "--dns-addr", "127.0.0.1:0", *self.extra_args]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_for(lambda: self.answers() or self.proc.poll() is not None, timeout=15, what="the agent's API")
        assert self.proc.poll() is None, "berth agent exited:\n" + self.logs()

    def answers(self):
        r = self.cli("ps", "-a", "--json", check=False, timeout=5)
        return r.returncode == 0

    def logs(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def cli(self, *args, check=True, timeout=60, cwd=None, env=None):
        e = dict(self.env, **(env or {}))
        r = subprocess.run([BERTH, *args, "--data-dir", self.data_dir] if args and args[0] != "config"
                           else [BERTH, *args], capture_output=True, text=True, timeout=timeout * SLOW,
                           cwd=cwd, env=e)
        for m in SANITIZER_MARKERS:
            assert m not in r.stderr, "sanitizer report from berth %s:\n%s" % (" ".join(args), r.stderr)
        if check:
            assert r.returncode == 0, "berth %s: rc %d\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def ps(self, stack):
        r = self.cli("ps", "-p", stack, "--json")
        return json.loads(r.stdout)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def instance_states(self):
        """Every state.json the shims wrote under this data dir."""
        out = []
        for p in glob.glob(os.path.join(self.data_dir, "instances", "*", "*", "*", "runs", "*", "state.json")):
            try:
                with open(p) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                pass
        return out

    def cleanup(self):
        """Stops the agent, then every instance and shim it left, by pid and
        process group: tests never leave processes behind."""
        self.stop()
        for st in self.instance_states():
            for key in ("pgid",):
                g = st.get(key)
                if g and g > 1 and pgid_alive(g):
                    try:
                        os.killpg(g, signal.SIGKILL)
                    except OSError:
                        pass
            for key in ("shim_pid", "pid"):
                p = st.get(key)
                if p and p > 1 and pid_alive(p):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
        text = open(self.log_path).read() if os.path.exists(self.log_path) else ""
        for m in SANITIZER_MARKERS:
            assert m not in text, "sanitizer report in the agent's log:\n" + text[-4000:]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def wait_states(agent, stack, pred, timeout=20, what="instances"):
    """Waits until pred(list of instance objects) holds; returns the list."""
    last = [None]

    def check():
        last[0] = agent.ps(stack)
        return pred(last[0])
    try:
        wait_for(check, timeout=timeout, what=what)
    except AssertionError:
        raise AssertionError("timed out waiting for %s; last ps: %s\nagent log:\n%s" % (
            what, json.dumps(last[0], indent=1), agent.logs()[-3000:]))
    return last[0]


def by_instance(insts):
    return {i["instance"]: i for i in insts}


class _UnixHTTPConnection:
    pass


def api(agent, method, path, body=None, headers=None, timeout=30):
    """One request to the agent's unix socket; returns (status, headers, body bytes)."""
    import http.client
    import socket as _socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            self.sock.settimeout(timeout * SLOW)
            self.sock.connect(agent.sock)
    c = Conn("berth", timeout=timeout * SLOW)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def api_json(agent, method, path, body=None, **kw):
    st, hdrs, data = api(agent, method, path, body, **kw)
    return st, hdrs, (json.loads(data) if data else None)


class RawWebSocket:
    """A minimal blocking WebSocket client (RFC 6455 text frames), enough to
    hold a connection open through a proxy and echo on it."""

    def __init__(self, host, port, path="/ws", timeout=10):
        import base64
        import socket as _socket
        self.s = _socket.create_connection((host, port), timeout=timeout * SLOW)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                        % (path, host, port, key)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.s.recv(4096)
            if not d:
                raise ConnectionError("closed during the handshake")
            buf += d
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError("no upgrade: %r" % head[:200])

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        hdr = bytes([0x81])
        n = len(data)
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("the WebSocket was closed")
            self.buf += d

    def recv(self):
        self._need(2)
        n = self.buf[1] & 0x7f
        off = 2
        if n == 126:
            self._need(4)
            n = int.from_bytes(self.buf[2:4], "big")
            off = 4
        elif n == 127:
            self._need(10)
            n = int.from_bytes(self.buf[2:10], "big")
            off = 10
        self._need(off + n)
        data, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return data.decode()

    def close(self):
        self.s.close()
