#!/usr/bin/env python3
"""berth lb against nginx and HAProxy: the driver behind bench/lb.sh.

Usage: lbbench.py BERTH_BINARY

Everything runs on 127.0.0.1 with ports chosen at run time:
  - two nginx backends (worker_processes 1) serving /small ("hello\\n"),
    /4k (4096 bytes) and /xff (echoes the X-Forwarded-* headers it got);
  - two WebSocket echo backends (bench/lib/wsload.c, built into the temp dir);
  - the three proxies, each configured the same way: keep-alive to clients
    (75 s), pooled keep-alive to the backends, round-robin over the same two
    servers, X-Forwarded-For/-Proto/-Port added, no logging, no health checks,
    /ws routed to the WebSocket backends.

Phases, repeated for each round so the proxies interleave in time (the machine
is noisy):
  1. throughput: for each thread count T, the three proxies are started with T
     workers; for each (connections, body) cell they take turns in a rotated
     order: 1 s warm-up, then `wrk -t2 -cC -dD --latency`;
  2. WebSocket echo messages/s at each T (wsload client: CONNS connections,
     one 32-byte message in flight each);
  3. memory per idle keep-alive connection at T=1: RSS of all the proxy's
     processes before and after 5,000 connections that made one request each
     and then sit idle (counted with ss before RSS is read).

Medians across rounds are printed with berth/peer ratios; all samples go to
a JSON file under $TMPDIR. Environment overrides: BENCH_ROUNDS (3),
BENCH_DURATION (5, seconds), BENCH_WARMUP (1), BENCH_THREADS ("1 2"),
BENCH_CONNS ("64 256"), BENCH_BODIES ("small 4k"), BENCH_IDLE_CONNS (5000),
BENCH_WS_CONNS (64), BENCH_WRK_THREADS (2), BENCH_PROXIES
("berth nginx haproxy"), BENCH_QUICK=1 (a smoke run of about a minute).
"""
import ctypes
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import children_of, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


def env_list(name, default):
    v = os.environ.get(name)
    return v.split() if v not in (None, "") else default


QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = env_int("BENCH_ROUNDS", 1 if QUICK else 3)
DURATION = env_float("BENCH_DURATION", 1 if QUICK else 5)
WARMUP = env_float("BENCH_WARMUP", 0.5 if QUICK else 1)
THREADS = [int(x) for x in env_list("BENCH_THREADS", ["1", "2"])]
CONNS = [int(x) for x in env_list("BENCH_CONNS", ["64", "256"])]
BODIES = env_list("BENCH_BODIES", ["small", "4k"])
IDLE_CONNS = env_int("BENCH_IDLE_CONNS", 500 if QUICK else 5000)
WS_CONNS = env_int("BENCH_WS_CONNS", 64)
WRK_THREADS = env_int("BENCH_WRK_THREADS", 2)
PROXIES = env_list("BENCH_PROXIES", ["berth", "nginx", "haproxy"])
WS_SIZE = 32
CLIENT_KEEPALIVE = 75  # s, longer than any measurement

BODY_4K = bytes((ord("a") + i % 26) if i % 64 != 63 else ord("\n") for i in range(4096))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------- processes --

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: if this driver is killed outright, its children go too.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


PROCS = []  # every process we started, for cleanup by PID


def spawn(argv, log_path=None, **kw):
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    p = subprocess.Popen(argv, stdout=kw.pop("stdout", out), stderr=kw.pop("stderr", out),
                         stdin=kw.pop("stdin", subprocess.DEVNULL),
                         preexec_fn=_die_with_parent, **kw)
    p.log_path = log_path
    PROCS.append(p)
    return p


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in children_of(p):
            out.append(k)
            todo.append(k)
    return out


def stop(p, sig=signal.SIGTERM, timeout=5):
    if p.poll() is not None:
        if p in PROCS:
            PROCS.remove(p)
        return
    kids = descendants(p.pid)
    try:
        p.send_signal(sig)
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    for k in kids:  # nginx workers, if the master left any behind
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if p in PROCS:
        PROCS.remove(p)


