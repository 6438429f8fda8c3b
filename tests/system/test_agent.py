"""berth agent on one host, driven through the CLI the way a user would:
berth up / ps / logs / scale / stop / start / restart / down, restart
policies and crash loops, an agent killed with SIGKILL and restarted, and
invalid compose files. Every test has its own data dir and agent, and
cleans up every process it caused (by process group) even when it fails."""
import json
import os
import select
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from agentlib import Agent, by_instance, pgid_alive, pid_alive, wait_states, write
from conftest import BERTH, SLOW, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))

WEB_APP = r'''
import http.server, os, sys
port = int(os.environ["PORT"])
name = os.environ["BERTH_INSTANCE"]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s %s\n" % (name, os.environ.get("GREETING", ""))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("listening on", port, flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
'''

COUNTER = "sh -c 'i=0; while true; do i=$$((i+1)); echo line $$i; sleep 0.01; done'"


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    yield a
    a.cleanup()


def project(tmpdir_path, name, compose, files=None):
    d = os.path.join(tmpdir_path, name)
    write(os.path.join(d, "compose.yaml"), compose)
    for rel, text in (files or {}).items():
        write(os.path.join(d, rel), text)
    return d


def running(n):
    return lambda insts: len(insts) == n and all(i["state"] == "running" for i in insts)


def get(port, path="/"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5 * SLOW) as r:
        return r.read().decode()


THREE = """
services:
  web:
    command: python3 -u app.py
    environment: {GREETING: hello}
    deploy: {replicas: 2}
  worker:
    command: %s
  cache:
    command: python3 -u app.py
    ports: ["6000"]
""" % COUNTER


def test_up_three_services_seen_in_ps(agent, tmpdir_path):
    d = project(tmpdir_path, "demo", THREE, {"app.py": WEB_APP})
    r = agent.cli("up", "-d", cwd=d)
    assert "Stack demo" in r.stdout
    insts = wait_states(agent, "demo", running(4), what="4 running instances")
    names = sorted(i["instance"] for i in insts)
    assert names == ["cache.1", "web.1", "web.2", "worker.1"]
    for i in insts:
        assert i["pid"] and pid_alive(i["pid"]), i
        assert i["node"] and i["stack"] == "demo"
    # Each instance got its own port from the node's range, as PORT.
    web = by_instance(insts)
    ports = {web["web.1"]["port"], web["web.2"]["port"], web["cache.1"]["port"]}
    assert len(ports) == 3
    lo, hi = agent.port_range
    assert all(lo <= p <= hi for p in ports)
    # Running means exec'd; the app listens a moment later.
    assert wait_for(lambda: get(web["web.1"]["port"])).strip() == "web.1 hello"
    assert wait_for(lambda: get(web["web.2"]["port"])).strip() == "web.2 hello"
    # The declared container port maps to the instance's host port.
    cache = web["cache.1"]
    assert cache["ports"][0]["target"] == 6000 and cache["ports"][0]["published"] == cache["port"]
    # The table form names every instance too.
    table = agent.cli("ps", cwd=d).stdout
    for n in names:
        assert n in table


