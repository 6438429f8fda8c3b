"""Operating berth lb: stats (JSON, Prometheus, HTML, basic auth), reloads
on SIGHUP (good and bad files), draining on SIGTERM, and the command line."""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BERTH, SLOW, free_port, port_open, run_berth, wait_for

requests = pytest.importorskip("requests")


# ---------------------------------------------------------------- helpers

def config(port, servers, stats_port=None, auth=None, extra_top=""):
    stats = ""
    if stats_port:
        stats = "stats:\n  bind: 127.0.0.1:%d\n" % stats_port
        if auth:
            stats += "  auth: %s\n" % auth
    srv = "\n".join("      - {name: %s, addr: %s}" % (b.name, b.addr) for b in servers)
    return f"""threads: 2
{extra_top}{stats}frontends:
  web:
    bind: [127.0.0.1:{port}]
    default_backend: app
backends:
  app:
    servers:
{srv}
"""


def get(port, path="/", **kw):
    kw.setdefault("timeout", 10 * SLOW)
    return requests.get("http://127.0.0.1:%d%s" % (port, path), **kw)


def stats_json(sport, **kw):
    r = get(sport, "/stats.json", **kw)
    assert r.status_code == 200, r.text
    return r.json()


def wait_ready(lb):
    """berth lb logs "ready" once it handles its signals; a test that is not
    about start-up races waits for it before signalling."""
    wait_for(lambda: "ready:" in lb.logs(), what="berth lb ready")


def sample_value(metrics_text, name, labels):
    want = "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels.items()))
    for ln in metrics_text.splitlines():
        if ln.startswith(want + " "):
            return float(ln.split()[-1])
    raise AssertionError("no sample %s in:\n%s" % (want, metrics_text))


# ------------------------------------------------------------------- stats

def test_stats_json_counts_requests(procs, tmpdir_path):
    a, b = procs.backend("a"), procs.backend("b")
    port, sport = free_port(), free_port()
    procs.lb(config(port, [a, b], sport), tmpdir_path, wait_ports=[port, sport])
    n = 20
    with requests.Session() as s:
        for _ in range(n):
            r = s.get("http://127.0.0.1:%d/" % port, timeout=10 * SLOW)
            assert r.status_code == 200
    for _ in range(3):                               # and a few on new connections
        assert get(port).status_code == 200
    n += 3

    j = wait_for(lambda: (lambda j: j if j["frontends"][0]["requests"] >= n else None)(stats_json(sport)),
                 what="frontend requests to reach %d" % n)
    fe = j["frontends"][0]
    assert fe["name"] == "web" and fe["requests"] == n, fe
    assert fe["responses"]["2xx"] == n, fe
    be = j["backends"][0]
    assert be["name"] == "app" and be["requests"] == n, be
    servers = {s["name"]: s for s in be["servers"]}
    assert set(servers) == {"a", "b"}
    assert sum(s["requests"] for s in servers.values()) == n, servers
    assert all(s["requests"] > 0 for s in servers.values()), servers
    assert all(s["status"] == "UP" for s in servers.values()), servers


LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
PROM_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?:%s(?:,%s)*)?\})? (?P<value>\S+)(?: -?\d+)?$'
                         % (LABEL, LABEL))


