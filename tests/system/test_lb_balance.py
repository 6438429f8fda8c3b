"""System tests for berth lb balancing, stickiness and routing (DESIGN.md
section 5): real backends (backend.py) behind a real `berth lb`, on ports
chosen at run time. Every assertion is about what a client or the stats page
can see: which server answered (X-Backend), which cookies came back, what
/stats.json counts."""
import collections
import http.client
import json
import signal
import socket
import threading

import pytest
import requests

from conftest import SLOW, free_port, wait_for

# ---------------------------------------------------------------- helpers


def http_get(port, path="/", headers=None, source=None, method="GET", body=None, timeout=10):
    """One request on a fresh connection (optionally from source address
    <source>); returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def backend_of(headers):
    return headers.get("X-Backend")


def resp_set_cookies(r):
    """Every Set-Cookie header of a requests.Response, unjoined."""
    return r.raw.headers.getlist("Set-Cookie")


class Rig:
    """One berth lb with one http frontend and a stats listener."""

    def __init__(self, procs, tmpdir, backends, threads=1, rules=None, default_backend="app"):
        self.port = free_port()
        self.stats_port = free_port()
        self.threads = threads
        self.rules = rules
        self.default_backend = default_backend
        self.lb = procs.lb(self.config(backends), tmpdir, wait_ports=[self.port, self.stats_port])
        self.url = "http://127.0.0.1:%d" % self.port

    def config(self, backends):
        fe = {"bind": ["127.0.0.1:%d" % self.port]}
        if self.rules:
            fe["rules"] = self.rules
        if self.default_backend:
            fe["default_backend"] = self.default_backend
        # JSON is YAML: the config stays exact whatever the values hold.
        return json.dumps({
            "threads": self.threads,
            "grace": "100ms",
            "stats": {"bind": "127.0.0.1:%d" % self.stats_port},
            "frontends": {"web": fe},
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

    def wait_status(self, name, status, backend="app", timeout=10):
        wait_for(lambda: self.servers(backend)[name]["status"] == status, timeout=timeout,
                 what="server %s %s" % (name, status))

    def logs(self):
        return self.lb.logs()


def srv(b, **kw):
    d = {"name": b.name, "addr": b.addr}
    d.update(kw)
    return d


def longest_run(seq, item):
    best = cur = 0
    for x in seq:
        cur = cur + 1 if x == item else 0
        best = max(best, cur)
    return best


# ---------------------------------------------------------------- roundrobin


@pytest.mark.parametrize("keepalive", [False, True], ids=["fresh-connections", "keep-alive"])
def test_weighted_roundrobin_one_thread_is_exact_and_smooth(procs, tmpdir_path, keepalive):
    bs = [procs.backend(n) for n in ("a", "b", "c")]
    rig = Rig(procs, tmpdir_path, {"app": {"balance": "roundrobin", "servers": [
        srv(bs[0], weight=1), srv(bs[1], weight=2), srv(bs[2], weight=3)]}}, threads=1)

    seq = []
    if keepalive:
        with requests.Session() as s:
            for _ in range(600):
                r = s.get(rig.url + "/", timeout=10 * SLOW)
                assert r.status_code == 200
                seq.append(r.headers["X-Backend"])
    else:
        for _ in range(600):
            st, h, body = http_get(rig.port)
            assert st == 200
            assert body == (backend_of(h) + "\n").encode()
            seq.append(backend_of(h))

    counts = collections.Counter(seq)
    assert counts == {"a": 100, "b": 200, "c": 300}, counts
    # Smooth: the weights interleave; the heaviest server never gets its whole
    # share of a cycle (3 of 6) in one run, as plain weighted RR would give it.
    assert longest_run(seq, "c") < 3, seq[:24]
    assert longest_run(seq, "a") == 1, seq[:24]
    # Any 6 consecutive picks hold each server exactly <weight> times.
    for i in range(0, len(seq) - 6):
        w = collections.Counter(seq[i:i + 6])
        assert w == {"a": 1, "b": 2, "c": 3}, (i, seq[i:i + 6])
    # The stats page counts the same.
    sv = rig.servers()
    assert {n: sv[n]["requests"] for n in sv} == {"a": 100, "b": 200, "c": 300}


def test_weighted_roundrobin_two_threads_concurrent_clients(procs, tmpdir_path):
    bs = [procs.backend(n) for n in ("a", "b", "c")]
    rig = Rig(procs, tmpdir_path, {"app": {"balance": "roundrobin", "servers": [
        srv(bs[0], weight=1), srv(bs[1], weight=2), srv(bs[2], weight=3)]}}, threads=2)

    counts = collections.Counter()
    errors = []
    lock = threading.Lock()

    def client(n, keepalive):
        try:
            with requests.Session() as s:
                for _ in range(n):
                    if keepalive:
                        r = s.get(rig.url + "/", timeout=10 * SLOW)
                        st, name = r.status_code, r.headers.get("X-Backend")
                    else:
                        st, h, _ = http_get(rig.port)
                        name = backend_of(h)
                    with lock:
                        if st != 200:
                            errors.append(st)
                        counts[name] += 1
        except Exception as e:  # reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=client, args=(150, i % 2 == 0)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:5]
    assert sum(counts.values()) == 600
    for name, want in (("a", 100), ("b", 200), ("c", 300)):
        assert abs(counts[name] - want) <= 0.05 * want, counts


# ---------------------------------------------------------------- leastconn


def _busy_scenario(procs, tmpdir, balance):
    """Three idle servers; two long requests held in flight (on two servers);
    then 30 quick requests. Returns (busy servers, Counter of quick ones)."""
    bs = [procs.backend(n) for n in ("a", "b", "c")]
    rig = Rig(procs, tmpdir, {"app": {"balance": balance, "servers": [srv(b) for b in bs]}}, threads=1)
    held = []
    try:
        busy = set()
        for k in range(2):
            s = socket.create_connection(("127.0.0.1", rig.port), timeout=10 * SLOW)
            held.append(s)
            s.sendall(b"GET /slow?ms=15000 HTTP/1.1\r\nHost: x\r\n\r\n")

            def n_busy(want=k + 1):
                names = {n for n, v in rig.servers().items() if v["current_connections"] > 0}
                return names if len(names) >= want else None
            busy = wait_for(n_busy, what="%d server(s) busy" % (k + 1))
        assert len(busy) == 2, busy
        quick = collections.Counter()
        for _ in range(30):
            st, h, _ = http_get(rig.port)
            assert st == 200
            quick[backend_of(h)] += 1
        # The long requests were still in flight for all of it.
        still = {n for n, v in rig.servers().items() if v["current_connections"] > 0}
        assert busy <= still, (busy, still)
        return busy, quick
    finally:
        for s in held:
            s.close()


def test_leastconn_sends_quick_requests_to_the_idle_server(procs, tmpdir_path):
    busy, quick = _busy_scenario(procs, tmpdir_path, "leastconn")
    idle = {"a", "b", "c"} - busy
    assert sum(quick[n] for n in busy) == 0, (busy, quick)
    assert quick[idle.pop()] == 30, quick


def test_roundrobin_contrast_keeps_sending_to_busy_servers(procs, tmpdir_path):
    """The same load under roundrobin spreads the quick requests over the busy
    servers too: what the leastconn test sees is leastconn's doing."""
    busy, quick = _busy_scenario(procs, tmpdir_path, "roundrobin")
    assert sum(quick[n] for n in busy) >= 15, (busy, quick)
    assert all(quick[n] >= 5 for n in ("a", "b", "c")), quick


