#!/bin/sh
# The proxy: Debian's nginx run as a process by berth.
#   nginx.sh         write run/nginx.conf (listening on $PROXY_PORT, with the
#                    upstream berth renders into upstream.conf) and run nginx
#                    in the foreground
#   nginx.sh reload  the on_change hook: a graceful reload (new workers with
#                    the new upstream, old ones finish their requests); nothing
#                    to do while nginx is not running yet
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir="$here/run"
if [ "${1:-}" = reload ]; then
	if [ -s "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
		echo "upstream changed: $(grep -c '^ *server .*# ' "$here/upstream.conf" || true) servers; reloading nginx"
		exec nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -s reload
	fi
	echo "nginx is not running yet: nothing to reload"
	exit 0
fi
mkdir -p "$dir/tmp"
cat >"$dir/nginx.conf" <<CONF
# Written by nginx.sh at every start.
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $here/upstream.conf;
    server {
        listen ${BERTH_ADDR:-127.0.0.1}:${PROXY_PORT:-8070};
        location / {
            proxy_pass http://app;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
        }
        location = /upstream.conf { default_type text/plain; alias $here/upstream.conf; }
    }
}
CONF
exec nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
