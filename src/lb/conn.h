/* Private to src/lb/: writes with back-pressure, and server connections with
 * a per-thread keep-alive pool. Shared by the HTTP and TCP proxies. */
#ifndef BERTH_LB_CONN_H
#define BERTH_LB_CONN_H

#include "lb/lb-int.h"

/* Above this many bytes queued on a stream, the side feeding it stops
 * reading until the queue drains (flow control between the two sides). */
#define LB_WRITE_HIGH (256 * 1024)

/* Sends <bufs> on <s>: as much as possible right away, the rest copied and
 * queued. <done> runs when a queued write completes (status < 0 on error),
 * with <s>; it is not called if everything went out at once. Returns 0 or a
 * negative libuv error (the stream is then unusable). */
int lb__send(uv_stream_t *s, const uv_buf_t *bufs, unsigned n, uv_write_cb done);
/* Bytes queued on <s> and not yet written. */
static inline size_t lb__queued(uv_stream_t *s)
{
	return uv_stream_get_write_queue_size(s);
}

/* A connection to a server: owned by a session while in use, by the
 * worker's pool while idle. */
struct lb_srvconn {
	struct lb_worker *w;
	struct lb_server *srv;      /* ref held */
	struct lb_backend *be;      /* ref held, for passive health and release */
	void *owner;                /* session using it; NULL when pooled */
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct buf in;              /* bytes read from the server, not yet used */
	struct lb_srvconn *next;    /* server's idle list on this thread */
	struct lb_srvconn *wnext, *wprev; /* worker's idle list (sweeps) */
	uint64_t idle_since;        /* loop ms when pooled */
	uint64_t idle_max;          /* ms it may stay pooled */
	int connect_err;            /* uv_tcp_connect failed synchronously */
	uv_timer_t err_timer;       /* reports connect_err from the loop */
	int handles;                /* open handles; freed when the last closes */
	bool connected;
	bool reading;               /* uv_read_start is in effect */
	bool reused;                /* taken from the pool */
	bool closing;
	void (*on_connect)(struct lb_srvconn *sc, int status);
	/* Bytes or an error (nread < 0) while owned. */
	void (*on_read)(struct lb_srvconn *sc, ssize_t nread, const uv_buf_t *b);
};

/* Takes a pooled connection to <srv> (the caller holds a slot on it), or
 * starts a new one, calling sc->on_connect when done (never synchronously).
 * The returned connection takes its own refs on <srv> and <be>. */
struct lb_srvconn *lb__srvconn_get(struct lb_worker *w, struct lb_backend *be, struct lb_server *srv,
				   void *owner, void (*on_connect)(struct lb_srvconn *, int),
				   void (*on_read)(struct lb_srvconn *, ssize_t, const uv_buf_t *));
/* Flow control on the server side: reading runs from connect to close
 * unless paused here because the client is not keeping up. */
void lb__srvconn_read_start(struct lb_srvconn *sc);
void lb__srvconn_read_stop(struct lb_srvconn *sc);
/* Gives <sc> back to the pool (stops reading; it must be clean: no pending
 * request or unread response bytes) for at most <idle_ms>. */
void lb__srvconn_pool(struct lb_srvconn *sc, uint64_t idle_ms);
/* Closes <sc>; memory is freed in the close callback. */
void lb__srvconn_close(struct lb_srvconn *sc);
/* Closes pooled connections idle too long (called every second). */
void lb__pool_sweep(struct lb_worker *w);

#endif
