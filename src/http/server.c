/* A small HTTP/1.1 server on libuv (see server.h). */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

#define HTTPD_MAX_PENDING (64 * 1024) /* client bytes held while a request is served */

struct http_listener {
	struct http_listener *next;
	struct http_server *srv;
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_handle_t h;
	} u;
	bool is_tcp;
	char *unix_path;             /* unlinked at close */
};

struct http_conn {
	struct http_conn *next, *prev;
	struct http_server *srv;
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_stream_t s;
		uv_handle_t h;
	} u;
	uv_timer_t timer;
	int handles;                 /* open handles; freed when the last closes */
	bool is_tcp;
	bool closing;
	bool reading;
	bool eof;                    /* the client half-closed */
	bool close_after;            /* close once the queued bytes are out */
	bool failed;                 /* a write failed: closing, from the loop (not from inside a handler) */
	bool in_process;             /* conn_process is on the stack: do not re-enter it */
	struct buf in;               /* bytes received, not yet a request */
	struct http_req *rq;         /* the request being served, or NULL */
	/* body being received */
	struct http1_chunked chunk;
	bool in_body;
	struct buf body;
	struct buf head;             /* copy of the head while its body arrives */
	char peer[64];
};

struct http_server {
	uv_loop_t *loop;
	struct http_server_opts o;
	http_handler_fn *fn;
	void *arg;
	struct http_listener *ls;
	struct http_conn *conns;
	int nconns;
	int handles;                 /* listeners + connections not yet closed */
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

static void conn_process(struct http_conn *c);
static void conn_close(struct http_conn *c);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

/* ---- lifetime ---- */

static void server_maybe_done(struct http_server *s)
{
	if (!s->closing || s->handles > 0)
		return;
	void (*done)(void *) = s->done;
	void *arg = s->done_arg;
	free(s);
	if (done)
		done(arg);
}

static void req_free(struct http_req *rq)
{
	if (!rq)
		return;
	free(rq->raw);
	free((char *)rq->method_str);
	free((char *)rq->path);
	free((char *)rq->query);
	free((char *)rq->body);
	free(rq);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	struct http_server *s = c->srv;

	if (--c->handles > 0)
		return;
	buf_free(&c->in);
	buf_free(&c->body);
	buf_free(&c->head);
	free(c);
	s->handles--;
	server_maybe_done(s);
}

static void conn_close(struct http_conn *c)
{
	struct http_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->rq) {
		struct http_req *rq = c->rq;
		c->rq = NULL;
		rq->conn = NULL;
		if (!rq->ended && rq->on_abort)
			rq->on_abort(rq);
		req_free(rq);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
	uv_close(&c->u.h, on_conn_handle_closed);
}

static void on_timer(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	/* A failed write asked for this close; or an idle keep-alive, or a
	 * head or body that never completed. A pending request (an
	 * asynchronous handler, a stream) has no timeout here. */
	if (c->failed || !c->rq)
		conn_close(c);
}

/* The peer is gone (a write failed). Closing right here would free the
 * request under the handler that is writing to it (STYLE.md 3: never close
 * from inside your own callback): mark it, stop reading, and close from
 * the loop's next turn. Later writes fail at once. */
static void conn_fail(struct http_conn *c)
{
	if (c->failed || c->closing)
		return;
	c->failed = true;
	if (c->reading) {
		uv_read_stop(&c->u.s);
		c->reading = false;
	}
	uv_timer_start(&c->timer, on_timer, 0, 0);
}

static void conn_arm(struct http_conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---- writing ---- */

struct wreq {
	uv_write_t req;
	struct http_conn *c;
	char data[];
};

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct http_conn *c = w->c;

	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->close_after && uv_stream_get_write_queue_size(&c->u.s) == 0)
		conn_close(c);
}

/* Sends <bufs> as far as possible now, queueing a copy of the rest.
 * Returns 0 or -1 (the connection is then closing). */
