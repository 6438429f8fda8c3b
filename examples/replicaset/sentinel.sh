#!/bin/sh
# One of the three Sentinels, run by berth as a process. It learns the
# primary through discovery: from the Sentinels already running
# (${endpoints:sentinel}), else from the catalog (${endpoint:redis:primary}).
# The Sentinels then find each other and the replicas by themselves,
# through the primary (its __sentinel__:hello channel and INFO).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/run"
conf="$here/run/sentinel-${BERTH_INDEX:-1}.conf"
primary=""
for s in $(echo "${SENTINELS:-}" | tr ',' ' '); do
	a=$(redis-cli -h "${s%:*}" -p "${s##*:}" SENTINEL get-master-addr-by-name rs 2>/dev/null | paste -sd: -) || a=""
	case "$a" in *:[0-9]*) primary=$a; break ;; esac
done
[ -n "$primary" ] || primary=${PRIMARY:-}
if [ -z "$primary" ]; then
	echo "no primary known yet: exiting, berth starts me again"
	exit 1
fi
echo "monitoring the primary $primary"
# Sentinel rewrites its file as it learns: a fresh one at every start.
cat >"$conf" <<CONF
port $PORT
bind ${BERTH_ADDR:-127.0.0.1}
sentinel monitor rs ${primary%:*} ${primary##*:} 2
sentinel down-after-milliseconds rs 1000
sentinel failover-timeout rs 3000
sentinel parallel-syncs rs 1
CONF
exec redis-sentinel "$conf"
