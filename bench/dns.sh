#!/bin/sh
# berth dns against dnsmasq (Debian's), answering the same names, interleaved
# over several rounds: queries/s, average latency and CPU time per query with
# dnsperf (one client thread, a fixed duration, one query file of A, SRV and
# NXDOMAIN names). Prints medians and the berth/dnsmasq ratio; the samples go
# to $TMPDIR/berth-dns-bench-*.json. See docs/performance.md.
#
# usage: sh bench/dns.sh [path/to/berth]
# env:   BENCH_ROUNDS=3 BENCH_DURATION=10 BENCH_WARMUP=1 BENCH_OUTSTANDING=100
#        BENCH_STRACE=1 (also count system calls per query) BENCH_QUICK=1
#
# The driver (bench/lib/dnsbench.py) replaces this shell (exec); it stops
# the servers it started by PID, and they die with it even on SIGKILL.
set -eu

BERTH=${1:-build/berth}
HERE=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin
export PATH

missing=""
for t in dnsperf dnsmasq dig; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "bench: missing:$missing (make deps installs them)" >&2
	exit 1
fi
if [ ! -x "$BERTH" ]; then
	echo "bench: $BERTH is not built (ninja -C build)" >&2
	exit 1
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" "$HERE/lib/dnsbench.py" "$BERTH"