static int conn_send(struct http_conn *c, const uv_buf_t *bufs, unsigned n)
{
	size_t total = 0, off = 0;
	int sent = 0;

	if (c->closing || c->failed)
		return -1;
	for (unsigned i = 0; i < n; i++)
		total += bufs[i].len;
	if (!total)
		return 0;
	if (uv_stream_get_write_queue_size(&c->u.s) == 0) {
		sent = uv_try_write(&c->u.s, bufs, n);
		if (sent == UV_EAGAIN || sent == UV_ENOSYS)
			sent = 0;
		if (sent < 0) {
			conn_fail(c);
			return -1;
		}
		if ((size_t)sent == total)
			return 0;
	}
	struct wreq *w = xmalloc(sizeof(*w) + total - (size_t)sent);
	w->c = c;
	size_t skip = (size_t)sent;
	for (unsigned i = 0; i < n; i++) {
		size_t from = skip < bufs[i].len ? skip : bufs[i].len;
		skip -= from;
		memcpy(w->data + off, bufs[i].base + from, bufs[i].len - from);
		off += bufs[i].len - from;
	}
	uv_buf_t b = uv_buf_init(w->data, (unsigned)off);
	if (uv_write(&w->req, &c->u.s, &b, 1, on_written) < 0) {
		free(w);
		conn_fail(c);
		return -1;
	}
	return 0;
}

/* The request is answered: free it, then go on with the connection. */
static void req_finish(struct http_req *rq)
{
	struct http_conn *c = rq->conn;

	rq->ended = true;
	if (!c) {
		req_free(rq);
		return;
	}
	c->rq = NULL;
	bool keep = rq->keepalive && !c->eof && !c->srv->closing;
	req_free(rq);
	if (c->failed || c->closing)
		return;
	if (!keep) {
		/* Nothing more is read: pipelined requests after this one are
		 * not answered. The close follows the last queued byte. */
		c->close_after = true;
		if (c->reading) {
			uv_read_stop(&c->u.s);
			c->reading = false;
		}
		if (uv_stream_get_write_queue_size(&c->u.s) == 0)
			conn_fail(c);
		return;
	}
	if (!c->in.data) {
		/* Idle connections hold no buffers (a big body grew them). */
		buf_free(&c->in);
		buf_free(&c->body);
	}
	conn_arm(c, c->in.data ? c->srv->o.head_timeout_ms : c->srv->o.idle_timeout_ms);
	if (!c->reading) {
		/* Reading stopped while pipelined bytes piled up: resume. */
		c->reading = true;
		uv_read_start(&c->u.s, on_alloc, on_read);
	}
	/* A handler that answered at once returns into conn_process, which
	 * goes on with the next pipelined request itself: recursing from
	 * here would take one stack frame per request. */
	if (!c->in_process)
		conn_process(c);
}

static void put_head(struct buf *b, struct http_req *rq, int status, const char *ctype, const char *extra)
{
	buf_appendf(b, "HTTP/1.1 %d %s\r\n", status, http1_reason(status));
	if (ctype)
		buf_appendf(b, "Content-Type: %s\r\n", ctype);
	if (extra)
		buf_appends(b, extra);
	buf_appends(b, "Cache-Control: no-store\r\n");
	if (!rq->keepalive)
		buf_appends(b, "Connection: close\r\n");
}

void http_reply(struct http_req *rq, int status, const char *ctype, const char *extra, const char *body, size_t len)
{
	struct buf b = {0};

	BUG_ON(rq->ended || rq->streaming);
	if (rq->conn) {
		put_head(&b, rq, status, ctype, extra);
		buf_appendf(&b, "Content-Length: %zu\r\n\r\n", len);
		uv_buf_t bufs[2] = {uv_buf_init(buf_ptr(&b), (unsigned)b.data), uv_buf_init((char *)body, (unsigned)len)};
		conn_send(rq->conn, bufs, rq->method == HTTP1_M_HEAD || !len ? 1 : 2);
		buf_free(&b);
	}
	req_finish(rq);
}

