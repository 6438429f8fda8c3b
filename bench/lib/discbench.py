#!/usr/bin/env python3
"""Service discovery: how fast a health change reaches the load balancer,
and what an upstream change costs under load, berth lb on the catalog
against the setup it replaces (nginx with an upstream file rendered by an
on_change template and `nginx -s reload`). The driver behind
bench/discovery.sh.

Usage: discbench.py BERTH_BINARY

One private agent and one stack, all on 127.0.0.1:
  web    HTTP + WebSocket backends (tests/system/backend.py), 2 to 3
         instances, each with a ttl check (so the bench flips health
         through the API, instantly);
  lb     berth lb, servers: {service: web}, stats on a port of its own;
  proxy  nginx, its upstream rendered from the catalog by x-berth.on_change
         and reloaded with nginx -s reload.

Propagation: web.2's check is failed then passed again through the API,
BENCH_CHANGES times (100); each time, two clients (one per proxy) open
fresh connections in a loop from the moment of the API call until the
routing they see has changed: web.2 answers again, or four answers in a
row come from elsewhere. nginx's figure includes the template's debounce
(wait: 20ms:200ms) and the reload. Reported: p50, p99, max, per proxy.

Under load: BENCH_LOAD_CHANGES (20) upstream changes (web scaled 2 -> 3 ->
2 ...) while client threads send requests through both proxies and
WebSockets opened through each stay open; counted: failed requests and
closed WebSockets, per proxy. Environment: BENCH_CHANGES, BENCH_LOAD_CHANGES."""
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BACKEND = os.path.join(ROOT, "tests", "system", "backend.py")
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

from benchproc import children_of, free_port, stop_agent  # noqa: E402

CHANGES = int(os.environ.get("BENCH_CHANGES") or 100)
LOAD_CHANGES = int(os.environ.get("BENCH_LOAD_CHANGES") or 20)
OUT_RUN = 4


class Api:
    def __init__(self, sock):
        self.sock = sock

    def call(self, method, path, body=None):
        class C(http.client.HTTPConnection):
            def connect(c):
                c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.sock.connect(self.sock)
        c = C("berth", timeout=30)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data else None
        finally:
            c.close()


