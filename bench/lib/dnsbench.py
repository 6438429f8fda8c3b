#!/usr/bin/env python3
"""berth dns against dnsmasq: the driver behind bench/dns.sh.

Usage: dnsbench.py BERTH_BINARY

Both servers answer the same names on 127.0.0.1, each on its own port:
  - berth dns from a catalog file (stack "demo": web with 8 instances on 4
    nodes, named port "http"; api with 3; db with 2, one tagged primary);
  - dnsmasq (Debian's) from an addn-hosts file (the A records) and srv-host
    lines (the SRV records), authoritative for berth. (local=/berth/: unknown
    names get NXDOMAIN), no upstream (--no-resolv), no /etc/hosts, TTL 5 s.

One query file for both: A for service, tag and instance names, SRV for
services and named ports, and NXDOMAIN names (about 45 % A, 35 % SRV, 20 %
NXDOMAIN). Before measuring, the answers of the two servers are compared
name by name (the same address sets and SRV records, the same rcodes).

Each round runs both servers in turn, the order alternating between rounds:
a warm-up, then `dnsperf -c 1 -T 1 -l DURATION -q OUTSTANDING` (one client
thread). Reported per server: queries/s, average latency, and the server's
CPU time per query (user + system from /proc, over the measured run).
Medians across rounds with the berth/dnsmasq ratio; all samples go to a JSON
file under $TMPDIR. With BENCH_STRACE=1 a last phase counts berth's and
dnsmasq's system calls per query (strace -c -f during a short run).

Environment: BENCH_ROUNDS (3), BENCH_DURATION (10 s), BENCH_WARMUP (1 s),
BENCH_OUTSTANDING (100), BENCH_STRACE (0), BENCH_QUICK=1 (1 round of 2 s).
"""
import ctypes
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def env_num(name, default, conv=int):
    v = os.environ.get(name)
    return conv(v) if v not in (None, "") else default


ROUNDS = env_num("BENCH_ROUNDS", 1 if QUICK else 3)
DURATION = env_num("BENCH_DURATION", 2 if QUICK else 10, float)
WARMUP = env_num("BENCH_WARMUP", 0.5 if QUICK else 1, float)
OUTSTANDING = env_num("BENCH_OUTSTANDING", 100)
STRACE = os.environ.get("BENCH_STRACE", "") not in ("", "0")
TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------- processes --

_libc = ctypes.CDLL(None, use_errno=True)
PROCS = []  # every process started, stopped by PID at the end