void http_reply_json_hdr(struct http_req *rq, int status, const char *extra, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t n = strlen(text);

	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	text[n] = 0;
	http_reply(rq, status, "application/json", extra, text, n);
	free(text);
	json_decref(j);
}

void http_reply_json(struct http_req *rq, int status, json_t *j)
{
	http_reply_json_hdr(rq, status, NULL, j);
}

void http_reply_error(struct http_req *rq, int status, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_json(rq, status, json_pack("{s:s}", "error", msg));
}

void http_stream_start(struct http_req *rq, int status, const char *ctype, const char *extra)
{
	struct buf b = {0};

	BUG_ON(rq->ended || rq->streaming);
	rq->streaming = true;
	if (!rq->conn)
		return;
	put_head(&b, rq, status, ctype, extra);
	buf_appends(&b, "Transfer-Encoding: chunked\r\n\r\n");
	uv_buf_t ub = uv_buf_init(buf_ptr(&b), (unsigned)b.data);
	conn_send(rq->conn, &ub, 1);
	buf_free(&b);
}

ssize_t http_stream_write(struct http_req *rq, const char *p, size_t n)
{
	char hdr[24];

	if (!rq->conn || rq->conn->closing)
		return -1;
	if (!n)
		return (ssize_t)uv_stream_get_write_queue_size(&rq->conn->u.s);
	int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
	uv_buf_t bufs[3] = {uv_buf_init(hdr, (unsigned)hl), uv_buf_init((char *)p, (unsigned)n),
			    uv_buf_init("\r\n", 2)};
	if (conn_send(rq->conn, bufs, 3) < 0)
		return -1;
	return (ssize_t)uv_stream_get_write_queue_size(&rq->conn->u.s);
}

void http_stream_end(struct http_req *rq)
{
	BUG_ON(!rq->streaming || rq->ended);
	if (rq->conn) {
		uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
		conn_send(rq->conn, &b, 1);
	}
	req_finish(rq);
}

/* ---- reading the request ---- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes <p, n> ('+' is a space when <plus>) into a fresh string;
 * NULL when an escape is malformed or decodes to NUL. */
static char *pct_decode(const char *p, size_t n, bool plus)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%') {
			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			int a = hexval((unsigned char)p[i + 1]), b = hexval((unsigned char)p[i + 2]);
			if (a < 0 || b < 0 || (a == 0 && b == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(a * 16 + b);
			i += 2;
		} else if (plus && p[i] == '+') {
			*o++ = ' ';
		} else {
			*o++ = p[i];
		}
	}
	*o = 0;
	return out;
}

const char *http_req_header(const struct http_req *rq, const char *name, char *buf, size_t cap)
{
	const struct http1_header *h = http1_find_header(&rq->msg, slice_from(name));

	if (!h || !cap)
		return NULL;
	size_t n = h->value.len < cap - 1 ? h->value.len : cap - 1;
	memcpy(buf, h->value.ptr, n);
	buf[n] = 0;
	return buf;
}

const char *http_req_query(const struct http_req *rq, const char *name, char *buf, size_t cap)
{
	const char *q = rq->query;
	size_t nl = strlen(name);

	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;
		char *k = pct_decode(q, klen, true);
		bool match = k && strlen(k) == nl && memcmp(k, name, nl) == 0;
		free(k);
		if (match) {
			const char *v = eq ? eq + 1 : q + len;
			size_t vlen = eq ? len - klen - 1 : 0;
			char *dv = pct_decode(v, vlen, true);
			if (!dv)
				return NULL;
			snprintf(buf, cap, "%s", dv);
			free(dv);
			return buf;
		}
		q += len + (amp ? 1 : 0);
		if (!amp)
			break;
	}
	return NULL;
}

json_t *http_req_json(const struct http_req *rq, char **err)
{
	json_error_t je;
	json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);

	if (!j)
		*err = xasprintf("request body is not JSON: %s at line %d column %d", je.text, je.line, je.column);
	return j;
}

