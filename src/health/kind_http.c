/* The http check: GET <path> from the instance's port; healthy iff the status is expected (default 200..399). */
#include "health/health-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "http/http1.h"

/*
 * The response head is parsed with the shared strict codec; anything it
 * refuses is a failed check. The verdict is the status, but the body is
 * read on (up to HTTP_BODY_KEEP bytes, within the timeout) because it
 * usually says why: it becomes the message, as Consul shows it. A body
 * still coming when the timeout strikes does not change the verdict.
 */

#define HTTP_MAX_READ  (32u << 10) /* head (16 KiB at most) and the body we keep, with chunk framing */
#define HTTP_BODY_KEEP 1024        /* bytes of the body kept for the message */

enum http_phase {
	HTTP_HEAD = 0,   /* waiting for the final response head */
	HTTP_BODY,       /* head judged; reading the body for the message */
};

struct http_priv {
	struct health_conn k;         /* the run's connection */
	struct http1_msg msg;         /* parse scratch */
	enum http_phase phase;
	enum http1_method method;     /* of the request, for the response's framing */
	size_t pos;                   /* bytes of rbuf already taken (interim heads, the head, body) */
	int status;                   /* final status */
	bool ok;                      /* the status is expected */
	char reason[64];              /* its reason phrase */
	enum http1_body body;         /* framing of the body */
	uint64_t left;                /* BODY_LENGTH: bytes still to come */
	struct http1_chunked chunked; /* BODY_CHUNKED decoder */
	struct buf keep;              /* decoded body bytes kept (<= HTTP_BODY_KEEP) */
};

static bool expected(const struct health_config *cfg, int status)
{
	if (cfg->nexpect == 0)
		return status >= 200 && status < 400;
	for (int i = 0; i < cfg->nexpect; i++)
		if (status >= cfg->expect[i].lo && status <= cfg->expect[i].hi)
			return true;
	return false;
}

static enum http1_method method_of(const char *m)
{
	return strcmp(m, "HEAD") == 0 ? HTTP1_M_HEAD : HTTP1_M_GET;
}

/* Ends the run with what is known: the status verdict (and the body kept
 * so far), or, before any head, a failure saying <why>. */
static void http_done(struct health_check *c, const char *why)
{
	struct http_priv *p = c->priv;
	char *body, *m;

	/* Reset, not closed: we may be leaving unread bytes behind anyway,
	 * and frequent checks should leave no TIME_WAIT (HAProxy does so). */
	health__conn_close(&p->k, true);
	if (p->phase == HTTP_HEAD) {
		m = xasprintf("%s http://%s:%d%s: %s", c->cfg.method ? c->cfg.method : "GET", c->addr,
			      c->host_port, c->cfg.path ? c->cfg.path : "/", why);
		health__run_done(c, false, m, NULL, -1);
		free(m);
		return;
	}
	body = health__text(buf_ptr(&p->keep), p->keep.data);
	m = xasprintf("HTTP %d %s%s%s", p->status, p->reason, body[0] ? ": " : "", body);
	health__run_done(c, p->ok, m, NULL, -1);
	free(body);
	free(m);
	buf_free(&p->keep);
}

static void keep_body(struct http_priv *p, const char *d, size_t n)
{
	size_t room = HTTP_BODY_KEEP - p->keep.data;

	buf_append(&p->keep, d, n < room ? n : room);
}

/* Consumes body bytes from rbuf; true once the message is over (or we
 * have kept all we want of it). */
static bool read_body(struct health_check *c)
{
	struct http_priv *p = c->priv;
	const char *d = buf_ptr(&p->k.rbuf) + p->pos;
	size_t n = p->k.rbuf.data - p->pos;

	p->pos += n;
	switch (p->body) {
	case HTTP1_BODY_NONE:
		return true;
	case HTTP1_BODY_LENGTH: {
		size_t take = n < p->left ? n : (size_t)p->left;
		keep_body(p, d, take);
		p->left -= take;
		if (p->left == 0)
			return true;
		break;
	}
	case HTTP1_BODY_UNTIL_CLOSE:
		keep_body(p, d, n);
		break;
	case HTTP1_BODY_CHUNKED:
		while (n > 0) {
			size_t used = 0;
			struct slice span = SLICE_NULL;
			enum http1_chunk_result r = http1_chunked_feed(&p->chunked, d, n, &used, &span);
			d += used;
			n -= used;
			if (r == HTTP1_CHUNK_DATA)
				keep_body(p, span.ptr, span.len);
			else if (r == HTTP1_CHUNK_DONE || r == HTTP1_CHUNK_ERROR)
				return true;
		}
		break;
	}
	/* Enough for the message: no need to wait for the rest. */
	return p->keep.data >= HTTP_BODY_KEEP;
}

