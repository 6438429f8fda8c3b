"""The example stacks as a user runs them, from examples/, unchanged: what
README.md and the examples' own READMEs promise. This file holds examples/demo
and the helpers the other test_examples_*.py files share."""
import http.client
import json
import os
import shutil
import subprocess

import pytest

from agentlib import Agent, api_json, wait_states
from conftest import HERE, SLOW, free_port, wait_for

ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples")


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    yield a
    a.cleanup()


def need(*programs):
    """Skips the test when one of <programs> is missing (make deps installs
    them all)."""
    for p in programs:
        if not shutil.which(p):
            pytest.skip("%s is installed by make deps" % p)


def npm_deps(example):
    """The example's node_modules, as `make deps` installs them (a no-op when
    they are up to date)."""
    need("node", "npm")
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "examples-deps.sh"), example],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "examples-deps.sh %s:\n%s%s" % (example, r.stdout, r.stderr)


def catalog(agent, stack, svc, healthy=True):
    """The catalog's endpoints of <svc>, by instance index."""
    st, _, eps = api_json(agent, "GET", "/v1/catalog/service/%s?stack=%s&healthy=%d" % (svc, stack, healthy))
    assert st == 200, eps
    return {e["index"]: e for e in eps}


def pid_of(agent, stack, instance):
    for i in agent.ps(stack):
        if i["instance"] == instance:
            return i.get("pid")
    return None


def all_running(n):
    return lambda insts: len(insts) == n and all(i["state"] == "running" for i in insts)


def served_by(port, n):
    """The instances that answered n fresh requests through the lb."""
    seen = set()
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
        try:
            c.request("GET", "/")
            r = c.getresponse()
            if r.status == 200:
                seen.add(json.loads(r.read())["instance"])
        finally:
            c.close()
    return seen


def test_demo_replicas_behind_the_lb(agent):
    demo = os.path.join(ROOT, "examples", "demo")
    port = free_port()
    env = {"DEMO_PORT": str(port)}
    r = agent.cli("up", "-d", cwd=demo, env=env)
    assert "http://127.0.0.1:%d" % port in r.stdout, r.stdout
    wait_states(agent, "demo", lambda insts: len(insts) == 5 and all(i["state"] == "running" for i in insts),
                what="web.1-3, lb.1, ticker.1 running")
    # Round robin over the three once their checks pass.
    wait_for(lambda: served_by(port, 6) == {"web.1", "web.2", "web.3"}, what="three replicas behind the lb")

    agent.cli("scale", "web=2", cwd=demo, env=env)
    wait_for(lambda: served_by(port, 6) == {"web.1", "web.2"}, what="the lb following the scale-down")

    # down returns once every instance is gone, the lb with them.
    agent.cli("down", cwd=demo, env=env)
    assert json.loads(agent.cli("ps", "-a", "--json", cwd=demo).stdout) == []
    with pytest.raises(OSError):
        served_by(port, 1)


class Load:
    """A bounded load of GET requests through the lb: <threads> clients on
    keep-alive connections (a new one after any error; one per request
    without <keepalive>), at most <limit>
    requests each and never past <seconds>; every answer recorded as
    (time, status, X-Served-By, error)."""

    def __init__(self, port, path="/", threads=2, limit=20000, seconds=60, header="x-served-by", pause=0.002,
                 keepalive=True):
        import threading
        import time
        self.port, self.path, self.limit, self.header, self.pause = port, path, limit, header, pause
        self.keepalive = keepalive
        self.deadline = time.monotonic() + seconds * SLOW
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        import time
        c = None
        for _ in range(self.limit):
            if self.stopping.is_set() or time.monotonic() > self.deadline:
                break
            rec = None
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * SLOW)
                c.request("GET", self.path)
                r = c.getresponse()
                r.read()
                rec = (time.monotonic(), r.status, r.getheader(self.header), None)
                if not self.keepalive or r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                rec = (time.monotonic(), None, None, repr(e))
                if c is not None:
                    c.close()
                c = None
            with self.lock:
                self.results.append(rec)
            time.sleep(self.pause)  # a steady load, not a CPU hog on a shared machine
        if c is not None:
            c.close()

    def since(self, t):
        with self.lock:
            return [r for r in self.results if r[0] >= t]

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30 * SLOW)
        return self.failures()

    def failures(self):
        with self.lock:
            return [r for r in self.results if r[1] != 200]