def test_logs_merged_prefixed_tail_and_follow(agent, tmpdir_path):
    d = project(tmpdir_path, "logs", """
services:
  a:
    command: sh -c 'echo a-one; echo a-err >&2; sleep 0.2; echo a-two; exec sleep 1000'
  b:
    command: sh -c 'echo b-one; exec sleep 1000'
""")
    agent.cli("up", "-d", cwd=d)
    wait_states(agent, "logs", running(2))

    def have(text, *words):
        return all(w in text for w in words)
    wait_for(lambda: have(agent.cli("logs", "--no-color", cwd=d).stdout, "a-two", "b-one"), what="logs")
    out = agent.cli("logs", "--no-color", cwd=d).stdout.splitlines()
    assert any(l.startswith("a.1") and l.endswith("| a-one") for l in out), out
    assert any(l.endswith("| a-err") for l in out), out
    assert any(l.startswith("b.1") and l.endswith("| b-one") for l in out), out
    # One service only, and the last line of each instance.
    only_a = agent.cli("logs", "--no-color", "a", cwd=d).stdout
    assert "a-one" in only_a and "b-one" not in only_a
    tail = agent.cli("logs", "--no-color", "--tail", "1", "a", cwd=d).stdout.splitlines()
    assert len(tail) == 1 and tail[0].endswith("a-two"), tail
    # --since in the future shows nothing.
    assert agent.cli("logs", "--no-color", "--since", "2099-01-01T00:00:00Z", cwd=d).stdout == ""
    # -f shows the past, then keeps going: after a restart of a, the new
    # run's lines arrive on the same stream.
    f = subprocess.Popen([BERTH, "logs", "-f", "--no-color", "--data-dir", agent.data_dir, "a"], cwd=d,
                         stdout=subprocess.PIPE)
    try:
        got = [b""]

        def count_two():
            while select.select([f.stdout], [], [], 0.05)[0]:
                chunk = os.read(f.stdout.fileno(), 65536)
                if not chunk:
                    break
                got[0] += chunk
            return got[0].count(b"a-two")
        seen = got
        wait_for(lambda: count_two() >= 1, what="the past lines through logs -f")
        agent.cli("restart", "a", cwd=d)
        wait_for(lambda: count_two() >= 2, what="the restarted run's lines through logs -f")
        assert b"b-one" not in seen[0]
    finally:
        f.send_signal(signal.SIGINT)
        f.wait(10)


def test_killed_instance_restarted_with_backoff(agent, tmpdir_path):
    d = project(tmpdir_path, "rs", """
services:
  svc:
    command: sleep 1000
    restart: always
""")
    agent.cli("up", "-d", cwd=d)
    first = wait_states(agent, "rs", running(1))[0]
    os.kill(first["pid"], signal.SIGKILL)
    again = wait_states(agent, "rs", lambda l: len(l) == 1 and l[0]["state"] == "running" and
                        l[0]["pid"] != first["pid"], what="a restarted instance")[0]
    assert again["restarts"] == 1
    assert not pid_alive(first["pid"])


def test_restart_no_stays_exited_with_code(agent, tmpdir_path):
    d = project(tmpdir_path, "once", """
services:
  job:
    command: sh -c 'echo done; exit 3'
""")
    agent.cli("up", "-d", cwd=d)
    st = wait_states(agent, "once", lambda l: len(l) == 1 and l[0]["state"] == "exited", what="exited")[0]
    assert st["exit_code"] == 3 and st["restarts"] == 0


def test_crash_loop_reported(agent, tmpdir_path):
    d = project(tmpdir_path, "loop", """
services:
  bad:
    command: sh -c 'exit 1'
    restart: always
""")
    # up -d may return while the first run is still up (it settles on
    # "running"), or once it crash-loops (then with status 1): ps tells.
    agent.cli("up", "-d", cwd=d, check=False)
    st = wait_states(agent, "loop", lambda l: len(l) == 1 and l[0]["state"] == "crashloop", what="crashloop")[0]
    assert st["restarts"] >= 3
    assert "restarting in" in st["message"]
    # The backoff grows: two samples a little apart show the delay doubling.
    table = agent.cli("ps", cwd=d).stdout
    assert "crashloop" in table


def test_exec_failure_is_reported(agent, tmpdir_path):
    d = project(tmpdir_path, "nox", """
services:
  ghost:
    command: /nonexistent/program --flag
""")
    agent.cli("up", "-d", cwd=d, check=False)
    st = wait_states(agent, "nox", lambda l: len(l) == 1 and l[0]["state"] == "failed", what="failed")[0]
    assert "nonexistent" in st["message"], st


def test_scale_up_and_down(agent, tmpdir_path):
    d = project(tmpdir_path, "sc", """
services:
  web:
    command: sleep 1000
""")
    agent.cli("up", "-d", cwd=d)
    wait_states(agent, "sc", running(1))
    agent.cli("scale", "web=5", cwd=d)
    five = wait_states(agent, "sc", running(5), what="5 instances")
    assert sorted(i["index"] for i in five) == [1, 2, 3, 4, 5]
    pids = {i["index"]: i["pid"] for i in five}
    agent.cli("scale", "web=2", cwd=d)
    two = wait_states(agent, "sc", running(2), what="2 instances")
    # The lowest indexes stay, untouched; the others are gone for good.
    assert {i["index"]: i["pid"] for i in two} == {1: pids[1], 2: pids[2]}
    for idx in (3, 4, 5):
        wait_for(lambda: not pid_alive(pids[idx]), what="web.%d stopped" % idx)


