"""Health checks run by the agent on its instances: states, the catalog's
healthy flag, restarts of unhealthy instances, depends_on service_healthy,
and the Redis role check tagging primary and replica through a real
Sentinel failover."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from agentlib import Agent, api_json, by_instance, wait_states, write
from conftest import HERE, SLOW, free_port, wait_for

BACKEND = os.path.join(HERE, "backend.py")


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    yield a
    a.cleanup()


def catalog(agent, stack, svc, healthy="0"):
    st, _, eps = api_json(agent, "GET", "/v1/catalog/service/%s?stack=%s&healthy=%s" % (svc, stack, healthy))
    assert st == 200
    return {e["index"]: e for e in eps}


def health_of(agent, stack, inst):
    return by_instance(agent.ps(stack)).get(inst, {}).get("health")


def test_http_check_states_and_catalog(agent, tmpdir_path):
    hf = os.path.join(tmpdir_path, "health")
    d = os.path.join(tmpdir_path, "hc")
    write(os.path.join(d, "compose.yaml"), """
services:
  web:
    command: sh -c "exec python3 -u %s --name $$BERTH_INSTANCE --port $$PORT --health-file %s"
    x-berth:
      check: {http: /healthz, interval: 200ms, timeout: 1s, rise: 2, fall: 2, restart_on_unhealthy: false}
""" % (BACKEND, hf))
    agent.cli("up", "-d", cwd=d)
    # starting -> healthy (after rise), then in the catalog as healthy.
    wait_for(lambda: health_of(agent, "hc", "web.1") == "healthy", what="web.1 healthy")
    assert catalog(agent, "hc", "web", healthy="1")[1]["healthy"] is True
    # A failing check: unhealthy after fall, out of healthy answers at once.
    with open(hf, "w") as f:
        f.write("500")
    wait_for(lambda: health_of(agent, "hc", "web.1") == "unhealthy", what="web.1 unhealthy")
    assert catalog(agent, "hc", "web", healthy="1") == {}
    assert catalog(agent, "hc", "web")[1]["health"] == "unhealthy"
    inst = by_instance(agent.ps("hc"))["web.1"]
    assert inst["state"] == "running" and inst["restarts"] == 0, "restart_on_unhealthy: false"
    assert "500" in inst.get("health_output", ""), inst
    with open(hf, "w") as f:
        f.write("200")
    wait_for(lambda: health_of(agent, "hc", "web.1") == "healthy", what="web.1 healthy again")


def test_unhealthy_instance_is_restarted(agent, tmpdir_path):
    d = os.path.join(tmpdir_path, "ur")
    # Healthy until the file appears; a restart removes it (new run).
    write(os.path.join(d, "compose.yaml"), """
services:
  svc:
    command: sh -c 'rm -f bad; exec sleep 1000'
    healthcheck:
      test: ["CMD-SHELL", "test ! -f bad"]
      interval: 200ms
      retries: 2
""")
    agent.cli("up", "-d", cwd=d)
    wait_for(lambda: health_of(agent, "ur", "svc.1") == "healthy", what="healthy")
    pid = by_instance(agent.ps("ur"))["svc.1"]["pid"]
    open(os.path.join(d, "bad"), "w").close()
    st = wait_states(agent, "ur", lambda l: len(l) == 1 and l[0]["pid"] not in (None, pid) and
                     l[0]["state"] == "running", what="the unhealthy instance replaced")[0]
    assert st["restarts"] == 1
    wait_for(lambda: health_of(agent, "ur", "svc.1") == "healthy", what="healthy after the restart")


def test_depends_on_service_healthy_waits(agent, tmpdir_path):
    d = os.path.join(tmpdir_path, "dh")
    write(os.path.join(d, "compose.yaml"), """
services:
  db:
    command: sh -c 'sleep 1; touch ready; exec sleep 1000'
    healthcheck: {test: ["CMD-SHELL", "test -f ready"], interval: 200ms, start_period: 10s}
  app:
    command: sh -c 'test -f ready || { echo started too early; exit 1; }; exec sleep 1000'
    depends_on:
      db: {condition: service_healthy}
