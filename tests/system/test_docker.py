"""The docker driver, seen from outside: `berth up` of image services on a
private dockerd (dockerlib.Engine), what `ps`, `logs` and the published
ports show, the compose keys mapped onto containers, stop signals, an agent
killed -9 and restarted, build:, a missing image, no engine at all, and
x-berth.driver. Skipped, with the reason, only when dockerd cannot start."""
import json
import os
import re
import signal
import subprocess
import urllib.request

import pytest

from agentlib import Agent, by_instance, wait_states, write
from conftest import SLOW, port_open, wait_for
from dockerlib import Engine, EngineError

CRI = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [PF] ")


@pytest.fixture(scope="module")
def engine():
    e = Engine()
    try:
        e.start()
        e.import_busybox()
    except EngineError as err:
        e.stop()
        pytest.skip("no private Docker engine: %s" % err)
    except Exception:
        e.stop()
        raise
    yield e
    e.stop()


@pytest.fixture
def agent(tmp_path, engine):
    a = Agent(str(tmp_path / "data"), env={"DOCKER_HOST": engine.host})
    yield a
    a.cleanup()
    # Containers this agent left (a failed test): by its data dir's label.
    for c in engine.containers("berth.data-dir=" + a.data_dir):
        engine.call("DELETE", "/containers/%s?force=1&v=1" % c["Id"])


def up(agent, project, compose, *extra, check=True):
    write(os.path.join(project, "compose.yml"), compose)
    return agent.cli("up", "-d", "-f", os.path.join(project, "compose.yml"), "-p", "dk", *extra, check=check)


def ours(engine, agent, stack="dk"):
    return [c for c in engine.containers("berth.data-dir=" + agent.data_dir)
            if c["Labels"].get("berth.stack") == stack]


def running(insts, n):
    return len(insts) == n and all(i["state"] == "running" for i in insts)


def log_file(agent, svc, idx, stack="dk"):
    with open(os.path.join(agent.data_dir, "instances", stack, svc, str(idx), "log")) as f:
        return f.read()


def test_up_ps_logs_ports_down(agent, engine, tmp_path):
    up(agent, str(tmp_path / "p"), """
services:
  web:
    image: local/busybox
    command: ["sh", "-c", "echo hello from $$BERTH_INSTANCE; echo oops >&2; exec httpd -f -p 8080 -h /www"]
    ports: ["8080"]
    deploy: {replicas: 2}
""")
    insts = wait_states(agent, "dk", lambda x: running(x, 2), what="two running containers")
    for i in insts:
        assert i["driver"] == "docker"
        assert i["pid"] and i["pid"] > 1
        port = i["ports"][0]["published"]
        assert i["ports"][0]["target"] == 8080
        wait_for(lambda: port_open(port), what="published port %d" % port)
        body = urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5 * SLOW).read()
        assert body == b"hello from busybox\n"
    # The catalog has the published ports, as for processes.
    cat = json.loads(agent.cli("ps", "-p", "dk", "--json").stdout)
    assert sorted(i["port"] for i in cat) == sorted(i["ports"][0]["published"] for i in insts)
    cs = ours(engine, agent)
    assert len(cs) == 2
    labels = sorted((c["Labels"]["berth.service"], c["Labels"]["berth.index"]) for c in cs)
    assert labels == [("web", "1"), ("web", "2")]

    wait_for(lambda: "oops" in log_file(agent, "web", 2), what="output in the log file")
    for idx in (1, 2):
        text = log_file(agent, "web", idx)
        lines = text.splitlines()
        assert all(CRI.match(line) for line in lines), text
        assert any(line.endswith(" stdout F hello from web.%d" % idx) for line in lines), text
        assert any(line.endswith(" stderr F oops") for line in lines), text
    out = agent.cli("logs", "-p", "dk").stdout
    assert "hello from web.1" in out and "hello from web.2" in out and "oops" in out

    agent.cli("down", "-p", "dk")
    wait_for(lambda: not ours(engine, agent), what="the containers removed")
    # Its connections to the engine do not keep a stopping agent alive.
    assert agent.stop() == 0, agent.logs()[-2000:]


