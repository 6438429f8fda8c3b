"""examples/dynamic-proxy as its README promises: nginx (least_conn) whose
upstream file berth renders from the catalog (on_change template) and
reloads gracefully; berth scale app=5 puts five servers in it, scaling down
takes them out, and no request through nginx fails meanwhile."""
import http.client
import json
import os
import re
import subprocess
import time

from agentlib import proc_table
from conftest import SLOW, free_port, wait_for
from test_examples import EXAMPLES, Load, agent, all_running, need  # noqa: F401 (fixture)

DP = os.path.join(EXAMPLES, "dynamic-proxy")


def upstream():
    """The instances in the rendered upstream.conf."""
    with open(os.path.join(DP, "upstream.conf")) as f:
        return {m.group(1) for m in re.finditer(r"^\s*server \S+ .*# (app\.\d+)$", f.read(), re.M)}


def served_by(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        return r.getheader("x-served-by") if r.status == 200 else None
    finally:
        c.close()


def nginx_workers():
    """nginx's worker processes: more than one while a reload's old
    worker still finishes its connections."""
    try:
        with open(os.path.join(DP, "run", "nginx.pid")) as f:
            master = int(f.read())
    except (OSError, ValueError):
        return -1
    return sum(1 for _, f in proc_table() if int(f[1]) == master)


def test_dynamic_proxy_follows_scale_without_a_failed_request(agent):
    need("nginx", "node")
    port = free_port()
    env = {"PROXY_PORT": str(port)}
    agent.cli("up", "-d", cwd=DP, env=env)
    wait_for(lambda: upstream() == {"app.1", "app.2"}, timeout=20, what="app.1 and app.2 in upstream.conf")
    # Until nginx has reloaded with them, it answers 502 (no live upstream).
    wait_for(lambda: {served_by(port) for _ in range(6)} == {"app.1", "app.2"}, timeout=20,
             what="nginx sending to app.1 and app.2")
    # The worker of nginx's first configuration (no app yet: it answers
    # 502) may still accept a connection until it has exited.
    wait_for(lambda: nginx_workers() == 1, timeout=20, what="nginx's first worker gone")
    load = Load(port, threads=2, limit=20000, seconds=90, keepalive=False)
    try:
        agent.cli("scale", "app=5", cwd=DP, env=env)
        five = {"app.%d" % i for i in range(1, 6)}
        wait_for(lambda: upstream() == five, timeout=20, what="5 servers in upstream.conf")
        t = time.monotonic()
        wait_for(lambda: {r[2] for r in load.since(t)} == five, timeout=20, what="nginx reloaded, sending to all 5")
        agent.cli("scale", "app=1", cwd=DP, env=env)
        wait_for(lambda: upstream() == {"app.1"}, timeout=20, what="only app.1 in upstream.conf")
        wait_for(lambda: all_running(2)(agent.ps("dynamic-proxy")), timeout=20, what="app.2-5 stopped")
        # nginx's old workers may still be finishing a request to app.2-5
        # while the reload takes over: wait for the answers to settle.
        n = len(load.results)
        wait_for(lambda: len(load.results) >= n + 50 and {r[2] for r in load.results[-50:]} == {"app.1"},
                 timeout=20, what="only app.1 answering")
    finally:
        failures = load.stop()
    assert failures == [], "%d of %d requests failed: %s" % (len(failures), len(load.results), failures[:5])
    print("dynamic-proxy: %d requests, none failed" % len(load.results))
    # nginx reloaded through the hook, which says so in berth logs.
    out = agent.cli("logs", "--no-color", "proxy", cwd=DP, env=env).stdout
    assert "proxy.hook | upstream changed: 5 servers; reloading nginx" in out, out
    assert "proxy.hook | upstream changed: 1 servers; reloading nginx" in out, out
    # The same nginx all along: reloaded, never restarted.
    proxy = [i for i in agent.ps("dynamic-proxy") if i["service"] == "proxy"][0]
    assert proxy["restarts"] == 0
    r = subprocess.run(["nginx", "-t", "-p", os.path.join(DP, "run/"), "-c", os.path.join(DP, "run", "nginx.conf"),
                        "-e", os.path.join(DP, "run", "error.log")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    agent.cli("down", cwd=DP, env=env)
    assert json.loads(agent.cli("ps", "-a", "--json", cwd=DP).stdout) == []
