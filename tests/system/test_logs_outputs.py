"""The log pipeline's outputs against real receivers (rsyslog, Redis) and
a test double of Elasticsearch's _bulk API; multiline joining; odd input
(invalid UTF-8, 1 MiB lines); a stack's own outputs; bad configuration."""
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from agentlib import Agent, write
from conftest import HERE, SLOW, free_port, wait_for
from test_logs import metric

EMIT = os.path.join(HERE, "logemit.py")


def agent_with(tmpdir_path, outputs_yaml):
    data = os.path.join(tmpdir_path, "data")
    write(os.path.join(data, "agent.yml"), "logs:\n  outputs:\n" + outputs_yaml)
    return Agent(data)


def deploy(agent, tmpdir_path, compose, stack="logs"):
    d = os.path.join(tmpdir_path, "stack-" + stack)
    write(os.path.join(d, "compose.yaml"), compose)
    agent.cli("up", "-d", "-p", stack, cwd=d)


def read_json_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.skipif(not shutil.which("rsyslogd"), reason="rsyslog comes with make deps")
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_syslog_into_rsyslog(tmpdir_path, proto):
    port = free_port()
    out = os.path.join(tmpdir_path, "rsyslog.out")
    conf = os.path.join(tmpdir_path, "rsyslog.conf")
    write(conf, """global(workDirectory="%s")
module(load="im%s")
input(type="im%s" port="%d" address="127.0.0.1")
template(name="t" type="string"
         string="%%hostname%%|%%app-name%%|%%procid%%|%%msgid%%|%%syslogseverity%%|%%syslogfacility%%|%%structured-data%%|%%msg%%\\n")
action(type="omfile" file="%s" template="t")
""" % (tmpdir_path, proto, proto, port, out))
    rs = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(tmpdir_path, "rsyslog.pid")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    agent = None
    try:
        if proto == "tcp":
            wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
                     timeout=10, what="rsyslog's port")
        agent = agent_with(tmpdir_path, """    - type: syslog
      address: 127.0.0.1:%d
      protocol: %s
      facility: local3
""" % (port, proto))
        deploy(agent, tmpdir_path, """services:
  web:
    command: [python3, %s, lines, "200", "hello]\\"world"]
""" % EMIT)

        def lines():
            if not os.path.exists(out):
                return []
            with open(out) as f:
                return f.read().splitlines()
        wait_for(lambda: any(l.endswith("world done") for l in lines()), timeout=20 * SLOW, what="rsyslog's file")
        got = [l for l in lines() if "world" in l]
        assert len(got) == 201
        host, app, procid, msgid, sev, fac, sd, msg = got[0].split("|", 7)
        assert (app, procid, msgid, sev, fac) == ("web", "web.1", "stdout", "6", "19")
        assert 'stack="logs"' in sd and 'service="web"' in sd and 'instance="web.1"' in sd
        assert msg == 'hello]"world 0'
        assert [l.rsplit(" ", 1)[1] for l in got] == [str(i) for i in range(200)] + ["done"]
    finally:
        if agent:
            agent.cleanup()
        rs.send_signal(signal.SIGTERM)
        rs.wait(10)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis comes with make deps")
