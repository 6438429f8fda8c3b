#!/usr/bin/env python3
"""berth agent: deploy and teardown times and memory, the driver behind
bench/agent.sh.

Usage: agentbench.py BERTH_BINARY

Starts a private agent (its own data dir and port range), then for each
round: `berth up -d` of a stack of N instances of a trivial service
(`sleep 1000`) — timed until the command returns, which is when every
instance is running (berth up -d waits for that) — and checked with
`berth ps`; then `berth down`, timed until it returns, which is when every
instance's process group is gone. Also reports the agent's RSS idle (no
stack) and with the N instances running, and the RSS of the shims.
Environment: BENCH_ROUNDS (5), BENCH_INSTANCES (50)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import stop_agent

ROUNDS = int(os.environ.get("BENCH_ROUNDS") or 5)
N = int(os.environ.get("BENCH_INSTANCES") or 50)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    berth = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="berth-agentbench-")
    data = os.path.join(tmp, "data")
    proj = os.path.join(tmp, "bench")
    os.makedirs(proj)
    with open(os.path.join(proj, "compose.yaml"), "w") as f:
        f.write("services:\n  s:\n    command: sleep 1000\n    stop_grace_period: 2s\n"
                "    deploy: {replicas: %d}\n" % N)
    agent = subprocess.Popen([berth, "agent", "--data-dir", data, "--port-range", "45000-45999",
                              "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cli(*args):
        return subprocess.run([berth, *args, "--data-dir", data], cwd=proj, capture_output=True, text=True,
                              timeout=120)
    try:
        deadline = time.monotonic() + 10
        while cli("ps", "-a", "--json").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not start")
            time.sleep(0.05)
        time.sleep(1.0)
        idle = rss_kb(agent.pid)
        ups, downs, busy, shims = [], [], [], []
        for rnd in range(ROUNDS):
            t0 = time.monotonic()
            r = cli("up", "-d")
            t1 = time.monotonic()
            if r.returncode != 0:
                raise RuntimeError("berth up failed: " + r.stderr + r.stdout)
            insts = json.loads(cli("ps", "--json").stdout)
            running = sum(1 for i in insts if i["state"] == "running")
            if running != N:
                raise RuntimeError("only %d/%d running after up -d" % (running, N))
            ups.append(t1 - t0)
            busy.append(rss_kb(agent.pid))
            # The shims: parents of the instances' pids.
            for i in insts[:5]:
                with open("/proc/%d/stat" % i["pid"]) as f:
                    st = f.read()
                ppid = int(st[st.rindex(")") + 2:].split()[1])
                shims.append(rss_kb(ppid))
            t0 = time.monotonic()
            r = cli("down")
            t1 = time.monotonic()
            if r.returncode != 0:
                raise RuntimeError("berth down failed: " + r.stderr)
            if json.loads(cli("ps", "--json").stdout):
                raise RuntimeError("instances left after down")
            downs.append(t1 - t0)
            print("round %d: up -d %.3fs, down %.3fs, agent RSS %d kB with %d instances" % (
                rnd + 1, ups[-1], downs[-1], busy[-1], N), file=sys.stderr)
        print("berth agent, %d instances of `sleep 1000`, %d rounds (medians)" % (N, ROUNDS))
        print("  berth up -d until all %d running:   %.3f s (min %.3f, max %.3f)" % (
            N, statistics.median(ups), min(ups), max(ups)))
        print("  berth down until all gone:          %.3f s (min %.3f, max %.3f)" % (
            statistics.median(downs), min(downs), max(downs)))
        print("  agent RSS idle (no stack):          %d kB" % idle)
        print("  agent RSS with %d instances:        %d kB" % (N, statistics.median(busy)))
        print("  shim RSS (median of %d shims):      %d kB" % (len(shims), statistics.median(shims)))
    finally:
        stop_agent(agent, data, timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
