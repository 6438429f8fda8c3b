"""Fixtures for the system tests: real berth lb processes in front of real
backend processes, all on 127.0.0.1 with ports chosen at run time."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BERTH = os.environ.get("BERTH_BIN") or os.path.join(HERE, "..", "..", "build", "berth")
# Sanitizer builds are slower: bounded waits get more room, never a sleep.
SLOW = 4 if os.environ.get("BERTH_ASAN") else 1
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def run_berth(*args, timeout=15):
    """Runs a short berth command; a sanitizer report in its output fails
    the test (make check-asan)."""
    r = subprocess.run([BERTH, *args], capture_output=True, text=True, timeout=timeout * SLOW)
    for marker in SANITIZER_MARKERS:
        if marker in r.stderr or marker in r.stdout:
            pytest.fail("sanitizer report from berth %s:\n%s" % (" ".join(args), r.stderr), pytrace=False)
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=10.0, what="condition"):
    """Polls <cond> until it returns a truthy value, for at most <timeout> s."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # the thing may not be up yet
            last = e
        time.sleep(0.02)
    raise AssertionError("timed out waiting for %s (last error: %r)" % (what, last))


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Proc:
    """A child process stopped by PID at the end of the test."""

    def __init__(self, argv, **kw):
        self.argv = argv
        self.p = subprocess.Popen(argv, **kw)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, timeout=10):
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class Backend(Proc):
    def __init__(self, name, port=0, health_file=None):
        argv = [sys.executable, os.path.join(HERE, "backend.py"), "--name", name, "--port", str(port)]
        if health_file:
            argv += ["--health-file", health_file]
        super().__init__(argv, stdout=subprocess.PIPE, text=True)
        self.name = name
        line = self.p.stdout.readline().split()
        assert line and line[0] == "ready", "backend %s did not start" % name
        self.port = int(line[1])
        self.addr = "127.0.0.1:%d" % self.port
        self.health_file = health_file


class Lb(Proc):
    def __init__(self, config_text, tmpdir, name="lb.yml", extra_args=(), wait_ports=()):
        self.path = os.path.join(tmpdir, name)
        with open(self.path, "w") as f:
            f.write(config_text)
        self.log_path = os.path.join(tmpdir, name + ".log")
        self.log = open(self.log_path, "w")
        super().__init__([BERTH, "lb", "-c", self.path, *extra_args], stdout=self.log, stderr=subprocess.STDOUT)
        for p in wait_ports:
            wait_for(lambda: port_open(p) or not self.alive(), what="lb port %d" % p)
            assert self.alive(), "berth lb exited:\n" + self.logs()

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def rewrite(self, config_text):
        with open(self.path, "w") as f:
            f.write(config_text)


@pytest.fixture
def tmpdir_path():
    with tempfile.TemporaryDirectory(prefix="berth-test-") as d:
        yield d


@pytest.fixture
def procs(tmpdir_path):
    """Collects every process a test starts and stops them all, even when
    the test fails."""
    started = []

    class Starter:
        def backend(self, name, **kw):
            b = Backend(name, **kw)
            started.append(b)
            return b

        def lb(self, *a, **kw):
            lb = Lb(*a, **kw)
            started.append(lb)
            return lb

        def add(self, p):
            started.append(p)
            return p

    yield Starter()
    for p in reversed(started):
        try:
            p.stop()
        except Exception:
            pass
    reports = []
    for p in started:
        if isinstance(p, Lb):
            p.log.close()
            text = p.logs()
            # Sanitizer builds (make check-asan): a report from any lb the
            # test ran fails the test, even one that only shows at exit
            # (leaks).
            for marker in SANITIZER_MARKERS:
                if marker in text:
                    i = text.index(marker)
                    reports.append("%s:\n%s" % (p.log_path, text[max(0, i - 200):i + 3000]))
                    break
    if reports:
        pytest.fail("sanitizer report from berth:\n" + "\n".join(reports), pytrace=False)
