#!/bin/sh
# make demo: two demo backends and berth lb in front of them, in the
# foreground until Ctrl-C. Stops only the processes it started.
set -eu
berth=${1:-build/berth}
here=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
pids=""
cleanup() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "demo stopped"
}
trap cleanup INT TERM EXIT

for port in 3001 3002 8080 9000; do
	if $py -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $port)) != 0)"; then
		echo "demo: port $port is already in use; stop what uses it and retry" >&2
		exit 1
	fi
done

$py "$here/examples/lb/demo-backend.py" 3001 app1 2>/dev/null & pids="$pids $!"
$py "$here/examples/lb/demo-backend.py" 3002 app2 2>/dev/null & pids="$pids $!"
"$berth" lb -c "$here/examples/lb/lb.yml" & pids="$pids $!"
lbpid=$!

# Wait (bounded) for the proxy to answer before printing the URLs.
i=0
until curl -fs -o /dev/null http://127.0.0.1:8080/ 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$lbpid" 2>/dev/null; then
		echo "demo: berth lb did not come up" >&2
		exit 1
	fi
	sleep 0.1
done

cat <<MSG

  berth lb demo is running (pid $lbpid):

    app    http://127.0.0.1:8080/        two instances, cookie stickiness
    api    http://127.0.0.1:8080/api     leastconn, no stickiness
    stats  http://127.0.0.1:9000/stats   user admin, password berth
           http://127.0.0.1:9000/stats.json   http://127.0.0.1:9000/metrics

  Try: curl -s http://127.0.0.1:8080/api  (repeat: app1, app2, ...)
       kill -HUP $lbpid   (reload examples/lb/lb.yml without dropping connections)
  Ctrl-C stops everything.

MSG
wait "$lbpid"
