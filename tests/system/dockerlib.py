"""A private Docker engine for the docker driver's tests and its bench: its
own data root, exec root, socket, cgroup parent and bridge, under a
temporary directory, and a local image made without a registry (a
busybox-static rootfs through POST /images/create?fromSrc=-). Everything is
undone by PID and by name in stop(), even after a failure."""
import glob
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

BUSYBOX = "/usr/bin/busybox"
APPLETS = ["sh", "echo", "cat", "sleep", "httpd", "nc", "id", "env", "pwd", "ls", "kill", "true", "false",
           "seq", "date", "tr", "touch", "mkdir", "ps", "head", "tail", "wc", "grep", "printf", "test"]


class EngineError(Exception):
    pass


class Engine:
    """dockerd on a private socket, with a bridge of its own whose
    containers the host reaches (published ports through docker-proxy)
    while iptables, forwarding and masquerading stay off: nothing leaves the
    machine and the host's firewall is never touched."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bd-", dir="/tmp")
        tag = "%05x" % random.randrange(1 << 20)
        self.bridge = "bbr" + tag
        self.cgroup_parent = "berth-test-" + tag
        self.sock = os.path.join(self.dir, "docker.sock")
        self.host = "unix://" + self.sock
        self.proc = None
        self.log_path = os.path.join(self.dir, "dockerd.log")
        self.bridge_made = False

    def start(self, timeout=30):
        if not shutil.which("dockerd"):
            raise EngineError("dockerd is not installed (apt-get install docker.io)")
        net = "10.%d.%d" % (random.randrange(200, 250), random.randrange(1, 250))
        r = subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], capture_output=True, text=True)
        if r.returncode != 0:
            raise EngineError("cannot make a bridge: " + r.stderr.strip())
        self.bridge_made = True
        subprocess.run(["ip", "addr", "add", net + ".1/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        self.log = open(self.log_path, "w")
        argv = ["dockerd", "--data-root", os.path.join(self.dir, "root"), "--exec-root",
                os.path.join(self.dir, "exec"), "--pidfile", os.path.join(self.dir, "pid"), "--host", self.host,
                "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge", self.bridge,
                "--cgroup-parent", "/" + self.cgroup_parent, "--userland-proxy=true"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.call("GET", "/_ping", versioned=False)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise EngineError("dockerd did not answer within %ds:\n%s" % (timeout, self.logs()[-2000:]))

    def logs(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def call(self, method, path, body=None, headers=None, versioned=True, timeout=60):
        """One Engine API request; returns (status, body bytes)."""
        sock_path = self.sock

        class Conn(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(sock_path)
        c = Conn("docker", timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict(headers or {}, **{"Content-Type": "application/json"})
            c.request(method, ("/v1.41" if versioned else "") + path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def json(self, method, path, body=None):
        st, data = self.call(method, path, body)
        if st >= 300:
            raise AssertionError("%s %s: %d %s" % (method, path, st, data[:500]))
        return json.loads(data) if data else None

    def import_busybox(self, repo="local/busybox", tag="latest"):
        """A one-binary image: busybox-static and its applets, plus /www."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            def add_dir(name, mode=0o755):
                ti = tarfile.TarInfo(name)
                ti.type = tarfile.DIRTYPE
                ti.mode = mode
                t.addfile(ti)
            for d in ("bin", "sbin", "etc", "www", "data", "proc", "sys", "dev"):
                add_dir(d)
            add_dir("tmp", 0o1777)
            t.add(BUSYBOX, "bin/busybox")
            for a in APPLETS:
                ti = tarfile.TarInfo("bin/" + a)
                ti.type = tarfile.SYMTYPE
                ti.linkname = "busybox"
                t.addfile(ti)
            for name, text in (("www/index.html", "hello from busybox\n"),
                               ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                               ("etc/group", "root:x:0:\n")):
                data = text.encode()
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        q = urllib.parse.urlencode({"fromSrc": "-", "repo": repo, "tag": tag})
        st, data = self.call("POST", "/images/create?" + q, body=buf.getvalue(),
                             headers={"Content-Type": "application/x-tar"})
        if st != 200 or b"error" in data:
            raise EngineError("cannot import the busybox image: %d %s" % (st, data[:500]))

    def containers(self, label=None):
        """Every container (running or not), optionally with a label."""
        filters = {"label": [label]} if label else {}
        q = urllib.parse.urlencode({"all": "1", "filters": json.dumps(filters)})
        return self.json("GET", "/containers/json?" + q)

    def remove_all(self):
        try:
            for c in self.containers():
                self.call("DELETE", "/containers/%s?force=1&v=1" % c["Id"])
        except OSError:
            pass

    def stop(self):
        """Stops dockerd by PID, then removes what it may have left: its
        shims, mounts, cgroups and bridge, and the directory."""
        bridges = []
        if self.proc:
            if self.proc.poll() is None:
                self.remove_all()
                try:
                    # Networks made on it (docker-compose's default one) have bridges of their own.
                    bridges = ["br-" + n["Id"][:12] for n in self.json("GET", "/networks")
                               if n.get("Driver") == "bridge" and n.get("Name") != "bridge"]
                except (OSError, AssertionError):
                    pass
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.log.close()
        # containerd shims of this engine only: their command line names our dirs.
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.dir.encode() in cmd:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        mounts = []
        with open("/proc/mounts") as f:
            for line in f:
                mp = line.split()[1]
                if mp.startswith(self.dir):
                    mounts.append(mp)
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        for d in sorted(glob.glob("/sys/fs/cgroup/*/%s" % self.cgroup_parent) +
                        glob.glob("/sys/fs/cgroup/*/%s/*" % self.cgroup_parent), key=len, reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass
        if self.bridge_made:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        for dev in bridges:
            if os.path.exists("/sys/class/net/" + dev):
                subprocess.run(["ip", "link", "del", dev], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