def test_redis_list_as_logstash_reads_it_and_an_outage(tmpdir_path):
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no"]
    rd = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    agent = None
    try:
        cli = ["redis-cli", "-p", str(port)]
        wait_for(lambda: subprocess.run(cli + ["ping"], capture_output=True, text=True).stdout.strip() == "PONG",
                 timeout=10, what="redis")
        agent = agent_with(tmpdir_path, """    - type: redis
      address: 127.0.0.1:%d
      key: berth-logs
""" % port)
        deploy(agent, tmpdir_path, """services:
  web:
    command: [python3, %s, lines, "5000", "first"]
""" % EMIT)

        def llen():
            return int(subprocess.run(cli + ["llen", "berth-logs"], capture_output=True, text=True).stdout or 0)
        wait_for(lambda: llen() == 5001, timeout=20 * SLOW, what="5001 list entries")
        first = json.loads(subprocess.run(cli + ["lindex", "berth-logs", "0"], capture_output=True,
                                          text=True).stdout)
        assert first["message"] == "first 0" and first["service"] == "web" and first["stream"] == "stdout"
        # Redis goes away; what the service logs meanwhile waits and arrives.
        rd.send_signal(signal.SIGTERM)
        rd.wait(10)
        deploy(agent, tmpdir_path, """services:
  web:
    command: [python3, %s, lines, "5000", "first"]
  late:
    command: [python3, %s, lines, "3000", "second"]
""" % (EMIT, EMIT))
        wait_for(lambda: metric(agent, "berth_logs_output_retries_total", output="redis") > 0, timeout=20 * SLOW,
                 what="a failed send")
        rd = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run(cli + ["ping"], capture_output=True, text=True).stdout.strip() == "PONG",
                 timeout=10, what="redis again")
        wait_for(lambda: llen() == 3001, timeout=60 * SLOW, what="the events logged while redis was down")
        msgs = [json.loads(x)["message"] for x in subprocess.run(
            cli + ["lrange", "berth-logs", "0", "-1"], capture_output=True, text=True).stdout.splitlines()]
        assert msgs == ["second %d" % i for i in range(3000)] + ["second done"]
    finally:
        if agent:
            agent.cleanup()
        rd.send_signal(signal.SIGTERM)
        rd.wait(10)


