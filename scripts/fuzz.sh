#!/bin/sh
# Runs every libFuzzer harness for a bounded time, starting from its seeds.
# New inputs go to a scratch corpus, never into the repository.
set -eu
build=$1
secs=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for exe in "$build"/tests/fuzz/fuzz-*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	name=${exe##*/fuzz-}
	mkdir -p "$work/$name"
	echo "fuzz: $name for ${secs}s"
	"$exe" -max_total_time="$secs" -print_final_stats=1 "$work/$name" "tests/fuzz/corpus/$name"
done