def test_stop_start_restart(agent, tmpdir_path):
    d = project(tmpdir_path, "ssr", """
services:
  a: {command: sleep 1000}
  b: {command: sleep 1000}
""")
    agent.cli("up", "-d", cwd=d)
    before = by_instance(wait_states(agent, "ssr", running(2)))
    agent.cli("stop", "a", cwd=d)
    st = by_instance(agent.ps("ssr"))
    assert st["a.1"]["state"] == "stopped" and st["b.1"]["state"] == "running"
    assert not pid_alive(before["a.1"]["pid"])
    agent.cli("start", "a", cwd=d)
    st = by_instance(wait_states(agent, "ssr", running(2)))
    assert st["a.1"]["pid"] != before["a.1"]["pid"]
    assert st["b.1"]["pid"] == before["b.1"]["pid"]
    agent.cli("restart", cwd=d)
    after = by_instance(wait_states(agent, "ssr", lambda l: running(2)(l) and
                                    all(i["pid"] not in (st["a.1"]["pid"], st["b.1"]["pid"]) for i in l),
                                    what="both restarted"))
    assert after["a.1"]["restarts"] == 0, "a restart asked for is not a crash"


def test_down_leaves_no_process(agent, tmpdir_path):
    # Each instance starts a child of its own: the whole group must go.
    d = project(tmpdir_path, "dn", """
services:
  tree:
    command: sh -c 'sleep 1000 & sleep 1000 & wait'
    deploy: {replicas: 2}
  stubborn:
    command: sh -c 'trap "" TERM; sleep 1000 & wait; sleep 1000'
    stop_grace_period: 1s
""")
    agent.cli("up", "-d", cwd=d)
    wait_states(agent, "dn", running(3))
    states = agent.instance_states()
    groups = [s["pgid"] for s in states if s.get("status") == "running"]
    assert len(groups) == 3 and all(pgid_alive(g) for g in groups)
    r = agent.cli("down", cwd=d)
    assert "removed" in r.stdout
    assert agent.ps("dn") == []
    for g in groups:
        assert not pgid_alive(g), "process group %d still has processes after down" % g
    assert not os.path.exists(os.path.join(agent.data_dir, "instances", "dn", "tree", "1"))


def test_agent_kill9_and_restart_adopts(agent, tmpdir_path):
    d = project(tmpdir_path, "adopt", """
services:
  counter:
    command: %s
  web:
    command: sleep 1000
    deploy: {replicas: 2}
""" % COUNTER)
    agent.cli("up", "-d", cwd=d)
    before = by_instance(wait_states(agent, "adopt", running(3)))
    agent.kill9()
    # The instances outlive the agent, and keep logging meanwhile.
    for i in before.values():
        assert pid_alive(i["pid"])
    log = os.path.join(agent.data_dir, "instances", "adopt", "counter", "1", "log")
    size = os.path.getsize(log)
    wait_for(lambda: os.path.getsize(log) > size + 200, what="the counter logging without an agent")
    agent.start()
    after = by_instance(wait_states(agent, "adopt", running(3), what="3 adopted instances"))
    assert {k: v["pid"] for k, v in after.items()} == {k: v["pid"] for k, v in before.items()}
    # No duplicates: exactly one shim per instance is alive.
    shims = [s for s in agent.instance_states() if s.get("status") == "running" and pid_alive(s["shim_pid"])]
    assert len(shims) == 3, shims
    # No lost line: the counter's lines are contiguous through the restart.
    wait_for(lambda: os.path.getsize(log) > size + 2000, what="more counter lines")
    out = agent.cli("logs", "--no-color", "counter", cwd=d).stdout.splitlines()
    nums = [int(l.rsplit(" ", 1)[1]) for l in out if "| line " in l]
    assert nums and nums == list(range(1, len(nums) + 1)), "gap in the counter's lines"


