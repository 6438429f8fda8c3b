#!/bin/sh
# One nginx backend, run as a process by berth: writes this instance's
# config (its port is $PORT, given by berth) under run/<instance>/, then
# runs nginx in the foreground, where the shim supervises it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
inst=${BERTH_INSTANCE:-web.0}
dir="$here/run/$inst"
mkdir -p "$dir/tmp"
cat >"$dir/nginx.conf" <<CONF
# Written by nginx.sh for $inst at every start.
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen ${BERTH_ADDR:-127.0.0.1}:${PORT:-8000};
        root $here/html;
        set \$backend "$inst";
        ssi on;                                # the page names its backend
        add_header X-Served-By \$backend always;
        location = /healthz { default_type text/plain; return 200 "ok\n"; }
    }
}
CONF
exec nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
