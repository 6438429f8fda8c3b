#!/bin/sh
# Memory of berth-shim next to an idle child: starts BENCH_SHIMS shims, each
# supervising `sleep 1000`, and prints VmRSS (what one shim maps resident),
# RssAnon (its private pages) and Pss (its share once text pages are shared
# between the shims: the real cost per instance). Target: VmRSS <= 1 MB.
# See docs/shim.md.
#
# usage: sh bench/shim-rss.sh [path/to/berth]
# env:   BENCH_SHIMS=10
#
# Every shim is stopped (SIGTERM, by PID) and the temp dir removed on any
# exit; the shims stop their own children.
set -eu

BERTH=${1:-build/berth}
N=${BENCH_SHIMS:-10}

if [ ! -x "$BERTH" ]; then
	echo "bench: $BERTH is not built (ninja -C build)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-shim-rss.XXXXXX")
shims=""

cleanup() {
	for p in $shims; do
		kill -TERM "$p" 2>/dev/null || true
	done
	# The stop is SIGTERM to `sleep`: quick. Bounded wait, then SIGKILL.
	for p in $shims; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ] && [ $i -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# field NAME FILE: the kB value of "NAME:   123 kB".
field() {
	awk -v k="$1:" '$1 == k { print $2; exit }' "$2"
}

i=1
while [ $i -le "$N" ]; do
	d="$work/$i"
	mkdir "$d"
	printf '{"argv": ["sleep", "1000"], "env": ["PATH=/usr/bin:/bin"], "log": "%s/log"}\n' "$d" >"$d/spec.json"
	setsid "$BERTH" shim "$d" >"$d/handshake" 2>"$d/stderr" </dev/null &
	j=0
	until [ -s "$d/handshake" ] || [ $j -ge 200 ]; do
		sleep 0.02
		j=$((j + 1))
	done
	case $(cat "$d/handshake") in
	started*) ;;
	*)
		echo "bench: shim $i did not start: $(cat "$d/handshake" "$d/stderr")" >&2
		exit 1
		;;
	esac
	pid=$(sed -n 's/.*"shim_pid": \([0-9]*\).*/\1/p' "$d/state.json")
	shims="$shims $pid"
	i=$((i + 1))
done

kind="dynamic"
shim_bin=$(readlink "/proc/${shims##* }/exe")
if file "$shim_bin" 2>/dev/null | grep -q 'statically linked'; then
	kind="static"
fi

rss="" anon="" pss=""
for p in $shims; do
	rss="$rss $(field VmRSS "/proc/$p/status")"
	anon="$anon $(field RssAnon "/proc/$p/status")"
	pss="$pss $(field Pss "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)"
done

median() {
	echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

printf 'berth-shim (%s, %s), %d shims, each next to an idle `sleep 1000`:\n' "$kind" "$shim_bin" "$N"
printf '  VmRSS   median %5s kB  (target <= 1024 kB)\n' "$(median $rss)"
printf '  RssAnon median %5s kB\n' "$(median $anon)"
printf '  Pss     median %5s kB  (text shared between the shims)\n' "$(median $pss)"