def cleanup():
    for p in list(reversed(PROCS)):
        try:
            stop(p, timeout=3)
        except Exception as e:  # keep going: every process must go
            log("cleanup: pid %d: %r" % (p.pid, e))


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, proc, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s at start; log:\n%s" % (what, proc.returncode, tail(proc.log_path)))
        if port_open(port):
            return
        time.sleep(0.02)
    raise RuntimeError("%s did not listen on %d within %ss; log:\n%s" % (what, port, timeout, tail(proc.log_path)))


def tail(path, n=20):
    if not path or not os.path.exists(path):
        return "(no log)"
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def rss_kb(pid):
    total = 0
    for p in [pid] + descendants(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def established(port):
    """Established TCP connections whose local port is <port> (the proxy's side)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "( sport = :%d )" % port],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def cpu_ns(pids):
    """CPU time (user+system, ns) used so far by all threads of <pids>."""
    total = 0
    for p in pids:
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])  # user..steal (guest time is already in user)
    return total, v[7], v[3] + v[4]  # total, steal, idle+iowait


def steal_pct(a, b):
    dt = b[0] - a[0]
    return round(100.0 * (b[1] - a[1]) / dt, 1) if dt > 0 else 0.0


def busy_pct(a, b):
    dt = b[0] - a[0]
    return round(100.0 * (dt - (b[2] - a[2])) / dt, 1) if dt > 0 else 0.0


# ------------------------------------------------------------ backends --

def start_nginx_backend(tmp, name):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "www"))
    os.chmod(d, 0o755)
    with open(os.path.join(d, "www", "4k"), "wb") as f:
        f.write(BODY_4K)
    port = free_port()
    conf = """
worker_processes 1;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    sendfile on;
    tcp_nopush off;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    client_body_temp_path {d}/tmp;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {d}/www;
        location = /small {{ default_type text/plain; return 200 "hello\\n"; }}
        location = /4k {{ default_type application/octet-stream; }}
        location = /xff {{ default_type text/plain;
            return 200 "xff=$http_x_forwarded_for proto=$http_x_forwarded_proto port=$http_x_forwarded_port\\n"; }}
    }}
}}
""".format(d=d, port=port)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    p = spawn(["nginx", "-p", d, "-c", d + "/nginx.conf", "-e", d + "/error.log", "-g", "daemon off;"],
              log_path=os.path.join(d, "stderr.log"))
    wait_port(port, p, "backend nginx " + name)
    return port


def start_ws_backend(tmp, wsload, name):
    p = spawn([wsload, "serve", "0"], stdout=subprocess.PIPE, log_path=os.path.join(tmp, name + ".log"))
    line = p.stdout.readline().decode()
    m = re.match(r"PORT (\d+)", line)
    if not m:
        raise RuntimeError("wsload serve did not start: %r" % line)
    return int(m.group(1))


# ------------------------------------------------------------- proxies --

class Proxy:
    name = "?"

    def __init__(self, tmp, be, ws):
        self.tmp, self.be, self.ws = tmp, be, ws
        self.proc = None
        self.port = None
        self.threads = None

    def start(self, threads):
        self.threads = threads
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=self.name + "-t%d-" % threads, dir=self.tmp)
        os.chmod(self.dir, 0o755)
        self.proc = self._start()
        wait_port(self.port, self.proc, self.name)

    def stop(self):
        if self.proc:
            stop(self.proc, self.stop_signal)
            self.proc = None

    stop_signal = signal.SIGTERM

    def version(self):
        return ""

    def pids(self):
        return [self.proc.pid] + descendants(self.proc.pid)


class Berth(Proxy):
    name = "berth"

    def __init__(self, tmp, be, ws, binary):
        super().__init__(tmp, be, ws)
        self.binary = binary

    def _start(self):
        conf = """threads: {t}