class BulkDouble(http.server.BaseHTTPRequestHandler):
    """TEST DOUBLE of Elasticsearch's documented POST /_bulk (no
    Elasticsearch runs here): answers per item. A document whose message
    ends in "7" is refused once with 429 (accepted when sent again), one
    whose message is "doc 13" is refused for good with 400."""
    seen = []
    refused_once = set()

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        assert self.path == "/_bulk" and self.headers["Content-Type"] == "application/x-ndjson"
        lines = body.splitlines()
        items, errors = [], False
        for action, doc in zip(lines[0::2], lines[1::2]):
            idx = json.loads(action)["index"]["_index"]
            d = json.loads(doc)
            m = d["message"]
            if m == "doc 13":
                items.append({"index": {"_index": idx, "status": 400, "error": {"type": "mapper_parsing_exception",
                                                                                "reason": "failed to parse"}}})
                errors = True
            elif m.endswith("7") and m not in self.refused_once:
                self.refused_once.add(m)
                items.append({"index": {"_index": idx, "status": 429, "error": {"type": "es_rejected_execution_exception",
                                                                                "reason": "queue full"}}})
                errors = True
            else:
                self.seen.append((idx, m))
                items.append({"index": {"_index": idx, "status": 201, "result": "created"}})
        out = json.dumps({"took": 1, "errors": errors, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def test_elasticsearch_bulk_items_retried_or_dropped(tmpdir_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BulkDouble)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    BulkDouble.seen = []
    BulkDouble.refused_once = set()
    agent = None
    try:
        agent = agent_with(tmpdir_path, """    - type: elasticsearch
      url: http://127.0.0.1:%d/
      index: shop-%%Y.%%m.%%d
""" % srv.server_address[1])
        deploy(agent, tmpdir_path, """services:
  web:
    command: [python3, %s, lines, "100", "doc"]
""" % EMIT)
        wait_for(lambda: len(BulkDouble.seen) == 100, timeout=30 * SLOW, what="99 documents and the last line")
        msgs = sorted(m for _, m in BulkDouble.seen)
        want = sorted(["doc %d" % i for i in range(100) if i != 13] + ["doc done"])
        assert msgs == want
        assert all(idx.startswith("shop-2") and len(idx) == len("shop-2026.12.01") for idx, _ in BulkDouble.seen)
        # The counters move once the batch is done, the metrics at the next tick.
        wait_for(lambda: metric(agent, "berth_logs_output_dropped_total", output="elasticsearch") == 1,
                 timeout=10 * SLOW, what="the drop counted")
        assert metric(agent, "berth_logs_output_retries_total", output="elasticsearch") >= 1
        assert "refused 1 of" in agent.logs()
    finally:
        if agent:
            agent.cleanup()
        srv.shutdown()


def test_multiline_joins_stack_traces(tmpdir_path):
    out = os.path.join(tmpdir_path, "events.json")
    agent = agent_with(tmpdir_path, "    - {type: file, path: %s}\n" % out)
    try:
        deploy(agent, tmpdir_path, """services:
  java:
    command: [python3, %s, trace]
    x-berth:
      logs:
        type: java
        multiline: {pattern: '^(INFO|ERROR|WARN)'}
""" % EMIT)
        wait_for(lambda: len(read_json_lines(out)) == 3, timeout=20 * SLOW, what="3 events")
        ev = read_json_lines(out)
        assert [e["message"] for e in ev] == [
            "INFO starting",
            "ERROR request failed\njava.lang.IllegalStateException: boom\n"
            "\tat com.example.Shop.checkout(Shop.java:42)\n\tat com.example.Main.main(Main.java:7)",
            "INFO next request"]
        assert all(e["type"] == "java" for e in ev)
    finally:
        agent.cleanup()


def test_invalid_utf8_and_one_mib_lines(tmpdir_path):
    out = os.path.join(tmpdir_path, "events.json")
    odd = os.path.join(tmpdir_path, "odd.log")
    agent = agent_with(tmpdir_path, "    - {type: file, path: %s}\n" % out)
    try:
        deploy(agent, tmpdir_path, """services:
  odd:
    command: [python3, %s, odd, %s]
    x-berth:
      logs:
        files: [%s]
""" % (EMIT, odd, odd))
        wait_for(lambda: any(e["message"] == "after" for e in read_json_lines(out)), timeout=20 * SLOW,
                 what="the line after the long ones")
        ev = [e for e in read_json_lines(out) if e.get("path") == odd]
        assert [len(e["message"]) for e in ev] == [len("bad \ufffd\ufffd bytes \ufffd( end"), 1 << 20, 1 << 20, 5]
        assert ev[0]["message"] == "bad \ufffd\ufffd bytes \ufffd( end"
        assert ev[1]["message"] == "A" * (1 << 20) and "tags" not in ev[1]
        assert ev[2]["message"] == "B" * (1 << 20) and ev[2]["tags"] == ["truncated"]
        assert agent.proc.poll() is None
    finally:
        agent.cleanup()


def test_stack_outputs_stdout_and_removed_instances(tmpdir_path):
    out = os.path.join(tmpdir_path, "shop.json")
    data = os.path.join(tmpdir_path, "data")
    write(os.path.join(data, "agent.yml"), """logs:
  outputs:
    - {type: stdout, format: human}
    - {type: stdout, name: raw, format: json}
""")
    agent = Agent(data)
    try:
        deploy(agent, tmpdir_path, """x-berth:
  logs:
    outputs:
      - {type: file, name: archive, path: %s}
services:
  web:
    command: [python3, %s, lines, "3", "shop"]
    deploy: {replicas: 2}
""" % (out, EMIT), stack="shop")
        deploy(agent, tmpdir_path, """services:
  other:
    command: [python3, %s, lines, "3", "other"]
""" % EMIT, stack="other")
        wait_for(lambda: len(read_json_lines(out)) == 8, timeout=20 * SLOW, what="the shop stack's 8 events")
        assert {e["stack"] for e in read_json_lines(out)} == {"shop"}
        assert {e["instance"] for e in read_json_lines(out)} == {"web.1", "web.2"}
        wait_for(lambda: "other other.1 stdout | other done" in agent.logs(), timeout=20 * SLOW,
                 what="the agent-wide stdout output")
        assert "shop web.2 stdout | shop 2" in agent.logs()
        raw = [json.loads(l) for l in agent.logs().splitlines() if l.startswith('{"@timestamp"')]
        assert {"other done", "shop done"} <= {e["message"] for e in raw}

        wait_for(lambda: metric(agent, "berth_logs_output_events_total", output="shop.archive") == 8,
                 timeout=10 * SLOW, what="the stack output's counter")
        agent.cli("down", "-p", "shop")
        # The stack's output goes once its instances are gone and it is empty.
        wait_for(lambda: metric(agent, "berth_logs_output_events_total", output="shop.archive") == 0,
                 timeout=20 * SLOW, what="the stack output to go")
    finally:
        agent.cleanup()


def test_bad_log_config_names_the_place(tmpdir_path):
    d = os.path.join(tmpdir_path, "bad")
    write(os.path.join(d, "compose.yaml"), """services:
  web:
    command: [sleep, "100"]
    x-berth:
      logs:
        files:
          - path: /tmp/x.log
            multiline: {pattern: "(unclosed"}
""")
    from conftest import run_berth
    r = run_berth("config", "-f", os.path.join(d, "compose.yaml"))
    assert r.returncode != 0
    assert "compose.yaml:8:34: services.web.x-berth.logs.files[0].multiline.pattern: not a valid extended" \
        in r.stderr, r.stderr
    write(os.path.join(d, "compose.yaml"), """x-berth:
  logs:
    outputs:
      - {type: syslog, address: "nohost"}
services:
  web:
    command: [sleep, "100"]
""")
    r = run_berth("config", "-f", os.path.join(d, "compose.yaml"))
    assert "compose.yaml:4:33: x-berth.logs.outputs[0].address: expected HOST:PORT" in r.stderr, r.stderr
    data = os.path.join(tmpdir_path, "data")
    write(os.path.join(data, "agent.yml"), "logs:\n  outputs:\n    - {type: kafka}\n")
    r = subprocess.run([os.environ.get("BERTH_BIN", "berth"), "agent", "--data-dir", data, "--print-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "agent.yml:3:14: logs.outputs[0].type: unknown output type \"kafka\"" in r.stderr, r.stderr


def test_file_output_rotates_by_size_and_keeps_n(tmpdir_path):
    out = os.path.join(tmpdir_path, "small", "events.json")
    agent = agent_with(tmpdir_path, "    - {type: file, path: %s, max_size: 2KiB, keep: 2}\n" % out)
    try:
        deploy(agent, tmpdir_path, """services:
  web:
    command: [python3, %s, bursts, "60", "n"]
""" % EMIT)
        wait_for(lambda: metric(agent, "berth_logs_output_events_total") == 61, timeout=20 * SLOW,
                 what="61 events delivered")
        files = [out + ".2", out + ".1", out]
        assert all(os.path.exists(p) for p in files) and not os.path.exists(out + ".3")
        kept = [json.loads(line)["message"] for p in files for line in open(p)]
        # The newest events, in order, with nothing in between missing.
        assert kept == ["n %d" % i for i in range(60)][60 - len(kept) + 1:] + ["n done"]
        assert len(kept) < 61, "older files were removed"
    finally:
        agent.cleanup()


def test_glob_matching_rotated_names_reads_each_line_once(tmpdir_path):
    """x-berth.logs.files: [app.log*] also matches what logrotate makes of
    app.log (app.log.1, shifted to app.log.2 ... at each rotation, by
    rename and by copytruncate in turn): every line arrives exactly once."""
    from test_logs import WRITER, check_sequence
    out = os.path.join(tmpdir_path, "events.json")
    app = os.path.join(tmpdir_path, "app")
    os.makedirs(app)
    total = 300000
    agent = agent_with(tmpdir_path, "    - {type: file, path: %s, max_size: 1GiB}\n" % out)
    try:
        deploy(agent, tmpdir_path, """services:
  writer:
    command: [python3, %s, %s/app.log, "%d", "50000", "100000", shift]
    x-berth:
      logs:
        files: ["%s/app.log*"]
""" % (WRITER, app, total, app))

        def seqs():
            return sorted(int(e["message"][4:12]) for e in read_json_lines(out) if "path" in e)
        wait_for(lambda: len([e for e in read_json_lines(out) if "path" in e]) >= total and
                 metric(agent, "berth_logs_output_buffered_events") == 0, timeout=60 * SLOW,
                 what="%d events" % total)
        got = seqs()
        assert got == list(range(total)), "missing %d, duplicated %d" % (
            len(set(range(total)) - set(got)), len(got) - len(set(got)))
        # Each file's lines in order, whatever file they were read from.
        by_path = {}
        for e in read_json_lines(out):
            if "path" in e:
                by_path.setdefault(e["path"], []).append(int(e["message"][4:12]))
        for p, s in by_path.items():
            assert s == sorted(s), "out of order in " + p
    finally:
        agent.cleanup()
