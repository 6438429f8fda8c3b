#!/bin/sh
# One member of the Redis replica set, run by berth as a process. It finds
# the primary through discovery, never from a hard-coded address:
#   1. the Sentinels (${endpoints:sentinel}), who know best after a failover;
#   2. else the catalog's primary (${endpoint:redis:primary}, the member the
#      redis role check tags primary);
#   3. else, with no primary anywhere, redis.1 starts as the first primary
#      and the others exit: berth starts them again (restart backoff), by
#      when redis.1 is the catalog's primary.
# A member the Sentinels still name primary has just died and come back
# empty (no persistence here): it waits for their failover and then follows
# the new primary, rather than wiping the replicas with its empty data set.
set -eu
me="${BERTH_ADDR:-127.0.0.1}:${PORT}"

ask_sentinels() {
	for s in $(echo "${SENTINELS:-}" | tr ',' ' '); do
		a=$(redis-cli -h "${s%:*}" -p "${s##*:}" SENTINEL get-master-addr-by-name rs 2>/dev/null | paste -sd: -) || a=""
		case "$a" in *:[0-9]*) echo "$a"; return ;; esac
	done
}

primary=$(ask_sentinels)
i=0
while [ "$primary" = "$me" ] && [ $i -lt 150 ]; do
	[ $i -eq 0 ] && echo "the Sentinels still name me ($me) primary: waiting for their failover"
	sleep 0.2
	i=$((i + 1))
	primary=$(ask_sentinels)
done
[ -n "$primary" ] || primary=${PRIMARY:-}
# No persistence; the working dir under run/ holds only what a replica's
# full sync writes to disk.
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/run/redis.${BERTH_INDEX:-1}"
common="--port $PORT --bind ${BERTH_ADDR:-127.0.0.1} --save '' --appendonly no --repl-diskless-sync-delay 0"
common="$common --dir $here/run/redis.${BERTH_INDEX:-1}"
if [ -z "$primary" ] || [ "$primary" = "$me" ]; then
	if [ "${BERTH_INDEX:-1}" != 1 ] && [ -z "$primary" ]; then
		echo "no primary yet (the catalog and the Sentinels know none): exiting, berth starts me again"
		exit 1
	fi
	echo "starting as the primary on $me"
	eval exec redis-server $common
fi
echo "starting as a replica of $primary"
eval exec redis-server $common --replicaof "${primary%:*}" "${primary##*:}"
