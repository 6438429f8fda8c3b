"""System tests for berth lb server health (DESIGN.md section 5): active
http/tcp checks with rise/fall, passive detection, retries and redispatch,
maxconn with a queue. Real backends (backend.py) behind a real `berth lb` on
ports chosen at run time; what is asserted is what clients get and what
/stats.json shows."""
import collections
import os
import http.client
import json
import threading
import time

import requests

from conftest import SLOW, free_port, port_open, wait_for

# ---------------------------------------------------------------- helpers


def http_get(port, path="/", headers=None, timeout=10):
    """One GET on a fresh connection; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


class Rig:
    """One berth lb with one http frontend and a stats listener."""

    def __init__(self, procs, tmpdir, backends, threads=2, default_backend="app"):
        self.port = free_port()
        self.stats_port = free_port()
        self.threads = threads
        self.default_backend = default_backend
        self.lb = procs.lb(self.config(backends), tmpdir, wait_ports=[self.port, self.stats_port])
        self.url = "http://127.0.0.1:%d" % self.port

    def config(self, backends):
        # JSON is YAML: the config stays exact whatever the values hold.
        return json.dumps({
            "threads": self.threads,
            "grace": "100ms",
            "stats": {"bind": "127.0.0.1:%d" % self.stats_port},
            "frontends": {"web": {"bind": ["127.0.0.1:%d" % self.port],
                                  "default_backend": self.default_backend}},
            "backends": backends,
        }, indent=1)

    def stats(self):
        r = requests.get("http://127.0.0.1:%d/stats.json" % self.stats_port, timeout=5 * SLOW)
        r.raise_for_status()
        return r.json()

    def backend_stats(self, name="app"):
        for be in self.stats()["backends"]:
            if be["name"] == name:
                return be
        raise KeyError(name)

    def servers(self, backend="app"):
        return {s["name"]: s for s in self.backend_stats(backend)["servers"]}

    def wait_status(self, name, status, backend="app", timeout=10, check=None):
        def ok():
            s = self.servers(backend)[name]
            return s["status"] == status and (check is None or s["check"] == check)
        wait_for(ok, timeout=timeout, what="server %s/%s %s (log:\n%s)" % (backend, name, status, self.lb.logs()[-1500:]))

    def hits(self, n, path="/"):
        cnt = collections.Counter()
        for _ in range(n):
            st, h, _ = http_get(self.port, path)
            assert st == 200, (st, self.lb.logs()[-2000:])
            cnt[h["X-Backend"]] += 1
        return cnt


def srv(b, **kw):
    d = {"name": b.name, "addr": b.addr}
    d.update(kw)
    return d


def set_health(b, status):
    # Write then rename, so the backend never reads a half-written file.
    tmp = b.health_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(status))
    os.replace(tmp, b.health_file)


def closed_port():
    """A port nothing listens on (as far as anyone can tell right now)."""
    p = free_port()
    assert not port_open(p)
    return p


# ---------------------------------------------------------------- http check


def test_http_check_marks_down_after_fall_and_up_after_rise(procs, tmpdir_path):
    interval, fall, rise = 0.2, 3, 2
    a = procs.backend("a", health_file=tmpdir_path + "/a.health")
    b = procs.backend("b", health_file=tmpdir_path + "/b.health")
    set_health(a, 200)
    set_health(b, 200)
    rig = Rig(procs, tmpdir_path, {"app": {
        "check": {"http": "/healthz", "interval": "%dms" % (interval * 1000), "rise": rise, "fall": fall},
        "servers": [srv(a), srv(b)]}})
    rig.wait_status("a", "UP", check="ok")
    rig.wait_status("b", "UP", check="ok")
    assert rig.hits(10) == {"a": 5, "b": 5}

    set_health(a, 500)
    t0 = time.monotonic()
    rig.wait_status("a", "DOWN", timeout=fall * interval + 5)
    down_after = time.monotonic() - t0
    # <fall> failures in a row, <interval> apart, cannot all happen sooner.
    assert down_after >= (fall - 1) * interval * 0.8, "DOWN after %.3fs, fall=%d interval=%.1fs" % (
        down_after, fall, interval)
    assert rig.servers()["b"]["status"] == "UP"
    assert rig.hits(20) == {"b": 20}
    st, _, _ = http_get(rig.port, "/healthz")  # b answers the client's own /healthz
    assert st == 200

    set_health(a, 200)
    t0 = time.monotonic()
    rig.wait_status("a", "UP", timeout=rise * interval + 5)
    up_after = time.monotonic() - t0
    assert up_after >= (rise - 1) * interval * 0.8, "UP after %.3fs, rise=%d interval=%.1fs" % (
        up_after, rise, interval)
    assert rig.hits(20) == {"a": 10, "b": 10}
    print("DOWN after %.3fs (fall x interval = %.1fs), UP after %.3fs (rise x interval = %.1fs)" % (
        down_after, fall * interval, up_after, rise * interval))


# ---------------------------------------------------------------- kill under load


def test_server_killed_under_load_no_failed_requests(procs, tmpdir_path):
    a = procs.backend("a")
    b = procs.backend("b")
    rig = Rig(procs, tmpdir_path, {"app": {
        "retries": 2,
        "check": {"http": "/healthz", "interval": "100ms", "rise": 2, "fall": 2},
        "servers": [srv(a), srv(b)]}})
    rig.wait_status("b", "UP", check="ok")

    failures = []
    done = threading.Event()
    seen = collections.Counter()
    lock = threading.Lock()

    def one(s, path):
        try:
            r = s.get(rig.url + path, timeout=10 * SLOW)
            if r.status_code != 200:
                failures.append((path, r.status_code, r.text[:100]))
            else:
                with lock:
                    seen[r.headers["X-Backend"]] += 1
        except Exception as e:
            failures.append((path, repr(e)))

    def side(path):
        with requests.Session() as s:
            while not done.is_set():
                one(s, path)

    side_threads = [threading.Thread(target=side, args=(p,)) for p in ("/", "/slow?ms=5", "/big?kb=64")]
    for t in side_threads:
        t.start()
    try:
        with requests.Session() as s:
            for i in range(2000):
                if i == 300:
                    b.p.kill()
                    b.p.wait()
                one(s, "/")
    finally:
        done.set()
        for t in side_threads:
            t.join()
    assert not failures, "%d failed requests, first: %s\nlog:\n%s" % (
        len(failures), failures[:5], rig.lb.logs()[-3000:])
    assert seen["b"] > 0  # it did take traffic before it died

    rig.wait_status("b", "DOWN")
    assert rig.hits(20) == {"a": 20}
    be = rig.backend_stats()
    print("after kill: retries=%d redispatches=%d b=%s" % (be["retries"], be["redispatches"], rig.servers()["b"]))

    # Back on the same port: used again once it passes <rise> checks.
    procs.backend("b", port=b.port)
    rig.wait_status("b", "UP", check="ok")
    again = rig.hits(20)
    assert again["b"] > 0 and again["a"] > 0, again


# ---------------------------------------------------------------- tcp check, expect


def test_tcp_check_on_closed_port_marks_down(procs, tmpdir_path):
    a = procs.backend("a")
    port = closed_port()
    rig = Rig(procs, tmpdir_path, {"app": {
        "check": {"tcp": True, "interval": "100ms", "rise": 2, "fall": 2},
        "servers": [srv(a), {"name": "dead", "addr": "127.0.0.1:%d" % port}]}})
    rig.wait_status("dead", "DOWN", check="failed")
    rig.wait_status("a", "UP", check="ok")
    assert rig.hits(10) == {"a": 10}

    # Something starts listening there: the connect check passes again.
    procs.backend("dead", port=port)
    rig.wait_status("dead", "UP", check="ok")
    assert rig.hits(10) == {"a": 5, "dead": 5}


def test_http_check_expect_status(procs, tmpdir_path):
    x = procs.backend("x")  # /healthz answers 200
    y = procs.backend("y")
    chk = {"http": "/healthz", "interval": "100ms", "rise": 2, "fall": 2}
    rig = Rig(procs, tmpdir_path, {
        "app": {"check": dict(chk, expect=204), "servers": [srv(x)]},
        "other": {"check": dict(chk, expect=200), "servers": [srv(y)]},
    })
    rig.wait_status("x", "DOWN", check="failed")
    rig.wait_status("y", "UP", backend="other", check="ok")
    st, _, _ = http_get(rig.port)
    assert st == 503


# ---------------------------------------------------------------- passive


def test_passive_detection_without_checks_redispatches(procs, tmpdir_path):
    a = procs.backend("a")
    rig = Rig(procs, tmpdir_path, {"app": {
        "retries": 2,
        "servers": [{"name": "dead", "addr": "127.0.0.1:%d" % closed_port()}, srv(a)]}})
    assert rig.servers()["dead"]["check"] == "none"
    for i in range(20):
        st, h, body = http_get(rig.port)
        assert st == 200, (i, st, body, rig.lb.logs()[-2000:])
        assert h["X-Backend"] == "a"
    rig.wait_status("dead", "DOWN")
    be = rig.backend_stats()
    dead = rig.servers()["dead"]
    assert dead["connect_errors"] > 0, dead
    assert be["redispatches"] > 0, be
    # Once DOWN it is left alone: no more connects to it.
    assert rig.hits(10) == {"a": 10}
    assert rig.servers()["dead"]["connect_errors"] == dead["connect_errors"]


# ---------------------------------------------------------------- maxconn, queue


def _concurrent(rig, n, path):
    """n requests at once, each on its own connection; their statuses."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        barrier.wait()
        try:
            out[i] = http_get(rig.port, path, timeout=20)[0]
        except Exception as e:
            out[i] = repr(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_maxconn_queues_requests(procs, tmpdir_path):
    a = procs.backend("a")
    rig = Rig(procs, tmpdir_path, {"app": {"servers": [srv(a, maxconn=1)]}})
    statuses = _concurrent(rig, 5, "/slow?ms=200")
    assert statuses == [200] * 5, statuses
    be = rig.backend_stats()
    assert be["queued"] > 0, be
    assert be["queue_timeouts"] == 0
    s = rig.servers()["a"]
    assert s["max_connections"] == 1, s
    assert s["requests"] == 5


def test_queue_timeout_gives_503(procs, tmpdir_path):
    a = procs.backend("a")
    rig = Rig(procs, tmpdir_path, {"app": {"timeouts": {"queue": "100ms"},
                                           "servers": [srv(a, maxconn=1)]}})
    statuses = _concurrent(rig, 5, "/slow?ms=1000")
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    be = rig.backend_stats()
    assert be["queue_timeouts"] == statuses.count(503), be
    assert be["queued"] >= be["queue_timeouts"]
    assert rig.servers()["a"]["max_connections"] == 1


# ---------------------------------------------------------------- all down


def test_all_servers_down_gives_503(procs, tmpdir_path):
    # No checks, nothing listening: the retries fail, the client gets 503.
    rig = Rig(procs, tmpdir_path, {"app": {"retries": 2, "servers": [
        {"name": "d1", "addr": "127.0.0.1:%d" % closed_port()},
        {"name": "d2", "addr": "127.0.0.1:%d" % closed_port()}]}})
    for _ in range(3):
        st, _, _ = http_get(rig.port)
        assert st == 503
    assert rig.lb.alive()


def test_all_servers_down_by_checks_gives_503_then_recovers(procs, tmpdir_path):
    a = procs.backend("a")
    b = procs.backend("b")
    rig = Rig(procs, tmpdir_path, {"app": {
        "check": {"http": "/healthz", "interval": "100ms", "rise": 2, "fall": 2},
        "servers": [srv(a), srv(b)]}})
    assert rig.hits(4) == {"a": 2, "b": 2}
    for x in (a, b):
        x.p.kill()
        x.p.wait()
    rig.wait_status("a", "DOWN")
    rig.wait_status("b", "DOWN")
    with requests.Session() as s:
        for _ in range(5):
            assert s.get(rig.url + "/", timeout=10 * SLOW).status_code == 503
    procs.backend("a", port=a.port)
    rig.wait_status("a", "UP")
    assert rig.hits(4) == {"a": 4}
