#!/bin/sh
# Installs the Debian packages berth needs to build, test, demo and bench.
# Idempotent: only missing packages are installed, and apt-get update runs
# only when something is missing. Then the examples' npm dependencies
# (scripts/examples-deps.sh, skipped when up to date).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev
libuv1-dev libcurl4-openssl-dev libjansson-dev libfyaml-dev libsqlite3-dev libssl-dev
libcriterion-dev openssl curl scdoc procps iproute2
python3 python3-pytest python3-requests python3-websockets python3-dnspython python3-redis
nginx haproxy wrk dnsutils knot-dnsutils dnsperf dnsmasq
redis-server redis-sentinel redis-tools rsyslog
libivykis0 libnet1 libjson-c5 libwrap0 libglib2.0-0
docker.io docker-compose busybox-static"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node.js and npm for the examples: Debian's unless a node and an npm are
# there already (e.g. NodeSource's nodejs, which has npm inside and
# conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi
if [ -z "$missing" ]; then
	echo "deps: all present"
	sh "$here/examples-deps.sh"
	exit 0
fi

echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
# Package scripts must not start services (nginx would take port 80).
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
sh "$here/examples-deps.sh"
