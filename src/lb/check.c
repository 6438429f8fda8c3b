/* Active health checks of lb servers (tcp connect, HTTP GET), with rise/fall. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "lb/lb-int.h"

#define CHECK_READ_CHUNK 2048 /* bytes asked of the kernel per read */

enum check_tcp_state {
	CHECK_TCP_NONE = 0, /* no connection handle. Please keep set to zero. */
	CHECK_TCP_OPEN,     /* initialized: a probe is running (or just ended) */
	CHECK_TCP_CLOSING,  /* uv_close() called, close callback pending */
};

/* The checking of one server of one backend. Main thread only.
 *
 * One timer does double duty: while idle it counts down to the next probe,
 * while probing it is the probe's deadline. The connection handle is
 * embedded and reused by each probe; a probe can only start once the
 * previous one's handle is fully closed, which libuv guarantees (close
 * callbacks run at the end of the loop iteration, timers at the start of a
 * later one).
 *
 * Lifetime: created by a sync, closed by a sync, by lb__checks_stop() or by
 * its own tick when the server was removed. Closing sets <dead> and unlinks
 * it from the map; it is freed in the last close callback of its handles,
 * which is also where the server and backend refs are released. A dead
 * check never touches <cs> again, so the map can go away first. */
struct lb_check {
	struct lb_check *next;       /* hash chain in lb_checks */
	struct lb_checks *cs;        /* owner; not used once dead */
	struct lb_backend *be;       /* ref held */
	struct lb_server *srv;       /* ref held; the map key */
	struct lb_check_cfg cfg;     /* own copy with defaults applied; strings owned */
	char *req;                   /* HTTP request, built from cfg (NULL for tcp) */
	size_t req_len;              /* bytes of req */
	uint64_t seen;               /* generation of the last sync that wanted it */
	uv_timer_t timer;            /* next probe, or the running probe's deadline */
	uv_tcp_t tcp;                /* the probe's connection */
	uv_connect_t creq;           /* the probe's connect */
	uv_write_t wreq;             /* the probe's HTTP request */
	enum check_tcp_state tcp_state; /* where tcp is in its life */
	int nhandles;                /* initialized handles not yet closed */
	bool probing;                /* a probe runs: its callbacks may conclude it */
	bool connected;              /* the probe's connect succeeded */
	bool dead;                   /* closed: waits for its close callbacks */
	struct buf rbuf;             /* response bytes of the running probe */
	size_t rpos;                 /* bytes of rbuf taken by interim (1xx) heads */
	int counted_state;           /* srv->state that srv->health counts against */
};

/* All checks of the process: a map keyed by server (a server belongs to one
 * backend, so it identifies the pair). Main thread only. */
struct lb_checks {
	struct lb_proc *p;           /* owner: p->loop runs every check */
	struct lb_check **slots;     /* hash chains */
	size_t nslots;               /* power of two */
	size_t count;                /* checks in the map (live ones) */
	uint64_t gen;                /* bumped by each sync, marks live checks */
	uint64_t rng;                /* xorshift64 state, spreads the first probes */
	struct http1_msg msg;        /* parse scratch: a head is parsed and judged in one go */
};

static void check_arm(struct lb_check *c, uint64_t delay);
static void check_close(struct lb_check *c);

/* ---- the map ---- */

static size_t slot_of(const struct lb_checks *cs, const struct lb_server *srv)
{
	return hash64(&srv, sizeof(srv)) & (cs->nslots - 1);
}

static struct lb_check *map_find(struct lb_checks *cs, const struct lb_server *srv)
{
	for (struct lb_check *c = cs->slots[slot_of(cs, srv)]; c; c = c->next)
		if (c->srv == srv)
			return c;
	return NULL;
}