def test_invalid_compose_deploys_nothing(agent, tmpdir_path):
    d = project(tmpdir_path, "bad", """
services:
  web:
    command: sleep 1000
    ports: ["80:abc"]
""")
    r = agent.cli("up", "-d", cwd=d, check=False)
    assert r.returncode != 0
    assert "compose.yaml:5:" in r.stderr and "ports" in r.stderr, r.stderr
    assert agent.cli("ps", "-a", "--json").stdout.strip() == "[]"
    r = agent.cli("ps", "-p", "bad", "--json")
    assert json.loads(r.stdout) == []


def test_fixed_host_port_and_conflict(agent, tmpdir_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        busy = s.getsockname()[1]
        s.listen(1)
        free = free_port()
        d = project(tmpdir_path, "fx", """
services:
  app:
    command: python3 -u app.py
    ports: ["%d:3000"]
  clash:
    command: sleep 1000
    ports: ["%d:80"]
""" % (free, busy), {"app.py": WEB_APP})
        agent.cli("up", "-d", cwd=d, check=False)
        st = by_instance(wait_states(agent, "fx", lambda l: len(l) == 2 and all(
            i["state"] in ("running", "failed") for i in l), what="both settled"))
    assert st["app.1"]["state"] == "running" and st["app.1"]["port"] == free, st["app.1"]["message"]
    assert wait_for(lambda: get(free)).startswith("app.1")
    assert st["clash.1"]["state"] == "failed"
    assert "host port %d is already in use" % busy in st["clash.1"]["message"]


def test_depends_on_order(agent, tmpdir_path):
    d = project(tmpdir_path, "dep", """
services:
  app:
    command: sh -c 'test -f ready && exec sleep 1000; echo no-ready; exit 1'
    depends_on:
      init: {condition: service_completed_successfully}
  init:
    command: sh -c 'sleep 0.5; touch ready'
""")
    agent.cli("up", "-d", cwd=d)
    st = by_instance(wait_states(agent, "dep", lambda l: len(l) == 2 and by_instance(l)["app.1"]["state"] ==
                                 "running", what="app running after init completed"))
    assert st["init.1"]["state"] == "exited" and st["init.1"]["exit_code"] == 0
    assert st["app.1"]["restarts"] == 0, "app was started before init completed"


def test_tcp_api_needs_token(tmpdir_path):
    token = os.path.join(tmpdir_path, "token")
    with open(token, "w") as f:
        f.write("s3cret-token-0123456789\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = Agent(os.path.join(tmpdir_path, "data"), extra_args=["--api-addr", "127.0.0.1:%d" % port,
                                                                "--token-file", token])
    try:
        req = urllib.request.Request("http://127.0.0.1:%d/v1/info" % port)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 401
        req.add_header("Authorization", "Bearer s3cret-token-0123456789")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.load(r)["node"]
        r = subprocess.run([BERTH, "ps", "-a", "--json", "--api-addr", "127.0.0.1:%d" % port, "--token-file",
                            token], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr
    finally:
        a.cleanup()


def test_up_starts_an_agent_when_none_answers(tmpdir_path):
    data = os.path.join(tmpdir_path, "auto")
    d = project(tmpdir_path, "auto", "services:\n  s: {command: sleep 1000}\n")
    r = subprocess.run([BERTH, "up", "-d", "--data-dir", data], cwd=d, capture_output=True, text=True,
                       timeout=60 * SLOW)
    try:
        assert r.returncode == 0, r.stderr
        assert "started one in the background" in r.stdout
        with open(os.path.join(data, "agent.pid")) as f:
            pid = int(f.read())
        assert pid_alive(pid)
    finally:
        # Adopt it so the usual clean-up stops it and its instances.
        a = Agent.__new__(Agent)
        a.data_dir = data
        a.log_path = os.path.join(data, "agent.log")
        a.log = open(os.devnull, "w")
        a.proc = None
        try:
            with open(os.path.join(data, "agent.pid")) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(pid), what="the background agent to stop")
        except (OSError, ValueError):
            pass
        a.stop = lambda: None
        a.cleanup()


