"""The log pipeline (docs/logs.md): files tailed through rotation, an
agent killed with kill -9 and an output that is down, and nothing lost."""
import json
import os
import re
import time

import pytest

from agentlib import Agent, api, write
from conftest import HERE, SLOW, wait_for

WRITER = os.path.join(HERE, "logwriter.py")


def metric(agent, name, **labels):
    """Sum of a metric's samples whose labels include <labels>."""
    st, _, body = api(agent, "GET", "/metrics")
    assert st == 200
    total = 0
    for line in body.decode().splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\d+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += int(m.group(3))
    return total


def read_events(path, keep):
    """Events of a file output, oldest first: path.<keep> ... path.1, path."""
    out = []
    for p in ["%s.%d" % (path, i) for i in range(keep, 0, -1)] + [path]:
        if os.path.isfile(p):
            with open(p) as f:
                out.extend(json.loads(line) for line in f)
    return out


def last_seq(path):
    """The seq of the last event in a file output, or -1."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            tail = f.read().splitlines()
    except OSError:
        return -1
    for line in reversed(tail):
        try:
            return int(json.loads(line)["message"][4:12])
        except (ValueError, KeyError):
            continue
    return -1


def check_sequence(events, total):
    """Every seq 0..total-1 arrives, in order; returns the duplicates (a
    seq seen again after a later one is a duplicate, a jump is a loss)."""
    want = 0
    dups = 0
    for e in events:
        seq = int(e["message"][4:12])
        if seq < want:
            dups += 1
            continue
        assert seq == want, "lost lines %d..%d (or out of order)" % (want, seq - 1)
        want += 1
    assert want == total, "only %d of %d lines arrived" % (want, total)
    return dups


def test_million_lines_through_rotation_kill9_and_a_blocked_output(tmpdir_path):
    total, keep = 1000000, 20
    data = os.path.join(tmpdir_path, "data")
    out = os.path.join(tmpdir_path, "out", "events.json")
    app = os.path.join(tmpdir_path, "app")
    os.makedirs(app)
    # A directory where the output's file should be: the output cannot
    # open it, and retries, until the test removes it.
    os.makedirs(out)
    write(os.path.join(data, "agent.yml"), """logs:
  outputs:
    - type: file
      path: %s
      max_size: 64MiB
      keep: %d
      queue: {memory: 4MiB}
""" % (out, keep))
    applog = os.path.join(app, "app.log")
    write(os.path.join(tmpdir_path, "stack", "compose.yaml"), """services:
  writer:
    command: [python3, %s, %s, "%d", "100000", "100000"]
    x-berth:
      logs:
        files: [%s]
""" % (WRITER, applog, total, applog))
    agent = Agent(data)
    try:
        t0 = time.monotonic()
        agent.cli("up", "-d", "-p", "big", cwd=os.path.join(tmpdir_path, "stack"))
        # Mid-way, with events in the memory queue and the disk buffer:
        wait_for(lambda: metric(agent, "berth_logs_input_events_total", path=applog) >= 300000
                 and metric(agent, "berth_logs_output_disk_events") > 0, timeout=60 * SLOW, what="300,000 lines read")
        agent.kill9()
        agent.start()
        assert metric(agent, "berth_logs_output_disk_events") > 0, "the disk buffer did not survive the restart"
        # The output is down for 10 s in all: this wait is the scenario.
        blocked = 10 - (time.monotonic() - t0)
        if blocked > 0:
            time.sleep(blocked)
        os.rmdir(out)
        wait_for(lambda: last_seq(out) == total - 1 and
                 metric(agent, "berth_logs_output_disk_events") == 0 and
                 metric(agent, "berth_logs_output_buffered_events") == 0,
                 timeout=180 * SLOW, what="every line delivered")
        events = [e for e in read_events(out, keep) if e.get("path") == applog]
        dups = check_sequence(events, total)
        # At most one batch (a chunk: 1 MiB of input, ~9,500 of these lines).
        assert dups <= 9600, "%d duplicates" % dups
        e = events[0]
        assert e["@version"] == "1" and e["stack"] == "big" and e["service"] == "writer"
        assert e["instance"] == "writer.1" and e["type"] == "berth" and e["host"]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["@timestamp"])
        # Counted since the restart: both kinds happened after it.
        assert metric(agent, "berth_logs_input_rotations_total", path=applog) >= 1
        assert metric(agent, "berth_logs_input_truncations_total", path=applog) >= 1
        assert metric(agent, "berth_logs_output_retries_total") > 0
        assert os.path.exists(out + ".1"), "the file output did not rotate at max_size"
        print("duplicates: %d" % dups)
    finally:
        agent.cleanup()
