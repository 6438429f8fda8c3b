"""berth lb TLS termination: certificates chosen by SNI, HTTP over TLS with
X-Forwarded-Proto: https, and refusal to start with an unusable certificate."""
import json
import os
import shutil
import socket
import ssl
import subprocess

import pytest

from conftest import BERTH, SLOW, free_port, port_open, run_berth

if not shutil.which("openssl"):
    pytest.skip("the openssl CLI is needed to make test certificates", allow_module_level=True)


# ---------------------------------------------------------------- helpers

def make_cert(tmpdir, name):
    """A self-signed certificate for <name> (CN and SAN); returns the path of
    a PEM holding the certificate then its key, and the certificate alone."""
    crt, key = os.path.join(tmpdir, name + ".crt"), os.path.join(tmpdir, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:" + name],
                   check=True, capture_output=True, timeout=30)
    pem = os.path.join(tmpdir, name + ".pem")
    with open(pem, "w") as out:
        for part in (crt, key):
            with open(part) as f:
                out.write(f.read())
    with open(crt) as f:
        return pem, f.read()


@pytest.fixture
def certs(tmpdir_path):
    return {n: make_cert(tmpdir_path, n) for n in ("a.test", "b.test")}


def tls_lb(procs, tmpdir, certs, backend):
    port = free_port()
    cfg = f"""threads: 2
frontends:
  secure:
    bind: [127.0.0.1:{port}]
    tls: {{certs: [{certs["a.test"][0]}, {certs["b.test"][0]}]}}
    default_backend: app
backends:
  app:
    servers: [{{name: {backend.name}, addr: {backend.addr}}}]
"""
    return procs.lb(cfg, tmpdir, wait_ports=[port]), port


def client_ctx(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    # Trust both self-signed certificates so that getpeercert() decodes them.
    ctx.load_verify_locations(cadata="".join(c for _, c in certs.values()))
    return ctx


def tls_connect(port, ctx, sni):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    return ctx.wrap_socket(raw, server_hostname=sni)


def read_response(s, buf=b""):
    """Returns (status, headers dict, body, rest) of one Content-Length response."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, "connection closed before a response head"
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
    n = int(hdrs["content-length"])
    while len(buf) < n:
        d = s.recv(65536)
        assert d, "connection closed mid-body"
        buf += d
    return int(lines[0].split()[1]), hdrs, buf[:n], buf[n:]


# ------------------------------------------------------------------- tests

def test_sni_selects_certificate(procs, tmpdir_path, certs):
    b = procs.backend("app1")
    lb, port = tls_lb(procs, tmpdir_path, certs, b)
    ctx = client_ctx(certs)
    seen = {}
    for name in ("a.test", "b.test", "a.test"):
        with tls_connect(port, ctx, name) as s:
            cert = s.getpeercert()
            subject = dict(x[0] for x in cert["subject"])
            assert subject["commonName"] == name, cert
            assert ("DNS", name) in cert.get("subjectAltName", ()), cert
            der = s.getpeercert(binary_form=True)
            assert der == ssl.PEM_cert_to_DER_cert(certs[name][1])
            seen[name] = der
    assert seen["a.test"] != seen["b.test"]


def test_http_over_tls(procs, tmpdir_path, certs):
    b = procs.backend("app1")
    lb, port = tls_lb(procs, tmpdir_path, certs, b)
    with tls_connect(port, client_ctx(certs), "b.test") as s:
        # Two requests on one TLS connection, the client's own proto replaced.
        s.sendall(b"GET /headers HTTP/1.1\r\nHost: b.test\r\nX-Forwarded-Proto: http\r\n\r\n")
        status, hdrs, body, rest = read_response(s)
        assert status == 200 and hdrs["x-backend"] == "app1"
        hl = json.loads(body)["headers"]
        assert [v for k, v in hl if k.lower() == "x-forwarded-proto"] == ["https"], hl
        assert [v for k, v in hl if k.lower() == "x-forwarded-port"] == [str(port)], hl
        assert [v for k, v in hl if k.lower() == "host"] == ["b.test"], hl

        body_out = b"over tls " * 1000
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: b.test\r\nContent-Length: %d\r\n\r\n" % len(body_out) + body_out)
        status, hdrs, body, rest = read_response(s, rest)
        assert status == 200 and body == body_out


def test_large_response_over_tls(procs, tmpdir_path, certs):
    b = procs.backend("app1")
    lb, port = tls_lb(procs, tmpdir_path, certs, b)
    with tls_connect(port, client_ctx(certs), "a.test") as s:
        s.sendall(b"GET /big?kb=1024 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        status, hdrs, body, rest = read_response(s)
        assert status == 200 and body == b"x" * (1024 * 1024)


def test_plain_http_on_tls_port_gets_no_http_response(procs, tmpdir_path, certs):
    b = procs.backend("app1")
    lb, port = tls_lb(procs, tmpdir_path, certs, b)
    with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        got = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            pass
        assert b"HTTP/1.1 200" not in got and b"app1" not in got
    # ...and TLS clients are still served.
    with tls_connect(port, client_ctx(certs), "a.test") as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert read_response(s)[2] == b"app1\n"


def run_lb_expect_refusal(tmpdir, cert_path, backend_addr):
    port = free_port()
    cfg_path = os.path.join(tmpdir, "tls-bad.yml")
    with open(cfg_path, "w") as f:
        f.write(f"""frontends:
  secure:
    bind: [127.0.0.1:{port}]
    tls: {{certs: [{cert_path}]}}
    default_backend: app
backends:
  app:
    servers: [{{name: s, addr: {backend_addr}}}]
""")
    try:
        r = run_berth("lb", "-c", cfg_path)
    except subprocess.TimeoutExpired:
        pytest.fail("berth lb started with an unusable certificate %s" % cert_path)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert cert_path in out, out
    assert not port_open(port)
    return out


def test_missing_cert_file_refused(tmpdir_path):
    run_lb_expect_refusal(tmpdir_path, os.path.join(tmpdir_path, "nosuch.pem"), "127.0.0.1:1")


def test_garbage_cert_file_refused(tmpdir_path):
    bad = os.path.join(tmpdir_path, "garbage.pem")
    with open(bad, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    run_lb_expect_refusal(tmpdir_path, bad, "127.0.0.1:1")


def test_cert_without_key_refused(tmpdir_path):
    crt = os.path.join(tmpdir_path, "nokey.pem")
    _, cert_text = make_cert(tmpdir_path, "c.test")
    with open(crt, "w") as f:
        f.write(cert_text)
    run_lb_expect_refusal(tmpdir_path, crt, "127.0.0.1:1")