def test_agent_print_config_layers(tmpdir_path):
    data = os.path.join(tmpdir_path, "cfg")
    write(os.path.join(data, "agent.yml"), "node: from-file\nport-range: 40000-40099\n")
    env = dict(os.environ, BERTH_ADDR="10.1.2.3")
    env.pop("BERTH_DATA_DIR", None)
    r = subprocess.run([BERTH, "agent", "--data-dir", data, "--print-config", "--lease-ttl", "7s"],
                       capture_output=True, text=True, env=env, timeout=10)
    assert r.returncode == 0, r.stderr
    lines = {l.split()[0]: l for l in r.stdout.splitlines()}
    assert "from-file" in lines["node"] and "agent.yml:1:1" in lines["node"]
    assert "10.1.2.3" in lines["addr"] and "(BERTH_ADDR)" in lines["addr"]
    assert "7s" in lines["lease-ttl"] and "(--lease-ttl)" in lines["lease-ttl"]
    assert "(default)" in lines["log-level"]


def test_up_foreground_shows_instances_then_logs_and_ctrl_c_stops(agent, tmpdir_path):
    d = project(tmpdir_path, "fg", """
services:
  talker:
    command: sh -c 'echo hello-from-$$BERTH_INSTANCE; exec sleep 1000'
    deploy: {replicas: 2}
""")
    p = subprocess.Popen([BERTH, "up", "--no-color", "--data-dir", agent.data_dir], cwd=d,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = [b""]

    def read():
        while select.select([p.stdout], [], [], 0.05)[0]:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out[0] += chunk
        return out[0]
    try:
        wait_for(lambda: all(w in read() for w in (b"talker.1 | started", b"talker.2 | started",
                                                       b"hello-from-talker.1", b"hello-from-talker.2")),
                 what="instances starting, then their logs, in the foreground")
        pids = [i["pid"] for i in agent.ps("fg")]
        p.send_signal(signal.SIGINT)
        p.wait(30 * SLOW)
        read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, p.stderr.read()
    assert b"Stopping stack fg" in out[0]
    # Stopped, not removed: ps still lists them, their processes are gone.
    st = agent.ps("fg")
    assert len(st) == 2 and all(i["state"] == "stopped" for i in st), st
    for pid in pids:
        assert not pid_alive(pid)


@pytest.mark.parametrize("cmd", ["agent", "up", "down", "ps", "logs", "scale", "stop", "start", "restart",
                                 "config", "lb", "shim"])
def test_every_command_has_help(cmd):
    r = subprocess.run([BERTH, cmd, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "usage: berth" in r.stdout or "usage: berth-shim" in r.stdout, r.stdout
    h = subprocess.run([BERTH, "help", cmd], capture_output=True, text=True, timeout=10)
    assert h.returncode == 0 and h.stdout == r.stdout


def test_man_pages_built():
    man = os.path.join(os.path.dirname(BERTH), "docs", "man")
    for page in ("berth", "berth-agent", "berth-up", "berth-down", "berth-ps", "berth-logs", "berth-scale",
                 "berth-config", "berth-lb", "berth-shim"):
        path = os.path.join(man, page + ".1")
        assert os.path.exists(path), "%s was not built (scdoc)" % path
        with open(path) as f:
            assert ".TH" in f.read()


def test_redeploy_restarts_only_changed_services_and_up_waits_for_it(agent, tmpdir_path):
    compose = """
services:
  changing:
    command: sh -c 'echo v=$$V; exec sleep 1000'
    environment: {V: "%s"}
  steady:
    command: sleep 1000
"""
    d = project(tmpdir_path, "redeploy", compose % "one")
    agent.cli("up", "-d", cwd=d)
    before = by_instance(wait_states(agent, "redeploy", running(2)))
    write(os.path.join(d, "compose.yaml"), compose % "two")
    agent.cli("up", "-d", cwd=d)
    # up -d returned: the changed service already runs its new definition.
    after = by_instance(agent.ps("redeploy"))
    assert after["changing.1"]["state"] == "running"
    assert after["changing.1"]["pid"] != before["changing.1"]["pid"]
    assert after["steady.1"]["pid"] == before["steady.1"]["pid"], "an unchanged service was restarted"
    assert after["changing.1"]["generation"] == 2