def test_prometheus_text_parses(procs, tmpdir_path):
    a, b = procs.backend("a"), procs.backend("b")
    port, sport = free_port(), free_port()
    procs.lb(config(port, [a, b], sport), tmpdir_path, wait_ports=[port, sport])
    n = 7
    for _ in range(n):
        assert get(port).status_code == 200
    wait_for(lambda: stats_json(sport)["frontends"][0]["requests"] >= n, what="requests counted")

    r = get(sport, "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    text = r.text
    assert text.endswith("\n")
    names = set()
    typed = {}
    for ln in text.splitlines():
        if not ln:
            continue
        if ln.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$", ln)
            assert m, "bad comment line: %r" % ln
            if m.group(1) == "TYPE":
                assert m.group(3) in ("counter", "gauge", "histogram", "summary", "untyped"), ln
                typed[m.group(2)] = m.group(3)
            continue
        m = PROM_SAMPLE.match(ln)
        assert m, "bad sample line: %r" % ln
        float(m.group("value"))                 # a number (NaN/+Inf allowed)
        names.add(m.group("name"))
    for nm in names:
        base = re.sub(r"_(bucket|sum|count)$", "", nm)
        assert nm in typed or base in typed, "sample %s has no # TYPE" % nm

    assert sample_value(text, "berth_lb_frontend_requests_total", {"frontend": "web"}) == n
    assert sample_value(text, "berth_lb_server_up", {"backend": "app", "server": "a"}) == 1
    assert sample_value(text, "berth_lb_server_up", {"backend": "app", "server": "b"}) == 1


def test_stats_basic_auth(procs, tmpdir_path):
    a = procs.backend("a")
    port, sport = free_port(), free_port()
    procs.lb(config(port, [a], sport, auth="admin:s3cret"), tmpdir_path, wait_ports=[port, sport])
    for path in ("/stats", "/stats.json", "/metrics"):
        r = get(sport, path)
        assert r.status_code == 401, (path, r.status_code)
        assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic"), r.headers
        for wrong in (("admin", "nope"), ("root", "s3cret"), ("admin", "s3cret2"), ("admin", "")):
            r = get(sport, path, auth=wrong)
            assert r.status_code == 401, (path, wrong, r.status_code)
        # Not base64 at all.
        r = get(sport, path, headers={"Authorization": "Basic !!!"})
        assert r.status_code == 401, (path, r.status_code)
        r = get(sport, path, auth=("admin", "s3cret"))
        assert r.status_code == 200, (path, r.status_code)
    assert "app" in [be["name"] for be in stats_json(sport, auth=("admin", "s3cret"))["backends"]]


def test_stats_html_names_servers(procs, tmpdir_path):
    a, b = procs.backend("alpha-srv"), procs.backend("beta-srv")
    port, sport = free_port(), free_port()
    procs.lb(config(port, [a, b], sport), tmpdir_path, wait_ports=[port, sport])
    r = get(sport, "/stats")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html"), r.headers
    for word in ("alpha-srv", "beta-srv", "app", "web", a.addr):
        assert word in r.text, word


# ------------------------------------------------------------------ reload

def test_sighup_reload_under_load(procs, tmpdir_path):
    a, b, c = procs.backend("a"), procs.backend("b"), procs.backend("c")
    port, sport = free_port(), free_port()
    lb = procs.lb(config(port, [a, b], sport), tmpdir_path, wait_ports=[port, sport])
    wait_ready(lb)

    per_thread = 375                                # 4 x 375 = 1500 requests
    done = [0]
    failures = []
    lock = threading.Lock()

    def client():
        with requests.Session() as s:
            for i in range(per_thread):
                try:
                    r = s.get("http://127.0.0.1:%d/" % port, timeout=10 * SLOW)
                    if r.status_code != 200 or r.text not in ("a\n", "b\n", "c\n"):
                        failures.append((r.status_code, r.text[:100]))
                except Exception as e:
                    failures.append(repr(e))
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: done[0] >= 300, timeout=30, what="load to get going")
        lb.rewrite(config(port, [a, b, c], sport))
        lb.signal(signal.SIGHUP)
        wait_for(lambda: stats_json(sport)["process"]["generation"] >= 2, what="first reload")
        wait_for(lambda: done[0] >= 800, timeout=30, what="load after the first reload")
        lb.signal(signal.SIGHUP)                    # same file again
        wait_for(lambda: stats_json(sport)["process"]["generation"] >= 3, what="second reload")
    finally:
        for t in threads:
            t.join(60 * SLOW)
    assert not any(t.is_alive() for t in threads)
    assert done[0] == 4 * per_thread
    assert failures == [], "%d failed requests, e.g. %r" % (len(failures), failures[:5])
    assert lb.alive()
    proc = stats_json(sport)["process"]
    assert proc["reloads"] == 2 and proc["reload_failures"] == 0, proc

    # The new server takes its share of new connections.
    seen = set()
    wait_for(lambda: seen.add(get(port).headers["X-Backend"]) or "c" in seen, what="traffic to c")
    names = {s["name"] for s in stats_json(sport)["backends"][0]["servers"]}
    assert names == {"a", "b", "c"}


def test_sighup_bad_config_refused(procs, tmpdir_path):
    a, b = procs.backend("a"), procs.backend("b")
    port, sport = free_port(), free_port()
    lb = procs.lb(config(port, [a], sport), tmpdir_path, wait_ports=[port, sport])
    wait_ready(lb)
    assert get(port).text == "a\n"

    good_new = config(port, [b], sport)              # would send everything to b
    lines = good_new.splitlines()
    bad_line = next(i for i, ln in enumerate(lines) if "default_backend" in ln)
    lines[bad_line] = lines[bad_line] + ": oops"     # "default_backend: app: oops"
    lb.rewrite("\n".join(lines) + "\n")
    lb.signal(signal.SIGHUP)

    name = os.path.basename(lb.path)
    pat = re.compile(re.escape(name) + r":(\d+):(\d+)")
    m = wait_for(lambda: pat.search(lb.logs()), what="the reload error in the log")
    assert int(m.group(1)) == bad_line + 1, lb.logs()
    assert 1 <= int(m.group(2)) <= len(lines[bad_line]) + 1, lb.logs()
    wait_for(lambda: stats_json(sport)["process"]["reload_failures"] == 1, what="reload failure counted")

    assert lb.alive()
    proc = stats_json(sport)["process"]
    assert proc["generation"] == 1 and proc["reloads"] == 0, proc
    for _ in range(4):                               # still the old config: a, never b
        r = get(port)
        assert r.status_code == 200 and r.text == "a\n"

    # A later good file is taken.
    lb.rewrite(good_new)
    lb.signal(signal.SIGHUP)
    wait_for(lambda: get(port).text == "b\n", what="the fixed config to take effect")


# ------------------------------------------------------------------- drain

