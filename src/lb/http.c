/* The HTTP/1.1 proxy: one session per client connection, requests relayed
 * one at a time (pipelined requests wait their turn), WebSocket upgrades
 * turned into tunnels.
 *
 * A session's life: HEAD (read and check a request head) -> QUEUED (all
 * servers full) -> CONNECT -> REQ (request sent, response relayed) -> back to
 * HEAD on keep-alive, or TUNNEL after a 101. One timer per session serves
 * whichever timeout the state calls for. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/mem.h"
#include "lb/conn.h"
#include "lb/rewrite.h"
#include "lb/sess.h"

/* Client bytes held while a request is being served (pipelining). */
#define LB_PIPELINE_MAX (64 * 1024)

static void sess_process(struct lb_sess *s);
static void cli_pause(struct lb_sess *s);
static void dispatch(struct lb_sess *s);
static void srv_start_read(struct lb_sess *s);
static void on_srv_connect(struct lb_srvconn *sc, int status);
static void on_srv_read(struct lb_srvconn *sc, ssize_t nread, const uv_buf_t *b);
static void on_queue_wake(struct lb_waiter *wt);

/* ---- small helpers ---- */

static struct lb_counters *fe_cnt(struct lb_sess *s)
{
	return &s->fe->cnt[s->w->id];
}

static struct lb_counters *be_cnt(struct lb_sess *s)
{
	return &s->be->cnt[s->w->id];
}

static struct lb_counters *srv_cnt(struct lb_sess *s, struct lb_server *srv)
{
	return &srv->cnt[s->w->id];
}

static void count_status(struct lb_sess *s, int status)
{
	int cls = status >= 100 && status < 600 ? status / 100 : 0;

	fe_cnt(s)->resp[cls]++;
	if (s->be)
		be_cnt(s)->resp[cls]++;
	if (s->srv)
		srv_cnt(s, s->srv)->resp[cls]++;
}

/* Gives the server slot back and drops the session's claim on it. */
static void release_server(struct lb_sess *s)
{
	if (!s->srv)
		return;
	lb__server_release(s->be, s->srv);
	s->srv = NULL;
}

/* Detaches the server connection: back to the pool if it is clean. */
static void drop_srvconn(struct lb_sess *s, bool reusable)
{
	struct lb_srvconn *sc = s->sc;

	if (!sc)
		return;
	s->sc = NULL;
	if (reusable && sc->connected) {
		lb__srvconn_pool(sc, s->bc->to.keep_alive);
	} else {
		lb__srvconn_close(sc);
	}
}

/* ---- sending to the client (clear or TLS) ---- */

static void on_cli_drained(uv_write_t *req, int status)
{
	struct lb_sess *s = ((uv_stream_t *)req)->data;

	if (status < 0) {
		lb__sess_close(s);
		return;
	}
	if (lb__queued((uv_stream_t *)&s->cli) > 0)
		return;
	if (s->close_after_write) {
		lb__sess_close(s);
		return;
	}
	/* The client caught up: resume whoever was feeding it. */
	if (s->sc && s->srv_paused) {
		s->srv_paused = false;
		if (s->state == LB_S_REQ)
			lb__sess_timer(s, s->bc->to.server);
		srv_start_read(s);
	}
	if (s->state == LB_S_TUNNEL && s->cli_paused)
		lb__sess_cli_resume(s);
}

int lb__sess_cli_send(struct lb_sess *s, const uv_buf_t *bufs, unsigned n)
{
	int rc;

	if (s->closing)
		return -1;
	if (s->tls) {
		for (unsigned i = 0; i < n; i++)
			if (lb__tls_conn_output(s->tls, bufs[i].base, bufs[i].len, &s->tlsout) < 0)
				return -1;
		uv_buf_t b = uv_buf_init(buf_ptr(&s->tlsout), (unsigned)s->tlsout.data);
		rc = lb__send((uv_stream_t *)&s->cli, &b, 1, on_cli_drained);
		buf_reset(&s->tlsout);
	} else {
		rc = lb__send((uv_stream_t *)&s->cli, bufs, n, on_cli_drained);
	}
	if (rc < 0) {
		lb__sess_close(s);
		return rc;
	}
	for (unsigned i = 0; i < n; i++)
		fe_cnt(s)->bytes_out += bufs[i].len;
	return 0;
}

