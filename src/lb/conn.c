/* Writes with back-pressure, and server connections with a keep-alive pool. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/conn.h"

struct lb_wreq {
	uv_write_t req;
	uv_write_cb done;
	size_t len;
	char data[];
};

static void on_write(uv_write_t *req, int status)
{
	struct lb_wreq *wr = (struct lb_wreq *)req;
	uv_write_cb done = wr->done;
	uv_stream_t *s = req->handle;

	free(wr);
	if (done)
		done((uv_write_t *)s, status);
}

int lb__send(uv_stream_t *s, const uv_buf_t *bufs, unsigned n, uv_write_cb done)
{
	size_t total = 0, off;
	int sent = 0;
	struct lb_wreq *wr;

	for (unsigned i = 0; i < n; i++)
		total += bufs[i].len;
	if (total == 0)
		return 0;
	/* The common case on a healthy peer: one writev, nothing queued, no
	 * allocation. uv_try_write refuses while earlier writes are queued,
	 * which keeps the byte order. */
	if (lb__queued(s) == 0) {
		sent = uv_try_write(s, bufs, n);
		if (sent == UV_EAGAIN || sent == UV_ENOSYS)
			sent = 0;
		else if (sent < 0)
			return sent;
		if ((size_t)sent == total)
			return 0;
	}
	wr = xmalloc(sizeof(*wr) + total - (size_t)sent);
	wr->done = done;
	wr->len = total - (size_t)sent;
	off = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t skip = 0;
		if ((size_t)sent > 0) {
			skip = (size_t)sent < bufs[i].len ? (size_t)sent : bufs[i].len;
			sent -= (int)skip;
		}
		memcpy(wr->data + off, bufs[i].base + skip, bufs[i].len - skip);
		off += bufs[i].len - skip;
	}
	uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
	int rc = uv_write(&wr->req, s, &b, 1, on_write);
	if (rc < 0) {
		free(wr);
		return rc;
	}
	return 0;
}

/* ---- server connections ---- */

static void on_srvconn_closed(uv_handle_t *h)
{
	struct lb_srvconn *sc = h->data;

	if (--sc->handles > 0)
		return;

	buf_free(&sc->in);
	lb__server_unref(sc->srv);
	lb__backend_unref(sc->be);
	free(sc);
}

static void pool_unlink(struct lb_srvconn *sc)
{
	struct lb_worker *w = sc->w;
	struct lb_srvconn **pp = &sc->srv->idle[w->id];

	while (*pp && *pp != sc)
		pp = &(*pp)->next;
	if (*pp)
		*pp = sc->next;
	sc->next = NULL;
	if (sc->wprev)
		sc->wprev->wnext = sc->wnext;
	else if (w->idle == sc)
		w->idle = sc->wnext;
	if (sc->wnext)
		sc->wnext->wprev = sc->wprev;
	sc->wnext = sc->wprev = NULL;
	w->nidle--;
}

void lb__srvconn_close(struct lb_srvconn *sc)
{
	if (sc->closing)
		return;
	sc->closing = true;
	if (!sc->owner)
		pool_unlink(sc);
	if (sc->connect_err)
		uv_close((uv_handle_t *)&sc->err_timer, on_srvconn_closed);
	uv_close((uv_handle_t *)&sc->tcp, on_srvconn_closed);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct lb_srvconn *sc = req->data;

	if (sc->closing)
		return;
	if (status == 0) {
		sc->connected = true;
		uv_tcp_nodelay(&sc->tcp, 1);
		lb__srvconn_read_start(sc);
	}
	sc->on_connect(sc, status);
}

static void on_sc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct lb_srvconn *sc = h->data;
	*b = uv_buf_init(sc->w->scratch, sizeof(sc->w->scratch));
}

/* A server connection keeps reading for its whole life, pooled or not:
 * switching callbacks or pausing would cost an epoll_ctl per request. */