static void map_add(struct lb_checks *cs, struct lb_check *c)
{
	if (cs->count >= cs->nslots) {
		struct lb_check **old = cs->slots;
		size_t nold = cs->nslots;

		cs->nslots *= 2;
		cs->slots = XNEWV(struct lb_check *, cs->nslots);
		for (size_t i = 0; i < nold; i++) {
			while (old[i]) {
				struct lb_check *e = old[i];
				size_t s = slot_of(cs, e->srv);

				old[i] = e->next;
				e->next = cs->slots[s];
				cs->slots[s] = e;
			}
		}
		free(old);
	}
	size_t s = slot_of(cs, c->srv);
	c->next = cs->slots[s];
	cs->slots[s] = c;
	cs->count++;
}

static void map_del(struct lb_checks *cs, struct lb_check *c)
{
	struct lb_check **pp = &cs->slots[slot_of(cs, c->srv)];

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	c->next = NULL;
	cs->count--;
}

/* ---- configuration ---- */

/* Copies <src> into <dst> with the documented defaults filled in, so that a
 * config built by hand (or by the catalog) with zeroes still checks sanely. */
static void cfg_copy(struct lb_check_cfg *dst, const struct lb_check_cfg *src)
{
	*dst = *src;
	dst->path = xstrdup(src->path && src->path[0] ? src->path : "/");
	dst->host = src->host && src->host[0] ? xstrdup(src->host) : NULL;
	if (dst->interval == 0)
		dst->interval = 2000;
	if (dst->timeout == 0)
		dst->timeout = dst->interval;
	if (dst->rise <= 0)
		dst->rise = 2;
	if (dst->fall <= 0)
		dst->fall = 3;
}

static void cfg_free(struct lb_check_cfg *c)
{
	free(c->path);
	free(c->host);
}

static bool str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether the effective config <a> equals <b> (both went through cfg_copy). */
static bool cfg_same(const struct lb_check_cfg *a, const struct lb_check_cfg *b)
{
	return a->type == b->type && str_same(a->path, b->path) && str_same(a->host, b->host) &&
	       a->expect_status == b->expect_status && a->interval == b->interval &&
	       a->timeout == b->timeout && a->rise == b->rise && a->fall == b->fall;
}

static void build_request(struct lb_check *c)
{
	free(c->req);
	c->req = NULL;
	c->req_len = 0;
	if (c->cfg.type != LB_CHECK_HTTP)
		return;
	c->req = xasprintf("GET %s HTTP/1.1\r\n"
			   "Host: %s\r\n"
			   "User-Agent: berth-lb-check\r\n"
			   "Connection: close\r\n"
			   "\r\n",
			   c->cfg.path, c->cfg.host ? c->cfg.host : c->srv->addr_text);
	c->req_len = strlen(c->req);
}

static const char *check_kind(const struct lb_check *c)
{
	return c->cfg.type == LB_CHECK_TCP ? "tcp check" : "http check";
}

/* A delay in [0, interval): spreads the probes of many servers over the
 * interval instead of firing them together (HAProxy's spread-checks). */
static uint64_t spread(struct lb_checks *cs, uint64_t interval)
{
	cs->rng ^= cs->rng << 13;
	cs->rng ^= cs->rng >> 7;
	cs->rng ^= cs->rng << 17;
	return cs->rng % interval;
}

/* ---- results ---- */

/* Counts the result of a probe into srv->health and changes the server's
 * state after <fall> failures in a row (UP) or <rise> successes in a row
 * (DOWN). srv->health counts the consecutive results that disagree with
 * the current state; the state is read every time because the proxy marks
 * servers DOWN by itself (passive health), and a count started against one
 * state is worthless against the other. */