/* Sends an error response and closes once it is written. */
static void send_error(struct lb_sess *s, int status)
{
	struct buf b = {0};

	if (s->resp_started || s->tcp_mode) {
		/* Too late for a status: the client sees the truncation. */
		lb__sess_close(s);
		return;
	}
	count_status(s, status);
	lb__build_error(&b, status);
	s->resp_started = true;
	s->close_after_write = true;
	cli_pause(s);
	uv_buf_t ub = uv_buf_init(buf_ptr(&b), (unsigned)b.data);
	int rc = lb__sess_cli_send(s, &ub, 1);
	buf_free(&b);
	if (rc == 0 && lb__queued((uv_stream_t *)&s->cli) == 0)
		lb__sess_close(s);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t)
{
	struct lb_sess *s = t->data;

	switch (s->state) {
	case LB_S_HEAD:
		if (s->in.data == 0) {
			/* Nothing of a request arrived: an idle keep-alive or a
			 * silent connection. Close quietly, as HAProxy does. */
			lb__sess_close(s);
			return;
		}
		/* Slowloris, or a client that never sent anything. HAProxy
		 * answers 408 here; so do we. */
		fe_cnt(s)->err_req++;
		send_error(s, 408);
		return;
	case LB_S_QUEUED:
		lb__backend_dequeue(s->be, &s->waiter);
		if (s->waiter.assigned) {
			/* Lost the race with a hand-off already on its way. */
			return;
		}
		be_cnt(s)->queue_timeouts++;
		s->state = LB_S_DONE;
		send_error(s, 503);
		return;
	case LB_S_CONNECT:
		/* Connect timeout: handled like a refused connect. */
		on_srv_connect(s->sc, UV_ETIMEDOUT);
		return;
	case LB_S_REQ:
		if (!s->req_done || s->srv_paused) {
			/* Client inactivity: it stopped sending its body, or
			 * stopped reading the response. 408 if nothing was
			 * answered yet, as HAProxy does. */
			fe_cnt(s)->err_req++;
			drop_srvconn(s, false);
			release_server(s);
			send_error(s, 408);
			return;
		}
		if (!s->resp_started) {
			if (s->srv)
				srv_cnt(s, s->srv)->err_resp++;
			be_cnt(s)->err_resp++;
			drop_srvconn(s, false);
			release_server(s);
			send_error(s, 504);
			return;
		}
		lb__sess_close(s);
		return;
	case LB_S_TUNNEL: {
		uint64_t idle = lb__now(s->w) - s->last_activity;
		if (idle < s->tunnel_timeout) {
			lb__sess_timer(s, s->tunnel_timeout - idle);
			return;
		}
		lb__sess_close(s);
		return;
	}
	default:
		lb__sess_close(s);
	}
}

/* The uv timer fires at s->armed; the timeout that counts is s->deadline.
 * A timeout is re-armed several times per request (head, server, keep-alive)
 * and almost never expires, so moving a deadline later costs no timer-heap
 * work: an early wake-up just re-arms for what is left. */
static void on_timer_fire(uv_timer_t *t)
{
	struct lb_sess *s = t->data;
	uint64_t now = lb__now(s->w);

	s->armed = 0;
	if (now < s->deadline) {
		s->armed = s->deadline;
		uv_timer_start(&s->timer, on_timer_fire, s->deadline - now, 0);
		return;
	}
	on_timer(t);
}

void lb__sess_timer(struct lb_sess *s, uint64_t ms)
{
	uint64_t now = lb__now(s->w);

	s->deadline = now + (ms ? ms : 1);
	if (s->armed && s->armed <= s->deadline)
		return;
	s->armed = s->deadline;
	uv_timer_start(&s->timer, on_timer_fire, s->deadline - now, 0);
}

/* ---- session lifetime ---- */

static void on_handle_closed(uv_handle_t *h)
{
	struct lb_sess *s = h->data;

	if (--s->handles > 0)
		return;
	buf_free(&s->in);
	buf_free(&s->req);
	buf_free(&s->resp);
	buf_free(&s->tlsout);
	lb__tls_conn_free(s->tls);
	lb__world_unref(s->world);
	free(s);
}

/* Unlinks a closed session from its worker and closes its handles; the
 * memory goes in the last close callback. */
static void sess_finish(struct lb_sess *s)
{
	struct lb_worker *w = s->w;

	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->cli, on_handle_closed);
	if (w->draining && w->nsessions == 0)
		uv_async_send(&w->wake);
}

void lb__sess_close(struct lb_sess *s)
{
	if (s->closing)
		return;
	s->closing = true;
	/* Still queued but no longer in the queue: a hand-off to our inbox
	 * is in flight and points at us. The session stays alive (and
	 * counted, so a draining worker waits for it) until it arrives. */
	if (s->state == LB_S_QUEUED && !lb__backend_dequeue(s->be, &s->waiter))
		s->zombie = true;
	drop_srvconn(s, false);
	release_server(s);
	if (s->pinned) {
		lb__server_unref(s->pinned);
		s->pinned = NULL;
	}
	if (s->tls && !s->tls_failed) {
		/* Best effort close_notify; the socket closes right after. */
		lb__tls_conn_shutdown(s->tls, &s->tlsout);
		if (s->tlsout.data) {
			uv_buf_t b = uv_buf_init(buf_ptr(&s->tlsout), (unsigned)s->tlsout.data);
			uv_try_write((uv_stream_t *)&s->cli, &b, 1);
		}
	}
	atomic_fetch_sub(&s->fe->cur_conns, 1);
	uv_read_stop((uv_stream_t *)&s->cli);
	uv_timer_stop(&s->timer);
	s->armed = 0;
	if (!s->zombie)
		sess_finish(s);
}

/* ---- reading from the client ---- */

static void on_cli_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct lb_sess *s = h->data;
	/* Every read lands in the thread's scratch buffer and is copied only
	 * if it has to wait: idle connections then hold no buffer at all. */
	*b = uv_buf_init(s->w->scratch, sizeof(s->w->scratch));
}

