#!/bin/sh
# Service discovery: health change -> berth lb routing change (p50/p99 over
# 100 changes), and failed requests / closed WebSockets over 20 upstream
# changes under load, berth lb on the catalog against nginx with an
# on_change template + nginx -s reload. See docs/performance.md.
# usage: sh bench/discovery.sh [path/to/berth]   env: BENCH_CHANGES=100 BENCH_LOAD_CHANGES=20
set -eu
BERTH=${1:-build/berth}
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$BERTH" ] || { echo "bench: $BERTH is not built" >&2; exit 1; }
command -v nginx >/dev/null || { echo "bench: nginx is missing (make deps)" >&2; exit 1; }
exec /usr/bin/python3 "$HERE/lib/discbench.py" "$BERTH"
