"""The example stacks as a user runs them, from examples/, unchanged: what
README.md and the examples' own READMEs promise."""
import http.client
import json
import os

import pytest

from agentlib import Agent, wait_states
from conftest import HERE, SLOW, free_port, wait_for

ROOT = os.path.dirname(os.path.dirname(HERE))


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    yield a
    a.cleanup()


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