static void on_cli_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct lb_sess *s = st->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (s->state == LB_S_TUNNEL && s->sc && nread == UV_EOF) {
			/* Half-close: pass the FIN on, keep the other way. */
			cli_pause(s);
			s->cli_eof = true;
			if (s->srv_eof) {
				lb__sess_close(s);
				return;
			}
			uv_shutdown_t *req = XNEW(uv_shutdown_t);
			if (uv_shutdown(req, (uv_stream_t *)&s->sc->tcp, lb__free_shutdown) < 0)
				free(req);
			return;
		}
		if (nread == UV_EOF && s->state != LB_S_HEAD && s->state != LB_S_DONE && s->req_done) {
			/* The client finished sending and half-closed: it still
			 * wants its response (HAProxy and nginx deliver it too). */
			s->cli_eof = true;
			s->client_keepalive = false;
			cli_pause(s);
			return;
		}
		lb__sess_close(s);
		return;
	}
	fe_cnt(s)->bytes_in += (uint64_t)nread;
	if (s->tls) {
		int rc = lb__tls_conn_input(s->tls, b->base, (size_t)nread, &s->in, &s->tlsout);
		if (s->tlsout.data) {
			uv_buf_t ob = uv_buf_init(buf_ptr(&s->tlsout), (unsigned)s->tlsout.data);
			int wrc = lb__send(st, &ob, 1, on_cli_drained);
			buf_reset(&s->tlsout);
			if (wrc < 0) {
				lb__sess_close(s);
				return;
			}
		}
		if (rc < 0) {
			s->tls_failed = true;
			lb__sess_close(s);
			return;
		}
	} else {
		buf_append(&s->in, b->base, (size_t)nread);
	}
	s->last_activity = lb__now(s->w);
	sess_process(s);
}

void lb__sess_cli_resume(struct lb_sess *s)
{
	if (s->cli_reading || s->closing || s->cli_eof)
		return;
	s->cli_paused = false;
	s->cli_reading = true;
	uv_read_start((uv_stream_t *)&s->cli, on_cli_alloc, on_cli_read);
}

static void cli_pause(struct lb_sess *s)
{
	if (s->cli_reading) {
		s->cli_paused = true;
		s->cli_reading = false;
		uv_read_stop((uv_stream_t *)&s->cli);
	}
}

/* ---- routing and request rewriting ---- */

static bool host_matches(const char *pattern, struct slice host)
{
	/* Ports never take part in host matching. */
	const char *colon = memchr(host.ptr, ':', host.len);
	if (colon && host.len && host.ptr[0] != '[')
		host.len = (size_t)(colon - host.ptr);
	if (pattern[0] == '*' && pattern[1] == '.') {
		size_t n = strlen(pattern + 1);
		return host.len > n && slice_eq_ci((struct slice){host.ptr + host.len - n, n},
						   (struct slice){pattern + 1, n});
	}
	return slice_eq_ci(host, slice_from(pattern));
}

static int route(const struct lb_frontend_cfg *fc, const struct http1_msg *m)
{
	for (int i = 0; i < fc->nrules; i++) {
		const struct lb_rule_cfg *r = &fc->rules[i];
		if (r->host && !host_matches(r->host, m->host))
			continue;
		if (r->path && !slice_starts_with(m->path, slice_from(r->path)))
			continue;
		return r->backend_idx;
	}
	return fc->default_idx;
}

static uint64_t request_hash(struct lb_sess *s, const struct http1_msg *m)
{
	struct slice key = SLICE_NULL;
	const struct http1_header *h;

	switch (s->bc->algo) {
	case LB_ALGO_SOURCE:
		return hash64(s->client_ip, strlen(s->client_ip));
	case LB_ALGO_HASH_URI:
		key = m->target;
		break;
	case LB_ALGO_HASH_HEADER:
		h = http1_find_header(m, slice_from(s->bc->hash_key));
		if (h)
			key = h->value;
		break;
	case LB_ALGO_HASH_COOKIE:
		lb__cookie_find(m, slice_from(s->bc->hash_key), &key);
		break;
	default:
		return 0;
	}
	if (!key.len) {
		/* No key: spread like round-robin would, as HAProxy does. */
		s->w->rr_key = s->w->rr_key * 6364136223846793005ULL + 1442695040888963407ULL;
		return s->w->rr_key;
	}
	return hash64(key.ptr, key.len);
}

/* Looks at stickiness cookies: pins the session to a server if the client
 * names one, and decides whether the response must set our cookie. */
static void sticky_request(struct lb_sess *s, const struct http1_msg *m)
{
	const struct lb_sticky_cfg *st = &s->bc->sticky;
	struct slice v;

	s->set_cookie = false;
	s->learn_value_len = 0;
	if (st->mode == LB_STICKY_INSERT) {
		if (lb__cookie_find(m, slice_from(st->cookie), &v)) {
			s->pinned = lb__backend_find_cookie(s->be, v);
			s->had_cookie = s->pinned != NULL;
		}
		if (!st->postonly || m->method == HTTP1_M_POST)
			s->set_cookie = true; /* cleared below if the pin holds */
	} else if (st->mode == LB_STICKY_APP) {
		if (lb__cookie_find(m, slice_from(st->app_cookie), &v) && v.len < sizeof(s->learn_value)) {
			s->pinned = lb__appck_lookup(s->be, v);
			/* Remember the value: if its server is gone, the new one
			 * learns it, so the client stays put from now on. */
			memcpy(s->learn_value, v.ptr, v.len);
			s->learn_value_len = v.len;
		}
	}
}

/* Builds the request to send from the parsed head, then takes as much of
 * the body as is already here. Returns 0, or an HTTP status to answer. */
