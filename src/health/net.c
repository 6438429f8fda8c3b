/* The probe connection of the network checks (http, tcp, redis): connect, write, read into a bounded buffer, close. */
#include "health/health-int.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

#define NET_READ_CHUNK 4096 /* bytes asked of the kernel per read */

/* Delivers an error once and stops further events. */
static void conn_fail(struct health_conn *k, int status)
{
	if (!k->live)
		return;
	k->live = false;
	k->ev->error(k, status, k->arg);
}

static void on_close(uv_handle_t *h)
{
	struct health_conn *k = h->data;

	buf_free(&k->rbuf);
	free(k->wdata);
	k->wdata = NULL;
	health__run_handle_closed(k->c);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct health_conn *k = req->data;

	if (!k->live)
		return;
	if (status < 0) {
		conn_fail(k, status);
		return;
	}
	k->connected = true;
	k->ev->connected(k, k->arg);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct health_conn *k = h->data;
	size_t want = k->max - k->rbuf.data;

	if (want == 0) {
		/* full: libuv turns an empty buffer into UV_ENOBUFS */
		*b = uv_buf_init(NULL, 0);
		return;
	}
	if (want > NET_READ_CHUNK)
		want = NET_READ_CHUNK;
	buf_reserve(&k->rbuf, want);
	*b = uv_buf_init(buf_tail(&k->rbuf), (unsigned)want);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct health_conn *k = s->data;

	if (!k->live || nread == 0)
		return;
	if (nread < 0) {
		conn_fail(k, (int)nread);
		return;
	}
	k->rbuf.data += (size_t)nread;
	k->ev->data(k, k->arg);
}

static void on_write(uv_write_t *req, int status)
{
	struct health_conn *k = req->data;

	free(k->wdata);
	k->wdata = NULL;
	if (status < 0)
		conn_fail(k, status);
}

int health__conn_open(struct health_conn *k, struct health_check *c, size_t max,
		      const struct health_conn_events *ev, void *arg)
{
	int r;

	BUG_ON(k->open);
	k->c = c;
	k->ev = ev;
	k->arg = arg;
	k->max = max;
	k->connected = false;
	buf_free(&k->rbuf);
	uv_tcp_init(c->loop, &k->tcp);
	k->tcp.data = k;
	k->creq.data = k;
	k->wreq.data = k;
	health__run_handle_open(c);
	k->open = true;
	k->live = true;
	r = uv_tcp_connect(&k->creq, &k->tcp, (const struct sockaddr *)&c->sa, on_connect);
	if (r < 0) {
		/* the connect callback will never run */
		health__conn_close(k, false);
		return r;
	}
	return 0;
}

void health__conn_send(struct health_conn *k, const char *p, size_t len)
{
	uv_buf_t b;
	int r;

	if (!k->live)
		return;
	BUG_ON(k->wdata);
	k->wdata = xmalloc(len ? len : 1);
	memcpy(k->wdata, p, len);
	b = uv_buf_init(k->wdata, (unsigned)len);
	r = uv_write(&k->wreq, (uv_stream_t *)&k->tcp, &b, 1, on_write);
	if (r < 0) {
		free(k->wdata);
		k->wdata = NULL;
		conn_fail(k, r);
		return;
	}
	r = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
	if (r < 0)
		conn_fail(k, r);
}

void health__conn_close(struct health_conn *k, bool reset)
{
	if (!k->open)
		return;
	k->open = false;
	k->live = false;
	/* A check connection that is abandoned is reset rather than closed,
	 * as HAProxy does, so that frequent checks leave no TIME_WAIT. */
	if (!reset || !k->connected || uv_tcp_close_reset(&k->tcp, on_close) != 0)
		uv_close((uv_handle_t *)&k->tcp, on_close);
}
