"""berth shim (berth-shim): the per-instance supervisor. Real processes:
the handshake, CRI logs, exit status, the stop escalation over the whole
process tree, and a shim that outlives the process that started it."""
import calendar
import ctypes
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import BERTH, SANITIZER_MARKERS, SLOW, run_berth, wait_for

CRI_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{9})Z (stdout|stderr) ([FP]) (.*)$", re.S)
PATH_ENV = "PATH=/usr/local/bin:/usr/bin:/bin"


# ---------------------------------------------------------------- helpers

def proc_stat(pid):
    """(state, ppid, pgid, start_time) from /proc/PID/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = s[s.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def alive(pid):
    """A live process (zombies count as gone: PID 1 here may never reap)."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def group_members(pgid):
    """Live processes in process group <pgid>."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[2] == pgid and st[0] not in ("Z", "X"):
                out.append(int(name))
    return out


def parse_ts(m):
    y, mo, d, h, mi, s, ns = (int(x) for x in m.groups()[:7])
    return calendar.timegm((y, mo, d, h, mi, s)) * 10**9 + ns


def records(path):
    """The log's CRI records as (ts_ns, stream, tag, text); asserts the format."""
    with open(path, "rb") as f:
        data = f.read().decode()
    assert data == "" or data.endswith("\n"), "the log ends inside a record"
    out = []
    for line in data.split("\n")[:-1]:
        m = CRI_RE.match(line)
        assert m, "not a CRI record: %r" % line[:200]
        out.append((parse_ts(m), m.group(8), m.group(9), m.group(10)))
    return out


class Shim:
    """One instance directory and the berth shim supervising it. stop()
    cleans up by PID and process group whatever state the test left."""

    def __init__(self, tmpdir, argv, name="inst", env=(PATH_ENV,), **spec):
        self.dir = os.path.join(tmpdir, name)
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "log")
        self.stderr_path = os.path.join(tmpdir, name + ".stderr")
        self.spec = {"argv": list(argv), "env": list(env), "cwd": self.dir, "log": self.log}
        self.spec.update(spec)
        self.write_spec(self.spec)
        self.p = None
        self.shim_pid = None
        self.pid = None
        self.extra_pids = []  # other processes a test knows of (grandchildren)

    def write_spec(self, spec):
        with open(os.path.join(self.dir, "spec.json"), "w") as f:
            f.write(spec if isinstance(spec, str) else json.dumps(spec))

    def start(self, **popen_kw):
        """Starts `berth shim DIR` detached and returns the handshake line."""
        with open(self.stderr_path, "w") as err:
            self.p = subprocess.Popen([BERTH, "shim", self.dir], stdout=subprocess.PIPE, stderr=err,
                                      start_new_session=True, **popen_kw)
        self.shim_pid = self.p.pid
        self.handshake = read_line(self.p.stdout, 10 * SLOW)
        self.p.stdout.close()
        if self.handshake.startswith("started "):
            self.pid = int(self.handshake.split()[1])
        return self.handshake

    def state(self):
        with open(os.path.join(self.dir, "state.json")) as f:
            return json.load(f)

    def records(self):
        return records(self.log)

    def texts(self, stream=None):
        return [r[3] for r in self.records() if stream in (None, r[1])]

    def wait_exit(self, timeout=10):
        """Waits for the shim to exit; returns its exit status."""
        return self.p.wait(timeout * SLOW)

    def diag(self):
        path = os.path.join(self.dir, "shim.log")
        return open(path).read() if os.path.exists(path) else ""

    def stop(self):
        for pid in [self.shim_pid, self.pid] + self.extra_pids:
            if pid and alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.p and self.p.poll() is None:
            self.p.wait(10)

    def sanitizer_report(self):
        for path in (self.stderr_path, os.path.join(self.dir, "shim.log")):
            if os.path.exists(path):
                text = open(path, errors="replace").read()
                for marker in SANITIZER_MARKERS:
                    if marker in text:
                        i = text.index(marker)
                        return "%s:\n%s" % (path, text[max(0, i - 200):i + 3000])
        return None