def test_mapping(agent, engine, tmp_path):
    """environment, entrypoint, command, working_dir, user, a bind mount,
    init, limits and labels, as the program in the container sees them
    and as the engine records them."""
    data = tmp_path / "shared"
    data.mkdir()
    os.chmod(str(data), 0o777)  # the container's user 1234 writes there
    up(agent, str(tmp_path / "p"), """
services:
  job:
    image: local/busybox
    entrypoint: ["sh", "-c"]
    command: ["echo \\"$$GREETING $$(id -u):$$(id -g) $$(pwd) $$(cat /proc/1/cmdline | tr '\\\\0' ' ')\\" > /out/result"]
    environment: {GREETING: hi-there}
    working_dir: /tmp
    user: "1234:5678"
    init: true
    volumes: ["%s:/out"]
    labels: {team: blue}
    deploy:
      resources:
        limits: {memory: 64M, cpus: "0.5", pids: 50}
""" % data)
    insts = wait_states(agent, "dk", lambda x: len(x) == 1 and x[0]["state"] == "exited", what="the job done")
    assert insts[0]["exit_code"] == 0, (insts, log_file(agent, "job", 1))
    words = (data / "result").read_text().split()
    assert words[0] == "hi-there"
    assert words[1] == "1234:5678"
    assert words[2] == "/tmp"
    assert "docker-init" in words[3]


def test_limits_and_labels(agent, engine, tmp_path):
    up(agent, str(tmp_path / "p"), """
services:
  idle:
    image: local/busybox
    command: ["sleep", "1000"]
    labels: {team: blue}
    stop_grace_period: 0s
    deploy:
      resources:
        limits: {memory: 64M, cpus: "0.5", pids: 50}
""")
    wait_states(agent, "dk", lambda x: running(x, 1), what="the container running")
    c = ours(engine, agent)[0]
    info = engine.json("GET", "/containers/%s/json" % c["Id"])
    hc = info["HostConfig"]
    assert hc["Memory"] == 64 * 1024 * 1024
    assert hc["NanoCpus"] == 500000000
    assert hc["PidsLimit"] == 50
    labels = info["Config"]["Labels"]
    assert labels["team"] == "blue"
    assert labels["berth.stack"] == "dk" and labels["berth.service"] == "idle" and labels["berth.index"] == "1"
    assert labels["berth.data-dir"] == agent.data_dir
    assert info["Config"]["StopSignal"] == "SIGTERM"
    agent.cli("down", "-p", "dk")
    wait_for(lambda: not ours(engine, agent), what="the container removed")


def test_stop_signal_and_grace(agent, engine, tmp_path):
    """stop_signal reaches the program; one that ignores it is killed once
    stop_grace_period is over."""
    up(agent, str(tmp_path / "p"), """
services:
  polite:
    image: local/busybox
    command: ["sh", "-c", "trap 'echo got usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done"]
    stop_signal: SIGUSR1
  stubborn:
    image: local/busybox
    command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"]
    stop_grace_period: 1s
""")
    wait_states(agent, "dk", lambda x: running(x, 2), what="both running")
    wait_for(lambda: "ready" in log_file(agent, "polite", 1) and "ready" in log_file(agent, "stubborn", 1),
             what="both ready")
    agent.cli("stop", "-p", "dk")
    insts = wait_states(agent, "dk", lambda x: len(x) == 2 and all(i["state"] == "stopped" for i in x),
                        what="both stopped")
    by = by_instance(insts)
    assert "got usr1" in log_file(agent, "polite", 1)
    assert by["polite.1"]["exit_code"] == 0, by["polite.1"]
    assert by["stubborn.1"]["signal"] == signal.SIGKILL, by["stubborn.1"]
    wait_for(lambda: not ours(engine, agent), what="the containers removed")


def test_adopted_after_agent_kill9(agent, engine, tmp_path):
    up(agent, str(tmp_path / "p"), """
services:
  ticker:
    image: local/busybox
    command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.05; done"]
""")
    insts = wait_states(agent, "dk", lambda x: running(x, 1), what="the ticker running")
    pid = insts[0]["pid"]
    cid = ours(engine, agent)[0]["Id"]
    wait_for(lambda: "tick 5\n" in log_file(agent, "ticker", 1), what="some ticks")
    agent.kill9()
    # It goes on with no agent: more ticks than the log file has.
    agent.start()
    wait_for(lambda: "adopted dk/ticker.1 (docker" in agent.logs(), what="the adoption")
    insts = wait_states(agent, "dk", lambda x: running(x, 1), what="the ticker still running")
    assert insts[0]["pid"] == pid
    assert [c["Id"] for c in ours(engine, agent)] == [cid]
    text = log_file(agent, "ticker", 1)
    last = int(re.findall(r"tick (\d+)", text)[-1])
    wait_for(lambda: "tick %d\n" % (last + 20) in log_file(agent, "ticker", 1), what="ticks after the adoption")
    agent.cli("down", "-p", "dk")
    wait_for(lambda: not ours(engine, agent), what="the container removed")
    ticks = [int(n) for n in re.findall(r"stdout F tick (\d+)$", log_file_safe(agent), re.M)]
    # Every line once, none lost while the agent was away, none twice.
    assert ticks == list(range(1, len(ticks) + 1)), ticks[:50]


