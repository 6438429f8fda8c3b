#!/bin/sh
# make demo: a berth agent on its embedded defaults (data dir: $BERTH_DATA_DIR,
# else build/demo-data, so the demo leaves the system alone), the stack in
# examples/demo deployed on it, where everything runs, then the merged logs
# until Ctrl-C, which removes the stack and stops the agent. Stops only what
# it started.
set -eu
berth=${1:-build/berth}
here=$(cd "$(dirname "$0")/.." && pwd)
data=${BERTH_DATA_DIR:-$here/build/demo-data}
berth=$(cd "$(dirname "$berth")" && pwd)/$(basename "$berth")
agent_pid=""

cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: removing the stack and stopping the agent..."
	"$berth" down -p demo --data-dir "$data" >/dev/null 2>&1 || true
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
	echo "demo stopped"
}
trap cleanup INT TERM EXIT

mkdir -p "$data"
if [ -S "$data/berth.sock" ] && "$berth" ps -a --data-dir "$data" >/dev/null 2>&1; then
	echo "demo: an agent already runs on $data; using it"
else
	# Its own session: Ctrl-C in the terminal must reach this script (which
	# then removes the stack), not the agent.
	setsid "$berth" agent --data-dir "$data" >"$data/agent.log" 2>&1 &
	agent_pid=$!
	i=0
	until "$berth" ps -a --data-dir "$data" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$agent_pid" 2>/dev/null; then
			echo "demo: the agent did not come up; see $data/agent.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "demo: agent running (pid $agent_pid, data dir $data, log $data/agent.log)"
fi

cd "$here/examples/demo"
"$berth" up -d --data-dir "$data"
echo
"$berth" ps --data-dir "$data"
echo
"$berth" ps --json --data-dir "$data" | /usr/bin/python3 -c '
import json, sys
insts = json.load(sys.stdin)
print("  The load balancer (each request to the next healthy replica):")
for i in insts:
    for u in i.get("urls") or []:
        print("    %s/" % u)
print("  The replicas themselves:")
for i in insts:
    if i["service"] == "web" and i.get("port"):
        print("    %-6s http://%s:%d/" % (i["instance"], i["addr"], i["port"]))'
cat <<MSG

  Try, in another terminal:
    curl -s http://127.0.0.1:${DEMO_PORT:-8080}/      (again: another instance answers)
    $berth scale -p demo web=5 --data-dir $data   (the lb follows)
    kill -9 <a web pid>     (out of the lb, restarted: restart: always; see ps)
    dig @127.0.0.1 -p 8600 +short web.demo.berth SRV
    $berth ps -p demo --data-dir $data
  Following the logs; Ctrl-C removes the stack and stops the agent.

MSG
"$berth" logs -f --data-dir "$data"
