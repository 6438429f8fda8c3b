"""Service discovery through the agent API: the catalog built from running
instances, Consul-style blocking queries, the key/value store with
check-and-set and locks on leases, and ${endpoints:...} at instance start."""
import json
import os
import threading
import time

import pytest

from agentlib import Agent, api, api_json, by_instance, wait_states, write
from conftest import SLOW, wait_for


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    yield a
    a.cleanup()


def project(tmpdir_path, name, compose):
    d = os.path.join(tmpdir_path, name)
    write(os.path.join(d, "compose.yaml"), compose)
    return d


def running(n):
    return lambda insts: len(insts) == n and all(i["state"] == "running" for i in insts)


def catalog(agent, svc, stack, **params):
    q = "&".join("%s=%s" % kv for kv in dict(stack=stack, **params).items())
    st, hdrs, body = api_json(agent, "GET", "/v1/catalog/service/%s?%s" % (svc, q))
    assert st == 200, body
    return int(hdrs["x-berth-index"]), body


def test_catalog_lists_running_instances_and_follows_scale(agent, tmpdir_path):
    d = project(tmpdir_path, "cat", """
services:
  web:
    command: sleep 1000
    deploy: {replicas: 2}
    ports:
      - {target: 8080, name: http}
    x-berth: {tags: [frontend]}
""")
    agent.cli("up", "-d", cwd=d)
    insts = by_instance(wait_states(agent, "cat", running(2)))
    wait_for(lambda: len(catalog(agent, "web", "cat")[1]) == 2, what="2 endpoints in the catalog")
    idx, eps = catalog(agent, "web", "cat")
    by_idx = {e["index"]: e for e in eps}
    for i in (1, 2):
        e, inst = by_idx[i], insts["web.%d" % i]
        assert e["healthy"] and e["health"] == "none"
        assert e["addr"] == inst["addr"] and e["port"] == inst["port"]
        assert e["ports"] == [{"target": 8080, "published": inst["port"], "protocol": "tcp", "name": "http"}]
        assert e["tags"] == ["frontend"]
    st, _, services = api_json(agent, "GET", "/v1/catalog/services")
    assert st == 200
    assert {"stack": "cat", "service": "web"}.items() <= [s for s in services if s["service"] == "web"][0].items()
    # Scale down: the endpoint leaves, the index moves.
    agent.cli("scale", "web=1", cwd=d)
    wait_for(lambda: len(catalog(agent, "web", "cat")[1]) == 1, what="1 endpoint")
    idx2, eps = catalog(agent, "web", "cat")
    assert idx2 > idx and eps[0]["index"] == 1
    # Stopped instances leave the catalog.
    agent.cli("stop", "web", cwd=d)
    wait_for(lambda: catalog(agent, "web", "cat")[1] == [], what="no endpoint after stop")


def test_blocking_query_wakes_on_change_and_times_out_with_same_index(agent, tmpdir_path):
    d = project(tmpdir_path, "blk", "services:\n  web:\n    command: sleep 1000\n  other:\n    command: sleep 1000\n")
    agent.cli("up", "-d", cwd=d)
    wait_for(lambda: len(catalog(agent, "web", "blk")[1]) == 1, what="1 endpoint")
    idx, _ = catalog(agent, "web", "blk")
    # At the timeout: the same index, the same answer.
    t0 = time.monotonic()
    idx_t, eps_t = catalog(agent, "web", "blk", index=idx, wait="300ms")
    assert idx_t == idx and len(eps_t) == 1
    assert time.monotonic() - t0 >= 0.25
    # On a change: the waiting query returns with the new index.
    result = {}

    def wait_query():
        result["v"] = catalog(agent, "web", "blk", index=idx, wait="60s")
    th = threading.Thread(target=wait_query)
    th.start()
    wait_for(lambda: api_json(agent, "GET", "/v1/info")[2]["blocking_queries"] == 1, what="the query parked")
    assert th.is_alive(), "the blocking query returned before any change"
    # Another service's change does not wake it.
    agent.cli("scale", "other=2", cwd=d)
    wait_for(lambda: len(catalog(agent, "other", "blk")[1]) == 2, what="2 other endpoints")
    assert th.is_alive() and api_json(agent, "GET", "/v1/info")[2]["blocking_queries"] == 1
    agent.cli("scale", "web=2", cwd=d, check=False)
    th.join(30 * SLOW)
    assert not th.is_alive()
    new_idx, eps = result["v"]
    assert new_idx > idx
    assert api_json(agent, "GET", "/v1/info")[2]["blocking_queries"] == 0