static void record_result(struct lb_check *c, bool ok, const char *why)
{
	struct lb_server *srv = c->srv;
	int state = atomic_load(&srv->state);

	atomic_store(&srv->check_status, ok ? 1 : -1);
	if (!ok)
		log_debug("lb:check", "backend %s: server %s: check failed (%s)", c->be->name, srv->name, why);
	if (state != c->counted_state) {
		c->counted_state = state;
		srv->health = 0;
	}
	if (ok == (state == LB_SRV_UP)) {
		srv->health = 0;
		return;
	}
	srv->health++;
	if (srv->health < (state == LB_SRV_UP ? c->cfg.fall : c->cfg.rise))
		return;
	int to = state == LB_SRV_UP ? LB_SRV_DOWN : LB_SRV_UP;
	lb__server_set_state(c->be, srv, to, why);
	c->counted_state = to;
	srv->health = 0;
}

static void on_tcp_close(uv_handle_t *h);

/* Ends the running probe with <ok> and <detail> ("status 500", "timeout"),
 * closes its connection and schedules the next one. */
static void probe_end(struct lb_check *c, bool ok, const char *detail)
{
	char why[160];

	BUG_ON(!c->probing);
	c->probing = false;
	/* No lingering: as HAProxy does, a check connection is reset rather than
	 * closed, so that frequent checks do not pile up TIME_WAIT sockets. */
	if (!c->connected || uv_tcp_close_reset(&c->tcp, on_tcp_close) != 0)
		uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
	c->tcp_state = CHECK_TCP_CLOSING;
	buf_free(&c->rbuf);
	snprintf(why, sizeof(why), "%s: %s", check_kind(c), detail);
	record_result(c, ok, why);
	check_arm(c, c->cfg.interval);
}

/* Abandons the running probe without counting it (reconfiguration, stop). */
static void probe_abort(struct lb_check *c)
{
	if (!c->probing)
		return;
	c->probing = false;
	uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
	c->tcp_state = CHECK_TCP_CLOSING;
	buf_free(&c->rbuf);
}

/* ---- the probe ---- */

static void on_timeout(uv_timer_t *t)
{
	struct lb_check *c = t->data;

	probe_end(c, false, "timeout");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct lb_check *c = h->data;

	buf_reserve(&c->rbuf, CHECK_READ_CHUNK);
	*b = uv_buf_init(buf_tail(&c->rbuf), (unsigned)buf_room(&c->rbuf));
}

/* Judges what was received so far: ends the probe once a final response
 * head (or junk) is in, else waits for more. */