def http_get(port, path="/", timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def lb_servers(stats_port):
    st, body = http_get(stats_port, "/stats.json", timeout=5)
    j = json.loads(body)
    for be in j["backends"]:
        if be["name"] == "app":
            return sorted(s["name"] for s in be["servers"] if s["status"] == "UP")
    return []


def upstream_servers(path):
    with open(path) as f:
        return sum(1 for line in f if "server 127" in line and "down" not in line)


def nginx_workers(pidfile):
    """How many worker processes the nginx master has: more than one while
    a reload's old worker drains."""
    with open(pidfile) as f:
        return len(children_of(int(f.read().strip())))


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def main():
    berth = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="berth-discbench-")
    data = os.path.join(tmp, "data")
    proj = os.path.join(tmp, "disc")
    os.makedirs(os.path.join(proj, "tmp"))
    lb_port, stats_port, ngx_port = free_port(), free_port(), free_port()
    with open(os.path.join(proj, "upstream.tmpl"), "w") as f:
        f.write('upstream app {\n{{#endpoints "web"}}\n    server {{addr}}:{{port}};\n{{/endpoints}}\n'
                '{{^endpoints "web"}}\n    server 127.0.0.1:9 down;\n{{/endpoints}}\n    keepalive 16;\n}\n')
    with open(os.path.join(proj, "nginx.conf"), "w") as f:
        f.write("""worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp;
    proxy_temp_path %(d)s/tmp;
    include %(d)s/upstream.conf;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
            proxy_next_upstream error timeout;
        }
    }
}
""" % {"d": proj, "port": ngx_port})
    with open(os.path.join(proj, "compose.yaml"), "w") as f:
        f.write("""
services:
  web:
    command: sh -c "exec python3 -u %(backend)s --name $$BERTH_INSTANCE --port $$PORT"
    deploy: {replicas: 2}
    stop_grace_period: 1s
    x-berth:
      check: {ttl: 1h, restart_on_unhealthy: false}
      drain: 1s
  lb:
    image: berth/lb
    x-berth:
      lb:
        stats: {bind: "127.0.0.1:%(stats)d"}
        frontends:
          web: {bind: "127.0.0.1:%(lbp)d", default_backend: app}
        backends:
          app: {servers: {service: web}, timeouts: {tunnel: 1h}}
  proxy:
    command: nginx -p %(d)s -c %(d)s/nginx.conf -g "daemon off;"
    x-berth:
      on_change:
        watch: [web]
        template: {src: upstream.tmpl, dest: upstream.conf}
        run: nginx -p %(d)s -c %(d)s/nginx.conf -s reload
        wait: 20ms:200ms
""" % {"backend": BACKEND, "stats": stats_port, "lbp": lb_port, "d": proj})
    agent = subprocess.Popen([berth, "agent", "--data-dir", data, "--port-range", "48000-48999", "--dns-addr", "",
                              "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = Api(os.path.join(data, "berth.sock"))

    def cli(*args):
        return subprocess.run([berth, *args, "--data-dir", data], cwd=proj, capture_output=True, text=True,
                              timeout=120)

    def ttl(idx, ok):
        st, _ = api.call("PUT", "/v1/instances/disc/web/%d/check/%s" % (idx, "pass" if ok else "fail"))
        return st == 200

    def wait(cond, timeout=30, what=""):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                if cond():
                    return
            except Exception:
                pass
            time.sleep(0.005)
        raise RuntimeError("timed out: " + what)

    try:
        wait(lambda: cli("ps", "-a", "--json").returncode == 0, what="agent")
        r = cli("up", "-d")
        if r.returncode != 0:
            raise RuntimeError(r.stderr + r.stdout)
        wait(lambda: ttl(1, True) and ttl(2, True), what="ttl checks")
        wait(lambda: lb_servers(stats_port) == ["web.1", "web.2"], what="both servers in berth lb")
        wait(lambda: http_get(ngx_port)[0] == 200, what="nginx serving")

        # ---- propagation ----
        # Seen by a client: fresh connections through each proxy, both
        # watched at once from the moment the change is made. web.2 is
        # routed again when one answer comes from it; it is out when
        # OUT_RUN answers in a row (round robin over two) come from
        # elsewhere, counted from the first of them.
        samples = {"berth": [], "nginx": []}

        def observe(name, port, t0, back, out):
            run_start, run = None, 0
            while True:
                t = time.monotonic()
                if t - t0 > 10:
                    out[name] = None
                    return
                try:
                    st, body = http_get(port, timeout=5)
                    who = body.decode().strip() if st == 200 else ""
                except Exception:
                    who = ""
                if back and who == "web.2":
                    out[name] = (t - t0) * 1000
                    return
                if not back:
                    if who and who != "web.2":
                        run_start, run = (run_start if run else t), run + 1
                        if run >= OUT_RUN:
                            out[name] = (run_start - t0) * 1000
                            return
                    else:
                        run_start, run = None, 0

        for i in range(CHANGES):
            back = i % 2 == 1
            out = {}
            # Each change starts from a settled nginx: the previous
            # reload's old worker gone, so it cannot answer for the old
            # configuration in this change's window.
            wait(lambda: nginx_workers(os.path.join(proj, "nginx.pid")) == 1, what="nginx settled")
            t0 = time.monotonic()
            ttl(2, back)
            ws = [threading.Thread(target=observe, args=(n, p, t0, back, out))
                  for n, p in (("berth", lb_port), ("nginx", ngx_port))]
            for t in ws:
                t.start()
            for t in ws:
                t.join()
            for n in samples:
                if out.get(n) is None:
                    raise RuntimeError("change %d never reached %s" % (i, n))
                samples[n].append(out[n])
        ttl(2, True)
        wait(lambda: lb_servers(stats_port) == ["web.1", "web.2"], what="back to two")

        # ---- upstream changes under load ----
        from agentlib import RawWebSocket
        stop = threading.Event()
        counts = {p: {"ok": 0, "failed": 0} for p in ("berth", "nginx")}
        lock = threading.Lock()

        def load(name, port):
            while not stop.is_set():
                try:
                    st, _ = http_get(port, timeout=10)
                    ok = st == 200
                except Exception:
                    ok = False
                with lock:
                    counts[name]["ok" if ok else "failed"] += 1
        sockets = {"berth": [RawWebSocket("127.0.0.1", lb_port) for _ in range(8)],
                   "nginx": [RawWebSocket("127.0.0.1", ngx_port) for _ in range(8)]}
        threads = [threading.Thread(target=load, args=(n, p)) for n, p in (("berth", lb_port), ("nginx", ngx_port))
                   for _ in range(2)]
        for t in threads:
            t.start()
        t_changes = time.monotonic()
        for i in range(LOAD_CHANGES):
            n = 3 if i % 2 == 0 else 2
            cli("scale", "web=%d" % n)
            if n == 3:
                wait(lambda: ttl(3, True), what="web.3 up")
            want = ["web.1", "web.2", "web.3"][:n]
            wait(lambda: lb_servers(stats_port) == want, what="berth lb following change %d" % i)
            wait(lambda: upstream_servers(os.path.join(proj, "upstream.conf")) == n,
                 what="nginx upstream following change %d" % i)
        elapsed = time.monotonic() - t_changes
        stop.set()
        for t in threads:
            t.join(30)
        ngx_workers = nginx_workers(os.path.join(proj, "nginx.pid"))
        closed = {}
        for name, socks in sockets.items():
            closed[name] = 0
            for k, ws in enumerate(socks):
                try:
                    ws.send("ping-%d" % k)
                    if ws.recv() != "ping-%d" % k:
                        closed[name] += 1
                except Exception:
                    closed[name] += 1
                ws.close()

        print("service discovery, %s" % time.strftime("%Y-%m-%d %H:%M:%S"))
        print("  load average at the end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        print("  health change -> routing change seen by clients, %d changes (p50 / p99 / max):" % CHANGES)
        for n in ("berth", "nginx"):
            xs = samples[n]
            print("    %-6s %7.1f ms %7.1f ms %7.1f ms" % (n, statistics.median(xs), pct(xs, 99), max(xs)))
        b, g = statistics.median(samples["berth"]), statistics.median(samples["nginx"])
        print("    p50 ratio berth / nginx: %.3f" % (b / g if g else float("nan")))
        print("  %d upstream changes under load (web 2 <-> 3 instances), %.1f s:" % (LOAD_CHANGES, elapsed))
        for name in ("berth", "nginx"):
            c = counts[name]
            print("    %-6s %s: %d requests, %d failed; WebSockets closed: %d of %d" % (
                name, "lb on the catalog" if name == "berth" else "+ on_change template + reload",
                c["ok"] + c["failed"], c["failed"], closed[name], len(sockets[name])))
        print("    nginx worker processes after the changes: %d (old ones stay while they hold WebSockets)" % ngx_workers)
    finally:
        try:
            cli("down")
        except Exception:
            pass
        stop_agent(agent, data)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