# ---------------------------------------------------------------- source


SOURCES = ["127.0.0.%d" % i for i in range(2, 22)]


def _map_sources(rig, sources=SOURCES, tries=3):
    m = {}
    for ip in sources:
        seen = set()
        for _ in range(tries):
            st, h, _ = http_get(rig.port, source=ip)
            assert st == 200
            seen.add(backend_of(h))
        assert len(seen) == 1, "client %s went to %s" % (ip, seen)
        m[ip] = seen.pop()
    return m


def test_source_stickiness_and_reload_remaps_only_removed_servers_clients(procs, tmpdir_path):
    bs = [procs.backend(n) for n in ("a", "b", "c")]
    cfg = lambda servers: {"app": {"balance": "source", "servers": [srv(b) for b in servers]}}
    rig = Rig(procs, tmpdir_path, cfg(bs), threads=2)

    before = _map_sources(rig)
    per = collections.Counter(before.values())
    assert len(per) >= 2, "20 client addresses all went to %s" % per

    # Same client over keep-alive and over new connections: same server.
    ip = SOURCES[0]
    conn = http.client.HTTPConnection("127.0.0.1", rig.port, timeout=10 * SLOW, source_address=(ip, 0))
    for _ in range(5):
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        assert r.headers["X-Backend"] == before[ip]
    conn.close()

    # Remove the server with the most clients through a reload.
    gone = per.most_common(1)[0][0]
    keep = [b for b in bs if b.name != gone]
    rig.lb.rewrite(rig.config(cfg(keep)))
    rig.lb.signal(signal.SIGHUP)
    wait_for(lambda: set(rig.servers()) == {b.name for b in keep}, what="reload without %s" % gone)
    assert rig.stats()["process"]["reloads"] >= 1

    after = _map_sources(rig)
    for ip, name in before.items():
        if name != gone:
            assert after[ip] == name, "client %s moved from %s to %s though %s stayed" % (ip, name, after[ip], name)
        else:
            assert after[ip] != gone
    moved = [ip for ip in before if before[ip] == gone]
    assert moved and all(after[ip] in {b.name for b in keep} for ip in moved)

    # Putting it back gives every client its first server again (consistent).
    rig.lb.rewrite(rig.config(cfg(bs)))
    rig.lb.signal(signal.SIGHUP)
    wait_for(lambda: set(rig.servers()) == {"a", "b", "c"}, what="reload with %s" % gone)
    assert _map_sources(rig) == before
    assert rig.lb.alive()