static int prepare_request(struct lb_sess *s, const struct http1_msg *m)
{
	struct lb_req_rewrite rw = {
		.client_ip = s->client_ip,
		.local_port = s->local_port,
		.tls = s->tls != NULL,
		.upgrade = (m->flags & HTTP1_F_UPGRADE) != 0,
	};

	if (s->bc->sticky.mode == LB_STICKY_INSERT && s->bc->sticky.indirect)
		rw.strip_cookie = slice_from(s->bc->sticky.cookie);
	buf_reset(&s->req);
	lb__build_request(&s->req, m, &rw);
	s->method = m->method;
	s->upgrade = rw.upgrade;
	s->client_keepalive = (m->flags & HTTP1_F_KEEPALIVE) && !s->w->draining;
	s->client_http10 = m->version_minor == 0;
	s->rbody = m->body;
	s->rleft = m->content_length;
	http1_chunked_init(&s->rchunk);
	buf_consume(&s->in, m->head_len);
	s->req_done = s->rbody == HTTP1_BODY_NONE;

	/* Body bytes already received travel with the head, and stay in
	 * s->req so the request can be replayed on another server. Checking
	 * them now means a bad chunk is refused before anything is sent. */
	if (!s->req_done && s->in.data) {
		size_t take;
		if (s->rbody == HTTP1_BODY_LENGTH) {
			take = s->in.data < s->rleft ? s->in.data : s->rleft;
			s->rleft -= take;
			s->req_done = s->rleft == 0;
		} else {
			enum http1_chunk_result r = http1_chunked_skip(&s->rchunk, buf_ptr(&s->in), s->in.data, &take);
			if (r == HTTP1_CHUNK_ERROR)
				return 400;
			s->req_done = r == HTTP1_CHUNK_DONE;
		}
		buf_append(&s->req, buf_ptr(&s->in), take);
		buf_consume(&s->in, take);
	}
	s->req_replayable = s->req_done;
	return 0;
}

/* A complete request head is in s->in: check it, route it, dispatch it. */
static void start_request(struct lb_sess *s, struct http1_msg *m)
{
	int status, be_idx;

	s->nreqs++;
	fe_cnt(s)->reqs++;
	s->resp_started = false;
	s->attempts = 0;
	s->sent_nothing = false;
	s->avoid = NULL;
	s->had_cookie = false;
	be_idx = route(s->fc, m);
	if (be_idx < 0) {
		send_error(s, 503);
		return;
	}
	s->be = s->world->be[be_idx];
	s->bc = &s->world->cfg->bes[be_idx];
	be_cnt(s)->reqs++;
	s->hash = request_hash(s, m);
	sticky_request(s, m);
	status = prepare_request(s, m);
	if (status) {
		fe_cnt(s)->err_req++;
		send_error(s, status);
		return;
	}
	/* Reading goes on while the request is served: pipelined bytes wait
	 * in s->in (bounded in sess_process), and no epoll change is made. */
	dispatch(s);
}

/* ---- server side ---- */

static void relay_response(struct lb_sess *s);

static void on_srv_drained(uv_write_t *req, int status)
{
	struct lb_srvconn *sc = ((uv_stream_t *)req)->data;
	struct lb_sess *s = sc->owner;

	if (!s || s->sc != sc)
		return;
	if (status < 0) {
		/* Handled by the read side, which sees the reset too. */
		return;
	}
	if (lb__queued((uv_stream_t *)&sc->tcp) == 0 && s->cli_paused && !s->req_done)
		lb__sess_cli_resume(s);
	if (s->state == LB_S_TUNNEL && s->cli_paused && lb__queued((uv_stream_t *)&sc->tcp) == 0)
		lb__sess_cli_resume(s);
}

static int srv_send(struct lb_sess *s, const char *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

	if (s->srv)
		srv_cnt(s, s->srv)->bytes_in += n;
	be_cnt(s)->bytes_in += n;
	return lb__send((uv_stream_t *)&s->sc->tcp, &b, 1, on_srv_drained);
}

/* What to do when the server failed before any response byte: retry (on
 * another server when allowed) or answer with <status>. */
static void server_failed(struct lb_sess *s, int status, bool count_failure)
{
	struct lb_server *failed = s->srv;
	bool reused = s->sc && s->sc->reused;

	drop_srvconn(s, false);
	if (failed && count_failure)
		lb__server_report(s->be, failed, false, s->bc->check.fall);
	/* A pooled connection the server had just closed is not the server's
	 * fault and does not use up a retry. */
	bool free_retry = reused && !count_failure;
	/* Nothing sent: always safe to try again. Sent: only a request we
	 * still hold whole, and only if repeating it cannot hurt. */
	bool retry = !s->resp_started && (free_retry || s->attempts < s->bc->retries) &&
		     (s->sent_nothing || (s->req_replayable && http1_method_idempotent(s->method)));
	if (!retry) {
		release_server(s);
		send_error(s, status);
		return;
	}
	if (!free_retry) {
		s->attempts++;
		be_cnt(s)->retries++;
		if (failed)
			srv_cnt(s, failed)->retries++;
	}
	if (failed && s->bc->redispatch && !free_retry) {
		/* Redispatch: another server, and forget a pin to this one. */
		s->avoid = failed;
		if (s->pinned == failed) {
			lb__server_unref(s->pinned);
			s->pinned = NULL;
		}
		release_server(s);
		be_cnt(s)->redispatches++;
		dispatch(s);
		return;
	}
	/* Same server, fresh connection: keep the slot. */
	s->state = LB_S_CONNECT;
	s->sc = lb__srvconn_get(s->w, s->be, s->srv, s, on_srv_connect, on_srv_read);
	if (s->sc->reused)
		on_srv_connect(s->sc, 0);
	else
		lb__sess_timer(s, s->bc->to.connect);
}