def read_line(f, timeout):
    """One line from pipe <f>, or fails after <timeout> s."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = f.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, "no handshake line within %ss (got %r)" % (timeout, buf)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            buf += chunk
    return buf.decode()


@pytest.fixture
def shims(tmpdir_path):
    """Makes Shim objects and cleans up every process they know of, even
    when the test fails; a sanitizer report from any shim fails the test."""
    made = []

    def make(argv, **kw):
        s = Shim(tmpdir_path, argv, name="inst%d" % len(made), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        try:
            s.stop()
        except Exception:
            pass
    reports = [r for r in (s.sanitizer_report() for s in made) if r]
    if reports:
        pytest.fail("sanitizer report from berth-shim:\n" + "\n".join(reports), pytrace=False)


def sh(script):
    return ["/bin/sh", "-c", script]


# ---------------------------------------------------------------- tests

def test_cri_records(shims):
    s = shims(sh("echo out; echo err >&2; printf partial"))
    before = time.time_ns()
    assert s.start() == "started %d\n" % s.pid
    assert s.wait_exit() == 0
    after = time.time_ns()
    recs = s.records()
    assert [(r[1], r[2], r[3]) for r in recs if r[1] == "stdout"] == [("stdout", "F", "out"), ("stdout", "F", "partial")]
    assert [(r[1], r[2], r[3]) for r in recs if r[1] == "stderr"] == [("stderr", "F", "err")]
    stamps = [r[0] for r in recs]
    assert stamps == sorted(stamps), "records out of time order"
    assert before - 10**9 <= stamps[0] and stamps[-1] <= after + 10**9
    # "partial" had no newline: the last stdout record, an F, and the file
    # still ends with a newline (records() checks).
    st = s.state()
    assert st["status"] == "exited" and st["exit_code"] == 0 and st["signal"] is None
    assert st["pid"] == s.pid and st["pgid"] == s.pid and st["shim_pid"] == s.shim_pid
    for k in ("started_at", "finished_at"):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", st[k]), st[k]
    assert st["started_at"] <= st["finished_at"]


def test_long_line_is_split(shims):
    s = shims(sh("head -c 40960 /dev/zero | tr '\\0' a; echo; echo short"))
    s.start()
    assert s.wait_exit() == 0
    recs = s.records()
    assert [(r[2], len(r[3])) for r in recs] == [("P", 16384), ("P", 16384), ("F", 8192), ("F", 5)]
    assert "".join(r[3] for r in recs[:3]) == "a" * 40960


def test_stdout_and_stderr_never_mix(shims):
    # Both streams write long lines at once: each record is one stream's.
    s = shims(sh("(head -c 100000 /dev/zero | tr '\\0' o; echo) & (head -c 100000 /dev/zero | tr '\\0' e; echo) >&2; wait"))
    s.start()
    assert s.wait_exit() == 0
    recs = s.records()
    for ts, stream, tag, text in recs:
        assert set(text) == ({"o"} if stream == "stdout" else {"e"}), (stream, text[:50])
    for stream in ("stdout", "stderr"):
        tags = [r[2] for r in recs if r[1] == stream]
        assert tags == ["P"] * 6 + ["F"]
        assert sum(len(r[3]) for r in recs if r[1] == stream) == 100000


def test_environment_cwd_and_fds(shims, tmpdir_path):
    s = shims(["/usr/bin/env"], env=["A=1", "B=two words", "EMPTY="])
    s.start()
    assert s.wait_exit() == 0
    assert s.texts() == ["A=1", "B=two words", "EMPTY="]

    cwd = os.path.join(tmpdir_path, "work dir")
    os.makedirs(cwd)
    s = shims(sh("pwd; ls /proc/self/fd; exec sleep 1000"), cwd=cwd)
    # An fd of the "agent" that neither the shim nor the program may keep.
    r, w = os.pipe()
    try:
        s.start(pass_fds=(w,))
        wait_for(lambda: len(s.texts()) >= 2, what="the child's output")
        texts = s.texts()
        assert texts[0] == cwd
        assert sorted(int(t) for t in texts[1:] if t.isdigit()) == [0, 1, 2, 3], texts  # 3: ls's own dir fd
        shim_fds = os.listdir("/proc/%d/fd" % s.shim_pid)
        targets = [os.readlink("/proc/%d/fd/%s" % (s.shim_pid, fd)) for fd in shim_fds]
        assert not any(t == os.readlink("/proc/self/fd/%d" % w) for t in targets), targets
        # The program's stdin is /dev/null, its stdout and stderr pipes.
        assert os.readlink("/proc/%d/fd/0" % s.pid) == "/dev/null"
        assert os.readlink("/proc/%d/fd/1" % s.pid).startswith("pipe:")
        assert os.readlink("/proc/%d/fd/2" % s.pid).startswith("pipe:")
        assert sorted(os.listdir("/proc/%d/fd" % s.pid)) == ["0", "1", "2"]
    finally:
        os.close(r)
        os.close(w)


def test_exec_failure(shims):
    s = shims(["/nonexistent/program", "arg"])
    assert s.start() == "failed: exec /nonexistent/program: No such file or directory\n"
    assert s.wait_exit() == 0  # recorded: the shim did its job
    st = s.state()
    assert st["status"] == "failed"
    assert st["error"] == "exec /nonexistent/program: No such file or directory"
    assert st["exit_code"] is None and st["signal"] is None and "pid" not in st

    s = shims(["true"], cwd="/nonexistent/dir")
    assert s.start() == "failed: chdir /nonexistent/dir: No such file or directory\n"
    assert s.state()["status"] == "failed"

    s = shims(["true"])
    s.write_spec('{"argv": ["true"], "log": "relative.log"}')
    line = s.start()
    assert line.startswith("failed: spec.json:1:") and "log: expected an absolute path" in line
    assert s.state()["error"] == line[len("failed: "):-1]


def test_unusable_dir(tmpdir_path):
    r = subprocess.run([BERTH, "shim", os.path.join(tmpdir_path, "missing")], capture_output=True, text=True,
                       timeout=10 * SLOW)
    assert r.returncode == 1
    assert r.stdout.startswith("failed: ") and "No such file or directory" in r.stdout
    r = run_berth("shim")
    assert r.returncode == 2 and "usage: berth-shim DIR" in r.stderr
    r = run_berth("help", "shim")
    assert r.returncode == 0 and "usage: berth-shim DIR" in r.stdout


def test_exit_code_and_signal(shims):
    s = shims(sh("exit 3"))
    s.start()
    assert s.wait_exit() == 0
    st = s.state()
    assert st["status"] == "exited" and st["exit_code"] == 3 and st["signal"] is None

    s = shims(["sleep", "1000"])
    s.start()
    st = s.state()
    assert st["status"] == "running" and st["pid"] == s.pid
    # start_time is the program's /proc/PID/stat field 22: pid reuse shows.
    assert st["start_time"] == proc_stat(s.pid)[3]
    assert st["shim_start_time"] == proc_stat(s.shim_pid)[3]
    os.kill(s.pid, signal.SIGKILL)
    assert s.wait_exit() == 0
    st = s.state()
    assert st["status"] == "exited" and st["exit_code"] is None and st["signal"] == 9
    assert "stop_requested_at" not in st


def test_stop_reaches_the_whole_group(shims):
    # The grandchild traps SIGTERM and says so: the stop signal went to
    # the process group, not only to the main child.
    s = shims(sh("sh ./grandchild.sh & echo ready; wait"), stop_grace_ms=60000)
    with open(os.path.join(s.dir, "grandchild.sh"), "w") as f:
        f.write("trap 'echo grandchild got TERM; exit 0' TERM\n"
                "echo $$ > gc.pid\n"
                "while :; do sleep 0.05; done\n")
    s.start()
    wait_for(lambda: "ready" in s.texts() and open(os.path.join(s.dir, "gc.pid")).read().strip(),
             what="child ready")
    gc = int(open(os.path.join(s.dir, "gc.pid")).read())
    s.extra_pids.append(gc)
    assert alive(gc) and proc_stat(gc)[2] == s.pid, "the grandchild is in the child's group"
    os.kill(s.shim_pid, signal.SIGTERM)
    assert s.wait_exit(20) == 0
    assert "grandchild got TERM" in s.texts()
    assert not alive(s.pid) and not alive(gc)
    assert group_members(s.pid) == []
    st = s.state()
    assert st["status"] == "exited" and st["signal"] == 15
    assert st["started_at"] <= st["stop_requested_at"] <= st["finished_at"]


def test_stop_escalates_to_sigkill(shims):
    # SIG_IGN is inherited: the shell and its sleeps all ignore SIGTERM.
    s = shims(sh("trap '' TERM; echo ready; while :; do sleep 0.05; done"), stop_grace_ms=500)
    s.start()
    wait_for(lambda: "ready" in s.texts(), what="child ready")
    t0 = time.monotonic()
    os.kill(s.shim_pid, signal.SIGTERM)
    # While the grace runs, the stop is on disk and the child still alive.
    wait_for(lambda: "stop_requested_at" in s.state(), what="stop recorded")
    assert s.wait_exit(20) == 0
    assert time.monotonic() - t0 >= 0.5, "SIGKILL came before stop_grace_ms"
    st = s.state()
    assert st["status"] == "exited" and st["signal"] == 9 and st["exit_code"] is None
    assert group_members(s.pid) == []
    assert "SIGKILL" in s.diag()


def test_stop_reaches_a_stopped_program(shims):
    # SIGCONT follows the stop signal: a SIGSTOPped program dies of the
    # stop signal now, not of SIGKILL after the grace.
    s = shims(["sleep", "1000"], stop_grace_ms=60000)
    s.start()
    os.kill(s.pid, signal.SIGSTOP)
    wait_for(lambda: proc_stat(s.pid)[0] == "T", what="program stopped")
    os.kill(s.shim_pid, signal.SIGTERM)
    assert s.wait_exit(20) == 0
    assert s.state()["signal"] == 15


def test_escaped_descendants_are_killed(shims):
    # setsid leaves the process group; as their subreaper the shim still
    # finds and kills what is left of the tree.
    s = shims(sh("setsid sleep 1000 & echo $! > gc.pid; exec sleep 1000"), stop_grace_ms=2000)
    s.start()
    wait_for(lambda: open(os.path.join(s.dir, "gc.pid")).read().strip(), what="grandchild pid")
    gc = int(open(os.path.join(s.dir, "gc.pid")).read())
    s.extra_pids.append(gc)
    wait_for(lambda: proc_stat(gc) and proc_stat(gc)[2] == gc, what="grandchild in its own session")
    os.kill(s.shim_pid, signal.SIGINT)
    assert s.wait_exit(20) == 0
    assert not alive(s.pid) and not alive(gc)
    assert s.state()["signal"] == 15


def test_pipe_holder_after_exit(shims):
    # The main child exits; a grandchild keeps the pipes open. The shim
    # gives it SHIM_DRAIN_MS (2 s), then kills it, logs what was written, exits.
    s = shims(sh("(echo from grandchild; exec sleep 1000) & echo bye"))
    s.start()
    assert s.wait_exit(20) == 0
    assert sorted(s.texts()) == ["bye", "from grandchild"]
    assert group_members(s.pid) == []
    st = s.state()
    assert st["status"] == "exited" and st["exit_code"] == 0


PR_SET_CHILD_SUBREAPER = 36

INTERMEDIATE = r"""
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, start_new_session=True)
sys.stdout.write(p.stdout.readline().decode())
sys.stdout.flush()
time.sleep(1000)
"""


def test_outlives_its_parent(shims):
    """The shim started by an intermediate "agent" that is then kill -9'd:
    the program runs on, its lines keep reaching the log, state.json still
    says running, and a stop still completes."""
    s = shims(sh("i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done"), stop_grace_ms=2000)
    # PID 1 here may not reap orphans: this test adopts the orphaned shim
    # (as a subreaper, like systemd would) and reaps it itself.
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    agent = subprocess.Popen([sys.executable, "-c", INTERMEDIATE, BERTH, "shim", s.dir], stdout=subprocess.PIPE)
    try:
        line = read_line(agent.stdout, 10 * SLOW)
        assert line.startswith("started "), line
        s.pid = int(line.split()[1])
        s.shim_pid = s.state()["shim_pid"]
        assert proc_stat(s.shim_pid)[1] == agent.pid
        agent.kill()
        agent.wait()
        wait_for(lambda: proc_stat(s.shim_pid)[1] == os.getpid(), what="shim re-parented")
        seen = len(s.texts())
        wait_for(lambda: len(s.texts()) >= seen + 10, what="lines logged after the parent died")
        st = s.state()
        assert st["status"] == "running" and alive(s.pid) and st["start_time"] == proc_stat(s.pid)[3]
        os.kill(s.shim_pid, signal.SIGTERM)
        wait_for(lambda: os.waitpid(s.shim_pid, os.WNOHANG)[0] == s.shim_pid, timeout=20, what="shim exit")
        s.shim_pid = None
        assert s.state()["status"] == "exited" and not alive(s.pid)
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        if s.shim_pid and alive(s.shim_pid):
            os.kill(s.shim_pid, signal.SIGKILL)
            os.waitpid(s.shim_pid, 0)


def test_rss_is_measured(shims, capsys):
    """Prints the shim's resident memory next to an idle child (not a
    pass/fail threshold: bench/shim-rss.sh is the benchmark)."""
    s = shims(["sleep", "1000"])
    s.start()
    with open("/proc/%d/status" % s.shim_pid) as f:
        rss = [ln.split()[1] for ln in f if ln.startswith("VmRSS:")][0]
    with capsys.disabled():
        sys.stderr.write("\n[berth-shim RSS next to an idle child: %s kB]\n" % rss)
    os.kill(s.shim_pid, signal.SIGTERM)
    assert s.wait_exit(20) == 0
