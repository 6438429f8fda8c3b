"""on_change hooks and templates run by the agent: an nginx upstream file
rendered from the catalog and a real nginx reloaded as the upstream
service scales, with the hook's output in berth logs; pre_start gating an
instance's start."""
import os
import shutil
import subprocess
import threading
import urllib.request

import pytest

from agentlib import Agent, by_instance, wait_states, write
from conftest import HERE, SLOW, free_port, wait_for

BACKEND = os.path.join(HERE, "backend.py")
pytestmark = pytest.mark.skipif(not shutil.which("nginx"), reason="nginx comes with make deps")


@pytest.fixture
def agent(tmpdir_path):
    a = Agent(os.path.join(tmpdir_path, "data"))
    yield a
    a.cleanup()


def get(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5 * SLOW) as r:
        return r.read().decode().strip()


def test_on_change_renders_nginx_upstream_and_reloads_nginx(agent, tmpdir_path):
    port = free_port()
    d = os.path.join(tmpdir_path, "proxy")
    write(os.path.join(d, "upstream.tmpl"), """upstream app {
    least_conn;
{{#endpoints "app"}}
    server {{addr}}:{{port}};
{{/endpoints}}
{{^endpoints "app"}}
    server 127.0.0.1:9 down;
{{/endpoints}}
}
""")
    write(os.path.join(d, "nginx.conf"), """
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp;
    proxy_temp_path %(d)s/tmp;
    include %(d)s/upstream.conf;
    server {
        listen 127.0.0.1:%(port)d;
        location / { proxy_pass http://app; proxy_next_upstream error timeout; }
    }
}
""" % {"d": d, "port": port})
    write(os.path.join(d, "compose.yaml"), """
services:
  app:
    command: sh -c "exec python3 -u %(backend)s --name $$BERTH_INSTANCE --port $$PORT"
    deploy: {replicas: 2}
    x-berth:
      check: {tcp: true, interval: 200ms, rise: 1}
  proxy:
    command: nginx -p %(d)s -c %(d)s/nginx.conf -g "daemon off;"
    x-berth:
      on_change:
        watch: [app]
        template: {src: upstream.tmpl, dest: upstream.conf}
        run: echo reloading; nginx -p %(d)s -c %(d)s/nginx.conf -s reload
        wait: 50ms:500ms
""" % {"backend": BACKEND, "d": d})
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    agent.cli("up", "-d", cwd=d)
    wait_states(agent, "proxy", lambda l: len(l) == 3 and all(i["state"] == "running" for i in l))

    def upstream_servers():
        with open(os.path.join(d, "upstream.conf")) as f:
            return sum(1 for l in f if l.strip().startswith("server ") and "down" not in l)
    wait_for(lambda: upstream_servers() == 2, what="2 servers in the rendered upstream")
    wait_for(lambda: {get(port) for _ in range(6)} == {"app.1", "app.2"}, what="nginx sending to both")
    agent.cli("scale", "app=3", cwd=d)
    wait_for(lambda: upstream_servers() == 3, what="3 servers after scale up")
    wait_for(lambda: "app.3" in {get(port) for _ in range(9)}, what="nginx reloaded and sending to app.3")
    agent.cli("scale", "app=1", cwd=d)
    wait_for(lambda: upstream_servers() == 1, what="1 server after scale down")
    wait_for(lambda: {get(port) for _ in range(6)} == {"app.1"}, what="nginx reloaded with app.1 only")
    # The hook's output is in the stack's logs, as proxy.hook.
    out = agent.cli("logs", "--no-color", "proxy", cwd=d).stdout
    assert "proxy.hook | reloading" in out, out
    # A configuration nginx can load at every step.
    r = subprocess.run(["nginx", "-t", "-p", d, "-c", os.path.join(d, "nginx.conf")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_pre_start_gates_the_instance(agent, tmpdir_path):
    d = os.path.join(tmpdir_path, "pre")
    write(os.path.join(d, "compose.yaml"), """
services:
  gated:
    command: sleep 1000
    restart: "no"
    x-berth:
      pre_start: test -f allowed
""")
    agent.cli("up", "-d", cwd=d, check=False)
    st = wait_states(agent, "pre", lambda l: len(l) == 1 and l[0]["state"] == "failed", what="refused by pre_start")
    assert "pre_start exited 1" in st[0]["message"], st
    open(os.path.join(d, "allowed"), "w").close()
    agent.cli("restart", cwd=d)
    wait_states(agent, "pre", lambda l: len(l) == 1 and l[0]["state"] == "running", what="started once allowed")
