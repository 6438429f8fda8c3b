#!/bin/sh
# berth agent: time from `berth up -d` to 50 instances running and from
# `berth down` to all gone, RSS of the idle agent and of the shims. See
# docs/performance.md.
# usage: sh bench/agent.sh [path/to/berth]   env: BENCH_ROUNDS=5 BENCH_INSTANCES=50
set -eu
BERTH=${1:-build/berth}
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$BERTH" ] || { echo "bench: $BERTH is not built" >&2; exit 1; }
exec /usr/bin/python3 "$HERE/lib/agentbench.py" "$BERTH"