static void on_sc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct lb_srvconn *sc = s->data;

	if (nread == 0)
		return;
	if (!sc->owner) {
		/* Pooled: the server closed it, or sent bytes nobody asked
		 * for. Either way it is no longer usable. */
		lb__srvconn_close(sc);
		return;
	}
	sc->on_read(sc, nread, b);
}

void lb__srvconn_read_start(struct lb_srvconn *sc)
{
	if (!sc->reading && !sc->closing) {
		sc->reading = true;
		uv_read_start((uv_stream_t *)&sc->tcp, on_sc_alloc, on_sc_read);
	}
}

void lb__srvconn_read_stop(struct lb_srvconn *sc)
{
	if (sc->reading) {
		sc->reading = false;
		uv_read_stop((uv_stream_t *)&sc->tcp);
	}
}

static void on_connect_failed(uv_timer_t *t);

struct lb_srvconn *lb__srvconn_get(struct lb_worker *w, struct lb_backend *be, struct lb_server *srv,
				   void *owner, void (*on_connect)(struct lb_srvconn *, int),
				   void (*on_read)(struct lb_srvconn *, ssize_t, const uv_buf_t *))
{
	struct lb_srvconn *sc = srv->idle[w->id];
	int rc;

	if (sc) {
		pool_unlink(sc);
		sc->owner = owner;
		sc->reused = true;
		sc->on_connect = on_connect;
		sc->on_read = on_read;
		return sc;
	}
	sc = XNEW(struct lb_srvconn);
	sc->w = w;
	sc->srv = srv;
	lb__server_ref(srv);
	sc->be = be;
	lb__backend_ref(be);
	sc->owner = owner;
	sc->on_connect = on_connect;
	sc->on_read = on_read;
	uv_tcp_init(&w->loop, &sc->tcp);
	sc->handles = 1;
	sc->tcp.data = sc;
	sc->creq.data = sc;
	rc = uv_tcp_connect(&sc->creq, &sc->tcp, (const struct sockaddr *)&srv->sa, on_connected);
	if (rc < 0) {
		/* Report the failure from the loop, as a refused connect would
		 * be: callers never see their callback run re-entrantly. */
		sc->connect_err = rc;
		sc->handles++;
		uv_timer_init(&w->loop, &sc->err_timer);
		sc->err_timer.data = sc;
		uv_timer_start(&sc->err_timer, on_connect_failed, 0, 0);
	}
	return sc;
}

static void on_connect_failed(uv_timer_t *t)
{
	struct lb_srvconn *sc = t->data;

	if (!sc->closing)
		sc->on_connect(sc, sc->connect_err);
}

void lb__srvconn_pool(struct lb_srvconn *sc, uint64_t idle_ms)
{
	struct lb_worker *w = sc->w;

	if (sc->closing || sc->srv->removed || w->draining || sc->in.data) {
		lb__srvconn_close(sc);
		return;
	}
	buf_free(&sc->in);
	sc->owner = NULL;
	sc->idle_since = lb__now(w);
	sc->idle_max = idle_ms;
	sc->next = sc->srv->idle[w->id];
	sc->srv->idle[w->id] = sc;
	sc->wprev = NULL;
	sc->wnext = w->idle;
	if (w->idle)
		w->idle->wprev = sc;
	w->idle = sc;
	w->nidle++;
	/* Reading may have been paused for back-pressure. */
	lb__srvconn_read_start(sc);
}

void lb__pool_sweep(struct lb_worker *w)
{
	uint64_t now = lb__now(w);
	struct lb_srvconn *sc = w->idle, *next;

	for (; sc; sc = next) {
		next = sc->wnext;
		if (now - sc->idle_since >= sc->idle_max || sc->srv->removed ||
		    atomic_load(&sc->srv->state) != LB_SRV_UP)
			lb__srvconn_close(sc);
	}
}

void lb__pool_close_all(struct lb_worker *w)
{
	while (w->idle)
		lb__srvconn_close(w->idle);
}