/* The response is complete: recycle what can be, then wait for the next
 * request or close. */
static void response_done(struct lb_sess *s)
{
	bool reusable = s->srv_keepalive && s->req_done && s->sc && s->sc->in.data == 0;

	drop_srvconn(s, reusable);
	release_server(s);
	if (s->pinned) {
		lb__server_unref(s->pinned);
		s->pinned = NULL;
	}
	s->state = LB_S_HEAD;
	s->be = NULL;
	if (!s->client_keepalive || !s->req_done) {
		s->close_after_write = true;
		if (lb__queued((uv_stream_t *)&s->cli) == 0)
			lb__sess_close(s);
		return;
	}
	if (s->w->draining) {
		s->close_after_write = true;
		if (lb__queued((uv_stream_t *)&s->cli) == 0)
			lb__sess_close(s);
		return;
	}
	if (s->in.data == 0) {
		/* Idle connections hold no buffer. */
		buf_free(&s->in);
		buf_free(&s->req);
		buf_free(&s->resp);
	}
	lb__sess_timer(s, s->in.data ? s->fc->to.http_request : s->fc->to.keep_alive);
	lb__sess_cli_resume(s);
	if (s->in.data)
		sess_process(s);
}

/* Server-side bytes for the current response, after its head. <head>, if
 * not NULL, is the rewritten response head not sent yet: it goes out in the
 * same write as the body bytes already here (one syscall, not two). */
static void relay_body(struct lb_sess *s, struct buf *head)
{
	struct lb_srvconn *sc = s->sc;
	size_t take = 0;
	bool done = false;
	uv_buf_t b[2];
	unsigned nb = 0;

	if (head)
		b[nb++] = uv_buf_init(buf_ptr(head), (unsigned)head->data);
	/* A response without a body (HEAD, 204, 304, Content-Length: 0) is
	 * done as soon as its head is, with nothing more to read. */
	if (!sc->in.data && s->sbody != HTTP1_BODY_NONE &&
	    !(s->sbody == HTTP1_BODY_LENGTH && s->sleft == 0)) {
		if (nb)
			lb__sess_cli_send(s, b, nb);
		return;
	}
	switch (s->sbody) {
	case HTTP1_BODY_LENGTH:
		take = sc->in.data < s->sleft ? sc->in.data : s->sleft;
		s->sleft -= take;
		done = s->sleft == 0;
		break;
	case HTTP1_BODY_CHUNKED: {
		enum http1_chunk_result r = http1_chunked_skip(&s->schunk, buf_ptr(&sc->in), sc->in.data, &take);
		if (r == HTTP1_CHUNK_ERROR) {
			srv_cnt(s, s->srv)->err_resp++;
			lb__sess_close(s);
			return;
		}
		done = r == HTTP1_CHUNK_DONE;
		break;
	}
	case HTTP1_BODY_UNTIL_CLOSE:
		take = sc->in.data;
		break;
	case HTTP1_BODY_NONE:
		done = true;
		break;
	}
	if (take) {
		b[nb++] = uv_buf_init(buf_ptr(&sc->in), (unsigned)take);
		be_cnt(s)->bytes_out += take;
		srv_cnt(s, s->srv)->bytes_out += take;
	}
	if (nb && lb__sess_cli_send(s, b, nb) < 0)
		return;
	if (take)
		buf_consume(&sc->in, take);
	if (done) {
		response_done(s);
		return;
	}
	if (lb__queued((uv_stream_t *)&s->cli) > LB_WRITE_HIGH) {
		/* The client is not reading: its clock runs now. */
		s->srv_paused = true;
		lb__srvconn_read_stop(sc);
		lb__sess_timer(s, s->fc->to.client);
	}
}

static void start_tunnel(struct lb_sess *s)
{
	s->state = LB_S_TUNNEL;
	s->tunnel_timeout = s->bc->to.tunnel;
	s->last_activity = lb__now(s->w);
	lb__sess_timer(s, s->tunnel_timeout);
	/* Bytes the client sent after its upgrade request belong to the
	 * tunnel already. */
	if (s->in.data) {
		srv_send(s, buf_ptr(&s->in), s->in.data);
		buf_reset(&s->in);
	}
	if (s->sc->in.data) {
		uv_buf_t b = uv_buf_init(buf_ptr(&s->sc->in), (unsigned)s->sc->in.data);
		lb__sess_cli_send(s, &b, 1);
		buf_reset(&s->sc->in);
	}
	if (s->cli_eof) {
		/* The client half-closed before the tunnel was up (a TCP client
		 * that sent its bytes and shut down, or went away at once):
		 * pass the FIN on, so the server's close ends the session. */
		uv_shutdown_t *req = XNEW(uv_shutdown_t);
		if (uv_shutdown(req, (uv_stream_t *)&s->sc->tcp, lb__free_shutdown) < 0)
			free(req);
		return;
	}
	lb__sess_cli_resume(s);
}