def log_file_safe(agent):
    p = os.path.join(agent.data_dir, "instances", "dk", "ticker", "1", "log")
    return open(p).read() if os.path.exists(p) else ""


def test_logs_kept_until_down(agent, engine, tmp_path):
    """down removes the log with the instance: the ticker test reads it
    before; here a finished job's output stays readable while it exists."""
    up(agent, str(tmp_path / "p"), """
services:
  once:
    image: local/busybox
    command: ["sh", "-c", "printf 'no newline at the end'"]
""")
    wait_states(agent, "dk", lambda x: len(x) == 1 and x[0]["state"] == "exited", what="the job done")
    lines = log_file(agent, "once", 1).splitlines()
    assert len(lines) == 1 and lines[0].endswith(" stdout F no newline at the end"), (lines, agent.logs()[-3000:])
    wait_for(lambda: not ours(engine, agent), what="the exited container removed")


def test_build(agent, engine, tmp_path):
    ctx = tmp_path / "p" / "app"
    write(str(ctx / "Dockerfile"), "FROM local/busybox\nARG WHO=nobody\nCOPY msg.txt /msg.txt\n"
          "RUN echo \"built for $WHO\" >> /msg.txt\nCMD [\"cat\", \"/msg.txt\"]\n")
    write(str(ctx / "msg.txt"), "from the build context\n")
    write(str(ctx / "sub" / "deep.txt"), "x\n")
    up(agent, str(tmp_path / "p"), """
services:
  app:
    build:
      context: ./app
      args: {WHO: berth}
""")
    insts = wait_states(agent, "dk", lambda x: len(x) == 1 and x[0]["state"] == "exited", timeout=60,
                        what="the built image run")
    assert insts[0]["exit_code"] == 0, insts
    text = log_file(agent, "app", 1)
    assert "stdout F from the build context" in text and "stdout F built for berth" in text, text
    engine.json("GET", "/images/dk_app/json")


def test_missing_image(agent, engine, tmp_path):
    up(agent, str(tmp_path / "p"), """
services:
  ghost:
    image: local/not-here:1.0
""", check=False)
    insts = wait_states(agent, "dk", lambda x: len(x) == 1 and x[0]["state"] == "failed", timeout=60,
                        what="the instance failed")
    msg = insts[0]["message"]
    assert "local/not-here:1.0" in msg and "could not be pulled" in msg, msg
    assert not ours(engine, agent)


def test_bad_driver_name(agent, tmp_path):
    p = tmp_path / "p"
    write(str(p / "compose.yml"), "services:\n  a:\n    image: x\n    x-berth: {driver: podman}\n")
    r = agent.cli("config", "-f", str(p / "compose.yml"), check=False)
    assert r.returncode != 0
    assert "services.a.x-berth.driver" in r.stderr and '"process" or "docker"' in r.stderr, r.stderr


def test_no_engine(tmp_path):
    """No engine answers: an image service is refused with a plain message
    and nothing of the stack is deployed; x-berth.driver: process runs an
    image service's command as a process; command-only stacks deploy."""
    a = Agent(str(tmp_path / "data"), env={"DOCKER_HOST": "unix://%s/nothing.sock" % tmp_path})
    try:
        p = str(tmp_path / "p")
        r = up(a, p, """
services:
  web:
    image: local/busybox
    command: ["httpd", "-f"]
  side:
    command: ["sleep", "1000"]
""", check=False)
        assert r.returncode != 0
        assert "services.web (image local/busybox) needs a Docker engine" in r.stderr, r.stderr
        assert "nothing.sock" in r.stderr and "Nothing was deployed" in r.stderr, r.stderr
        assert a.cli("ps", "-p", "dk", "--json", check=False).stdout.strip() in ("", "[]")

        up(a, p, """
services:
  web:
    image: local/busybox
    command: ["sleep", "1000"]
    x-berth: {driver: process}
  side:
    command: ["sleep", "1000"]
""")
        insts = wait_states(a, "dk", lambda x: running(x, 2), what="both running as processes")
        assert {i["driver"] for i in insts} == {"process"}
        a.cli("down", "-p", "dk")
    finally:
        a.cleanup()