static void judge(struct health_check *c)
{
	struct http_priv *p = c->priv;

	while (p->phase == HTTP_HEAD) {
		int n = http1_parse_response(buf_ptr(&p->k.rbuf) + p->pos, p->k.rbuf.data - p->pos, &p->msg,
					     p->method, NULL);
		if (n == HTTP1_INCOMPLETE)
			return;
		if (n < 0) {
			http_done(c, n == HTTP1_ERR_TOO_LARGE ? "response head too large" : "malformed response");
			return;
		}
		p->pos += (size_t)n;
		/* Interim responses (100, 103) precede the real one; 101 is a
		 * switch nobody asked for. */
		if (p->msg.status < 200 && p->msg.status != 101)
			continue;
		if (p->msg.status == 101) {
			http_done(c, "unexpected 101 Switching Protocols");
			return;
		}
		p->phase = HTTP_BODY;
		p->status = p->msg.status;
		p->ok = expected(&c->cfg, p->status);
		snprintf(p->reason, sizeof(p->reason), "%.*s", (int)p->msg.reason.len, p->msg.reason.ptr);
		p->body = p->msg.body;
		p->left = p->msg.content_length;
		http1_chunked_init(&p->chunked);
	}
	if (read_body(c))
		http_done(c, NULL);
}

static void on_connected(struct health_conn *k, void *arg)
{
	struct health_check *c = arg;
	const struct health_config *cfg = &c->cfg;
	char *host = cfg->host ? xstrdup(cfg->host)
			       : xasprintf(strchr(c->addr, ':') ? "[%s]:%d" : "%s:%d", c->addr, c->host_port);
	char *req = xasprintf("%s %s HTTP/1.%d\r\n"
			      "Host: %s\r\n"
			      "User-Agent: berth-health/" BERTH_VERSION "\r\n"
			      "Accept: */*\r\n"
			      "Connection: close\r\n"
			      "\r\n",
			      cfg->method ? cfg->method : "GET", cfg->path ? cfg->path : "/", cfg->http_minor,
			      host);

	health__conn_send(k, req, strlen(req));
	free(req);
	free(host);
}

static void on_data(struct health_conn *k, void *arg)
{
	judge(arg);
}

static void on_error(struct health_conn *k, int status, void *arg)
{
	struct health_check *c = arg;
	struct http_priv *p = c->priv;

	if (p->phase == HTTP_BODY) {
		/* The verdict stands; a cut body only shortens the message. */
		http_done(c, NULL);
		return;
	}
	http_done(c, status == UV_EOF ? "connection closed before the response"
		     : status == UV_ENOBUFS ? "response head too large"
					    : uv_strerror(status));
}

static const struct health_conn_events http_events = {on_connected, on_data, on_error};

static int http_init(struct health_check *c)
{
	c->priv = XNEW(struct http_priv);
	return 0;
}

static void http_run(struct health_check *c)
{
	struct http_priv *p = c->priv;
	int r;

	if (c->port_error) {
		health__run_done(c, false, c->port_error, NULL, -1);
		return;
	}
	p->phase = HTTP_HEAD;
	p->pos = 0;
	p->method = method_of(c->cfg.method ? c->cfg.method : "GET");
	buf_free(&p->keep);
	r = health__conn_open(&p->k, c, HTTP_MAX_READ, &http_events, c);
	if (r < 0)
		http_done(c, uv_strerror(r));
}

static void http_timeout(struct health_check *c)
{
	struct http_priv *p = c->priv;
	char d[32], m[64];

	if (p->phase == HTTP_BODY) {
		http_done(c, NULL);
		return;
	}
	health__duration_str(c->cfg.timeout, d, sizeof(d));
	snprintf(m, sizeof(m), "timed out after %s", d);
	http_done(c, m);
}

static void http_cancel(struct health_check *c)
{
	struct http_priv *p = c->priv;

	health__conn_close(&p->k, true);
	buf_free(&p->keep);
}

static void http_release(struct health_check *c)
{
	struct http_priv *p = c->priv;

	buf_free(&p->keep);
	free(p);
}

const struct health_kind_ops health__http_ops = {
	.name = "http",
	.kind = HEALTH_KIND_HTTP,
	.init = http_init,
	.run = http_run,
	.timeout = http_timeout,
	.cancel = http_cancel,
	.release = http_release,
};