static void judge_response(struct lb_check *c)
{
	struct http1_msg *m = &c->cs->msg;
	char detail[64];

	for (;;) {
		int n = http1_parse_response(buf_ptr(&c->rbuf) + c->rpos, c->rbuf.data - c->rpos, m,
					     HTTP1_M_GET, NULL);
		if (n == HTTP1_INCOMPLETE)
			return;
		if (n < 0) {
			probe_end(c, false, "bad response");
			return;
		}
		/* An interim response (103 Early Hints...) precedes the real
		 * one; 101 would be a switch we never asked for. */
		if (m->status >= 100 && m->status < 200 && m->status != 101) {
			c->rpos += (size_t)n;
			continue;
		}
		bool ok = c->cfg.expect_status ? m->status == c->cfg.expect_status
					       : m->status >= 200 && m->status < 400;
		snprintf(detail, sizeof(detail), "status %d", m->status);
		probe_end(c, ok, detail);
		return;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct lb_check *c = s->data;

	if (!c->probing || nread == 0)
		return;
	if (nread == UV_EOF) {
		probe_end(c, false, "connection closed before the response head");
		return;
	}
	if (nread < 0) {
		probe_end(c, false, uv_strerror((int)nread));
		return;
	}
	c->rbuf.data += (size_t)nread;
	judge_response(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct lb_check *c = req->data;

	/* A write cancelled by the close of an ended probe is no news. */
	if (!c->probing || status == 0)
		return;
	probe_end(c, false, uv_strerror(status));
}

static void on_connect(uv_connect_t *req, int status)
{
	struct lb_check *c = req->data;

	if (!c->probing)
		return;
	if (status < 0) {
		probe_end(c, false, uv_strerror(status));
		return;
	}
	c->connected = true;
	if (c->cfg.type == LB_CHECK_TCP) {
		probe_end(c, true, "connected");
		return;
	}
	uv_buf_t b = uv_buf_init(c->req, (unsigned)c->req_len);
	int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (r == 0)
		r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (r < 0)
		probe_end(c, false, uv_strerror(r));
}

static void probe_start(struct lb_check *c)
{
	uv_loop_t *loop = c->cs->p->loop;
	int r;

	c->probing = true;
	c->connected = false;
	c->rpos = 0;
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	c->tcp_state = CHECK_TCP_OPEN;
	c->nhandles++;
	uv_timer_start(&c->timer, on_timeout, c->cfg.timeout, 0);
	r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&c->srv->sa, on_connect);
	/* On error the callback will never run: conclude here. */
	if (r < 0)
		probe_end(c, false, uv_strerror(r));
}

static void on_tick(uv_timer_t *t)
{
	struct lb_check *c = t->data;
	bool removed;

	/* The server set may change from another thread between syncs (the
	 * catalog): a removed server stops its own check. */
	pthread_mutex_lock(&c->be->lock);
	removed = c->srv->removed;
	pthread_mutex_unlock(&c->be->lock);
	if (removed) {
		check_close(c);
		return;
	}
	/* The last connection's close callback always ran before a timer can
	 * fire again; be lenient anyway rather than reuse a closing handle. */
	if (c->tcp_state != CHECK_TCP_NONE) {
		check_arm(c, 1);
		return;
	}
	probe_start(c);
}

static void check_arm(struct lb_check *c, uint64_t delay)
{
	uv_timer_start(&c->timer, on_tick, delay, 0);
}

/* ---- check objects ---- */

static void check_free(struct lb_check *c)
{
	buf_free(&c->rbuf);
	cfg_free(&c->cfg);
	free(c->req);
	lb__server_unref(c->srv);
	lb__backend_unref(c->be);
	free(c);
}

static void on_handle_close(struct lb_check *c)
{
	if (--c->nhandles == 0 && c->dead)
		check_free(c);
}

static void on_tcp_close(uv_handle_t *h)
{
	struct lb_check *c = h->data;

	c->tcp_state = CHECK_TCP_NONE;
	on_handle_close(c);
}

static void on_timer_close(uv_handle_t *h)
{
	on_handle_close(h->data);
}

/* Starts checking <srv> of <be> with <cfg>; takes refs on both. */
static struct lb_check *check_new(struct lb_checks *cs, struct lb_backend *be, struct lb_server *srv,
				  const struct lb_check_cfg *cfg)
{
	struct lb_check *c = XNEW(struct lb_check);

	c->cs = cs;
	lb__backend_ref(be);
	c->be = be;
	lb__server_ref(srv);
	c->srv = srv;
	cfg_copy(&c->cfg, cfg);
	build_request(c);
	c->counted_state = atomic_load(&srv->state);
	srv->health = 0;
	/* creq and wreq only ever belong to this check's connection. */
	c->creq.data = c;
	c->wreq.data = c;
	uv_timer_init(cs->p->loop, &c->timer);
	c->timer.data = c;
	c->nhandles = 1;
	map_add(cs, c);
	check_arm(c, spread(cs, c->cfg.interval));
	return c;
}

/* Takes a new config for a kept check. A changed one restarts the check:
 * the running probe (sent with the old path or host, bounded by the old
 * timeout) is dropped uncounted, and the next one is spread again over the
 * new interval. */
static void check_update(struct lb_check *c, const struct lb_check_cfg *cfg)
{
	struct lb_check_cfg n;

	cfg_copy(&n, cfg);
	if (cfg_same(&n, &c->cfg)) {
		cfg_free(&n);
		return;
	}
	cfg_free(&c->cfg);
	c->cfg = n;
	build_request(c);
	probe_abort(c);
	check_arm(c, spread(c->cs, c->cfg.interval));
}

/* Stops <c>: closes its handles (the running probe too); it is freed once
 * they are closed. Safe from the check's own callbacks. */
static void check_close(struct lb_check *c)
{
	if (c->dead)
		return;
	probe_abort(c);
	map_del(c->cs, c);
	c->cs = NULL;
	c->dead = true;
	uv_close((uv_handle_t *)&c->timer, on_timer_close);
}

/* Checks were turned off for a server that stays: forget what they found.
 * A server they had taken down comes back up, since nothing would ever
 * bring it back otherwise (a server without checks starts UP, as after a
 * restart). */
static void check_disable(struct lb_check *c)
{
	atomic_store(&c->srv->check_status, 0);
	c->srv->health = 0;
	if (atomic_load(&c->srv->state) == LB_SRV_DOWN)
		lb__server_set_state(c->be, c->srv, LB_SRV_UP, "checks disabled");
	check_close(c);
}

/* ---- entry points ---- */

/* Copies the server set of <be> with a ref on each server, so that the
 * backend lock is not held while checks are created. The caller unrefs
 * them and frees the array. */
static struct lb_server **snapshot_servers(struct lb_backend *be, int *n)
{
	struct lb_server **v;

	pthread_mutex_lock(&be->lock);
	*n = 0;
	v = XNEWV(struct lb_server *, be->nsrv > 0 ? be->nsrv : 1);
	for (int i = 0; i < be->nsrv; i++) {
		if (be->srv[i]->removed)
			continue;
		lb__server_ref(be->srv[i]);
		v[(*n)++] = be->srv[i];
	}
	pthread_mutex_unlock(&be->lock);
	return v;
}

void lb__checks_sync(struct lb_proc *p)
{
	struct lb_checks *cs = p->checks;
	struct lb_world *w;

	if (!cs)
		return;
	pthread_mutex_lock(&p->world_lock);
	w = p->world;
	lb__world_ref(w);
	pthread_mutex_unlock(&p->world_lock);

	cs->gen++;
	for (int i = 0; i < w->cfg->nbes; i++) {
		const struct lb_check_cfg *cc = &w->cfg->bes[i].check;
		struct lb_backend *be = w->be[i];
		struct lb_server **v;
		int n;

		v = snapshot_servers(be, &n);
		for (int j = 0; j < n; j++) {
			struct lb_check *c = map_find(cs, v[j]);

			if (cc->type == LB_CHECK_NONE) {
				if (c)
					check_disable(c);
			} else if (c) {
				check_update(c, cc);
				c->seen = cs->gen;
			} else {
				c = check_new(cs, be, v[j], cc);
				c->seen = cs->gen;
			}
			lb__server_unref(v[j]);
		}
		free(v);
	}
	lb__world_unref(w);

	/* What the world no longer wants: removed servers, gone backends. */
	for (size_t i = 0; i < cs->nslots; i++) {
		struct lb_check *c = cs->slots[i], *next;

		for (; c; c = next) {
			next = c->next;
			if (c->seen != cs->gen)
				check_close(c);
		}
	}
}

int lb__checks_start(struct lb_proc *p)
{
	if (!p->checks) {
		struct lb_checks *cs = XNEW(struct lb_checks);

		cs->p = p;
		cs->nslots = 16;
		cs->slots = XNEWV(struct lb_check *, cs->nslots);
		cs->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)cs;
		if (cs->rng == 0)
			cs->rng = 0x9e3779b97f4a7c15ULL;
		p->checks = cs;
	}
	lb__checks_sync(p);
	return 0;
}

void lb__checks_stop(struct lb_proc *p)
{
	struct lb_checks *cs = p->checks;

	if (!cs)
		return;
	for (size_t i = 0; i < cs->nslots; i++)
		while (cs->slots[i])
			check_close(cs->slots[i]);
	free(cs->slots);
	free(cs);
	p->checks = NULL;
}
