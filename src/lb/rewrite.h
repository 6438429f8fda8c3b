/* Private to src/lb/: rewriting request and response heads on their way
 * through the proxy (hop-by-hop headers, X-Forwarded-*, stickiness cookies). */
#ifndef BERTH_LB_REWRITE_H
#define BERTH_LB_REWRITE_H

#include <stdbool.h>

#include "core/buf.h"
#include "http/http1.h"

struct lb_req_rewrite {
	const char *client_ip;   /* appended to X-Forwarded-For */
	int local_port;          /* X-Forwarded-Port */
	bool tls;                /* X-Forwarded-Proto https */
	bool upgrade;            /* keep Upgrade and send "Connection: upgrade" */
	struct slice strip_cookie; /* cookie to remove from Cookie headers, or empty */
};

enum lb_conn_hdr {
	LB_CONN_KEEP = 0, /* keep-alive: say nothing for 1.1, "keep-alive" for 1.0 */
	LB_CONN_CLOSE,    /* "Connection: close" */
	LB_CONN_UPGRADE,  /* "Connection: upgrade" (101) */
};

struct lb_resp_rewrite {
	const char *cookie_name;   /* Set-Cookie to insert, or NULL */
	const char *cookie_value;
	const char *cookie_domain; /* or NULL */
	bool nocache;              /* add Cache-Control: private if none */
	enum lb_conn_hdr conn;
	bool client_http10;
};

/* Appends the head to send to the server for request <m>. */
void lb__build_request(struct buf *out, const struct http1_msg *m, const struct lb_req_rewrite *rw);
/* Appends the head to send to the client for response <m>. */
void lb__build_response(struct buf *out, const struct http1_msg *m, const struct lb_resp_rewrite *rw);
/* Value of cookie <name> in the request's Cookie headers. */
bool lb__cookie_find(const struct http1_msg *m, struct slice name, struct slice *value);
/* Value of cookie <name> set by a response's Set-Cookie headers. */
bool lb__setcookie_find(const struct http1_msg *m, struct slice name, struct slice *value);
/* Appends a complete error response (Connection: close). */
void lb__build_error(struct buf *out, int status);

#endif
