/* Rewriting heads on their way through the proxy. */
#include <stdio.h>
#include <string.h>

#include "lb/rewrite.h"

/* Hop-by-hop headers (RFC 9110 7.6.1) never cross the proxy as they are. */
static bool is_hop_by_hop(struct slice name)
{
	return slice_eq_ci(name, SLICE_LIT("connection")) || slice_eq_ci(name, SLICE_LIT("keep-alive")) ||
	       slice_eq_ci(name, SLICE_LIT("proxy-connection")) || slice_eq_ci(name, SLICE_LIT("te")) ||
	       slice_eq_ci(name, SLICE_LIT("upgrade"));
}

static void put_header(struct buf *out, struct slice name, struct slice value)
{
	buf_reserve(out, name.len + value.len + 4);
	char *p = buf_tail(out);
	memcpy(p, name.ptr, name.len);
	p += name.len;
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, value.ptr, value.len);
	p += value.len;
	*p++ = '\r';
	*p++ = '\n';
	out->data += name.len + value.len + 4;
}

/* Iterates "a=1; b=2" pairs of a Cookie header value. */
static bool next_cookie(struct slice *rest, struct slice *name, struct slice *value)
{
	while (rest->len) {
		const char *semi = memchr(rest->ptr, ';', rest->len);
		size_t n = semi ? (size_t)(semi - rest->ptr) : rest->len;
		struct slice pair = slice_trim((struct slice){rest->ptr, n});
		rest->ptr += semi ? n + 1 : n;
		rest->len -= semi ? n + 1 : n;
		const char *eq = memchr(pair.ptr, '=', pair.len);
		if (!pair.len || !eq)
			continue;
		*name = slice_trim((struct slice){pair.ptr, (size_t)(eq - pair.ptr)});
		*value = slice_trim((struct slice){eq + 1, pair.len - (size_t)(eq - pair.ptr) - 1});
		if (value->len >= 2 && value->ptr[0] == '"' && value->ptr[value->len - 1] == '"') {
			value->ptr++;
			value->len -= 2;
		}
		return true;
	}
	return false;
}

bool lb__cookie_find(const struct http1_msg *m, struct slice name, struct slice *value)
{
	for (int i = 0; i < m->nheaders; i++) {
		if (!slice_eq_ci(m->headers[i].name, SLICE_LIT("cookie")))
			continue;
		struct slice rest = m->headers[i].value, n, v;
		while (next_cookie(&rest, &n, &v)) {
			if (slice_eq(n, name)) {
				*value = v;
				return true;
			}
		}
	}
	return false;
}

bool lb__setcookie_find(const struct http1_msg *m, struct slice name, struct slice *value)
{
	for (int i = 0; i < m->nheaders; i++) {
		if (!slice_eq_ci(m->headers[i].name, SLICE_LIT("set-cookie")))
			continue;
		/* Only the first pair names the cookie; the rest are attributes. */
		struct slice rest = m->headers[i].value, n, v;
		const char *semi = memchr(rest.ptr, ';', rest.len);
		if (semi)
			rest.len = (size_t)(semi - rest.ptr);
		if (next_cookie(&rest, &n, &v) && slice_eq(n, name) && v.len) {
			*value = v;
			return true;
		}
	}
	return false;
}

/* Writes a Cookie header without the cookie <strip>; nothing if empty. */
static void put_cookie_without(struct buf *out, struct slice hname, struct slice val, struct slice strip)
{
	struct slice rest = val, n, v;
	size_t start = out->data;
	bool any = false;

	buf_append(out, hname.ptr, hname.len);
	buf_append(out, ": ", 2);
	while (next_cookie(&rest, &n, &v)) {
		if (slice_eq(n, strip))
			continue;
		if (any)
			buf_append(out, "; ", 2);
		/* Re-emit from the name to the end of the value as sent. */
		buf_append(out, n.ptr, (size_t)(v.ptr + v.len - n.ptr));
		if (v.ptr + v.len < val.ptr + val.len && v.ptr[v.len] == '"')
			buf_append(out, "\"", 1);
		any = true;
	}
	if (any)
		buf_append(out, "\r\n", 2);
	else
		out->data = start;
}