/* Answers a request the server refuses itself, then closes. */
static void conn_refuse(struct http_conn *c, int status, const char *msg)
{
	char body[256];
	char head[256];
	int bl = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", msg);
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
			  "%sConnection: close\r\n\r\n",
			  status, http1_reason(status), bl, status == 401 ? "WWW-Authenticate: Bearer\r\n" : "");
	uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)hl), uv_buf_init(body, (unsigned)bl)};

	c->close_after = true;
	if (c->reading) {
		uv_read_stop(&c->u.s);
		c->reading = false;
	}
	if (conn_send(c, bufs, 2) == 0 && uv_stream_get_write_queue_size(&c->u.s) == 0)
		conn_fail(c);
}

/* A whole request (head in c->head, body in c->body) is here: build the
 * request object and call the handler. */
static void dispatch(struct http_conn *c)
{
	struct http_server *s = c->srv;
	struct http_req *rq = XNEW(struct http_req);
	size_t hl = c->head.data;

	rq->srv = s;
	rq->conn = c;
	rq->tcp = c->is_tcp;
	snprintf(rq->peer, sizeof(rq->peer), "%s", c->peer);
	rq->raw = xmalloc(hl + 1);
	memcpy(rq->raw, buf_ptr(&c->head), hl);
	rq->raw[hl] = 0;
	buf_reset(&c->head);
	/* Parse again over our own copy so the slices outlive c->in. */
	int r = http1_parse_request(rq->raw, hl, &rq->msg, NULL);
	BUG_ON(r <= 0);
	rq->method = rq->msg.method;
	rq->method_str = xstrndup(rq->msg.method_str.ptr, rq->msg.method_str.len);
	const char *t = rq->msg.target.ptr;
	size_t tl = rq->msg.target.len;
	const char *qm = memchr(t, '?', tl);
	size_t pl = qm ? (size_t)(qm - t) : tl;
	rq->path = pct_decode(t, pl, false);
	rq->query = qm ? xstrndup(qm + 1, tl - pl - 1) : xstrdup("");
	rq->body_len = c->body.data;
	char *body = xmalloc(c->body.data + 1);
	if (c->body.data)
		memcpy(body, buf_ptr(&c->body), c->body.data);
	body[c->body.data] = 0;
	rq->body = body;
	buf_free(&c->body);
	rq->keepalive = (rq->msg.flags & HTTP1_F_KEEPALIVE) && !s->closing;
	if (!rq->path || rq->path[0] != '/') {
		rq->keepalive = false;
		c->rq = rq;
		http_reply_error(rq, 400, "bad request target");
		return;
	}
	c->rq = rq;
	uv_timer_stop(&c->timer);
	s->fn(rq, s->arg);
}

static void conn_process_loop(struct http_conn *c);

/* Runs the connection's request loop; never re-entered (see req_finish). */
static void conn_process(struct http_conn *c)
{
	if (c->in_process)
		return;
	c->in_process = true;
	conn_process_loop(c);
	c->in_process = false;
}