/* Parses and relays response heads (1xx first, then the final one). */
static void relay_response(struct lb_sess *s)
{
	struct lb_srvconn *sc = s->sc;
	struct http1_msg *m = &s->w->msg;

	while (!s->resp_head_done) {
		int r = http1_parse_response(buf_ptr(&sc->in), sc->in.data, m, s->method, NULL);
		if (r == HTTP1_INCOMPLETE)
			return;
		if (r < 0) {
			srv_cnt(s, s->srv)->err_resp++;
			be_cnt(s)->err_resp++;
			log_warn("lb", "backend %s: server %s sent an invalid response", s->be->name, s->srv->name);
			drop_srvconn(s, false);
			release_server(s);
			send_error(s, 502);
			return;
		}
		if (m->status >= 100 && m->status < 200 && m->status != 101) {
			/* Interim responses (100 Continue, 103) go through as
			 * they are, and the final one follows. */
			uv_buf_t b = uv_buf_init(buf_ptr(&sc->in), (unsigned)m->head_len);
			if (lb__sess_cli_send(s, &b, 1) < 0)
				return;
			buf_consume(&sc->in, m->head_len);
			continue;
		}
		struct lb_resp_rewrite rw = {.client_http10 = s->client_http10};
		bool tunnel = m->status == 101 && s->upgrade;
		s->status = m->status;
		s->sbody = tunnel ? HTTP1_BODY_NONE : m->body;
		s->sleft = m->content_length;
		http1_chunked_init(&s->schunk);
		s->srv_keepalive = (m->flags & HTTP1_F_KEEPALIVE) && !tunnel;
		if (s->sbody == HTTP1_BODY_UNTIL_CLOSE || (s->client_http10 && s->sbody == HTTP1_BODY_CHUNKED))
			s->client_keepalive = false;
		rw.conn = tunnel ? LB_CONN_UPGRADE : s->client_keepalive ? LB_CONN_KEEP : LB_CONN_CLOSE;

		const struct lb_sticky_cfg *st = &s->bc->sticky;
		if (st->mode == LB_STICKY_INSERT && s->set_cookie && !(s->had_cookie && s->pinned == s->srv)) {
			rw.cookie_name = st->cookie;
			rw.cookie_value = s->srv->cookie;
			rw.cookie_domain = st->domain;
			rw.nocache = st->nocache;
		} else if (st->mode == LB_STICKY_APP) {
			struct slice v;
			if (lb__setcookie_find(m, slice_from(st->app_cookie), &v))
				lb__appck_learn(s->be, v, s->srv, st->app_ttl);
			else if (s->learn_value_len && s->pinned != s->srv)
				lb__appck_learn(s->be, (struct slice){s->learn_value, s->learn_value_len}, s->srv,
						st->app_ttl);
		}
		buf_reset(&s->resp);
		lb__build_response(&s->resp, m, &rw);
		buf_consume(&sc->in, m->head_len);
		count_status(s, m->status);
		s->resp_head_done = true;
		s->resp_started = true;
		if (tunnel) {
			uv_buf_t b = uv_buf_init(buf_ptr(&s->resp), (unsigned)s->resp.data);
			if (lb__sess_cli_send(s, &b, 1) < 0)
				return;
			start_tunnel(s);
			return;
		}
		relay_body(s, &s->resp);
		return;
	}
	relay_body(s, NULL);
}

static void on_srv_read(struct lb_srvconn *sc, ssize_t nread, const uv_buf_t *b)
{
	struct lb_sess *s = sc->owner;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (s->state == LB_S_TUNNEL) {
			if (nread == UV_EOF && !s->cli_eof) {
				s->srv_eof = true;
				lb__srvconn_read_stop(sc);
				uv_shutdown_t *req = XNEW(uv_shutdown_t);
				if (uv_shutdown(req, (uv_stream_t *)&s->cli, lb__free_shutdown) < 0)
					free(req);
				return;
			}
			lb__sess_close(s);
			return;
		}
		if (s->resp_head_done && s->sbody == HTTP1_BODY_UNTIL_CLOSE && nread == UV_EOF) {
			s->srv_keepalive = false;
			s->client_keepalive = false;
			response_done(s);
			return;
		}
		if (s->resp_head_done || sc->in.data) {
			/* Truncated response: nothing honest to add. */
			if (s->srv)
				srv_cnt(s, s->srv)->err_resp++;
			lb__sess_close(s);
			return;
		}
		/* Closed or reset before a single response byte. */
		be_cnt(s)->err_resp++;
		if (s->srv && !sc->reused)
			srv_cnt(s, s->srv)->err_resp++;
		server_failed(s, 502, !sc->reused);
		return;
	}
	s->last_activity = lb__now(s->w);
	if (s->state == LB_S_TUNNEL) {
		uv_buf_t ub = uv_buf_init(b->base, (unsigned)nread);
		be_cnt(s)->bytes_out += (uint64_t)nread;
		if (lb__sess_cli_send(s, &ub, 1) < 0)
			return;
		if (lb__queued((uv_stream_t *)&s->cli) > LB_WRITE_HIGH) {
			s->srv_paused = true;
			lb__srvconn_read_stop(sc);
		}
		return;
	}
	buf_append(&sc->in, b->base, (size_t)nread);
	if (!s->resp_head_done && sc->in.data > 65536) {
		srv_cnt(s, s->srv)->err_resp++;
		drop_srvconn(s, false);
		release_server(s);
		send_error(s, 502);
		return;
	}
	/* The server answers: its inactivity clock restarts (while the
	 * body is still coming, the client's clock runs instead). */
	if (s->req_done)
		lb__sess_timer(s, s->bc->to.server);
	relay_response(s);
}

