"""The agent's DNS server answers from its live catalog: names of a
deployed stack resolve with dig, follow scale changes and health, and
unknown names are NXDOMAIN while a service with no healthy instance is
NODATA."""
import os
import shutil
import subprocess

import pytest

from agentlib import Agent, api_json, by_instance, wait_states, write
from conftest import SLOW, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("dig"), reason="dig comes with make deps (dnsutils)")


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    a.dns_port = api_json(a, "GET", "/v1/info")[2]["dns_port"]
    yield a
    a.cleanup()


def dig(agent, name, qtype="A"):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(agent.dns_port), "+time=2", "+tries=1", name, qtype],
                       capture_output=True, text=True, timeout=10 * SLOW)
    status = next((l.split("status: ")[1].split(",")[0] for l in r.stdout.splitlines() if "status: " in l), None)
    answers = []
    section = None
    for line in r.stdout.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            section = "answer"
            continue
        if line.startswith(";;"):
            section = None if line.strip() == ";;" or "SECTION" in line else section
            continue
        if section == "answer" and line.strip():
            answers.append(line.split())
    return status, answers


def test_agent_dns_follows_the_stack(agent, tmpdir_path):
    assert agent.dns_port > 0
    d = os.path.join(tmpdir_path, "dn")
    write(os.path.join(d, "compose.yaml"), """
services:
  web:
    command: sleep 1000
    deploy: {replicas: 2}
    ports:
      - {target: 8080, name: http}
    x-berth: {tags: [blue]}
  idle:
    command: sleep 1000
""")
    agent.cli("up", "-d", cwd=d)
    insts = by_instance(wait_states(agent, "dn", lambda l: len(l) == 3 and all(i["state"] == "running" for i in l)))
    wait_for(lambda: dig(agent, "web.dn.berth")[1], what="A records for web.dn.berth")
    st, ans = dig(agent, "web.dn.berth")
    assert st == "NOERROR" and {a[-1] for a in ans} == {"127.0.0.1"}
    st, ans = dig(agent, "web.dn.berth", "SRV")
    ports = sorted(int(a[-2]) for a in ans)
    assert ports == sorted([insts["web.1"]["port"], insts["web.2"]["port"]])
    st, ans = dig(agent, "_http._tcp.web.dn.berth", "SRV")
    assert st == "NOERROR" and len(ans) == 2
    assert dig(agent, "blue.web.dn.berth")[0] == "NOERROR" and dig(agent, "blue.web.dn.berth")[1]
    assert dig(agent, "2.web.dn.berth")[1][0][-1] == "127.0.0.1"
    assert dig(agent, "nosuch.dn.berth")[0] == "NXDOMAIN"
    assert dig(agent, "example.com")[0] == "REFUSED"
    # Scaled to zero: the service still exists, with nothing to answer.
    agent.cli("scale", "idle=0", cwd=d)
    wait_for(lambda: dig(agent, "idle.dn.berth") == ("NOERROR", []), what="NODATA for a service with no instance")
    agent.cli("scale", "web=3", cwd=d)
    wait_for(lambda: len(dig(agent, "web.dn.berth", "SRV")[1]) == 3, what="3 SRV records after scale up")