# ---------------------------------------------------------------- cookie insert


def _sticky_rig(procs, tmpdir, sticky, n=3, **kw):
    bs = [procs.backend(name) for name in ("a", "b", "c")[:n]]
    rig = Rig(procs, tmpdir, {"app": {"balance": "roundrobin", "stickiness": sticky,
                                      "servers": [srv(b) for b in bs]}}, **kw)
    return rig, bs


STICKY = {"cookie": "SRV", "mode": "insert", "indirect": True, "nocache": True}


def test_cookie_insert_sticks_and_sets_cookie_once(procs, tmpdir_path):
    rig, _ = _sticky_rig(procs, tmpdir_path, STICKY)

    # Without the cookie, clients spread (so sticking below is the cookie's doing).
    spread = collections.Counter()
    for _ in range(6):
        st, h, _ = http_get(rig.port)
        assert st == 200
        spread[backend_of(h)] += 1
    assert len(spread) == 3, spread

    with requests.Session() as s:
        r = s.get(rig.url + "/", timeout=10 * SLOW)
        assert r.status_code == 200
        pinned = r.headers["X-Backend"]
        cookies = [c for c in resp_set_cookies(r) if c.startswith("SRV=")]
        assert len(cookies) == 1, resp_set_cookies(r)
        assert s.cookies.get("SRV"), cookies
        assert "private" in r.headers.get("Cache-Control", "").lower(), r.headers  # nocache
        for i in range(19):
            r = s.get(rig.url + "/", timeout=10 * SLOW)
            assert r.status_code == 200
            assert r.headers["X-Backend"] == pinned, "request %d left %s" % (i + 2, pinned)
            assert not [c for c in resp_set_cookies(r) if c.startswith("SRV=")], \
                "Set-Cookie repeated on request %d: %s" % (i + 2, resp_set_cookies(r))

    # The cookie works on its own, on new connections, for each server.
    for name in ("a", "b", "c"):
        for _ in range(3):
            st, h, _ = http_get(rig.port, headers={"Cookie": "SRV=" + name})
            assert st == 200 and backend_of(h) == name
            assert not [c for c in (h.get_all("Set-Cookie") or []) if c.startswith("SRV=")]


@pytest.mark.parametrize("indirect", [True, False])
def test_cookie_insert_indirect_hides_cookie_from_server(procs, tmpdir_path, indirect):
    rig, _ = _sticky_rig(procs, tmpdir_path, dict(STICKY, indirect=indirect))
    with requests.Session() as s:
        s.cookies.set("app", "1")
        r = s.get(rig.url + "/headers", timeout=10 * SLOW)
        assert r.status_code == 200
        assert s.cookies.get("SRV")
        for _ in range(3):
            r = s.get(rig.url + "/headers", timeout=10 * SLOW)
            assert r.status_code == 200
            seen = " ; ".join(v for k, v in r.json()["headers"] if k.lower() == "cookie")
            assert "app=1" in seen, seen
            if indirect:
                assert "SRV" not in seen, "the server saw the stickiness cookie: %r" % seen
            else:
                assert "SRV=" in seen, seen


def test_cookie_insert_postonly_sets_cookie_only_on_post(procs, tmpdir_path):
    rig, _ = _sticky_rig(procs, tmpdir_path, {"cookie": "SRV", "postonly": True})
    with requests.Session() as s:
        for _ in range(4):
            r = s.get(rig.url + "/", timeout=10 * SLOW)
            assert r.status_code == 200
            assert not [c for c in resp_set_cookies(r) if c.startswith("SRV=")], resp_set_cookies(r)
        assert "SRV" not in s.cookies
        r = s.post(rig.url + "/echo", data=b"hello", timeout=10 * SLOW)
        assert r.status_code == 200 and r.content == b"hello"
        assert [c for c in resp_set_cookies(r) if c.startswith("SRV=")], resp_set_cookies(r)
        pinned = r.headers["X-Backend"]
        for _ in range(10):
            r = s.get(rig.url + "/", timeout=10 * SLOW)
            assert r.headers["X-Backend"] == pinned


