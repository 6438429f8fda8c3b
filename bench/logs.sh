#!/bin/sh
# berth's log pipeline against rsyslog (imfile -> omfile, JSON template)
# and syslog-ng (file() -> file(), format-json), all from Debian, on the
# same file of 1,000,000 lines of ~110 bytes, interleaved over rounds:
# lines/s and peak RSS, medians and ratios. See docs/performance.md.
#
# usage: sh bench/logs.sh [path/to/berth]
# env:   BENCH_ROUNDS=3 BENCH_LINES=1000000 BENCH_ONLY=berth,rsyslog
#
# syslog-ng-core conflicts with rsyslog as an installed package (both are
# the system's log daemon), so its Debian package is downloaded with
# apt-get download and unpacked under build/bench-syslog-ng, not installed;
# its libraries come with make deps.
set -eu

BERTH=${1:-build/berth}
HERE=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin
export PATH
if ! command -v rsyslogd >/dev/null 2>&1; then
	echo "bench: rsyslogd is missing (make deps installs it)" >&2
	exit 1
fi
if [ ! -x "$BERTH" ]; then
	echo "bench: $BERTH is not built (ninja -C build)" >&2
	exit 1
fi
SNG=$(dirname "$BERTH")/bench-syslog-ng
if [ ! -x "$SNG/root/usr/sbin/syslog-ng" ]; then
	mkdir -p "$SNG"
	(cd "$SNG" && rm -f syslog-ng-core_*.deb && apt-get download -q syslog-ng-core >/dev/null &&
		dpkg -x syslog-ng-core_*.deb root)
fi
cd "$HERE/.."
exec python3 "$HERE/lib/logsbench.py" "$BERTH" "$SNG/root"