grace: 1s
frontends:
  web:
    bind: 127.0.0.1:{port}
    mode: http
    timeouts: {{client: {ka}s, keep-alive: {ka}s, http-request: 10s}}
    rules:
      - {{path: /ws, backend: ws}}
    default_backend: app
backends:
  app:
    balance: roundrobin
    timeouts: {{connect: 2s, server: 30s, keep-alive: 60s}}
    servers:
      - {{name: b1, addr: 127.0.0.1:{b1}}}
      - {{name: b2, addr: 127.0.0.1:{b2}}}
  ws:
    balance: roundrobin
    timeouts: {{connect: 2s, server: 30s, tunnel: 3600s}}
    servers:
      - {{name: w1, addr: 127.0.0.1:{w1}}}
      - {{name: w2, addr: 127.0.0.1:{w2}}}
""".format(t=self.threads, port=self.port, ka=CLIENT_KEEPALIVE, b1=self.be[0], b2=self.be[1],
           w1=self.ws[0], w2=self.ws[1])
        path = os.path.join(self.dir, "lb.yml")
        with open(path, "w") as f:
            f.write(conf)
        return spawn([self.binary, "lb", "-c", path, "--log-level", "warn"],
                     log_path=os.path.join(self.dir, "berth.log"))

    def version(self):
        r = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) else "berth"


class Nginx(Proxy):
    name = "nginx"
    stop_signal = signal.SIGTERM

    def _start(self):
        d = self.dir
        conf = """
worker_processes {t};
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    keepalive_timeout {ka}s;
    keepalive_requests 100000;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy_temp;
    upstream app {{
        server 127.0.0.1:{b1};
        server 127.0.0.1:{b2};
        keepalive 256;
        keepalive_requests 100000;
        keepalive_timeout 60s;
    }}
    upstream ws {{
        server 127.0.0.1:{w1};
        server 127.0.0.1:{w2};
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
        }}
        location /ws {{
            proxy_pass http://ws;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }}
    }}
}}
""".format(t=self.threads, d=d, ka=CLIENT_KEEPALIVE, port=self.port, b1=self.be[0], b2=self.be[1],
           w1=self.ws[0], w2=self.ws[1])
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
        return spawn(["nginx", "-p", d, "-c", d + "/nginx.conf", "-e", d + "/error.log", "-g", "daemon off;"],
                     log_path=os.path.join(d, "stderr.log"))

    def version(self):
        r = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
        return r.stderr.strip()


class Haproxy(Proxy):
    name = "haproxy"

    def _start(self):
        conf = """
global
    nbthread {t}
    maxconn 9000
    ulimit-n 20000
defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout connect 2s
    timeout client {ka}s
    timeout http-keep-alive {ka}s
    timeout http-request 10s
    timeout server 30s
    timeout tunnel 3600s
frontend web
    bind 127.0.0.1:{port}
    maxconn 9000
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %[dst_port]
    use_backend ws if {{ path_beg /ws }}
    default_backend app
backend app
    balance roundrobin
    server b1 127.0.0.1:{b1}
    server b2 127.0.0.1:{b2}
backend ws
    balance roundrobin
    server w1 127.0.0.1:{w1}
    server w2 127.0.0.1:{w2}