static void srv_start_read(struct lb_sess *s)
{
	lb__srvconn_read_start(s->sc);
}

/* Connected (or reused): send what we have of the request. */
static void on_srv_connect(struct lb_srvconn *sc, int status)
{
	struct lb_sess *s = sc->owner;

	if (status < 0) {
		srv_cnt(s, s->srv)->err_conn++;
		be_cnt(s)->err_conn++;
		log_debug("lb", "backend %s: connect to %s failed: %s", s->be->name, s->srv->name,
			  uv_strerror(status));
		s->sent_nothing = true;
		server_failed(s, 503, true);
		return;
	}
	if (!sc->reused) {
		lb__server_report(s->be, s->srv, true, 0);
		srv_cnt(s, s->srv)->conns++;
		be_cnt(s)->conns++;
	}
	srv_cnt(s, s->srv)->reqs++;
	if (s->tcp_mode) {
		s->resp_started = true;
		start_tunnel(s);
		srv_start_read(s);
		return;
	}
	s->state = LB_S_REQ;
	s->resp_head_done = false;
	s->sent_nothing = false;
	buf_reset(&sc->in);
	if (srv_send(s, buf_ptr(&s->req), s->req.data) < 0) {
		server_failed(s, 502, !sc->reused);
		return;
	}
	lb__sess_timer(s, s->req_done ? s->bc->to.server : s->fc->to.client);
	srv_start_read(s);
	if (!s->req_done) {
		/* The rest of the body streams straight from the client;
		 * it can no longer be replayed. */
		s->req_replayable = false;
		lb__sess_cli_resume(s);
		if (s->in.data)
			sess_process(s);
	}
}

static void connect_server(struct lb_sess *s)
{
	s->state = LB_S_CONNECT;
	s->sc = lb__srvconn_get(s->w, s->be, s->srv, s, on_srv_connect, on_srv_read);
	if (s->sc->reused) {
		on_srv_connect(s->sc, 0);
		return;
	}
	lb__sess_timer(s, s->bc->to.connect);
}

static void on_queue_wake(struct lb_waiter *wt)
{
	struct lb_sess *s = (struct lb_sess *)((char *)wt - offsetof(struct lb_sess, waiter));
	struct lb_server *srv = wt->assigned;

	wt->assigned = NULL;
	if (s->zombie || s->closing || s->state != LB_S_QUEUED) {
		/* Nobody wants the slot any more: pass it on. */
		lb__server_release(s->be, srv);
		if (s->zombie) {
			s->zombie = false;
			sess_finish(s);
		}
		return;
	}
	s->srv = srv;
	connect_server(s);
}

/* Picks a server (pin first, then the balancer) and connects, or queues,
 * or answers 503 when no server is up. */
static void dispatch(struct lb_sess *s)
{
	struct lb_server *srv = NULL;

	if (s->pinned && s->pinned != s->avoid && lb__server_take(s->be, s->pinned)) {
		srv = s->pinned;
	} else {
		srv = lb__backend_take(s->be, s->hash, s->avoid);
	}
	if (!srv) {
		if (lb__backend_usable_count(s->be) == 0) {
			send_error(s, 503);
			return;
		}
		/* Every usable server is at its maxconn: wait in line. */
		s->state = LB_S_QUEUED;
		s->waiter.w = s->w;
		s->waiter.wake = on_queue_wake;
		s->waiter.assigned = NULL;
		be_cnt(s)->queued++;
		if (!lb__backend_enqueue(s->be, &s->waiter)) {
			s->state = LB_S_DONE;
			send_error(s, 503);
			return;
		}
		if (s->state == LB_S_QUEUED)
			lb__sess_timer(s, s->bc->to.queue);
		return;
	}
	s->srv = srv;
	connect_server(s);
}

/* ---- the client-side state machine ---- */

