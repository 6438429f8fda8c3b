"""berth dns as clients see it: dig and kdig for every name form, negative
answers with their SOA, truncation and the TCP retry, the EDNS0 buffer,
refusals, malformed packets, SIGHUP reloads, and the glibc resolver
(getent) pointed at it through resolv.conf inside a network namespace."""
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess

import pytest

from conftest import BERTH, SANITIZER_MARKERS, SLOW, Proc, free_port, run_berth, wait_for

dns_message = pytest.importorskip("dns.message")
import dns.opcode  # noqa: E402  (dnspython, after the skip)
import dns.rcode  # noqa: E402

TOOLS = [t for t in ("dig", "kdig") if shutil.which(t)]


# ---------------------------------------------------------------- catalog

def ep(svc, idx, addr, port, healthy=True, tags=(), ports=(), stack="demo"):
    return {"stack": stack, "service": svc, "index": idx, "addr": addr, "port": port, "healthy": healthy,
            "tags": list(tags), "ports": list(ports)}


def named(name, target, published, proto="tcp"):
    return {"name": name, "target": target, "published": published, "protocol": proto}


BASE = [
    ep("web", 1, "10.0.0.1", 31001, tags=["primary"],
       ports=[named("http", 80, 31001), named("admin", 9000, 31501), named("dns", 53, 31053, "udp")]),
    ep("web", 2, "10.0.0.2", 31002, ports=[named("http", 80, 31002)]),
    ep("web", 3, "10.0.0.1", 31003),                    # same node as 1: one A record
    ep("web", 4, "10.0.0.9", 31004, healthy=False, tags=["canary"]),
    ep("v6", 1, "fd00::1", 4001),
    ep("down", 1, "10.0.0.6", 5000, healthy=False),
    {"declare": {"demo": ["web", "v6", "down", "empty"]}},
]


