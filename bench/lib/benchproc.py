"""What the bench drivers share: free ports, the children of a process, and
stopping a private agent with everything it ran."""
import json
import os
import signal
import socket
import subprocess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid):
    """The pids whose parent is pid, from /proc."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start
        # after the last ')'.
        if int(st[st.rindex(")") + 2:].split()[1]) == pid:
            kids.append(int(d))
    return kids


def stop_agent(agent, data, timeout=15):
    """SIGTERM the agent we started, then SIGKILL whatever instance a failed
    run left, by the process groups and shims its state files name."""
    agent.send_signal(signal.SIGTERM)
    try:
        agent.wait(timeout)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
    for root, _, files in os.walk(os.path.join(data, "instances")):
        if "state.json" not in files:
            continue
        try:
            with open(os.path.join(root, "state.json")) as f:
                st = json.load(f)
            os.killpg(st["pgid"], signal.SIGKILL)
            os.kill(st["shim_pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError, TypeError):
            pass