def test_driver_override_docker(agent, engine, tmp_path):
    """x-berth.driver: docker with only a command is refused at start with
    a message that says what is missing."""
    up(agent, str(tmp_path / "p"), """
services:
  plain:
    command: ["sleep", "1000"]
    x-berth: {driver: docker}
""", check=False)
    insts = wait_states(agent, "dk", lambda x: len(x) == 1 and x[0]["state"] in ("failed", "restarting"),
                        what="the instance failed")
    assert "no image" in insts[0]["message"], insts


def test_healthcheck_runs_in_the_container(agent, engine, tmp_path):
    """A compose healthcheck of a docker instance is run by berth, inside
    the container (berth docker-exec): the file it tests exists only there."""
    marker = "/tmp/ready-%d" % os.getpid()
    assert not os.path.exists(marker)
    up(agent, str(tmp_path / "p"), """
services:
  db:
    image: local/busybox
    command: ["sh", "-c", "sleep 0.3; touch %s; exec sleep 1000"]
    stop_grace_period: 0s
    healthcheck:
      test: ["CMD-SHELL", "test -f %s"]
      interval: 200ms
      start_interval: 200ms
      start_period: 30s
  app:
    image: local/busybox
    command: ["sleep", "1000"]
    stop_grace_period: 0s
    depends_on: {db: {condition: service_healthy}}
""" % (marker, marker))
    insts = wait_states(agent, "dk", lambda x: running(x, 2), what="app started once db is healthy")
    assert by_instance(insts)["db.1"]["health"] == "healthy", insts
    assert not os.path.exists(marker)
    agent.cli("down", "-p", "dk")
    wait_for(lambda: not ours(engine, agent), what="the containers removed")


def test_bind_source_must_exist_when_asked(agent, engine, tmp_path):
    missing = tmp_path / "not-there"
    up(agent, str(tmp_path / "p"), """
services:
  strict:
    image: local/busybox
    command: ["true"]
    volumes:
      - {type: bind, source: %s, target: /data, bind: {create_host_path: false}}
""" % missing, check=False)
    insts = wait_states(agent, "dk", lambda x: len(x) == 1 and x[0]["state"] == "failed", what="the start refused")
    assert str(missing) in insts[0]["message"] and "create_host_path: false" in insts[0]["message"], insts
    assert not missing.exists() and not ours(engine, agent)


def test_container_logs_shipped_by_the_pipeline(engine, tmp_path):
    """A container's output (the CRI file the driver writes) and a file it
    writes through a bind mount reach a log output like a process's."""
    data = tmp_path / "data"
    out = tmp_path / "events.json"
    logs = tmp_path / "applogs"
    logs.mkdir()
    write(str(data / "agent.yml"), "logs:\n  outputs:\n    - {type: file, path: %s}\n" % out)
    a = Agent(str(data), env={"DOCKER_HOST": engine.host})
    try:
        up(a, str(tmp_path / "p"), """
services:
  job:
    image: local/busybox
    command: ["sh", "-c", "echo out line; echo err line >&2; echo file line >> /logs/app.log; exec sleep 3600"]
    volumes: ["%s:/logs"]
    x-berth:
      logs:
        files: [%s/app.log]
""" % (logs, logs))

        def events():
            try:
                return [json.loads(line) for line in open(str(out))]
            except (OSError, ValueError):
                return []
        wait_for(lambda: len(events()) == 3, timeout=30 * SLOW, what="3 events from the container")
        got = {(e.get("stream") or e.get("path"), e["message"]) for e in events()}
        assert got == {("stdout", "out line"), ("stderr", "err line"), (str(logs / "app.log"), "file line")}
        assert all(e["instance"] == "job.1" and e["stack"] == "dk" for e in events())
    finally:
        a.cleanup()
        for c in engine.containers("berth.data-dir=" + a.data_dir):
            engine.call("DELETE", "/containers/%s?force=1&v=1" % c["Id"])
