"""examples/replicaset as its README promises: three Redis members and
three Sentinels that find each other through discovery at start, and an app
that follows the primary through an on_change template. Killing the primary:
the catalog tags the promoted replica primary, writes through the app
succeed again, the old primary returns as a replica."""
import http.client
import json
import os
import signal
import subprocess

from agentlib import by_instance, wait_states
from conftest import SLOW, free_port, wait_for
from test_examples import EXAMPLES, agent, all_running, catalog, need, npm_deps  # noqa: F401 (fixture)

RS = os.path.join(EXAMPLES, "replicaset")


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=10 * SLOW).stdout.strip()


def app(port, method, key, value=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        c.request(method, "/kv/" + key, body=value)
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def roles(agent):
    """{index: (tags, port)} of the healthy redis members."""
    return {i: (e["tags"], e["port"]) for i, e in catalog(agent, "replicaset", "redis").items()}


def primary_of(agent):
    p = [i for i, (tags, _) in roles(agent).items() if tags == ["primary"]]
    return p[0] if len(p) == 1 else None


def link_up(port):
    return "master_link_status:up" in redis_cli(port, "INFO", "replication")


def test_replicaset_fails_over_and_the_app_follows(agent):
    need("redis-server", "redis-sentinel", "redis-cli")
    npm_deps("replicaset")
    port = free_port()
    env = {"APP_PORT": str(port)}
    agent.cli("up", "-d", cwd=RS, env=env)
    wait_states(agent, "replicaset", all_running(7), timeout=40, what="redis.1-3, sentinel.1-3, app.1 running")
    # One primary, two replicas linked to it, three Sentinels that know of
    # each other and of both replicas: nobody was given an address.
    wait_for(lambda: sorted(t for t, _ in roles(agent).values()) == [["primary"], ["replica"], ["replica"]],
             timeout=30, what="a primary and two replicas in the catalog")
    first = primary_of(agent)
    ports = {i: p for i, (_, p) in roles(agent).items()}
    replicas = [i for i in ports if i != first]
    wait_for(lambda: all(link_up(ports[i]) for i in replicas), timeout=20, what="both replicas linked")
    wait_for(lambda: [e["tags"] for e in catalog(agent, "replicaset", "sentinel").values()] == [["sentinel"]] * 3,
             timeout=20, what="three Sentinels healthy, tagged sentinel")
    sentinels = [e["port"] for e in catalog(agent, "replicaset", "sentinel").values()]

    def sentinels_agree():
        for sp in sentinels:
            out = redis_cli(sp, "SENTINEL", "master", "rs").split("\n")
            info = dict(zip(out[0::2], out[1::2]))
            if info.get("port") != str(ports[first]) or info.get("num-other-sentinels") != "2" \
                    or info.get("num-slaves") != "2":
                return False
        return True
    wait_for(sentinels_agree, timeout=30, what="each Sentinel knowing the primary, 2 replicas and 2 other Sentinels")

    # Writes through the app land on the primary and reach the replicas.
    wait_for(lambda: app(port, "PUT", "before", "1")[0] == 200, timeout=20, what="a write through the app")
    assert app(port, "GET", "before")[1]["primary"] == "127.0.0.1:%d" % ports[first]
    wait_for(lambda: all(redis_cli(ports[i], "GET", "before") == "1" for i in replicas), what="replicated")

    # Kill the primary.
    old_pid = by_instance(agent.ps("replicaset"))["redis.%d" % first]["pid"]
    os.kill(old_pid, signal.SIGKILL)
    # Sentinel promotes a replica; the role check tags it primary.
    wait_for(lambda: primary_of(agent) in replicas, timeout=30, what="a replica promoted and tagged primary")
    new = primary_of(agent)
    assert redis_cli(ports[new], "ROLE").split("\n")[0] == "master"
    # The app follows (primary.addr re-rendered): writes succeed again.
    wait_for(lambda: app(port, "PUT", "after", "2") == (200, {"key": "after", "ok": True,
                                                                "primary": "127.0.0.1:%d" % ports[new]}),
             timeout=20, what="writes through the app to the new primary")
    assert app(port, "GET", "before")[1]["value"] == "1"  # nothing acknowledged was lost
    # The old primary comes back (restart: always) as a replica of the new one.
    wait_for(lambda: roles(agent).get(first, ([], 0))[0] == ["replica"], timeout=30,
             what="the old primary back, tagged replica")
    wait_for(lambda: link_up(ports[first]), timeout=20, what="the old primary linked to the new one")
    wait_for(lambda: redis_cli(ports[first], "GET", "after") == "2", what="the old primary has the new writes")
    assert sorted(t for t, _ in roles(agent).values()) == [["primary"], ["replica"], ["replica"]]
    assert by_instance(agent.ps("replicaset"))["redis.%d" % first]["pid"] != old_pid
    logs = agent.cli("logs", "--no-color", "redis", cwd=RS, env=env).stdout
    assert "redis.%d | the Sentinels still name me" % first in logs, logs[-3000:]

    agent.cli("down", cwd=RS, env=env)
    assert json.loads(agent.cli("ps", "-a", "--json", cwd=RS).stdout) == []
