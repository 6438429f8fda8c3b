#!/bin/sh
# The docker driver: `berth up -d` / `berth down` against `docker-compose up
# -d` / `docker-compose down` on the same 20-container compose file and the
# same private dockerd, time until the engine shows all running / all
# removed. See docs/performance.md.
# usage: sh bench/docker.sh [path/to/berth]   env: BENCH_ROUNDS=5 BENCH_SERVICES=20
set -eu
BERTH=${1:-build/berth}
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$BERTH" ] || { echo "bench: $BERTH is not built" >&2; exit 1; }
exec /usr/bin/python3 "$HERE/lib/dockerbench.py" "$BERTH"