""")
    agent.cli("up", "-d", cwd=d, check=False)
    st = by_instance(wait_states(agent, "dh", lambda l: len(l) == 2 and by_instance(l)["app.1"]["state"] ==
                                 "running", what="app running after db healthy"))
    assert st["db.1"]["health"] == "healthy"
    assert st["app.1"]["restarts"] == 0 and st["app.1"]["exit_code"] is None


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=10 * SLOW).stdout.strip()


@pytest.mark.skipif(not shutil.which("redis-server") or not shutil.which("redis-sentinel"),
                    reason="redis-server and redis-sentinel are installed by make deps")
def test_redis_role_check_follows_a_sentinel_failover(agent, tmpdir_path):
    pa, pb = free_port(), free_port()
    d = os.path.join(tmpdir_path, "rs")
    write(os.path.join(d, "compose.yaml"), """
services:
  redis-a:
    command: redis-server --port %d --save '' --appendonly no
    ports: ["%d:%d"]
    deploy:
      # Back only after Sentinel (down-after 1s) has failed over.
      restart_policy: {condition: any, delay: 5s}
    x-berth:
      check: {redis: role, interval: 200ms}
  redis-b:
    command: redis-server --port %d --save '' --appendonly no --replicaof 127.0.0.1 %d
    ports: ["%d:%d"]
    restart: always
    depends_on:
      redis-a: {condition: service_healthy}
    x-berth:
      check: {redis: role, interval: 200ms}
""" % (pa, pa, pa, pb, pa, pb, pb))
    agent.cli("up", "-d", cwd=d)

    def tags():
        out = {}
        for svc in ("redis-a", "redis-b"):
            eps = catalog(agent, "rs", svc, healthy="1")
            out[svc] = eps[1]["tags"] if 1 in eps else None
        return out
    wait_for(lambda: tags() == {"redis-a": ["primary"], "redis-b": ["replica"]}, timeout=20,
             what="primary and replica tags")
    # Three Sentinels, started by the test, watch redis-a.
    sentinels = []
    try:
        for i in range(3):
            sp = free_port()
            conf = os.path.join(tmpdir_path, "sentinel%d.conf" % i)
            with open(conf, "w") as f:
                f.write("port %d\nsentinel monitor m 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds m 1000\nsentinel failover-timeout m 3000\n" % (sp, pa))
            sentinels.append((subprocess.Popen(["redis-sentinel", conf], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL), sp))
        for _, sp in sentinels:
            wait_for(lambda: "m" in redis_cli(sp, "SENTINEL", "masters"), what="a sentinel up")
        # Kill the primary's process: berth restarts it, Sentinel promotes b.
        pid = by_instance(agent.ps("rs"))["redis-a.1"]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: tags().get("redis-b") == ["primary"], timeout=30,
                 what="redis-b tagged primary after the failover")
        # The old primary comes back (restart: always) and Sentinel turns
        # it into a replica of the new one.
        wait_for(lambda: tags().get("redis-a") == ["replica"], timeout=30,
                 what="redis-a back as a replica")
        # Writes reach the new primary.
        assert redis_cli(pb, "SET", "k", "v") == "OK"
    finally:
        for p, _ in sentinels:
            p.kill()
            p.wait()


def test_ttl_check_refreshed_through_the_api(agent, tmpdir_path):
    d = os.path.join(tmpdir_path, "ttl")
    write(os.path.join(d, "compose.yaml"), """
services:
  worker:
    command: sleep 1000
    x-berth:
      check: {ttl: 1s, restart_on_unhealthy: false}
""")
    agent.cli("up", "-d", cwd=d)
    wait_states(agent, "ttl", lambda l: len(l) == 1 and l[0]["state"] == "running")
    assert health_of(agent, "ttl", "worker.1") == "starting"
    st, _, body = api_json(agent, "PUT", "/v1/instances/ttl/worker/1/check/pass?note=alive")
    assert st == 200, body
    wait_for(lambda: health_of(agent, "ttl", "worker.1") == "healthy", what="healthy after a pass")
    assert by_instance(agent.ps("ttl"))["worker.1"]["health_output"] == "alive"
    # Not refreshed: unhealthy once the TTL runs out.
    wait_for(lambda: health_of(agent, "ttl", "worker.1") == "unhealthy", what="unhealthy after the TTL")
    assert api_json(agent, "PUT", "/v1/instances/ttl/worker/9/check/pass")[0] == 404
    assert api_json(agent, "PUT", "/v1/instances/ttl/nope/1/check/fail")[0] == 404