def test_cookie_insert_domain_attribute(procs, tmpdir_path):
    rig, _ = _sticky_rig(procs, tmpdir_path, {"cookie": "SRV", "domain": "example.com"})
    st, h, _ = http_get(rig.port)
    assert st == 200
    sc = [c for c in (h.get_all("Set-Cookie") or []) if c.startswith("SRV=")]
    assert len(sc) == 1, h.get_all("Set-Cookie")
    attrs = {a.strip().split("=", 1)[0].lower(): (a.strip().split("=", 1) + [""])[1]
             for a in sc[0].split(";")[1:]}
    assert attrs.get("domain", "").lstrip(".").lower() == "example.com", sc[0]
    # Without nocache no Cache-Control: private is added.
    assert "private" not in h.get("Cache-Control", "").lower()


def test_cookie_insert_repins_when_pinned_server_dies(procs, tmpdir_path):
    rig, bs = _sticky_rig(procs, tmpdir_path, STICKY)
    with requests.Session() as s:
        r = s.get(rig.url + "/", timeout=10 * SLOW)
        pinned = r.headers["X-Backend"]
        for _ in range(3):
            assert s.get(rig.url + "/", timeout=10 * SLOW).headers["X-Backend"] == pinned
        victim = next(b for b in bs if b.name == pinned)
        victim.p.kill()
        victim.p.wait()

        r = s.get(rig.url + "/", timeout=10 * SLOW)
        assert r.status_code == 200, (r.status_code, rig.logs()[-2000:])
        now = r.headers["X-Backend"]
        assert now != pinned
        sc = [c for c in resp_set_cookies(r) if c.startswith("SRV=")]
        assert len(sc) == 1, resp_set_cookies(r)
        assert s.cookies.get("SRV") != pinned
        for _ in range(10):
            r = s.get(rig.url + "/", timeout=10 * SLOW)
            assert r.status_code == 200 and r.headers["X-Backend"] == now
            assert not [c for c in resp_set_cookies(r) if c.startswith("SRV=")]


# ---------------------------------------------------------------- app cookie


def test_app_cookie_learns_server_from_session_cookie(procs, tmpdir_path):
    rig, _ = _sticky_rig(procs, tmpdir_path, {"app_cookie": "connect.sid"})

    def setcookie(value):
        st, h, _ = http_get(rig.port, "/setcookie?name=connect.sid&value=" + value)
        assert st == 200
        assert any(c.startswith("connect.sid=" + value) for c in h.get_all("Set-Cookie") or [])
        return backend_of(h)

    def with_sid(value, extra=""):
        st, h, _ = http_get(rig.port, headers={"Cookie": extra + "connect.sid=" + value})
        assert st == 200
        return backend_of(h)

    s1 = setcookie("s1")
    assert [with_sid("s1") for _ in range(10)] == [s1] * 10
    # Learn a second session on another server (no cookie: plain roundrobin).
    s2 = s1
    for _ in range(6):
        s2 = setcookie("s2")
        if s2 != s1:
            break
    assert s2 != s1
    assert [with_sid("s2") for _ in range(10)] == [s2] * 10
    assert [with_sid("s1") for _ in range(5)] == [s1] * 5
    # The cookie among others still counts.
    assert with_sid("s2", extra="foo=1; ") == s2
    # Sessions the lb never saw set are balanced as usual (then kept where
    # they landed, like a learned one).
    unknown = {v: with_sid(v) for v in ("u%d" % i for i in range(6))}
    assert len(set(unknown.values())) >= 2, unknown
    for v, name in unknown.items():
        assert with_sid(v) == name


# ---------------------------------------------------------------- hash


HASH_CASES = {
    "uri": ("hash uri", lambda k: {"path": "/item/%s?x=%s" % (k, k)}),
    "header": ("hash header X-User", lambda k: {"headers": {"X-User": "user-" + k}}),
    "cookie": ("hash cookie session", lambda k: {"headers": {"Cookie": "session=user-" + k}}),
}


