#!/usr/bin/env python3
"""berth's docker driver against docker-compose: the driver behind
bench/docker.sh.

Usage: dockerbench.py BERTH_BINARY

Starts a private dockerd (tests/system/dockerlib.py: its own data root,
socket and bridge, no iptables) with a local busybox image, and one berth
agent pointed at it. The same compose file of N services (one container
each, `sleep 1000` under `init: true`) is then deployed and removed by
`berth up -d` / `berth down` and by `docker-compose up -d` /
`docker-compose down`, in interleaved rounds (the order alternates). Each
time runs from the command's start until the engine itself lists all N
containers running (up) or none left (down): both tools are judged by the
same observer. A third contender is the floor the engine sets: a bare
client of N threads, each creating and starting one container (and, for
down, stopping and removing it). Prints medians and ratios.
Environment: BENCH_ROUNDS (5), BENCH_SERVICES (20)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "system"))
from dockerlib import Engine  # noqa: E402

from benchproc import stop_agent  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS") or 5)
N = int(os.environ.get("BENCH_SERVICES") or 20)


def compose_text():
    out = ["services:"]
    for i in range(1, N + 1):
        out += ["  s%02d:" % i, "    image: local/busybox", "    command: [\"sleep\", \"1000\"]",
                "    init: true", "    stop_grace_period: 2s"]
    return "\n".join(out) + "\n"


def count(engine, label, running_only):
    q = urllib.parse.urlencode({"all": "0" if running_only else "1", "filters": json.dumps({"label": [label]})})
    return len(engine.json("GET", "/containers/json?" + q))


def raw_up(engine):
    """The floor: the same containers made by a bare client, N threads each
    doing create then start (no image check, no logs, no wait)."""
    def one(i):
        body = {"Image": "local/busybox", "Cmd": ["sleep", "1000"], "Labels": {"raw": "bench"},
                "HostConfig": {"Init": True}}
        st, data = engine.call("POST", "/containers/create?name=raw-s%02d" % i, body)
        engine.call("POST", "/containers/%s/start" % json.loads(data)["Id"])
    ts = [threading.Thread(target=one, args=(i,)) for i in range(1, N + 1)]
    [t.start() for t in ts]
    [t.join() for t in ts]


def raw_down(engine):
    """N threads each stopping (SIGTERM, 2 s grace) and removing one."""
    def one(c):
        engine.call("POST", "/containers/%s/stop?t=2" % c["Id"])
        engine.call("DELETE", "/containers/%s?v=1" % c["Id"])
    ts = [threading.Thread(target=one, args=(c,)) for c in engine.containers("raw=bench")]
    [t.start() for t in ts]
    [t.join() for t in ts]


def timed(argv, env, cwd, engine, label, want_running):
    """Seconds from running <argv> (a command, or a function of the engine)
    until the engine shows <want_running> containers running (up), or none
    at all (want_running 0)."""
    t0 = time.monotonic()
    if callable(argv):
        argv(engine)
        argv = [argv.__name__]
    else:
        r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (" ".join(argv), r.stdout, r.stderr))
    deadline = time.monotonic() + 120
    while True:
        n = count(engine, label, running_only=want_running > 0)
        if (want_running and n == want_running) or (not want_running and n == 0):
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            raise RuntimeError("%s: %d containers, waiting for %d" % (" ".join(argv), n, want_running))
        time.sleep(0.01)


def main():
    berth = os.path.abspath(sys.argv[1])
    compose = shutil.which("docker-compose")
    if not compose:
        raise SystemExit("bench: docker-compose is not installed (apt-get install docker-compose)")
    tmp = tempfile.mkdtemp(prefix="berth-dockerbench-")
    proj = os.path.join(tmp, "bench")
    data = os.path.join(tmp, "data")
    os.makedirs(proj)
    with open(os.path.join(proj, "docker-compose.yml"), "w") as f:
        f.write(compose_text())
    engine = Engine()
    agent = None
    try:
        engine.start()
        engine.import_busybox()
        env = dict(os.environ, DOCKER_HOST=engine.host, COMPOSE_PROJECT_NAME="bench")
        env.pop("BERTH_DATA_DIR", None)
        agent = subprocess.Popen([berth, "agent", "--data-dir", data, "--port-range", "46000-46999",
                                  "--log-level", "warn", "--dns-addr", "127.0.0.1:0"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while subprocess.run([berth, "ps", "-a", "--json", "--data-dir", data], env=env,
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not start")
            time.sleep(0.05)
        version = subprocess.run([compose, "version", "--short"], capture_output=True, text=True).stdout.strip()
        tools = {
            "berth": (([berth, "up", "-d", "-p", "bench", "--data-dir", data],
                       [berth, "down", "-p", "bench", "--data-dir", data]), "berth.stack=bench"),
            "docker-compose": (([compose, "-p", "bench", "up", "-d"], [compose, "-p", "bench", "down"]),
                               "com.docker.compose.project=bench"),
            "bare API client": ((raw_up, raw_down), "raw=bench"),
        }
        res = {t: {"up": [], "down": []} for t in tools}
        for rnd in range(ROUNDS):
            order = list(tools)[rnd % len(tools):] + list(tools)[:rnd % len(tools)]
            for t in order:
                (up, down), label = tools[t]
                res[t]["up"].append(timed(up, env, proj, engine, label, N))
                res[t]["down"].append(timed(down, env, proj, engine, label, 0))
                print("round %d %-14s up %.3fs down %.3fs" % (rnd + 1, t, res[t]["up"][-1], res[t]["down"][-1]),
                      file=sys.stderr)
        med = {t: {k: statistics.median(v) for k, v in res[t].items()} for t in tools}
        print("docker driver: %d containers (busybox `sleep 1000`, init), private dockerd %s, %d interleaved "
              "rounds, medians" % (N, engine.json("GET", "/version")["Version"], ROUNDS))
        print("  %-26s %9s %17s %17s" % ("", "berth", "docker-compose " + version, "bare API client"))
        for k, what in (("up", "up -d until all running"), ("down", "down until all removed")):
            b, c, r = med["berth"][k], med["docker-compose"][k], med["bare API client"][k]
            print("  %-26s %8.3fs %16.3fs %16.3fs   berth %.2fx faster than docker-compose, %.2fx the bare "
                  "client's time" % (what, b, c, r, c / b, b / r))
    finally:
        if agent:
            stop_agent(agent, data, timeout=15)
        engine.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
