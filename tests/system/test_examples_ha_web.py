"""examples/ha-web as its README promises: two nginx backends behind berth
lb (configured by a rancher-compose lb_config); a backend killed under load
costs no request, and it is back in rotation once berth has restarted it."""
import http.client
import json
import os
import signal
import time

from agentlib import by_instance, wait_states
from conftest import SLOW, free_port, wait_for
from test_examples import EXAMPLES, Load, agent, all_running, catalog, need  # noqa: F401 (fixture)

HA = os.path.join(EXAMPLES, "ha-web")


def test_ha_web_kill_a_backend_under_load(agent):
    need("nginx")
    port = free_port()
    env = {"HA_PORT": str(port)}
    r = agent.cli("up", "-d", cwd=HA, env=env)
    assert ":%d" % port in r.stdout, r.stdout
    wait_states(agent, "ha-web", all_running(3), timeout=30, what="web.1, web.2, lb.1 running")
    wait_for(lambda: len(catalog(agent, "ha-web", "web")) == 2, timeout=20, what="both backends healthy")

    load = Load(port, threads=2, limit=20000, seconds=60)
    try:
        # Both backends answer, through the lb, the page that names them.
        wait_for(lambda: {r[2] for r in load.since(0)} >= {"web.1", "web.2"}, what="both backends in rotation")
        old = by_instance(agent.ps("ha-web"))["web.2"]
        killed_at = time.monotonic()
        os.kill(old["pid"], signal.SIGKILL)
        wait_states(agent, "ha-web", lambda l: by_instance(l)["web.2"]["state"] == "running"
                    and by_instance(l)["web.2"]["pid"] != old["pid"], timeout=30, what="web.2 restarted")
        restarted = by_instance(agent.ps("ha-web"))["web.2"]
        assert restarted["restarts"] == 1
        wait_for(lambda: 2 in catalog(agent, "ha-web", "web"), timeout=20, what="the new web.2 healthy")
        back_at = time.monotonic()
        # Back in rotation: the restarted web.2 answers requests again.
        wait_for(lambda: "web.2" in {r[2] for r in load.since(back_at)}, timeout=20,
                 what="web.2 serving again after its restart")
        # And some more load on both, then stop.
        n = len(load.since(0))
        wait_for(lambda: len(load.since(0)) >= n + 200, what="200 more requests")
    finally:
        failures = load.stop()
    total = len(load.results)
    assert failures == [], "%d of %d requests failed: %s" % (len(failures), total, failures[:5])
    during = load.since(killed_at)
    assert total >= 400 and len(during) >= 200, (total, len(during))
    served = {r[2] for r in during}
    assert served == {"web.1", "web.2"}, served
    print("ha-web: %d requests, %d after the kill, none failed" % (total, len(during)))

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    c.request("GET", "/")
    resp = c.getresponse()
    body = resp.read().decode()
    c.close()
    assert resp.status == 200 and "Hello from web." in body, body
    agent.cli("down", cwd=HA, env=env)
    assert json.loads(agent.cli("ps", "-a", "--json", cwd=HA).stdout) == []


def test_ha_web_lb_config_is_applied_without_a_note(agent):
    # berth up used to say "lb_config: not applied yet" of a berth/lb service
    # that applies it.
    r = agent.cli("config", "-q", cwd=HA)
    assert r.returncode == 0 and "lb_config" not in r.stderr, r.stderr
    env = {"HA_PORT": str(free_port())}
    r = agent.cli("up", "-d", cwd=HA, env=env)
    assert "lb_config" not in r.stderr, r.stderr
    agent.cli("down", cwd=HA, env=env)