@pytest.mark.parametrize("case", sorted(HASH_CASES))
def test_hash_balance_same_key_same_server(procs, tmpdir_path, case):
    balance, req = HASH_CASES[case]
    bs = [procs.backend(n) for n in ("a", "b", "c")]
    rig = Rig(procs, tmpdir_path, {"app": {"balance": balance, "servers": [srv(b) for b in bs]}}, threads=2)

    keys = [str(i) for i in range(60)]
    first = {}
    for rnd in range(3):
        for k in keys:
            st, h, _ = http_get(rig.port, **req(k))
            assert st == 200
            if rnd == 0:
                first[k] = backend_of(h)
            else:
                assert backend_of(h) == first[k], "key %s went to %s then %s" % (k, first[k], backend_of(h))
    spread = collections.Counter(first.values())
    assert len(spread) == 3, spread
    if case == "cookie":
        # Other cookies around it do not change the key.
        for k in keys[:10]:
            st, h, _ = http_get(rig.port, headers={"Cookie": "a=1; session=user-%s; z=2" % k})
            assert backend_of(h) == first[k]
    # A request without the key is still served.
    st, _, _ = http_get(rig.port, "/")
    assert st == 200


# ---------------------------------------------------------------- backup


def test_backup_server_used_only_when_all_active_are_down(procs, tmpdir_path):
    a, b, c = (procs.backend(n) for n in ("a", "b", "c"))
    rig = Rig(procs, tmpdir_path, {"app": {
        "balance": "roundrobin",
        "check": {"http": "/healthz", "interval": "100ms", "rise": 2, "fall": 2},
        "servers": [srv(a), srv(b), srv(c, backup=True)]}})

    def hits(n):
        cnt = collections.Counter()
        for _ in range(n):
            st, h, _ = http_get(rig.port)
            assert st == 200
            cnt[backend_of(h)] += 1
        return cnt

    first = hits(20)
    assert first == {"a": 10, "b": 10}, first

    ports = {x.name: x.port for x in (a, b)}
    for x in (a, b):
        x.p.kill()
        x.p.wait()
    rig.wait_status("a", "DOWN")
    rig.wait_status("b", "DOWN")
    assert hits(10) == {"c": 10}

    for name in ("a", "b"):
        procs.backend(name, port=ports[name])
    rig.wait_status("a", "UP")
    rig.wait_status("b", "UP")
    before = rig.servers()["c"]["requests"]
    again = hits(20)
    assert again["c"] == 0 and again["a"] > 0 and again["b"] > 0, again
    assert rig.servers()["c"]["requests"] == before


# ---------------------------------------------------------------- random


def test_random_balance_uses_every_server(procs, tmpdir_path):
    bs = [procs.backend(n) for n in ("a", "b", "c")]
    rig = Rig(procs, tmpdir_path, {"app": {"balance": "random", "servers": [srv(b) for b in bs]}})
    cnt = collections.Counter()
    with requests.Session() as s:
        for _ in range(300):
            r = s.get(rig.url + "/", timeout=10 * SLOW)
            assert r.status_code == 200
            cnt[r.headers["X-Backend"]] += 1
    # Expected 100 each; 30 is many standard deviations below.
    assert set(cnt) == {"a", "b", "c"} and min(cnt.values()) >= 30, cnt


# ---------------------------------------------------------------- rules


def test_rules_route_by_host_and_path_prefix(procs, tmpdir_path):
    names = ("app", "api", "wild", "static")
    bk = {n: procs.backend(n) for n in names}
    rig = Rig(procs, tmpdir_path, {n: {"servers": [srv(bk[n])]} for n in names}, rules=[
        {"host": "api.example.com", "path": "/v1/", "backend": "api"},
        {"path": "/static/", "backend": "static"},
        {"host": "*.example.com", "backend": "wild"},
    ], default_backend="app")

    cases = [
        ("api.example.com", "/v1/users", "api"),
        ("api.example.com", "/v1/", "api"),
        ("api.example.com:8080", "/v1/users", "api"),       # port ignored
        ("API.Example.COM", "/v1/users", "api"),            # host names are case-insensitive
        ("api.example.com", "/v1/static/x", "api"),         # first match wins
        ("api.example.com", "/v2/users", "wild"),
        ("api.example.com", "/v1", "wild"),                 # prefix /v1/ needs the slash
        ("www.example.com", "/", "wild"),
        ("www.example.com", "/static/app.js", "static"),    # rule order, not specificity
        ("other.org", "/static/app.js", "static"),
        ("other.org", "/v1/users", "app"),
        ("example.com", "/", "app"),                        # *.example.com needs a label
        ("notexample.com", "/", "app"),
    ]
    for host, path, want in cases:
        st, h, body = http_get(rig.port, path, headers={"Host": host})
        assert st == 200, (host, path, st)
        assert backend_of(h) == want, "Host: %s %s went to %s, expected %s" % (host, path, backend_of(h), want)
        assert body == (want + "\n").encode()
