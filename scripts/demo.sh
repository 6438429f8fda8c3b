#!/bin/sh
# make demo: a berth agent on its embedded defaults (data dir: $BERTH_DATA_DIR,
# else build/demo-data, so the demo leaves the system alone), the stack in
# examples/chat deployed on it (its npm dependencies come with make deps),
# where everything runs and the pages to open, then the merged logs until
# Ctrl-C, which removes the stack and stops the agent. Stops only what it
# started. CHAT_PORT, API_PORT, STATS_PORT and STATS_AUTH move or protect
# the lb's listeners (examples/chat/README.md).
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
	"$berth" down -p chat --data-dir "$data" >/dev/null 2>&1 || true
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

[ -d "$here/examples/chat/node_modules" ] || sh "$here/scripts/examples-deps.sh" chat
cd "$here/examples/chat"
"$berth" up -d --data-dir "$data"
echo
"$berth" ps --data-dir "$data"
auth=${STATS_AUTH:-admin:berth}
cat <<MSG

  Open:
    the chat          http://127.0.0.1:${CHAT_PORT:-8080}/   (two browsers, the same room)
    the lb's stats    http://127.0.0.1:${STATS_PORT:-8404}/stats   (user ${auth%%:*}, password ${auth#*:})
    the REST tier     http://127.0.0.1:${API_PORT:-8081}/api/rooms/lobby/messages

  Try, in another terminal:
    curl -si http://127.0.0.1:${CHAT_PORT:-8080}/whoami    (Set-Cookie: CHATSRV=chat.N: the lb's sticky cookie)
    kill -9 <a chat pid>     (its browsers reconnect to the others; restarted: see ps)
    $berth scale -p chat chat=5 --data-dir $data   (the lb follows)
    node examples/chat/loadtest.js --url http://127.0.0.1:${CHAT_PORT:-8080} --api http://127.0.0.1:${API_PORT:-8081}
    dig @127.0.0.1 -p 8600 +short chat.chat.berth SRV
    $berth ps -p chat --data-dir $data
  Following the logs; Ctrl-C removes the stack and stops the agent.

MSG
"$berth" logs -f --data-dir "$data"