def _die_with_parent():
    # PR_SET_PDEATHSIG: if the driver is killed outright, its children go too.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def spawn(argv, log_path):
    out = open(log_path, "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    p.log_path = log_path
    PROCS.append(p)
    return p


def stop(p, timeout=5):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def tail(path, n=20):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def free_port():
    # Free for TCP and UDP both: the servers open the two.
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# ------------------------------------------------------------ the zone --

STACK = "demo"
SERVICES = {
    # svc: [(index, addr, port, tags)]
    "web": [(i, "10.0.0.%d" % (1 + (i - 1) // 2), 31000 + i, []) for i in range(1, 9)],
    "api": [(i, "10.0.1.%d" % i, 32000 + i, []) for i in range(1, 4)],
    "db": [(1, "10.0.2.1", 5432, ["primary"]), (2, "10.0.2.2", 5432, ["replica"])],
}


def catalog():
    out = []
    for svc, eps in SERVICES.items():
        for idx, addr, port, tags in eps:
            out.append({"stack": STACK, "service": svc, "index": idx, "addr": addr, "port": port,
                        "healthy": True, "tags": tags,
                        "ports": [{"target": 80, "published": port, "name": "http"}]})
    return out


def dnsmasq_config(tmp):
    """The same names for dnsmasq: hosts lines for A, srv-host for SRV."""
    hosts, conf = [], []
    for svc, eps in SERVICES.items():
        base = "%s.%s.berth" % (svc, STACK)
        for idx, addr, port, tags in eps:
            hosts.append("%s %s" % (addr, base))
            hosts.append("%s %d.%s" % (addr, idx, base))
            for t in tags:
                hosts.append("%s %s.%s" % (addr, t, base))
            target = "%d.%s" % (idx, base)
            conf.append("srv-host=%s,%s,%d,1,1" % (base, target, port))
            conf.append("srv-host=_http._tcp.%s,%s,%d,1,1" % (base, target, port))
    hosts_path = os.path.join(tmp, "hosts")
    with open(hosts_path, "w") as f:
        f.write("\n".join(hosts) + "\n")
    conf_path = os.path.join(tmp, "dnsmasq.conf")
    with open(conf_path, "w") as f:
        f.write("\n".join([
            "no-resolv", "no-hosts", "addn-hosts=%s" % hosts_path, "local=/berth/", "local-ttl=5",
            "bind-interfaces", "listen-address=127.0.0.1", "except-interface=nonexistent0",
            "no-dhcp-interface=", "cache-size=1000", "user=root", "pid-file=",
        ] + conf) + "\n")
    return conf_path


def queries():
    """(name, type) pairs, in file order."""
    q = []
    for svc in SERVICES:
        base = "%s.%s.berth" % (svc, STACK)
        q += [(base, "A")] * 4 + [(base, "SRV")] * 3 + [("_http._tcp." + base, "SRV")] * 2
        q += [("%d.%s" % (idx, base), "A") for idx, _, _, _ in SERVICES[svc][:2]]
    q += [("primary.db.%s.berth" % STACK, "A")]
    n_pos = len(q)
    q += [("nope%d.%s.berth" % (i, STACK), "A") for i in range(n_pos // 4)]
    return q


# --------------------------------------------------------------- checks --

def ask(port, name, rtype):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2", "+noall", "+answer",
                        "+comments", name, rtype], capture_output=True, text=True, timeout=20)
    m = re.search(r"status: (\w+)", r.stdout)
    data = sorted(" ".join(ln.split()[4:]).lower() for ln in r.stdout.splitlines()
                  if ln and not ln.startswith(";"))
    return (m.group(1) if m else "?", data)


def check_same(ports, qs):
    bad = []
    for name, rtype in sorted(set(qs)):
        a = {srv: ask(p, name, rtype) for srv, p in ports.items()}
        if len(set(map(str, a.values()))) != 1:
            bad.append("%s %s: %s" % (name, rtype, a))
    if bad:
        raise RuntimeError("the servers answer differently:\n" + "\n".join(bad))


# ---------------------------------------------------------------- runs --

def dnsperf(port, qfile, duration):
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-c", "1", "-T", "1",
            "-l", str(duration), "-q", str(OUTSTANDING), "-t", "2"]
    with tempfile.TemporaryFile("w+") as outf:
        p = subprocess.Popen(argv, stdout=outf, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        # wait4 gives the client's own CPU time: client and server share
        # the machine, so it bounds what any server can show.
        _, _, ru = os.wait4(p.pid, 0)
        p.returncode = 0
        outf.seek(0)
        out = outf.read()

    def num(pat):
        m = re.search(pat, out)
        return float(m.group(1)) if m else None
    res = {"qps": num(r"Queries per second:\s+([\d.]+)"),
           "lat_ms": (num(r"Average Latency \(s\):\s+([\d.]+)") or 0) * 1000,
           "completed": num(r"Queries completed:\s+(\d+)"),
           "lost": num(r"Queries lost:\s+(\d+)"),
           "codes": re.search(r"Response codes:\s+(.*)", out).group(1) if "Response codes" in out else "",
           "client_cpu_s": ru.ru_utime + ru.ru_stime}
    if res["qps"] is None:
        raise RuntimeError("dnsperf failed:\n" + out)
    return res


def measure(proc, port, qfile):
    dnsperf(port, qfile, WARMUP)
    c0 = cpu_s(proc.pid)
    res = dnsperf(port, qfile, DURATION)
    res["cpu_us_per_q"] = (cpu_s(proc.pid) - c0) * 1e6 / max(res["completed"], 1)
    res["client_us_per_q"] = res["client_cpu_s"] * 1e6 / max(res["completed"], 1)
    return res


def strace_counts(proc, port, qfile, seconds=3):
    """System calls per query: strace -c attached for a short dnsperf run."""
    out = os.path.join(os.path.dirname(qfile), "strace-%d.txt" % proc.pid)
    st = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(proc.pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    res = dnsperf(port, qfile, seconds)
    st.send_signal(signal.SIGINT)
    st.wait(10)
    calls = {}
    with open(out) as f:
        for ln in f:
            p = ln.split()
            if len(p) >= 5 and p[3].isdigit():
                calls[p[-1]] = int(p[3])
    return {k: v / max(res["completed"], 1) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
            if k != "total"}


def main():
    berth = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="berth-dns-bench-")
    samples = {"berth": [], "dnsmasq": []}
    try:
        with open(os.path.join(tmp, "catalog.json"), "w") as f:
            json.dump(catalog(), f)
        qs = queries()
        qfile = os.path.join(tmp, "queries.txt")
        with open(qfile, "w") as f:
            f.write("".join("%s %s\n" % q for q in qs))
        conf = dnsmasq_config(tmp)
        ports = {"berth": free_port(), "dnsmasq": free_port()}
        procs = {
            "berth": spawn([berth, "dns", "--catalog", os.path.join(tmp, "catalog.json"), "--addr",
                            "127.0.0.1:%d" % ports["berth"], "--log-level", "warn"],
                           os.path.join(tmp, "berth.log")),
            "dnsmasq": spawn(["dnsmasq", "--keep-in-foreground", "--conf-file=" + conf,
                              "--port=%d" % ports["dnsmasq"]], os.path.join(tmp, "dnsmasq.log")),
        }
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(ask(p, "web.demo.berth", "A")[0] != "NOERROR"
                                                  for p in ports.values()):
            for n, p in procs.items():
                if p.poll() is not None:
                    raise RuntimeError("%s exited at start:\n%s" % (n, tail(p.log_path)))
            time.sleep(0.1)
        check_same(ports, qs)
        log("dns bench: %d queries in the file (%d distinct), answers identical on both servers"
            % (len(qs), len(set(qs))))
        log("load before: %s" % open("/proc/loadavg").read().strip())
        for rnd in range(ROUNDS):
            order = ["berth", "dnsmasq"] if rnd % 2 == 0 else ["dnsmasq", "berth"]
            for srv in order:
                r = measure(procs[srv], ports[srv], qfile)
                samples[srv].append(r)
                log("round %d %-8s %9.0f q/s  avg %.3f ms  cpu %.2f us/q (dnsperf %.2f)  lost %d  %s"
                    % (rnd + 1, srv, r["qps"], r["lat_ms"], r["cpu_us_per_q"], r["client_us_per_q"],
                       r["lost"] or 0, r["codes"]))
        load = open("/proc/loadavg").read().strip()
        syscalls = {}
        if STRACE:
            for srv in ("berth", "dnsmasq"):
                syscalls[srv] = strace_counts(procs[srv], ports[srv], qfile)
        for p in list(procs.values()):
            stop(p)
    finally:
        for p in list(PROCS):
            stop(p, timeout=3)

    med = {s: {k: statistics.median(r[k] for r in v) for k in ("qps", "lat_ms", "cpu_us_per_q", "client_us_per_q")}
           for s, v in samples.items()}
    ratio = med["berth"]["qps"] / med["dnsmasq"]["qps"]
    print()
    print("berth dns vs dnsmasq: dnsperf -c 1 -T 1 -q %d, %g s runs, %d rounds, medians" %
          (OUTSTANDING, DURATION, ROUNDS))
    print("| server | queries/s | avg latency ms | server CPU us/query | dnsperf CPU us/query |")
    print("|---|---:|---:|---:|---:|")
    for s in ("berth", "dnsmasq"):
        print("| %s | %s | %.3f | %.2f | %.2f |" % (s, format(round(med[s]["qps"]), ","), med[s]["lat_ms"],
                                                   med[s]["cpu_us_per_q"], med[s]["client_us_per_q"]))
    print("berth/dnsmasq queries/s: %.2f (target >= 1.5); server CPU per query: %.2f" %
          (ratio, med["berth"]["cpu_us_per_q"] / med["dnsmasq"]["cpu_us_per_q"]))
    print("load average after: %s" % load)
    for s, calls in syscalls.items():
        print("%s syscalls per query: %s" % (s, ", ".join("%s %.3f" % kv for kv in list(calls.items())[:6])))
    path = os.path.join(tempfile.gettempdir(), "berth-dns-bench-%s.json" %
                        datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as f:
        json.dump({"host": platform.node(), "rounds": ROUNDS, "duration": DURATION, "outstanding": OUTSTANDING,
                   "samples": samples, "medians": med, "ratio": ratio, "syscalls": syscalls}, f, indent=1)
    print("samples: %s" % path)
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
