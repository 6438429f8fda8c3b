"""examples/sessions as its README promises: express-session on
connect-redis behind berth lb; a session created through one instance is
seen through the others and survives restarting every instance; a Redis
primary and two replicas found through discovery, both linked; the app's
access logs and Redis's log files, declared in x-berth.logs, arrive as
JSON events in the stack's file output with their fields."""
import glob
import http.client
import json
import os
import shutil
import subprocess

from agentlib import wait_states
from conftest import SLOW, free_port, wait_for
from test_examples import EXAMPLES, agent, all_running, catalog, need, npm_deps  # noqa: F401 (fixture)

SS = os.path.join(EXAMPLES, "sessions")


def req(port, method, path, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        c.request(method, path, headers={"Cookie": cookie} if cookie else {})
        r = c.getresponse()
        body = json.loads(r.read())
        return r.status, r.getheader("set-cookie"), r.getheader("x-served-by"), body
    finally:
        c.close()


def test_sessions_shared_across_instances_and_restarts(agent):
    need("redis-server", "redis-cli")
    npm_deps("sessions")
    shutil.rmtree(os.path.join(SS, "logs"), ignore_errors=True)  # this run's files only
    port = free_port()
    env = {"SESSIONS_PORT": str(port)}
    agent.cli("up", "-d", cwd=SS, env=env)
    wait_states(agent, "sessions", all_running(7), timeout=40, what="redis, 2 replicas, 3 apps, lb running")
    wait_for(lambda: len(catalog(agent, "sessions", "app")) == 3, timeout=20, what="3 apps healthy")
    # The replicas follow the primary they found in the catalog.
    primary = catalog(agent, "sessions", "redis")[1]
    assert primary["tags"] == ["primary"]
    wait_for(lambda: [e["tags"] for e in catalog(agent, "sessions", "redis-replica").values()] == [["replica"]] * 2,
             timeout=20, what="two replicas tagged replica")
    replicas = [e["port"] for e in catalog(agent, "sessions", "redis-replica").values()]

    def linked(p):
        info = subprocess.run(["redis-cli", "-p", str(p), "INFO", "replication"], capture_output=True,
                              text=True, timeout=10 * SLOW).stdout
        return "master_link_status:up" in info and "master_port:%d" % primary["port"] in info
    wait_for(lambda: all(linked(p) for p in replicas), timeout=20, what="both replicas: master_link_status:up")

    # Log in through one instance...
    wait_for(lambda: req(port, "GET", "/healthz")[0] == 200, what="the app through the lb")
    st, set_cookie, via, body = req(port, "POST", "/login?user=ada")
    assert st == 200 and body["user"] == "ada" and set_cookie.startswith("connect.sid="), (st, set_cookie, body)
    cookie = set_cookie.split(";")[0]
    # ...and every instance knows the session (round robin, no stickiness).
    seen = {}
    for _ in range(6):
        st, _, inst, body = req(port, "GET", "/me", cookie)
        assert st == 200 and body["user"] == "ada" and body["login_via"] == via, body
        seen[inst] = body
    assert set(seen) == {"app.1", "app.2", "app.3"}, seen
    views = [req(port, "GET", "/", cookie)[3]["views"] for _ in range(3)]
    assert views == [1, 2, 3], views  # one session, counted across the instances
    # The session is on the replicas too.
    key = None
    for p in replicas:
        keys = subprocess.run(["redis-cli", "-p", str(p), "KEYS", "sess:*"], capture_output=True, text=True,
                              timeout=10 * SLOW).stdout.split()
        assert len(keys) == 1, keys
        key = keys[0]

    # Restart every app instance: the session survives.
    before = {i["instance"]: i["pid"] for i in agent.ps("sessions") if i["service"] == "app"}
    agent.cli("restart", "app", cwd=SS, env=env)
    wait_states(agent, "sessions", lambda l: all(i["state"] == "running" and i["pid"] != before[i["instance"]]
                                                 for i in l if i["service"] == "app"), timeout=30,
                what="app.1-3 restarted")
    wait_for(lambda: len(catalog(agent, "sessions", "app")) == 3, timeout=20, what="3 apps healthy again")
    seen = set()
    for _ in range(6):
        st, _, inst, body = req(port, "GET", "/me", cookie)
        assert st == 200 and body["user"] == "ada" and body["views"] == 3, body
        seen.add(inst)
    assert seen == {"app.1", "app.2", "app.3"}
    assert key.startswith("sess:")

    # The files x-berth.logs declares are written: an access log per
    # instance (combined format), Redis's own log files.
    for i in (1, 2, 3):
        with open(os.path.join(SS, "logs", "app.%d.access.log" % i)) as f:
            assert '"GET /me HTTP/1.1" 200' in f.read()
    assert os.path.getsize(os.path.join(SS, "logs", "redis.1.log")) > 0
    assert len(glob.glob(os.path.join(SS, "logs", "redis-replica.*.log"))) == 2

    # ... and shipped, as JSON events, to the stack's own file output.
    def shipped():
        try:
            with open(os.path.join(SS, "logs", "events.json")) as f:
                return [json.loads(line) for line in f]
        except (OSError, ValueError):
            return []

    def arrived():
        ev = shipped()
        acc = {e["instance"] for e in ev if e.get("type") == "access" and "path" in e and
               '"GET /me HTTP/1.1" 200' in e["message"]}
        red = {e["instance"] for e in ev if e.get("type") == "redis" and "path" in e}
        return acc == {"app.1", "app.2", "app.3"} and red == {"redis.1", "redis-replica.1", "redis-replica.2"}
    wait_for(arrived, timeout=20 * SLOW, what="access and redis log events")
    ev = shipped()
    for e in ev:
        assert e["@version"] == "1" and e["stack"] == "sessions" and e["host"] and e["@timestamp"], e
        assert e["instance"].startswith(e["service"] + ".")
        if "path" in e:
            suffix = ".access.log" if e["type"] == "access" else ".log"
            assert e["path"] == os.path.join(SS, "logs", e["instance"] + suffix), e
    assert any(e.get("type") == "redis" and e["service"] == "redis-replica" and
               "MASTER <-> REPLICA sync" in e["message"] for e in ev)
    assert any(e.get("stream") == "stdout" and e["service"] == "app" for e in ev), "the instances' stdout too"

    agent.cli("down", cwd=SS, env=env)
    assert json.loads(agent.cli("ps", "-a", "--json", cwd=SS).stdout) == []
