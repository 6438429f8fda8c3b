"""berth's log pipeline against rsyslog (imfile -> omfile) and syslog-ng
(file() -> file()), each turning the same file of N lines of ~110 bytes
into JSON lines with a template of the same fields, interleaved over
rounds: lines/s from the start of each until the last line is in its
output, and peak RSS (VmHWM). Prints medians and ratios; the samples go
to $TMPDIR/berth-logs-bench-*.json."""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import stop_agent

BERTH = os.path.abspath(sys.argv[1])
SNG_ROOT = sys.argv[2]              # syslog-ng-core extracted from its Debian package
LINES = int(os.environ.get("BENCH_LINES", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TIMEOUT = 300


def write_input(path, n):
    pad = "GET /api/cart/items?session=%08d HTTP/1.1 200 1532 ua=curl/7.88.1 rt=0.012 ok"
    with open(path, "w") as f:
        for i in range(0, n, 10000):
            f.write("".join("2026-12-01T10:00:00.000Z INFO " + (pad % j) + "\n" for j in range(i, min(n, i + 10000))))


def wait_lines(path, n, proc):
    """Waits until <path> holds <n> lines; returns when it did (monotonic)."""
    count, off = 0, 0
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited" % proc.args[0])
        try:
            with open(path, "rb") as f:
                f.seek(off)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        off += len(chunk)
        count += chunk.count(b"\n")
        if count >= n:
            return time.monotonic()
        time.sleep(0.02)
    raise RuntimeError("timed out: %d of %d lines in %s" % (count, n, path))


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run_berth(d, inp):
    data = os.path.join(d, "data")
    out = os.path.join(d, "out.json")
    os.makedirs(data)
    with open(os.path.join(data, "agent.yml"), "w") as f:
        f.write("logs:\n  outputs:\n    - {type: file, path: %s, max_size: 10GiB}\n" % out)
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write("services:\n  app:\n    command: [sleep, '3600']\n    x-berth:\n      logs:\n        files: [%s]\n" % inp)
    agent = subprocess.Popen([BERTH, "agent", "--data-dir", data, "--dns-addr", "", "--port-range", "41000-41099"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not os.path.exists(os.path.join(data, "berth.sock")) and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        subprocess.run([BERTH, "up", "-d", "--data-dir", data, "-p", "bench"], cwd=d, check=True,
                       stdout=subprocess.DEVNULL)
        t1 = wait_lines(out, LINES, agent)
        return t1 - t0, hwm_kb(agent.pid)
    finally:
        stop_agent(agent, data)


def run_daemon(argv, out, env=None):
    """A peer from its start until <out> holds LINES lines: (seconds,
    peak RSS kB). Stopped by PID with SIGTERM."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        t1 = wait_lines(out, LINES, p)
        return t1 - t0, hwm_kb(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(15)


def run_rsyslog(d, inp):
    out = os.path.join(d, "out.json")
    conf = os.path.join(d, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write("""global(workDirectory="%s" maxMessageSize="64k")
module(load="imfile")
template(name="json" type="list") {
  constant(value="{\\"@timestamp\\":\\"") property(name="timegenerated" dateFormat="rfc3339")
  constant(value="\\",\\"@version\\":\\"1\\",\\"host\\":\\"") property(name="hostname")
  constant(value="\\",\\"stack\\":\\"bench\\",\\"service\\":\\"app\\",\\"instance\\":\\"app.1\\",\\"path\\":\\"")
  property(name="$!metadata!filename" format="json")
  constant(value="\\",\\"message\\":\\"") property(name="msg" format="json")
  constant(value="\\",\\"type\\":\\"berth\\"}\\n")
}
input(type="imfile" file="%s" tag="app" addMetadata="on" freshStartTail="off" ruleset="out")
ruleset(name="out") { action(type="omfile" file="%s" template="json") }
""" % (d, inp, out))
    return run_daemon(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(d, "rsyslog.pid")], out)


def run_syslogng(d, inp):
    out = os.path.join(d, "out.json")
    conf = os.path.join(d, "syslog-ng.conf")
    with open(conf, "w") as f:
        f.write("""@version: 3.38
options { keep-hostname(yes); log-msg-size(65536); };
source s { file("%s" flags(no-parse) follow-freq(1)); };
destination d { file("%s" template("$(format-json @timestamp=$ISODATE @version=1 host=$HOST stack=bench service=app instance=app.1 path=$FILE_NAME message=$MESSAGE type=berth)\\n")); };
log { source(s); destination(d); };
""" % (inp, out))
    lib = os.path.join(SNG_ROOT, "usr/lib/syslog-ng")
    return run_daemon([os.path.join(SNG_ROOT, "usr/sbin/syslog-ng"), "-F", "--no-caps", "-f", conf,
                       "--module-path", os.path.join(lib, "3.38"), "--persist-file", os.path.join(d, "persist"),
                       "--pidfile", os.path.join(d, "pid"), "--control", os.path.join(d, "ctl")],
                      out, env=dict(os.environ, LD_LIBRARY_PATH=lib))


def main():
    peers = [("berth", run_berth), ("rsyslog", run_rsyslog), ("syslog-ng", run_syslogng)]
    only = os.environ.get("BENCH_ONLY")
    if only:
        peers = [p for p in peers if p[0] in only.split(",")]
    root = tempfile.mkdtemp(prefix="berth-logs-bench-")
    inp = os.path.join(root, "input.log")
    write_input(inp, LINES)
    size = os.path.getsize(inp)
    print("input: %d lines, %d bytes (%.0f bytes/line)" % (LINES, size, size / LINES))
    samples = {name: [] for name, _ in peers}
    try:
        for r in range(ROUNDS):
            order = peers[r % len(peers):] + peers[:r % len(peers)]
            for name, fn in order:
                d = os.path.join(root, "%s-%d" % (name, r))
                os.makedirs(d)
                secs, rss = fn(d, inp)
                samples[name].append({"seconds": secs, "lines_per_s": LINES / secs, "rss_kb": rss})
                print("round %d %-9s %9.0f lines/s  %6.2f s  peak RSS %7d kB" % (r + 1, name, LINES / secs, secs, rss))
                sys.stdout.flush()
                shutil.rmtree(d, ignore_errors=True)
    finally:
        os.unlink(inp)
    med = {n: {k: statistics.median(s[k] for s in v) for k in ("lines_per_s", "rss_kb")} for n, v in samples.items()}
    print("\nmedians over %d rounds:" % ROUNDS)
    for n, m in med.items():
        print("  %-9s %9.0f lines/s  peak RSS %7.0f kB" % (n, m["lines_per_s"], m["rss_kb"]))
    for peer in ("rsyslog", "syslog-ng"):
        if "berth" in med and peer in med:
            print("  berth/%-9s lines/s x%.2f   RSS x%.2f" % (peer, med["berth"]["lines_per_s"] / med[peer]["lines_per_s"],
                                                        med["berth"]["rss_kb"] / med[peer]["rss_kb"]))
    with open(root + ".json", "w") as f:
        json.dump({"lines": LINES, "rounds": ROUNDS, "samples": samples, "medians": med}, f, indent=1)
    print("samples: %s.json" % root)
    os.rmdir(root)


if __name__ == "__main__":
    main()