static void sess_process(struct lb_sess *s)
{
	struct lb_worker *w = s->w;

	switch (s->state) {
	case LB_S_HEAD: {
		if (!s->in.data)
			return;
		if (s->head_started == 0) {
			/* The http-request timeout runs from the first byte of a
			 * head (or from accept, for the first request). */
			s->head_started = 1;
			lb__sess_timer(s, s->fc->to.http_request);
		}
		int r = http1_parse_request(buf_ptr(&s->in), s->in.data, &w->msg, NULL);
		if (r == HTTP1_INCOMPLETE)
			return;
		s->head_started = 0;
		if (r < 0) {
			int status = r == HTTP1_ERR_TOO_LARGE ? 431 : r == HTTP1_ERR_TE ? 501
								   : r == HTTP1_ERR_VERSION ? 505 : 400;
			fe_cnt(s)->err_req++;
			fe_cnt(s)->reqs++;
			send_error(s, status);
			return;
		}
		start_request(s, &w->msg);
		return;
	}
	case LB_S_REQ:
		if (s->req_done || !s->sc) {
			/* Pipelined requests wait for this response. */
			if (s->in.data > LB_PIPELINE_MAX)
				cli_pause(s);
			return;
		}
		while (s->in.data && !s->req_done) {
			size_t take;
			if (s->rbody == HTTP1_BODY_LENGTH) {
				take = s->in.data < s->rleft ? s->in.data : s->rleft;
				s->rleft -= take;
				s->req_done = s->rleft == 0;
			} else {
				enum http1_chunk_result r =
					http1_chunked_skip(&s->rchunk, buf_ptr(&s->in), s->in.data, &take);
				if (r == HTTP1_CHUNK_ERROR) {
					fe_cnt(s)->err_req++;
					drop_srvconn(s, false);
					release_server(s);
					send_error(s, 400);
					return;
				}
				s->req_done = r == HTTP1_CHUNK_DONE;
			}
			if (srv_send(s, buf_ptr(&s->in), take) < 0) {
				lb__sess_close(s);
				return;
			}
			buf_consume(&s->in, take);
		}
		/* Body bytes came: the client's clock restarts, or, with the
		 * whole request sent, the server's starts. */
		if (!s->srv_paused)
			lb__sess_timer(s, s->req_done ? s->bc->to.server : s->fc->to.client);
		if (s->req_done || lb__queued((uv_stream_t *)&s->sc->tcp) > LB_WRITE_HIGH)
			cli_pause(s);
		return;
	case LB_S_TUNNEL:
		if (s->in.data) {
			srv_send(s, buf_ptr(&s->in), s->in.data);
			buf_reset(&s->in);
			if (lb__queued((uv_stream_t *)&s->sc->tcp) > LB_WRITE_HIGH)
				cli_pause(s);
		}
		return;
	default:
		/* Connecting or queued: hold the bytes, but not forever. */
		if (s->in.data > LB_PIPELINE_MAX)
			cli_pause(s);
		return;
	}
}

/* ---- accept ---- */

struct lb_sess *lb__sess_accept(struct lb_worker *w, struct lb_listener *l)
{
	struct lb_sess *s = XNEW(struct lb_sess);
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	s->w = w;
	s->world = w->world;
	lb__world_ref(s->world);
	s->fe_idx = l->fe_idx;
	s->fc = &s->world->cfg->fes[l->fe_idx];
	s->fe = s->world->fe[l->fe_idx];
	uv_tcp_init(&w->loop, &s->cli);
	uv_timer_init(&w->loop, &s->timer);
	s->cli.data = s;
	s->timer.data = s;
	s->handles = 2;
	w->nsessions++;
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	atomic_fetch_add(&s->fe->cur_conns, 1);
	if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&s->cli) < 0) {
		lb__sess_close(s);
		return NULL;
	}
	fe_cnt(s)->conns++;
	if (s->fc->maxconn && atomic_load(&s->fe->cur_conns) > s->fc->maxconn) {
		fe_cnt(s)->denied++;
		lb__sess_close(s);
		return NULL;
	}
	uv_tcp_nodelay(&s->cli, 1);
	if (uv_tcp_getpeername(&s->cli, (struct sockaddr *)&ss, &len) == 0)
		addr_format_ip((struct sockaddr *)&ss, s->client_ip, sizeof(s->client_ip));
	else
		strcpy(s->client_ip, "unknown");
	len = sizeof(ss);
	if (uv_tcp_getsockname(&s->cli, (struct sockaddr *)&ss, &len) == 0)
		s->local_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	s->last_activity = lb__now(w);
	return s;
}

void lb__http_accept(struct lb_worker *w, struct lb_listener *l)
{
	struct lb_sess *s = lb__sess_accept(w, l);

	if (!s)
		return;
	if (w->world->tls[l->fe_idx])
		s->tls = lb__tls_conn_new(w->world->tls[l->fe_idx]);
	s->state = LB_S_HEAD;
	s->head_started = 1;
	lb__sess_timer(s, s->fc->to.http_request);
	lb__sess_cli_resume(s);
}

void lb__tcp_accept(struct lb_worker *w, struct lb_listener *l)
{
	struct lb_sess *s = lb__sess_accept(w, l);
	int be_idx;

	if (!s)
		return;
	s->tcp_mode = true;
	be_idx = s->fc->default_idx;
	s->be = s->world->be[be_idx];
	s->bc = &s->world->cfg->bes[be_idx];
	be_cnt(s)->reqs++;
	s->method = HTTP1_M_OTHER;
	/* Nothing reaches a server before it is connected, so a failed
	 * connect can always be retried elsewhere. */
	s->req_done = true;
	s->req_replayable = true;
	s->sent_nothing = true;
	s->hash = s->bc->algo == LB_ALGO_SOURCE ? hash64(s->client_ip, strlen(s->client_ip))
						 : (w->rr_key = w->rr_key * 6364136223846793005ULL + 1);
	s->state = LB_S_CONNECT;
	lb__sess_cli_resume(s);
	dispatch(s);
}

void lb__sessions_drain(struct lb_worker *w)
{
	struct lb_sess *s = w->sessions, *next;

	/* Idle keep-alive connections go now; busy ones finish their request
	 * and close after it (response_done checks w->draining). */
	for (; s; s = next) {
		next = s->next;
		if (s->state == LB_S_HEAD && s->in.data == 0)
			lb__sess_close(s);
	}
}

void lb__free_shutdown(uv_shutdown_t *req, int status)
{
	free(req);
}