def test_kv_cas_and_locks(agent):
    st, _, ok = api_json(agent, "PUT", "/v1/kv/app/config", body=b"v1")
    assert st == 200 and ok is True
    st, hdrs, kv = api_json(agent, "GET", "/v1/kv/app/config")
    assert kv["value"] == "v1" and kv["key"] == "app/config"
    mod = kv["mod_rev"]
    st, _, raw = api(agent, "GET", "/v1/kv/app/config?raw")
    assert raw == b"v1"
    # Check-and-set: create-only fails on an existing key; a stale mod_rev fails.
    assert api_json(agent, "PUT", "/v1/kv/app/config?cas=0", body=b"x")[2] is False
    assert api_json(agent, "PUT", "/v1/kv/app/config?cas=%d" % (mod + 1000), body=b"x")[2] is False
    assert api_json(agent, "PUT", "/v1/kv/app/config?cas=%d" % mod, body=b"v2")[2] is True
    assert api_json(agent, "GET", "/v1/kv/app/config")[2]["value"] == "v2"
    assert api(agent, "GET", "/v1/kv/app/missing")[0] == 404
    # Recurse lists a prefix.
    api(agent, "PUT", "/v1/kv/app/other", body=b"o")
    st, _, lst = api_json(agent, "GET", "/v1/kv/app/?recurse")
    assert sorted(k["key"] for k in lst) == ["app/config", "app/other"]
    # Locks on leases: bootstrap-once.
    _, _, l1 = api_json(agent, "POST", "/v1/leases?ttl=2s")
    _, _, l2 = api_json(agent, "POST", "/v1/leases?ttl=30s")
    a, b = l1["lease"], l2["lease"]
    assert api_json(agent, "PUT", "/v1/kv/locks/init?acquire=%d" % a, body=b"node-a")[2] is True
    assert api_json(agent, "PUT", "/v1/kv/locks/init?acquire=%d" % b, body=b"node-b")[2] is False
    assert api_json(agent, "PUT", "/v1/kv/locks/init?acquire=%d" % a, body=b"again")[2] is True, "re-acquire"
    assert api_json(agent, "PUT", "/v1/kv/locks/init?release=%d" % b)[2] is False
    # The holder's lease expires: the lock goes, the other can take it.
    wait_for(lambda: api(agent, "GET", "/v1/kv/locks/init")[0] == 404, timeout=10,
             what="the lock released by the lease's expiry")
    assert api_json(agent, "PUT", "/v1/kv/locks/init?acquire=%d" % b, body=b"node-b")[2] is True
    assert api_json(agent, "PUT", "/v1/kv/locks/init?release=%d" % b)[2] is True
    assert api(agent, "GET", "/v1/kv/locks/init")[0] == 404
    assert api(agent, "PUT", "/v1/leases/%d/keepalive" % b)[0] == 200
    assert api(agent, "DELETE", "/v1/leases/%d" % b)[0] == 200
    assert api(agent, "PUT", "/v1/leases/%d/keepalive" % b)[0] == 404
    # Bad input: clear errors.
    assert api(agent, "PUT", "/v1/kv/%2Fabs", body=b"x")[0] == 400
    assert api(agent, "PUT", "/v1/kv/a?cas=x", body=b"x")[0] == 400
    assert api(agent, "PUT", "/v1/kv/a?acquire=999999", body=b"x")[0] in (200, 400)


def test_endpoints_variables_at_instance_start(agent, tmpdir_path):
    d = project(tmpdir_path, "env", """
services:
  db:
    command: sleep 1000
    deploy: {replicas: 3}
  app:
    command: sh -c 'echo "all=$$DBS one=$$DB"; exec sleep 1000'
    environment:
      DBS: "mongodb://${endpoints:db}/?replicaSet=rs0"
      DB: "${endpoint:db}"
    depends_on: [db]
""")
    agent.cli("up", "-d", cwd=d)
    insts = by_instance(wait_states(agent, "env", running(4)))
    dbs = ",".join("%s:%d" % (insts["db.%d" % i]["addr"], insts["db.%d" % i]["port"]) for i in (1, 2, 3))
    first = "%s:%d" % (insts["db.1"]["addr"], insts["db.1"]["port"])
    want = "all=mongodb://%s/?replicaSet=rs0 one=%s" % (dbs, first)
    wait_for(lambda: want in agent.cli("logs", "--no-color", "app", cwd=d).stdout,
             what="the app's environment listing every db member")