def test_sigterm_drains_in_flight_request(procs, tmpdir_path):
    a = procs.backend("a")
    port, sport = free_port(), free_port()
    lb = procs.lb(config(port, [a], sport, extra_top="grace: 30s\n"), tmpdir_path, wait_ports=[port, sport])
    wait_ready(lb)

    result = {}

    def slow():
        try:
            r = get(port, "/slow?ms=2000", timeout=30 * SLOW)
            result["status"], result["body"] = r.status_code, r.text
        except Exception as e:
            result["error"] = repr(e)

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: stats_json(sport)["backends"][0]["current_connections"] >= 1,
             what="the slow request to reach the server")
    lb.signal(signal.SIGTERM)
    wait_for(lambda: not port_open(port), what="new connections to be refused")
    assert lb.alive(), "exited before the in-flight request finished"
    t.join(30 * SLOW)
    assert result.get("status") == 200 and result.get("body") == "a\n", result
    # Far sooner than the 30 s grace: nothing is left to wait for.
    try:
        rc = lb.p.wait(10 * SLOW)
    except subprocess.TimeoutExpired:
        pytest.fail("berth lb still running 10 s after its last request ended:\n" + lb.logs())
    assert rc == 0, lb.logs()


def test_sigterm_closes_idle_keepalive_connections(procs, tmpdir_path):
    a = procs.backend("a")
    port = free_port()
    lb = procs.lb(config(port, [a], extra_top="grace: 30s\n"), tmpdir_path, wait_ports=[port])
    wait_ready(lb)
    s = requests.Session()
    assert s.get("http://127.0.0.1:%d/" % port, timeout=10 * SLOW).status_code == 200
    lb.signal(signal.SIGTERM)           # the idle keep-alive connection must not hold the exit
    try:
        rc = lb.p.wait(10 * SLOW)
    except subprocess.TimeoutExpired:
        pytest.fail("an idle keep-alive client kept berth lb from exiting:\n" + lb.logs())
    finally:
        s.close()
    assert rc == 0, lb.logs()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_as_soon_as_serving_is_handled(procs, tmpdir_path, sig):
    """Once berth lb accepts connections, SIGTERM means a graceful exit (0)
    and SIGHUP a reload, never death by the signal's default action. Start
    it several times: the window, if any, is short."""
    a = procs.backend("a")
    for attempt in range(15):
        port = free_port()
        lb = procs.lb(config(port, [a]), tmpdir_path, name="start%d.yml" % attempt)
        wait_for(lambda: port_open(port) or not lb.alive(), what="lb port")
        lb.signal(sig)
        if sig == signal.SIGHUP:
            wait_for(lambda: "reload" in lb.logs().lower() or not lb.alive(), what="the reload")
            assert lb.alive(), "attempt %d: SIGHUP right after start killed berth lb (rc %s):\n%s" % (
                attempt, lb.p.returncode, lb.logs())
            assert get(port).text == "a\n"
            lb.stop()
        else:
            try:
                rc = lb.p.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                pytest.fail("attempt %d: no exit after SIGTERM" % attempt)
            assert rc == 0, "attempt %d: SIGTERM right after start: rc %d\n%s" % (attempt, rc, lb.logs())


# --------------------------------------------------------------------- CLI

def berth(*args, timeout=15):
    return run_berth(*args, timeout=timeout)


def test_cli_no_args_usage():
    r = berth()
    assert r.returncode == 2
    assert "usage" in (r.stdout + r.stderr).lower()


def test_cli_unknown_command():
    r = berth("nosuch")
    assert r.returncode == 2
    assert "nosuch" in r.stderr


def test_cli_version():
    r = berth("version")
    assert r.returncode == 0
    assert re.search(r"\d+\.\d+", r.stdout), r.stdout


def test_cli_lb_without_config():
    r = berth("lb")
    assert r.returncode == 2
    assert "-c" in r.stderr


def write(tmpdir, name, text):
    p = os.path.join(tmpdir, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def test_cli_unknown_key_names_file_line_col(tmpdir_path):
    port = free_port()
    text = f"""frontends:
  web:
    bind: [127.0.0.1:{port}]
    default_backend: app
backends:
  app:
    ballance: roundrobin
    servers: [{{name: a, addr: 127.0.0.1:1}}]
"""
    p = write(tmpdir_path, "bad.yml", text)
    r = berth("lb", "-c", p)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    m = re.search(r"bad\.yml:(\d+):(\d+)", out)
    assert m, out
    assert (int(m.group(1)), int(m.group(2))) == (7, 5), out
    assert "ballance" in out
    assert not port_open(port)


def test_cli_check_good_config(tmpdir_path):
    port = free_port()
    text = f"""frontends:
  web:
    bind: [127.0.0.1:{port}]
    default_backend: app
backends:
  app:
    balance: roundrobin
    servers: [{{name: a, addr: 127.0.0.1:1}}]
"""
    p = write(tmpdir_path, "good.yml", text)
    r = berth("lb", "-c", p, "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not port_open(port)
    # --check on a broken file fails.
    bad = write(tmpdir_path, "bad.yml", text.replace("balance: roundrobin", "balance: [roundrobin"))
    r = berth("lb", "-c", bad, "--check")
    assert r.returncode != 0 and "bad.yml:" in r.stdout + r.stderr
