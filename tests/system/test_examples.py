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
