"""The load balancer of a stack: a service `image: berth/lb` whose servers
come from the catalog (x-berth.lb, or a rancher-compose lb_config), routing
that follows scale up and down without restarting berth lb, dropping a
request or closing a WebSocket."""
import http.client
import json
import os
import socket
import threading
import time

import pytest

from agentlib import Agent, RawWebSocket, by_instance, wait_states, write
from conftest import HERE, SLOW, free_port, wait_for

BACKEND = os.path.join(HERE, "backend.py")


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    yield a
    a.cleanup()


def running(n):
    return lambda insts: len(insts) == n and all(i["state"] == "running" for i in insts)


def get(port, path="/", host=None, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    try:
        c.request("GET", path, headers={"Host": host} if host else {})
        r = c.getresponse()
        return r.status, r.read().decode().strip(), dict(r.getheaders())
    finally:
        c.close()


def lb_stack(tmpdir_path, port, web_grace="1s", replicas=2):
    d = os.path.join(tmpdir_path, "lbs")
    write(os.path.join(d, "compose.yaml"), """
services:
  web:
    command: sh -c "exec python3 -u %s --name $$BERTH_INSTANCE --port $$PORT"
    deploy: {replicas: %d}
    stop_grace_period: %s
  lb:
    image: berth/lb
    x-berth:
      lb:
        frontends:
          web: {bind: "127.0.0.1:%d", default_backend: app}
        backends:
          app:
            servers: {service: web}
            timeouts: {tunnel: 1h}
""" % (BACKEND, replicas, web_grace, port))
    return d


def names_seen(port, n):
    seen = set()
    for _ in range(n):
        st, body, _ = get(port)
        if st == 200:
            seen.add(body)
    return seen


def test_lb_follows_the_catalog(agent, tmpdir_path):
    port = free_port()
    d = lb_stack(tmpdir_path, port)
    r = agent.cli("up", "-d", cwd=d)
    assert "http://127.0.0.1:%d" % port in r.stdout, r.stdout
    wait_states(agent, "lbs", running(3))
    try:
        wait_for(lambda: names_seen(port, 6) == {"web.1", "web.2"}, what="both instances behind the lb")
    except AssertionError:
        raise AssertionError("seen %r; logs:\n%s" % (names_seen(port, 6), agent.cli("logs", "--no-color", cwd=d).stdout))
    lb_pid = by_instance(agent.ps("lbs"))["lb.1"]["pid"]
    assert "http://127.0.0.1:%d" % port in agent.cli("ps", cwd=d).stdout
    agent.cli("scale", "web=4", cwd=d)
    wait_for(lambda: names_seen(port, 12) == {"web.1", "web.2", "web.3", "web.4"}, what="4 instances")
    agent.cli("scale", "web=1", cwd=d)
    wait_for(lambda: names_seen(port, 6) == {"web.1"}, what="1 instance")
    # berth lb was never restarted.
    assert by_instance(agent.ps("lbs"))["lb.1"]["pid"] == lb_pid


def test_scale_under_load_no_failed_request_no_websocket_closed(agent, tmpdir_path):
    port = free_port()
    d = lb_stack(tmpdir_path, port, web_grace="2s", replicas=2)
    agent.cli("up", "-d", cwd=d)
    wait_states(agent, "lbs", running(3))
    wait_for(lambda: names_seen(port, 6) == {"web.1", "web.2"}, what="both instances")
    # WebSockets through the lb, to whichever instance; they must survive
    # every scale change (an instance that goes drains first, and only
    # web.1 and web.2 stay).
    sockets = [RawWebSocket("127.0.0.1", port) for _ in range(4)]
    for i, ws in enumerate(sockets):
        ws.send("hello-%d" % i)
        assert ws.recv() == "hello-%d" % i
    stop = threading.Event()
    results = {"ok": 0, "failed": []}

    def load():
        while not stop.is_set():
            try:
                st, body, _ = get(port, timeout=10)
                if st == 200:
                    results["ok"] += 1
                else:
                    results["failed"].append(st)
            except Exception as e:  # a refused or reset request is a failure
                results["failed"].append(repr(e))
    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        agent.cli("scale", "web=5", cwd=d)
        wait_for(lambda: len(agent.ps("lbs")) == 6, what="5 web instances")
        agent.cli("scale", "web=2", cwd=d)
        agent.cli("scale", "web=4", cwd=d)
        agent.cli("scale", "web=2", cwd=d)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert results["ok"] > 100, results
    assert results["failed"] == [], "failed requests during scaling: %r" % results["failed"][:10]
    for i, ws in enumerate(sockets):
        ws.send("still-%d" % i)
        assert ws.recv() == "still-%d" % i
        ws.close()


def test_rancher_lb_config_routes_by_host_with_stickiness(agent, tmpdir_path):
    port = free_port()
    d = os.path.join(tmpdir_path, "rlb")
    write(os.path.join(d, "docker-compose.yml"), """
services:
  api:
    command: sh -c "exec python3 -u %s --name $$BERTH_INSTANCE --port $$PORT"
    ports: ["3000"]
    deploy: {replicas: 2}
  site:
    command: sh -c "exec python3 -u %s --name $$BERTH_INSTANCE --port $$PORT"
    ports: ["3000"]
  lb:
    image: berth/lb
""" % (BACKEND, BACKEND))
    write(os.path.join(d, "rancher-compose.yml"), """
services:
  lb:
    lb_config:
      port_rules:
        - {source_port: %d, target_port: 3000, service: api, hostname: api.example.com, priority: 1}
        - {source_port: %d, target_port: 3000, service: site, priority: 2}
      stickiness_policy: {cookie: SRV, mode: insert, indirect: true, nocache: true}
      config: |
        timeout tunnel 3600s
        timeout client 30s
        balance roundrobin
""" % (port, port))
    agent.cli("up", "-d", cwd=d)
    wait_states(agent, "rlb", running(4))
    wait_for(lambda: get(port, host="api.example.com")[0] == 200, what="the api route")
    assert get(port)[1] == "site.1"
    st, body, hdrs = get(port, host="api.example.com")
    assert body.startswith("api."), body
    cookie = hdrs.get("Set-Cookie", "")
    assert cookie.startswith("SRV=api.") and "Cache-Control" in hdrs, hdrs
    # The cookie pins the client to its instance.
    pinned = cookie.split(";")[0]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    for _ in range(4):
        c.request("GET", "/", headers={"Host": "api.example.com", "Cookie": pinned})
        r = c.getresponse()
        assert r.read().decode().strip() == pinned.split("=")[1]
    c.close()


def test_invalid_lb_config_deploys_nothing(agent, tmpdir_path):
    d = os.path.join(tmpdir_path, "badlb")
    write(os.path.join(d, "compose.yaml"), """
services:
  web: {command: sleep 1000}
  lb:
    image: berth/lb
    x-berth:
      lb:
        frontends:
          web: {bind: "127.0.0.1:1", default_backend: nowhere}
        backends:
          app: {servers: {service: web}}
""")
    r = agent.cli("up", "-d", cwd=d, check=False)
    assert r.returncode != 0
    assert "services.lb (x-berth.lb)" in r.stderr and "nowhere" in r.stderr, r.stderr
    assert agent.ps("badlb") == []
