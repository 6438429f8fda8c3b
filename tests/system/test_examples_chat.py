"""examples/chat as its README promises: a socket.io chat of three instances
behind berth lb (sticky on the lb's own cookie, WebSocket tunnels, stats
behind basic auth) and a REST tier of two behind a second port. 200 real
socket.io clients (examples/chat/loadtest.js) exchange messages while a chat
instance is killed and replaced."""
import base64
import http.client
import json
import os
import random
import signal
import subprocess

from agentlib import by_instance, wait_states
from conftest import BERTH, SLOW, free_port, wait_for
from test_examples import EXAMPLES, agent, all_running, catalog, need, npm_deps  # noqa: F401 (fixture)

CHAT = os.path.join(EXAMPLES, "chat")


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_chat_sticky_socketio_survives_losing_an_instance(agent, tmpdir_path):
    need("redis-server")
    npm_deps("chat")
    ports = {"CHAT_PORT": free_port(), "API_PORT": free_port(), "STATS_PORT": free_port()}
    env = {k: str(v) for k, v in ports.items()}
    env["STATS_AUTH"] = "admin:s3cret"
    r = agent.cli("up", "-d", cwd=CHAT, env=env)
    assert "http://127.0.0.1:%d" % ports["CHAT_PORT"] in r.stdout, r.stdout
    wait_states(agent, "chat", all_running(7), timeout=30, what="redis, chat.1-3, api.1-2, lb running")
    wait_for(lambda: len(catalog(agent, "chat", "chat")) == 3 and len(catalog(agent, "chat", "api")) == 2,
             timeout=20, what="chat and api healthy in the catalog")

    # The lb's cookie: set on the first response, with Cache-Control:
    # private (nocache); the instance it names answers the next requests,
    # and never sees the cookie (indirect).
    wait_for(lambda: get(ports["CHAT_PORT"], "/whoami")[0] == 200, what="the chat through the lb")
    st, hdrs, body = get(ports["CHAT_PORT"], "/whoami")
    first = json.loads(body)["instance"]
    assert hdrs.get("set-cookie") == "CHATSRV=%s; path=/" % first, hdrs
    assert hdrs.get("cache-control") == "private", hdrs
    for _ in range(5):
        st, hdrs, body = get(ports["CHAT_PORT"], "/whoami", {"Cookie": "CHATSRV=%s" % first})
        assert json.loads(body) == {"instance": first, "cookie": None, "forwarded_for": "127.0.0.1"}
        assert "set-cookie" not in hdrs
    st, _, page = get(ports["CHAT_PORT"], "/")
    assert st == 200 and b"/socket.io/socket.io.js" in page

    # The stats page: 401 without the credentials, every server up with them.
    st, hdrs, _ = get(ports["STATS_PORT"], "/stats")
    assert st == 401 and hdrs.get("www-authenticate", "").startswith("Basic")
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}
    assert get(ports["STATS_PORT"], "/stats", auth)[0] == 200

    def servers_up():
        st, _, body = get(ports["STATS_PORT"], "/stats.json", auth)
        return {b["name"]: b["servers_up"] for b in json.loads(body)["backends"]}
    wait_for(lambda: servers_up() == {"chat": 3, "api": 2}, what="3 chat and 2 api servers up in the stats")

    # 200 clients in 20 rooms; chat.2 is killed while they talk.
    victim = "chat.2"
    lt = subprocess.Popen(["node", os.path.join(CHAT, "loadtest.js"), "--url", "http://127.0.0.1:%d" % ports["CHAT_PORT"],
                           "--api", "http://127.0.0.1:%d" % ports["API_PORT"], "--clients", "200", "--rooms", "20",
                           "--late", "30", "--every", "1000", "--control", "--max-seconds", str(120 * SLOW)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = []
    try:
        def until_event(name):
            while True:
                line = lt.stdout.readline()
                assert line, "loadtest.js ended early: %s\n%s" % (events[-3:], lt.stderr.read())
                ev = json.loads(line)
                events.append(ev)
                assert ev["event"] != "error", ev
                if ev["event"] == name:
                    return ev
        joined = until_event("joined")
        # Spread over the three (roundrobin on the first request, then the cookie).
        assert set(joined["by_instance"]) == {"chat.1", "chat.2", "chat.3"}, joined
        until_event("sending")
        old = by_instance(agent.ps("chat"))[victim]
        os.kill(old["pid"], signal.SIGKILL)
        # restart: always brings a new chat.2, healthy, back in the lb.
        wait_states(agent, "chat", lambda l: by_instance(l)[victim]["state"] == "running"
                    and by_instance(l)[victim]["pid"] != old["pid"], timeout=30, what="chat.2 replaced")
        wait_for(lambda: 2 in catalog(agent, "chat", "chat"), timeout=20, what="the new chat.2 healthy")
        wait_for(lambda: servers_up()["chat"] == 3, what="the new chat.2 up in the lb")
        lt.stdin.write("replaced\n")
        lt.stdin.flush()
        report = until_event("report")
        assert lt.wait(30 * SLOW) == 0
    finally:
        if lt.poll() is None:
            lt.kill()
            lt.wait()

    # What "zero errors" means here, all of it:
    # - every connection attempt succeeded, and every client was on WebSocket
    #   after long polling, with the same instance on both (stickiness);
    assert report["connect_errors"] == 0, report["connect_error_samples"]
    assert report["upgraded_on_same_instance"] == 200
    assert report["not_ready_at_end"] == 0
    # - only the clients of the killed instance were disconnected (once each);
    assert report["disconnects_by_instance"] == {victim: joined["by_instance"][victim]}, report
    # - every message was accepted by the server (acked), perhaps after
    #   being sent again once its sender had reconnected;
    assert report["unacked"] == 0, report
    # - every accepted message reached every client that was in its room
    #   from before it was sent until the end of its phase: none is missing.
    for phase in ("1", "2", "3"):
        p = report["phases"][phase]
        assert p["messages"] > 0 and p["acked"] == p["messages"], (phase, p)
        assert p["deliveries_missing"] == 0, (phase, p)
    assert report["phases"]["1"]["deliveries_expected"] == 200 * 10
    # The reconnected clients went to a live instance (the survivors, or the
    # replacement if it was back by then); newcomers reach the replacement
    # too; posts through the REST tier went to both api instances.
    assert sum(report["after_by_instance"].values()) == 200, report
    assert set(report["after_by_instance"]) <= {"chat.1", "chat.2", "chat.3"}, report
    assert victim in report["late_by_instance"], report
    assert set(report["api_by_instance"]) == {"api.1", "api.2"}, report

    # The history through the REST tier, from either api instance.
    seen = set()
    for _ in range(4):
        st, hdrs, body = get(ports["API_PORT"], "/api/rooms/room-3/messages")
        assert st == 200
        msgs = json.loads(body)["messages"]
        assert msgs and msgs[-1]["text"] == "from the REST tier", msgs[-3:]
        seen.add(hdrs["x-instance"])
    assert seen == {"api.1", "api.2"}

    agent.cli("down", cwd=CHAT, env=env)
    assert json.loads(agent.cli("ps", "-a", "--json", cwd=CHAT).stdout) == []


def test_make_demo_script_runs_the_chat_and_says_where(tmpdir_path):
    """scripts/demo.sh (make demo after deps and build): an agent, the chat
    stack, the pages to open; Ctrl-C removes the stack and stops the agent."""
    need("redis-server")
    npm_deps("chat")
    ports = {"CHAT_PORT": free_port(), "API_PORT": free_port(), "STATS_PORT": free_port()}
    data = os.path.join(tmpdir_path, "demo-data")
    base = random.randrange(20000, 60000, 500)
    env = dict(os.environ, BERTH_DATA_DIR=data, BERTH_DNS_ADDR="127.0.0.1:0",
               BERTH_PORT_RANGE="%d-%d" % (base, base + 199), **{k: str(v) for k, v in ports.items()})
    p = subprocess.Popen(["sh", os.path.join(EXAMPLES, "..", "scripts", "demo.sh"), BERTH], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = []
    try:
        while not any("Following the logs" in line for line in out):
            line = p.stdout.readline()
            assert line, "demo.sh ended early:\n" + "".join(out)
            out.append(line)
        text = "".join(out)
        assert "http://127.0.0.1:%d/" % ports["CHAT_PORT"] in text, text
        assert "http://127.0.0.1:%d/stats" % ports["STATS_PORT"] in text, text
        wait_for(lambda: b"/socket.io/socket.io.js" in get(ports["CHAT_PORT"], "/")[2], timeout=20,
                 what="the chat page")
        assert get(ports["STATS_PORT"], "/stats")[0] == 401
    finally:
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in the demo's terminal
        try:
            rest = p.communicate(timeout=60 * SLOW)[0]
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rest = p.communicate()[0]
    assert "demo stopped" in rest, rest
    assert not os.path.exists(os.path.join(data, "berth.sock")) or \
        subprocess.run([BERTH, "ps", "-a", "--data-dir", data], capture_output=True).returncode != 0