void lb__build_request(struct buf *out, const struct http1_msg *m, const struct lb_req_rewrite *rw)
{
	const struct http1_header *xff = NULL;

	buf_reserve(out, m->head_len + 256);
	buf_append(out, m->method_str.ptr, m->method_str.len);
	buf_append(out, " ", 1);
	buf_append(out, m->target.ptr, m->target.len);
	buf_appends(out, m->version_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	for (int i = 0; i < m->nheaders; i++) {
		const struct http1_header *h = &m->headers[i];
		if (is_hop_by_hop(h->name)) {
			if (rw->upgrade && slice_eq_ci(h->name, SLICE_LIT("upgrade")))
				put_header(out, h->name, h->value);
			continue;
		}
		/* A client must not choose what the servers read as the
		 * original scheme or port. */
		if (slice_eq_ci(h->name, SLICE_LIT("x-forwarded-proto")) ||
		    slice_eq_ci(h->name, SLICE_LIT("x-forwarded-port")))
			continue;
		if (slice_eq_ci(h->name, SLICE_LIT("x-forwarded-for"))) {
			xff = h;
			continue;
		}
		if (rw->strip_cookie.len && slice_eq_ci(h->name, SLICE_LIT("cookie"))) {
			put_cookie_without(out, h->name, h->value, rw->strip_cookie);
			continue;
		}
		put_header(out, h->name, h->value);
	}
	/* Like nginx's $proxy_add_x_forwarded_for: keep the chain, add the peer.
	 * Plain appends, not printf: this runs for every request. */
	buf_appends(out, "X-Forwarded-For: ");
	if (xff) {
		buf_append(out, xff->value.ptr, xff->value.len);
		buf_append(out, ", ", 2);
	}
	buf_appends(out, rw->client_ip);
	buf_appends(out, rw->tls ? "\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: "
				 : "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: ");
	buf_append_u64(out, (unsigned)rw->local_port);
	buf_append(out, "\r\n", 2);
	if (rw->upgrade)
		buf_appends(out, "Connection: upgrade\r\n");
	else if (!m->version_minor)
		buf_appends(out, "Connection: close\r\n");
	buf_append(out, "\r\n", 2);
}

void lb__build_response(struct buf *out, const struct http1_msg *m, const struct lb_resp_rewrite *rw)
{
	bool has_cc = false;

	buf_reserve(out, m->head_len + 256);
	buf_appends(out, m->version_minor ? "HTTP/1.1 " : "HTTP/1.0 ");
	buf_append_u64(out, (unsigned)m->status);
	buf_append(out, " ", 1);
	buf_append(out, m->reason.ptr, m->reason.len);
	buf_append(out, "\r\n", 2);
	for (int i = 0; i < m->nheaders; i++) {
		const struct http1_header *h = &m->headers[i];
		if (is_hop_by_hop(h->name)) {
			if (rw->conn == LB_CONN_UPGRADE && slice_eq_ci(h->name, SLICE_LIT("upgrade")))
				put_header(out, h->name, h->value);
			continue;
		}
		if (slice_eq_ci(h->name, SLICE_LIT("cache-control")))
			has_cc = true;
		put_header(out, h->name, h->value);
	}
	if (rw->cookie_name) {
		buf_appendf(out, "Set-Cookie: %s=%s; path=/", rw->cookie_name, rw->cookie_value);
		if (rw->cookie_domain)
			buf_appendf(out, "; domain=%s", rw->cookie_domain);
		buf_append(out, "\r\n", 2);
		/* A shared cache must not hand one client's pin to another. */
		if (rw->nocache && !has_cc)
			buf_appends(out, "Cache-Control: private\r\n");
	}
	switch (rw->conn) {
	case LB_CONN_CLOSE:
		buf_appends(out, "Connection: close\r\n");
		break;
	case LB_CONN_UPGRADE:
		buf_appends(out, "Connection: upgrade\r\n");
		break;
	case LB_CONN_KEEP:
		if (rw->client_http10)
			buf_appends(out, "Connection: keep-alive\r\n");
		break;
	}
	buf_append(out, "\r\n", 2);
}

void lb__build_error(struct buf *out, int status)
{
	const char *reason = http1_reason(status);
	char body[256];
	int n = snprintf(body, sizeof(body), "<html><body><h1>%d %s</h1></body></html>\n", status, reason);

	buf_appendf(out,
		    "HTTP/1.1 %d %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
		    "Cache-Control: no-cache\r\nConnection: close\r\n\r\n%s",
		    status, reason, n, body);
}