""".format(t=self.threads, ka=CLIENT_KEEPALIVE, port=self.port, b1=self.be[0], b2=self.be[1],
           w1=self.ws[0], w2=self.ws[1])
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(conf)
        return spawn(["haproxy", "-db", "-f", path], log_path=os.path.join(self.dir, "haproxy.log"))

    def version(self):
        r = subprocess.run(["haproxy", "-v"], capture_output=True, text=True)
        return r.stdout.splitlines()[0].strip() if r.stdout else ""


# ------------------------------------------------------------ measuring --

def http_get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed before the response head")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, body
    finally:
        s.close()


def sanity(proxy, wsload):
    st, body = http_get(proxy.port, "/small")
    if st != 200 or body != b"hello\n":
        raise RuntimeError("%s: /small gave %d %r" % (proxy.name, st, body[:80]))
    st, body = http_get(proxy.port, "/4k")
    if st != 200 or body != BODY_4K:
        raise RuntimeError("%s: /4k gave %d, %d bytes" % (proxy.name, st, len(body)))
    st, body = http_get(proxy.port, "/xff")
    xff = body.decode(errors="replace").strip()
    if st != 200 or "xff=127.0.0.1" not in xff:
        raise RuntimeError("%s: X-Forwarded-For not added: %d %r" % (proxy.name, st, xff))
    r = ws_run(proxy.port, wsload, 1, 0, 0.2)
    if r["messages"] <= 0 or r["errors"]:
        raise RuntimeError("%s: WebSocket echo failed: %r" % (proxy.name, r))
    return xff


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_latency(s):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", s)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(port, conns, body, duration, latency=True, pids=None):
    argv = ["wrk", "-t%d" % min(WRK_THREADS, conns), "-c%d" % conns, "-d%gs" % duration]
    if latency:
        argv.append("--latency")
    argv.append("http://127.0.0.1:%d/%s" % (port, body))
    c0, n0 = cpu_times(), cpu_ns(pids or [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    c1, n1 = cpu_times(), cpu_ns(pids or [])
    out = r.stdout
    res = {"cmd": " ".join(argv), "steal_pct": steal_pct(c0, c1), "busy_pct": busy_pct(c0, c1)}
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    res["p99_ms"] = parse_latency(m.group(1)) if m else None
    m = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    res["p50_ms"] = parse_latency(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    if pids and res["requests"]:
        res["cpu_us_per_req"] = round((n1 - n0) / 1000.0 / res["requests"], 2)
    if r.returncode != 0 or not res["rps"]:
        res["error"] = (r.stderr or out)[-500:]
    return res


def ws_run(port, wsload, conns, warm, duration, pids=None):
    n0 = cpu_ns(pids or [])
    r = subprocess.run([wsload, "client", "127.0.0.1", str(port), "/ws", str(conns), str(warm),
                        str(duration), str(WS_SIZE)], capture_output=True, text=True,
                       timeout=warm + duration + 60)
    try:
        res = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = {"messages": 0, "rate": 0.0, "errors": -1}
    if pids and res.get("total_messages"):
        res["cpu_us_per_msg"] = round((cpu_ns(pids) - n0) / 1000.0 / res["total_messages"], 2)
    if r.stderr.strip():
        res["stderr"] = r.stderr.strip()[-300:]
    return res


def measure_idle(proxy, count):
    """RSS growth of <proxy> per idle keep-alive client connection."""
    # Warm the proxy up first (pools, server connections, lazy allocations).
    wrk(proxy.port, 16, "small", 1, latency=False)
    time.sleep(1.0)
    before = rss_kb(proxy.proc.pid)
    holder = spawn([PY, os.path.join(HERE, "idleconns.py"), "127.0.0.1", str(proxy.port), str(count), "16"],
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   log_path=os.path.join(proxy.dir, "idleconns.log"))
    try:
        line = holder.stdout.readline().decode().strip()
        m = re.match(r"READY ok=(\d+) failed=(\d+)", line)
        if not m:
            raise RuntimeError("idleconns: %r; %s" % (line, tail(holder.log_path)))
        ok, failed = int(m.group(1)), int(m.group(2))
        time.sleep(1.0)
        est = established(proxy.port)
        after = rss_kb(proxy.proc.pid)
        est_after = established(proxy.port)
    finally:
        try:
            holder.stdin.close()
        except OSError:
            pass
        stop(holder)
    res = {"rss_before_kb": before, "rss_after_kb": after, "clients_ok": ok, "clients_failed": failed,
           "established": est, "established_after_rss": est_after,
           "bytes_per_conn": round((after - before) * 1024.0 / count, 1)}
    if est < count or est_after < count:
        res["error"] = "only %d/%d connections established when RSS was read" % (min(est, est_after), count)
    return res


def rotated(items, k):
    k %= len(items)
    return items[k:] + items[:k]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "-"
    return "{:,.{}f}".format(x, nd)


def ratio(a, b):
    return a / b if a and b else None


# ----------------------------------------------------------------- main --

def machine_info():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def run(berth_bin):
    started = datetime.datetime.now(datetime.timezone.utc)
    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    os.chmod(tmp, 0o755)
    results = {"started": started.isoformat(timespec="seconds"), "machine": machine_info(),
               "params": {"rounds": ROUNDS, "duration_s": DURATION, "warmup_s": WARMUP, "threads": THREADS,
                          "conns": CONNS, "bodies": BODIES, "idle_conns": IDLE_CONNS, "ws_conns": WS_CONNS,
                          "ws_size": WS_SIZE, "wrk_threads": WRK_THREADS, "proxies": PROXIES, "quick": QUICK},
               "throughput": [], "websocket": [], "idle": []}
    try:
        wsload = os.path.join(tmp, "wsload")
        subprocess.run(["cc", "-O2", "-o", wsload, os.path.join(HERE, "wsload.c"), "-lcrypto"], check=True)
        be = [start_nginx_backend(tmp, "backend1"), start_nginx_backend(tmp, "backend2")]
        ws = [start_ws_backend(tmp, wsload, "ws1"), start_ws_backend(tmp, wsload, "ws2")]
        all_proxies = {"berth": Berth(tmp, be, ws, berth_bin), "nginx": Nginx(tmp, be, ws),
                       "haproxy": Haproxy(tmp, be, ws)}
        proxies = [all_proxies[n] for n in PROXIES]
        results["versions"] = {p.name: p.version() for p in proxies}
        results["versions"]["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
        results["versions"]["kernel"] = platform.release()
        log("bench: backends nginx :%d :%d, websocket :%d :%d; %d round(s), %gs runs, threads %s, "
            "conns %s, bodies %s" % (be[0], be[1], ws[0], ws[1], ROUNDS, DURATION, THREADS, CONNS, BODIES))
        k = 0
        for rnd in range(1, ROUNDS + 1):
            for t in THREADS:
                for p in proxies:
                    p.start(t)
                for p in proxies:
                    xff = sanity(p, wsload)
                    if rnd == 1:
                        log("bench: %s threads=%d ok (%s)" % (p.name, t, xff))
                for c in CONNS:
                    for body in BODIES:
                        for p in rotated(proxies, k):
                            wrk(p.port, c, body, WARMUP, latency=False)
                            r = wrk(p.port, c, body, DURATION, pids=p.pids())
                            r.update({"round": rnd, "proxy": p.name, "threads": t, "conns": c, "body": body})
                            results["throughput"].append(r)
                            log("round %d t%d c%-3d %-5s %-7s %10s req/s  p99 %7s ms  cpu %5s us/req  steal %4.1f%%%s" % (
                                rnd, t, c, body, p.name, fmt(r["rps"]), fmt(r["p99_ms"], 2),
                                fmt(r.get("cpu_us_per_req"), 1), r["steal_pct"],
                                ("  ERRORS non2xx=%d socket=%d" % (r["non2xx"], r["socket_errors"])
                                 if r["non2xx"] or r["socket_errors"] or r.get("error") else "")))
                        k += 1
                for p in rotated(proxies, k):
                    c0 = cpu_times()
                    r = ws_run(p.port, wsload, WS_CONNS, WARMUP, DURATION, pids=p.pids())
                    r.update({"round": rnd, "proxy": p.name, "threads": t, "steal_pct": steal_pct(c0, cpu_times())})
                    results["websocket"].append(r)
                    log("round %d t%d websocket %-7s %10s msg/s  cpu %5s us/msg  errors %s" % (
                        rnd, t, p.name, fmt(r["rate"]), fmt(r.get("cpu_us_per_msg"), 1), r["errors"]))
                k += 1
                for p in proxies:
                    p.stop()
            for p in rotated(proxies, rnd):
                p.start(1)
                try:
                    r = measure_idle(p, IDLE_CONNS)
                finally:
                    p.stop()
                r.update({"round": rnd, "proxy": p.name, "threads": 1, "idle_conns": IDLE_CONNS})
                results["idle"].append(r)
                log("round %d idle %-7s %8s B/conn  (RSS %d -> %d kB, %d established)%s" % (
                    rnd, p.name, fmt(r["bytes_per_conn"]), r["rss_before_kb"], r["rss_after_kb"],
                    r["established"], "  " + r["error"] if r.get("error") else ""))
        results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(results):
    names = results["params"]["proxies"]
    peers = [n for n in names if n != "berth"]
    lines = []
    P = lines.append
    m = results["machine"]
    P("berth lb benchmark, %s, %d round(s) of %gs wrk runs (-t%d --latency), medians" % (
        results["started"], results["params"]["rounds"], results["params"]["duration_s"],
        results["params"]["wrk_threads"]))
    P("machine: %s CPU(s), %s, kernel %s, load %s at start" % (m["nproc"], m["cpu"], m["kernel"],
                                                                " ".join(m["loadavg_start"])))
    P("versions: " + "; ".join("%s: %s" % kv for kv in results["versions"].items()))
    P("")
    tp = results["throughput"]
    cells = []
    for r in tp:
        key = (r["threads"], r["conns"], r["body"])
        if key not in cells:
            cells.append(key)
    hdr = "%-14s" % "cell" + "".join("%15s" % (n + " req/s") for n in names)
    hdr += "".join("%15s" % ("berth/" + n) for n in peers)
    hdr += "".join("%13s" % ("p99 " + n) for n in names) + "%8s" % "steal"
    P("Throughput (requests/s, median of rounds; p99 latency in ms; steal = median CPU steal % during the runs)")
    P(hdr)
    summary = {}
    for key in cells:
        rows = {n: [r for r in tp if (r["threads"], r["conns"], r["body"]) == key and r["proxy"] == n] for n in names}
        rps = {n: med([r["rps"] for r in rows[n]]) for n in names}
        p99 = {n: med([r["p99_ms"] for r in rows[n]]) for n in names}
        steal = med([r["steal_pct"] for n in names for r in rows[n]])
        errs = sum(r["non2xx"] + r["socket_errors"] for n in names for r in rows[n])
        label = "t%d c%d %s" % key
        line = "%-14s" % label + "".join("%15s" % fmt(rps[n]) for n in names)
        line += "".join("%15s" % fmt(ratio(rps.get("berth"), rps[n]), 2) for n in peers)
        line += "".join("%13s" % fmt(p99[n], 2) for n in names) + "%7s%%" % fmt(steal, 1)
        if errs:
            line += "  errors: " + ", ".join("%s %d" % (n, sum(r["non2xx"] + r["socket_errors"] for r in rows[n]))
                                             for n in names)
        P(line)
        summary[label] = {"rps": rps, "p99_ms": p99, "steal_pct": steal,
                          "ratio": {n: ratio(rps.get("berth"), rps[n]) for n in peers}}
    P("")
    P("Proxy CPU time per request (us, user+system of all its threads/processes, median of rounds; "
      "lower is better; peer/berth > 1 means berth is cheaper)")
    hdr = "%-14s" % "cell" + "".join("%12s" % n for n in names) + "".join("%15s" % (n + "/berth") for n in peers)
    P(hdr)
    for key in cells:
        rows = {n: [r for r in tp if (r["threads"], r["conns"], r["body"]) == key and r["proxy"] == n] for n in names}
        cpu = {n: med([r.get("cpu_us_per_req") for r in rows[n]]) for n in names}
        label = "t%d c%d %s" % key
        P("%-14s" % label + "".join("%12s" % fmt(cpu[n], 1) for n in names)
          + "".join("%15s" % fmt(ratio(cpu[n], cpu.get("berth")), 2) for n in peers))
        summary[label]["cpu_us_per_req"] = cpu
    results["summary"] = {"throughput": summary}
    if "berth" in names:
        for n in peers:
            rs = [s["ratio"][n] for s in summary.values() if s["ratio"][n]]
            met = sum(1 for x in rs if x >= 1.2)
            p99ok = sum(1 for s in summary.values()
                        if s["p99_ms"]["berth"] is not None and s["p99_ms"][n] is not None
                        and s["p99_ms"]["berth"] <= s["p99_ms"][n])
            P("berth/%s: req/s ratio %s..%s (median %s); >= 1.2x in %d/%d cells; p99 no worse in %d/%d cells" % (
                n, fmt(min(rs), 2) if rs else "-", fmt(max(rs), 2) if rs else "-", fmt(med(rs), 2),
                met, len(rs), p99ok, len(summary)))
    P("")
    P("WebSocket echo (%d connections, one %d-byte message in flight each; messages/s, median of rounds)" % (
        results["params"]["ws_conns"], results["params"]["ws_size"]))
    wsr = results["websocket"]
    ws_summary = {}
    for t in sorted({r["threads"] for r in wsr}):
        rate = {n: med([r["rate"] for r in wsr if r["threads"] == t and r["proxy"] == n]) for n in names}
        errs = {n: sum(r["errors"] for r in wsr if r["threads"] == t and r["proxy"] == n) for n in names}
        cpu = {n: med([r.get("cpu_us_per_msg") for r in wsr if r["threads"] == t and r["proxy"] == n]) for n in names}
        line = "threads %d: " % t + ", ".join("%s %s" % (n, fmt(rate[n])) for n in names)
        if "berth" in names:
            line += "; " + ", ".join("berth/%s %s" % (n, fmt(ratio(rate["berth"], rate[n]), 2)) for n in peers)
        if any(errs.values()):
            line += "; errors " + ", ".join("%s %d" % kv for kv in errs.items())
        P(line)
        P("           proxy CPU us/message: " + ", ".join("%s %s" % (n, fmt(cpu[n], 1)) for n in names))
        ws_summary["t%d" % t] = {"rate": rate, "cpu_us_per_msg": cpu}
    results["summary"]["websocket"] = ws_summary
    P("")
    idle = results["idle"]
    P("Memory per idle keep-alive client connection (threads 1, %d connections; RSS growth / connections)" % (
        results["params"]["idle_conns"]))
    mem = {}
    for n in names:
        rows = [r for r in idle if r["proxy"] == n]
        if not rows:
            continue
        b = med([r["bytes_per_conn"] for r in rows])
        mem[n] = b
        P("%-8s %8s bytes/conn   RSS before %s kB, after %s kB, established %s%s" % (
            n, fmt(b), fmt(med([r["rss_before_kb"] for r in rows])), fmt(med([r["rss_after_kb"] for r in rows])),
            "/".join(str(r["established"]) for r in rows),
            "  (" + "; ".join(r["error"] for r in rows if r.get("error")) + ")" if any(r.get("error") for r in rows) else ""))
    if "berth" in mem:
        P("berth/peer memory ratio: " + ", ".join("%s %s" % (n, fmt(ratio(mem["berth"], mem[n]), 2))
                                                  for n in peers if n in mem))
    results["summary"]["idle_bytes_per_conn"] = mem
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        print("usage: lbbench.py BERTH_BINARY", file=sys.stderr)
        return 2
    berth = os.path.abspath(sys.argv[1])
    if not os.access(berth, os.X_OK):
        print("bench: %s is not an executable (build it first: ninja -C build)" % berth, file=sys.stderr)
        return 2

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    t0 = time.monotonic()
    try:
        results = run(berth)
    except KeyboardInterrupt:
        log("bench: interrupted; every process it started has been stopped")
        return 130
    text = report(results)
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    out_dir = os.environ.get("TMPDIR") or "/tmp"
    out = os.path.join(out_dir, "berth-lb-bench-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print(text)
    print("")
    print("raw results: %s (elapsed %.0f s)" % (out, results["elapsed_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