static void conn_process_loop(struct http_conn *c)
{
	struct http_server *s = c->srv;
	struct http1_msg *m;

	while (!c->closing && !c->failed && !c->close_after && !c->rq) {
		if (c->in_body) {
			/* Chunked body: decode what is here. */
			while (c->in.data) {
				size_t used;
				struct slice data;
				enum http1_chunk_result r =
					http1_chunked_feed(&c->chunk, buf_ptr(&c->in), c->in.data, &used, &data);
				if (r == HTTP1_CHUNK_ERROR) {
					conn_refuse(c, 400, "bad chunked body");
					return;
				}
				if (r == HTTP1_CHUNK_DATA) {
					if (c->body.data + data.len > s->o.max_body) {
						conn_refuse(c, 413, "request body too large");
						return;
					}
					buf_append(&c->body, data.ptr, data.len);
				}
				buf_consume(&c->in, used);
				if (r == HTTP1_CHUNK_DONE) {
					c->in_body = false;
					dispatch(c);
					goto next;
				}
			}
			return;
		}
		if (!c->in.data)
			return;
		m = XNEW(struct http1_msg);
		int r = http1_parse_request(buf_ptr(&c->in), c->in.data, m, NULL);
		if (r == HTTP1_INCOMPLETE) {
			free(m);
			return;
		}
		if (r < 0) {
			free(m);
			int status = r == HTTP1_ERR_TOO_LARGE ? 431 : r == HTTP1_ERR_TE ? 501
							  : r == HTTP1_ERR_VERSION ? 505 : 400;
			conn_refuse(c, status, "malformed request");
			return;
		}
		size_t head_len = (size_t)r;
		enum http1_body body = m->body;
		uint64_t cl = m->content_length;
		bool expect = (m->flags & HTTP1_F_EXPECT_100) != 0;
		/* Refused before a byte of its body is read or buffered: a client
		 * without the token cannot make the server hold 8 MiB for it. */
		if (s->o.authorize && !s->o.authorize(m, c->is_tcp, s->arg)) {
			free(m);
			conn_refuse(c, 401, "a bearer token is required");
			return;
		}
		free(m);
		if (body == HTTP1_BODY_LENGTH && cl > s->o.max_body) {
			conn_refuse(c, 413, "request body too large");
			return;
		}
		if (body == HTTP1_BODY_LENGTH && c->in.data < head_len + cl) {
			if (expect && c->in.data == head_len) {
				uv_buf_t b = uv_buf_init("HTTP/1.1 100 Continue\r\n\r\n", 25);
				if (conn_send(c, &b, 1) < 0)
					return;
			}
			return; /* wait for the whole body */
		}
		buf_reset(&c->head);
		buf_append(&c->head, buf_ptr(&c->in), head_len);
		buf_consume(&c->in, head_len);
		buf_reset(&c->body);
		if (body == HTTP1_BODY_LENGTH) {
			buf_append(&c->body, buf_ptr(&c->in), cl);
			buf_consume(&c->in, cl);
		} else if (body == HTTP1_BODY_CHUNKED) {
			http1_chunked_init(&c->chunk);
			c->in_body = true;
			if (expect && !c->in.data) {
				uv_buf_t b = uv_buf_init("HTTP/1.1 100 Continue\r\n\r\n", 25);
				if (conn_send(c, &b, 1) < 0)
					return;
			}
			continue;
		}
		dispatch(c);
next:;
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct http_conn *c = h->data;

	buf_reserve(&c->in, 16384);
	*b = uv_buf_init(buf_tail(&c->in), (unsigned)buf_room(&c->in));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct http_conn *c = st->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && c->rq && !c->rq->streaming) {
			/* Half-close after a request: it still gets its answer. */
			c->eof = true;
			uv_read_stop(st);
			return;
		}
		conn_close(c);
		return;
	}
	c->in.data += (size_t)nread;
	if (c->rq) {
		/* Pipelined bytes wait, within bounds. */
		if (c->in.data > HTTPD_MAX_PENDING) {
			uv_read_stop(st);
			c->reading = false;
		}
		return;
	}
	if (!c->in_body && c->in.data && uv_is_active((uv_handle_t *)&c->timer) == 0)
		conn_arm(c, c->srv->o.head_timeout_ms);
	conn_process(c);
	if (!c->closing && !c->rq && c->in.data > c->srv->o.max_body + 65536)
		conn_refuse(c, 413, "request too large");
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *ls, int status)
{
	struct http_listener *l = ls->data;
	struct http_server *s = l->srv;
	struct http_conn *c;

	if (status < 0 || s->closing)
		return;
	c = XNEW(struct http_conn);
	c->srv = s;
	c->is_tcp = l->is_tcp;
	if (l->is_tcp)
		uv_tcp_init(s->loop, &c->u.tcp);
	else
		uv_pipe_init(s->loop, &c->u.pipe, 0);
	uv_timer_init(s->loop, &c->timer);
	c->u.h.data = c;
	c->timer.data = c;
	c->handles = 2;
	s->handles++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(ls, &c->u.s) < 0 || s->nconns > s->o.max_conns) {
		conn_close(c);
		return;
	}
	strcpy(c->peer, "unix");
	if (l->is_tcp) {
		struct sockaddr_storage ss;
		int len = sizeof(ss);
		uv_tcp_nodelay(&c->u.tcp, 1);
		if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len) == 0)
			addr_format_ip((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	}
	conn_arm(c, s->o.head_timeout_ms);
	c->reading = true;
	uv_read_start(&c->u.s, on_alloc, on_read);
}

struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_opts *o, http_handler_fn *fn,
				    void *arg)
{
	struct http_server *s = XNEW(struct http_server);

	s->loop = loop;
	if (o)
		s->o = *o;
	if (!s->o.max_body)
		s->o.max_body = 8u << 20;
	if (!s->o.head_timeout_ms)
		s->o.head_timeout_ms = 10000;
	if (!s->o.idle_timeout_ms)
		s->o.idle_timeout_ms = 60000;
	if (!s->o.max_conns)
		s->o.max_conns = 1024;
	s->fn = fn;
	s->arg = arg;
	return s;
}

static struct http_listener *listener_new(struct http_server *s, bool tcp)
{
	struct http_listener *l = XNEW(struct http_listener);

	l->srv = s;
	l->is_tcp = tcp;
	if (tcp)
		uv_tcp_init(s->loop, &l->u.tcp);
	else
		uv_pipe_init(s->loop, &l->u.pipe, 0);
	l->u.h.data = l;
	l->next = s->ls;
	s->ls = l;
	s->handles++;
	return l;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct http_listener *l = h->data;
	struct http_server *s = l->srv;

	if (l->unix_path)
		unlink(l->unix_path);
	free(l->unix_path);
	free(l);
	s->handles--;
	server_maybe_done(s);
}

static void listener_drop(struct http_server *s, struct http_listener *l)
{
	s->ls = l->next;
	uv_close(&l->u.h, on_listener_closed);
}

int http_server_listen_tcp(struct http_server *s, const char *hostport, char **err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *why = NULL;
	int rc;

	if (addr_parse(hostport, &ss, &sl, &why) < 0) {
		*err = xasprintf("%s: %s", hostport, why ? why : "expected a numeric HOST:PORT");
		return UV_EINVAL;
	}
	struct http_listener *l = listener_new(s, true);
	rc = uv_tcp_bind(&l->u.tcp, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->u.tcp, 128, on_connection);
	if (rc < 0) {
		*err = xasprintf("cannot listen on %s: %s", hostport, uv_strerror(rc));
		listener_drop(s, l);
		return rc;
	}
	return 0;
}

int http_server_listen_unix(struct http_server *s, const char *path, int mode, char **err)
{
	struct stat st;
	int rc;

	/* A socket left by a process that died is replaced; anything else
	 * at that path is not ours to remove. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*err = xasprintf("%s exists and is not a socket", path);
			return UV_EEXIST;
		}
		unlink(path);
	}
	struct http_listener *l = listener_new(s, false);
	/* The socket must never exist with wider permissions, not even for
	 * the moment between bind and chmod. */
	mode_t old_mask = umask((mode_t)(~mode & 0777));
	rc = uv_pipe_bind(&l->u.pipe, path);
	umask(old_mask);
	if (rc == 0) {
		l->unix_path = xstrdup(path);
		chmod(path, (mode_t)mode);
		rc = uv_listen((uv_stream_t *)&l->u.pipe, 128, on_connection);
	}
	if (rc < 0) {
		*err = xasprintf("cannot listen on %s: %s", path, uv_strerror(rc));
		listener_drop(s, l);
		return rc;
	}
	return 0;
}

void http_server_close(struct http_server *s, void (*done)(void *arg), void *arg)
{
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	while (s->ls) {
		struct http_listener *l = s->ls;
		s->ls = l->next;
		uv_close(&l->u.h, on_listener_closed);
	}
	while (s->conns)
		conn_close(s->conns);
	server_maybe_done(s);
}
