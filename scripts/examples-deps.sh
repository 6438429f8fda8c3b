#!/bin/sh
# Installs the npm dependencies of the example stacks: `npm ci` in each
# examples/<x>/ that has a package-lock.json, into examples/<x>/node_modules
# (ignored by git). Idempotent: an example whose node_modules was installed
# from the same package-lock.json (a stamp holds its hash) is skipped.
# Usage: examples-deps.sh [EXAMPLE...]   (default: every example)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/examples"
[ $# -gt 0 ] || set -- */package-lock.json
for x in "$@"; do
	x=${x%%/*}
	[ "$x" = "*" ] && continue # no example has npm dependencies
	lock="$here/examples/$x/package-lock.json"
	[ -f "$lock" ] || { echo "examples-deps: $x has no package-lock.json" >&2; exit 1; }
	stamp="$here/examples/$x/node_modules/.berth-lock-sha256"
	sum=$(sha256sum "$lock" | cut -d' ' -f1)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
		continue
	fi
	if ! command -v npm >/dev/null 2>&1; then
		echo "examples-deps: npm not found (make deps installs nodejs and npm)" >&2
		exit 1
	fi
	echo "examples-deps: npm ci in examples/$x"
	(cd "$here/examples/$x" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$sum" >"$stamp"
done