def big(n, svc="big", v6=False):
    if v6:
        return [ep(svc, i, "fd00::1:%x" % i, 30000 + i) for i in range(1, n + 1)]
    return [ep(svc, i, "10.1.%d.%d" % (i // 256, i % 256), 30000 + i) for i in range(1, n + 1)]


# ---------------------------------------------------------------- processes

class Dns(Proc):
    """A berth dns process on 127.0.0.1 and a free port, logging to a file."""

    def __init__(self, catalog, tmpdir, name="dns", args=(), addr=None, prefix=()):
        self.path = os.path.join(tmpdir, name + ".json")
        self.write(catalog)
        self.port = free_port()
        self.addr = addr or "127.0.0.1:%d" % self.port
        self.log_path = os.path.join(tmpdir, name + ".log")
        self.log = open(self.log_path, "w")
        super().__init__([*prefix, BERTH, "dns", "--catalog", self.path, "--addr", self.addr, *args],
                         stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "ready:" in self.logs() or not self.alive(), what="berth dns ready")
        assert self.alive(), "berth dns exited:\n" + self.logs()

    def write(self, catalog):
        with open(self.path, "w") as f:
            f.write(catalog if isinstance(catalog, str) else json.dumps(catalog))

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def reload(self, catalog):
        """Rewrites the file, sends SIGHUP, waits until it was read."""
        before = self.logs().count("reloaded") + self.logs().count("reload refused")
        self.write(catalog)
        self.signal(signal.SIGHUP)
        wait_for(lambda: self.logs().count("reloaded") + self.logs().count("reload refused") > before,
                 what="berth dns reload")


@pytest.fixture
def dns_server(procs, tmpdir_path):
    """Starts berth dns processes; at the end stops them by PID and fails
    the test on any sanitizer report in their logs (make check-asan)."""
    started = []

    def start(catalog=BASE, **kw):
        d = Dns(catalog, tmpdir_path, name="dns%d" % len(started), **kw)
        procs.add(d)
        started.append(d)
        return d

    yield start
    reports = []
    for d in started:
        d.stop()
        d.log.close()
        text = d.logs()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                i = text.index(marker)
                reports.append("%s:\n%s" % (d.log_path, text[max(0, i - 200):i + 3000]))
                break
    if reports:
        pytest.fail("sanitizer report from berth dns:\n" + "\n".join(reports), pytrace=False)


# ---------------------------------------------------------------- dig, kdig

class Answer:
    """dig's or kdig's text output, parsed: status, flags, sections."""

    def __init__(self, text):
        self.text = text
        m = re.search(r"status: (\w+)", text)
        self.status = m.group(1) if m else None
        m = re.search(r";; flags: ([a-z ]*);", text, re.I)
        self.flags = set(m.group(1).split()) if m else set()
        self.sections = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
        cur = None
        for line in text.splitlines():
            m = re.match(r";; (\w+) SECTION:", line)
            if m:
                cur = m.group(1) if m.group(1) in self.sections else None
                continue
            if not line.strip() or line.startswith(";"):
                if not line.strip():
                    cur = None
                continue
            if cur:
                f = line.split()
                self.sections[cur].append((f[0].lower(), int(f[1]), f[3], " ".join(f[4:])))
        self.tcp = bool(re.search(r"\(TCP\)", text))
        self.udp = bool(re.search(r"\(UDP\)", text))

    def rrs(self, section="ANSWER", rtype=None):
        return [r for r in self.sections[section] if rtype is None or r[2] == rtype]

    def data(self, section="ANSWER", rtype=None):
        return sorted(r[3] for r in self.rrs(section, rtype))


def ask(tool, port, name, rtype="A", *opts):
    if tool == "dig":
        argv = ["dig", "@127.0.0.1", "-p", str(port), "+time=%d" % (2 * SLOW), "+tries=1", *opts, name, rtype]
    else:
        argv = ["kdig", "@127.0.0.1", "-p", str(port), "+time=%d" % (2 * SLOW), "+retry=0", *opts, name, rtype]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20 * SLOW)
    return Answer(r.stdout + r.stderr)


def soa_ok(a, minimum=5):
    soa = a.rrs("AUTHORITY", "SOA")
    assert len(soa) == 1, a.text
    name, ttl, _, data = soa[0]
    f = data.split()
    assert name == "berth."
    assert f[0] == "ns.berth." and f[1] == "hostmaster.berth.", a.text
    assert int(f[6]) == minimum and ttl == minimum, a.text


# ---------------------------------------------------------------- answers

@pytest.mark.parametrize("tool", TOOLS)
def test_name_forms(dns_server, tool):
    d = dns_server()
    a = ask(tool, d.port, "web.demo.berth", "A")
    assert a.status == "NOERROR", a.text
    assert "aa" in a.flags and "ra" not in a.flags, a.text
    assert a.data() == ["10.0.0.1", "10.0.0.2"], a.text          # healthy, de-duplicated
    assert all(r[1] == 5 for r in a.rrs()), a.text               # TTL 5 s

    a = ask(tool, d.port, "v6.demo.berth", "AAAA")
    assert a.data() == ["fd00::1"], a.text

    a = ask(tool, d.port, "web.demo.berth", "SRV")
    assert a.data() == ["1 1 31001 1.web.demo.berth.", "1 1 31002 2.web.demo.berth.",
                        "1 1 31003 3.web.demo.berth."], a.text
    assert sorted((r[0], r[3]) for r in a.rrs("ADDITIONAL", "A")) == [
        ("1.web.demo.berth.", "10.0.0.1"), ("2.web.demo.berth.", "10.0.0.2"),
        ("3.web.demo.berth.", "10.0.0.1")], a.text

    a = ask(tool, d.port, "primary.web.demo.berth", "A")
    assert a.data() == ["10.0.0.1"], a.text
    a = ask(tool, d.port, "2.web.demo.berth", "A")
    assert a.data() == ["10.0.0.2"], a.text

    a = ask(tool, d.port, "_admin._tcp.web.demo.berth", "SRV")
    assert a.data() == ["1 1 31501 1.web.demo.berth."], a.text
    assert a.data("ADDITIONAL", "A") == ["10.0.0.1"], a.text
    a = ask(tool, d.port, "_http._tcp.web.demo.berth", "SRV")
    assert a.data() == ["1 1 31001 1.web.demo.berth.", "1 1 31002 2.web.demo.berth."], a.text
    a = ask(tool, d.port, "_dns._udp.web.demo.berth", "SRV")
    assert a.data() == ["1 1 31053 1.web.demo.berth."], a.text

    a = ask(tool, d.port, "berth", "SOA")
    assert a.rrs(rtype="SOA") and a.rrs(rtype="SOA")[0][3].startswith("ns.berth. hostmaster.berth. "), a.text
    a = ask(tool, d.port, "berth", "NS")
    assert a.data() == ["ns.berth."], a.text
    assert a.data("ADDITIONAL", "A") == ["127.0.0.1"], a.text

    # Case-insensitive, and the same over TCP.
    a = ask(tool, d.port, "WEB.Demo.BERTH", "A", "+tcp")
    assert a.tcp and a.data() == ["10.0.0.1", "10.0.0.2"], a.text


@pytest.mark.parametrize("tool", TOOLS)
def test_negative_answers(dns_server, tool):
    d = dns_server()
    for name, rtype in [("nope.demo.berth", "A"), ("web.nostack.berth", "A"), ("9.web.demo.berth", "A"),
                        ("nosuchtag.web.demo.berth", "A"), ("_nope._tcp.web.demo.berth", "SRV")]:
        a = ask(tool, d.port, name, rtype)
        assert a.status == "NXDOMAIN", (name, a.text)
        assert "aa" in a.flags and not a.rrs(), a.text
        soa_ok(a)
    # The name exists, not the type (or nothing healthy answers): NODATA.
    for name, rtype in [("web.demo.berth", "AAAA"), ("empty.demo.berth", "A"), ("down.demo.berth", "SRV"),
                        ("4.web.demo.berth", "A"), ("canary.web.demo.berth", "A"), ("demo.berth", "A"),
                        ("web.demo.berth", "TXT"), ("berth", "A")]:
        a = ask(tool, d.port, name, rtype)
        assert a.status == "NOERROR", (name, a.text)
        assert not a.rrs(), a.text
        soa_ok(a)


@pytest.mark.parametrize("tool", TOOLS)
def test_outside_the_domain_is_refused(dns_server, tool):
    d = dns_server()
    for name in ["example.com", "berth.example", "xberth"]:
        a = ask(tool, d.port, name, "A")
        assert a.status == "REFUSED", a.text
        assert "aa" not in a.flags and "ra" not in a.flags, a.text
    a = ask(tool, d.port, "version.bind", "TXT", "-c", "CH" if tool == "dig" else "CH")
    assert a.status == "REFUSED", a.text


def test_options(dns_server):
    d = dns_server(args=["--domain", "svc.example.", "--ttl", "30s", "--neg-ttl", "2s"])
    a = ask("dig", d.port, "web.demo.svc.example", "A")
    assert a.data() == ["10.0.0.1", "10.0.0.2"] and all(r[1] == 30 for r in a.rrs()), a.text
    a = ask("dig", d.port, "nope.demo.svc.example", "A")
    assert a.status == "NXDOMAIN"
    soa = a.rrs("AUTHORITY", "SOA")[0]
    assert soa[0] == "svc.example." and soa[1] == 2 and soa[3].split()[6] == "2", a.text
    assert ask("dig", d.port, "web.demo.berth", "A").status == "REFUSED"


# ---------------------------------------------------------------- truncation

def test_tcp_fallback_dig(dns_server):
    d = dns_server(BASE + big(60))
    # 60 A records make 992 bytes: past 512 without EDNS0.
    a = ask("dig", d.port, "big.demo.berth", "A", "+noedns")
    assert "Truncated, retrying in TCP mode" in a.text, a.text
    assert a.tcp and len(a.rrs()) == 60, a.text
    a = ask("dig", d.port, "big.demo.berth", "A", "+noedns", "+notcp", "+ignore")
    assert "tc" in a.flags and a.udp and not a.rrs(), a.text
    a = ask("dig", d.port, "big.demo.berth", "SRV", "+noedns", "+notcp", "+ignore")
    assert "tc" in a.flags, a.text


def test_tcp_fallback_kdig(dns_server):
    if "kdig" not in TOOLS:
        pytest.skip("no kdig")
    d = dns_server(BASE + big(60))
    a = ask("kdig", d.port, "big.demo.berth", "A", "+noedns")
    assert "truncated reply" in a.text and a.tcp and len(a.rrs()) == 60, a.text
    a = ask("kdig", d.port, "big.demo.berth", "A", "+noedns", "+notcp", "+ignore")
    assert "tc" in a.flags and not a.rrs(), a.text


@pytest.mark.parametrize("tool", TOOLS)
def test_edns_buffer_honoured(dns_server, tool):
    d = dns_server(BASE + big(60) + big(300, "huge", v6=True))
    a = ask(tool, d.port, "big.demo.berth", "A", "+bufsize=1232", "+notcp", "+ignore")
    assert "tc" not in a.flags and a.udp and len(a.rrs()) == 60, a.text
    # 12 + 20 + 60 * 16 + 11 = 1003 bytes: exactly fits 1003, not 1002.
    a = ask(tool, d.port, "big.demo.berth", "A", "+bufsize=1003", "+notcp", "+ignore")
    assert "tc" not in a.flags and len(a.rrs()) == 60, a.text
    a = ask(tool, d.port, "big.demo.berth", "A", "+bufsize=1002", "+notcp", "+ignore")
    assert "tc" in a.flags, a.text
    # The buffer is capped at 4096: 300 AAAA (8 kB) truncate whatever the
    # client offers, and come whole over TCP.
    a = ask(tool, d.port, "huge.demo.berth", "AAAA", "+bufsize=65000", "+notcp", "+ignore")
    assert "tc" in a.flags, a.text
    a = ask(tool, d.port, "huge.demo.berth", "AAAA", "+tcp")
    assert len(a.rrs()) == 300 and "tc" not in a.flags, a.text


# ---------------------------------------------------------------- bad input

def udp_exchange(port, payload, timeout=1.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout * SLOW)
        s.sendto(payload, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def good_query(port, name="web.demo.berth"):
    q = dns_message.make_query(name, "A")
    r = udp_exchange(port, q.to_wire(), timeout=3)
    assert r is not None, "no answer to a good query"
    return dns_message.from_wire(r)


def test_malformed_packets(dns_server):
    d = dns_server()
    base = dns_message.make_query("web.demo.berth", "A", use_edns=False)
    base.id = 0x2222
    wire = base.to_wire()
    formerr = [
        wire[:-3],                                          # question cut short
        wire[:12],                                          # a header, no question
        wire[:12] + b"\xc0\x0c\x00\x01\x00\x01",            # pointer in the question
        wire[:12] + b"\x40" + wire[13:],                    # unknown label type
        wire + b"\x00\x00",                                 # trailing bytes
        wire[:11] + b"\x02" + wire[12:] + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00" * 2,  # two OPT
    ]
    for p in formerr:
        r = udp_exchange(d.port, p)
        assert r is not None and len(r) == 12, p
        assert r[:2] == b"\x22\x22" and (r[3] & 0x0f) == dns.rcode.FORMERR, r
    # Too short for a header, or a response: no answer at all.
    resp = bytearray(wire)
    resp[2] |= 0x80
    for p in [b"", b"\x01", wire[:11], bytes(resp)]:
        assert udp_exchange(d.port, p, timeout=0.3) is None, p
    # Random garbage with a readable header (and QR clear): always an
    # answer (FORMERR mostly, NOTIMP for odd opcodes), never a crash.
    rnd = random.Random(42)
    for _ in range(300):
        p = bytearray(rnd.randrange(256) for _ in range(rnd.randrange(12, 80)))
        p[2] &= 0x7f
        r = udp_exchange(d.port, bytes(p), timeout=1)
        assert r is not None and r[:2] == p[:2] and (r[2] & 0x80), (p, r)
    # TCP: a message with no header closes the connection; the server lives.
    with socket.create_connection(("127.0.0.1", d.port), timeout=3 * SLOW) as s:
        s.sendall(b"\x00\x03abc")
        assert s.recv(100) == b""
    with socket.create_connection(("127.0.0.1", d.port), timeout=3 * SLOW) as s:
        s.sendall(struct.pack(">H", 14) + wire[:12] + b"\xff\xff")
        r = s.recv(100)
        assert r[:2] == b"\x00\x0c" and (r[5] & 0x0f) == dns.rcode.FORMERR, r
        # The same connection answers a good query next.
        s.sendall(struct.pack(">H", len(wire)) + wire)
        n = struct.unpack(">H", s.recv(2))[0]
        body = b""
        while len(body) < n:
            body += s.recv(n - len(body))
        assert dns_message.from_wire(body).rcode() == dns.rcode.NOERROR
    assert d.alive()
    m = good_query(d.port)
    assert sorted(r.address for r in m.answer[0]) == ["10.0.0.1", "10.0.0.2"]


def test_notimp_and_badvers(dns_server):
    d = dns_server()
    q = dns_message.make_query("web.demo.berth", "A")
    q.set_opcode(dns.opcode.UPDATE)
    r = dns_message.from_wire(udp_exchange(d.port, q.to_wire(), timeout=3))
    assert r.rcode() == dns.rcode.NOTIMP
    # EDNS version 1: the OPT TTL's second byte (the OPT ends the query).
    w = bytearray(dns_message.make_query("web.demo.berth", "A", use_edns=0).to_wire())
    w[-5] = 1
    r = dns_message.from_wire(udp_exchange(d.port, bytes(w), timeout=3))
    assert r.rcode() == dns.rcode.BADVERS and not r.answer
    q = dns_message.make_query("berth.", "AXFR")
    r = dns_message.from_wire(udp_exchange(d.port, q.to_wire(), timeout=3))
    assert r.rcode() == dns.rcode.NOTIMP


# ---------------------------------------------------------------- reloads

def test_sighup_reload(dns_server):
    d = dns_server()
    assert ask("dig", d.port, "web.demo.berth", "A").data() == ["10.0.0.1", "10.0.0.2"]
    assert ask("dig", d.port, "db.demo.berth", "A").status == "NXDOMAIN"
    d.reload([ep("web", 1, "10.0.0.42", 31001), ep("db", 1, "10.0.0.50", 5432)])
    assert ask("dig", d.port, "web.demo.berth", "A").data() == ["10.0.0.42"]
    assert ask("dig", d.port, "db.demo.berth", "A").data() == ["10.0.0.50"]
    assert ask("dig", d.port, "v6.demo.berth", "AAAA").status == "NXDOMAIN"
    # A bad file is refused: the running catalog stays.
    d.reload("[{\"stack\": \"demo\"")
    assert "reload refused" in d.logs()
    assert ask("dig", d.port, "db.demo.berth", "A").data() == ["10.0.0.50"]
    d.reload([ep("web", 1, "not-an-ip", 1)])
    assert ask("dig", d.port, "db.demo.berth", "A").data() == ["10.0.0.50"]
    assert d.alive()


def test_cli_errors(tmpdir_path):
    r = run_berth("dns")
    assert r.returncode == 2 and "--catalog FILE is required" in r.stderr
    bad = os.path.join(tmpdir_path, "bad.json")
    with open(bad, "w") as f:
        f.write("[\n{\"stack\": 1}\n]")
    r = run_berth("dns", "--catalog", bad)
    assert r.returncode == 1 and "element 0" in r.stderr, r.stderr
    with open(bad, "w") as f:
        f.write("[\n{")
    r = run_berth("dns", "--catalog", bad)
    assert r.returncode == 1 and bad + ":2:" in r.stderr, r.stderr
    good = os.path.join(tmpdir_path, "good.json")
    with open(good, "w") as f:
        json.dump(BASE, f)
    r = run_berth("dns", "--catalog", good, "--addr", "nowhere")
    assert r.returncode == 1 and "nowhere" in r.stderr, r.stderr
    r = run_berth("dns", "--catalog", good, "--ttl", "1500ms")
    assert r.returncode == 2 and "whole seconds" in r.stderr, r.stderr
    r = run_berth("dns", "--catalog", good, "--domain", "a..b", "--addr", "127.0.0.1:%d" % free_port())
    assert r.returncode == 2 and "domain" in r.stderr, r.stderr
    r = run_berth("help", "dns")
    assert r.returncode == 0 and "--catalog" in r.stdout


# ---------------------------------------------------------------- glibc

def have_netns():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("getent"):
        return False
    return True


@pytest.mark.skipif(not have_netns(), reason="needs root, ip and getent for a network namespace")
def test_glibc_resolver_in_a_namespace(dns_server):
    ns = "berth-dns-%d" % os.getpid()
    etc = "/etc/netns/" + ns
    created = False
    d = None
    try:
        r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot create a network namespace: " + r.stderr.strip())
        created = True
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\nsearch demo.berth\noptions timeout:2 attempts:2\n")
        d = dns_server(addr="127.0.0.1:53", prefix=["ip", "netns", "exec", ns])

        def getent(*args):
            return subprocess.run(["ip", "netns", "exec", ns, "getent", *args], capture_output=True, text=True,
                                  timeout=20 * SLOW)

        r = getent("hosts", "web.demo.berth")
        assert r.returncode == 0, r.stderr
        addr, name = r.stdout.split()[:2]
        assert addr in ("10.0.0.1", "10.0.0.2") and name == "web.demo.berth", r.stdout
        # getaddrinfo (ahosts; ahostsv4 sets AI_ADDRCONFIG, which wants a
        # non-loopback IPv4 address the namespace does not have).
        r = getent("ahosts", "web.demo.berth")
        assert {ln.split()[0] for ln in r.stdout.splitlines()} == {"10.0.0.1", "10.0.0.2"}, r.stdout
        r = getent("hosts", "2.web.demo.berth")
        assert r.stdout.split()[0] == "10.0.0.2", r.stdout
        r = getent("hosts", "v6.demo.berth")
        assert r.stdout.split()[0] == "fd00::1", r.stdout
        # The search list: a bare service name.
        r = getent("hosts", "web")
        assert r.returncode == 0 and r.stdout.split()[0] in ("10.0.0.1", "10.0.0.2"), r.stdout
        # NXDOMAIN and NODATA are both "not found" (exit 2) to getent.
        assert getent("hosts", "nope.demo.berth").returncode == 2
        assert getent("ahosts", "empty.demo.berth").returncode == 2
        assert getent("hosts", "down.demo.berth").returncode == 2
        assert d.alive()
    finally:
        if d:
            d.stop()                                    # by PID, before its namespace goes
        if created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)
