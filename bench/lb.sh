#!/bin/sh
# berth lb against nginx and HAProxy (Debian's), in front of the same two
# backends, interleaved over several rounds: requests/s and p99 with wrk
# (1 and 2 worker threads, 64 and 256 connections, small and 4 KiB bodies),
# memory per idle keep-alive connection (5,000 connections) and WebSocket echo
# messages/s. Prints medians and berth/peer ratios; the raw samples go to
# $TMPDIR/berth-lb-bench-*.json. See docs/performance.md.
#
# usage: sh bench/lb.sh [path/to/berth]        (`make bench` runs it)
# env:   BENCH_ROUNDS=3 BENCH_DURATION=5 BENCH_WARMUP=1 BENCH_THREADS="1 2"
#        BENCH_CONNS="64 256" BENCH_BODIES="small 4k" BENCH_IDLE_CONNS=5000
#        BENCH_WS_CONNS=64 BENCH_PROXIES="berth nginx haproxy"
#        BENCH_QUICK=1 (a smoke run of about a minute)
#
# The driver (bench/lib/lbbench.py) replaces this shell (exec), so INT/TERM
# reach it directly; it stops every process it started, by PID, and removes
# its temp dir on any exit (and its children die with it even on SIGKILL).
set -eu

BERTH=${1:-build/berth}
HERE=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin
export PATH

# Proxies and the idle-connection client need many descriptors: 5,000 client
# connections plus server connections. The hard limit here is 20,000.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
	echo "bench: open-files limit $(ulimit -n) is too low (need ~12000 for 5,000 idle connections)" >&2
	exit 1
fi

missing=""
for t in nginx haproxy wrk ss cc; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "bench: missing:$missing (make deps installs them)" >&2
	exit 1
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

if [ ! -x "$BERTH" ]; then
	echo "bench: $BERTH is not built (ninja -C build)" >&2
	exit 1
fi

exec "$PY" "$HERE/lib/lbbench.py" "$BERTH"
