/* Private to src/lb/: the running load balancer's shared structures.
 *
 * Threads. The main thread runs its own loop for signals, health checks, the
 * stats listener and reloads. Each worker thread runs one libuv loop with its
 * own SO_REUSEPORT listeners and serves its connections start to finish.
 *
 * Worlds. A config snapshot plus the runtime objects built for it is a
 * "world". Workers hold a pointer to the current world and pick up a new one
 * when the main thread wakes them after a reload; every session holds a
 * reference on the world it was accepted in, so an old world lives until its
 * last session ends. Backends (their servers, balancer state and queue) are
 * shared between consecutive worlds when their name is kept, so a reload
 * keeps server health and counters. */
#ifndef BERTH_LB_LB_INT_H
#define BERTH_LB_LB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "core/buf.h"
#include "http/http1.h"
#include "lb/config.h"
#include "lb/server.h"

struct lb_proc;
struct lb_worker;
struct lb_tls_ctx;

/* Something waiting for a server slot (maxconn reached). Lives inside the
 * session that waits; linked in its backend's queue under the backend lock. */
struct lb_waiter {
	struct lb_waiter *next;      /* backend queue, or the worker inbox */
	struct lb_waiter **pprev;    /* backend queue only; NULL when not queued */
	struct lb_worker *w;         /* owner thread */
	struct lb_server *assigned;  /* set by the thread that freed a slot (holds a slot) */
	void (*wake)(struct lb_waiter *wt); /* runs on the owner's thread */
};

struct lb_backend {
	char *name;
	_Atomic int refs;
	pthread_mutex_t lock;        /* guards everything below */
	struct lb_server **srv;      /* current set, refs held */
	int nsrv;
	struct lb_lbprm lb;          /* balancer over srv */
	enum lb_algo algo;
	struct lb_waiter *qhead;     /* FIFO of waiters */
	struct lb_waiter **qtail;
	int nqueued;
	int queue_max;
	/* App-cookie stickiness: learned cookie value -> server name. */
	struct lb_appck *appck;      /* open hash table, see sticky.c */
	int nthreads;
	struct lb_counters *cnt;     /* [nthreads] */
	const struct lb_backend_cfg *cfg; /* config of the newest world using it; main thread only */
};

/* One bound address of a frontend, opened once per worker thread. */
struct lb_listener {
	struct lb_worker *w;
	int fe_idx;
	int bind_idx;
	struct sockaddr_storage sa;  /* bound address, to keep it across reloads */
	socklen_t salen;
	uv_tcp_t tcp;
	bool closing;
};

struct lb_frontend {
	char *name;
	_Atomic int cur_conns;       /* client connections now, all threads */
	struct lb_counters *cnt;     /* [nthreads] */
	_Atomic int refs;
};

struct lb_world {
	_Atomic int refs;
	struct lb_config *cfg;
	struct lb_backend **be;      /* [cfg->nbes], parallel to cfg->bes */
	struct lb_frontend **fe;     /* [cfg->nfes], parallel to cfg->fes */
	struct lb_tls_ctx **tls;     /* [cfg->nfes], NULL where a frontend has no TLS */
	uint64_t generation;         /* 1 for the first config, +1 per reload */
};

/* An idle pooled server connection list of one server on one thread. */
struct lb_srvconn;

struct lb_worker {
	struct lb_proc *proc;
	int id;                      /* 0..nthreads-1, indexes counters */
	pthread_t thread;
	uv_loop_t loop;
	uv_async_t wake;             /* new world, queue hand-offs, stop */
	struct lb_world *world;      /* current world (ref held) */
	uint64_t seen_generation;
	struct lb_listener **ls;     /* open listeners */
	int nls;
	int bind_errors;             /* binds that failed in the last adopt */
	pthread_mutex_t inbox_lock;
	struct lb_waiter *inbox;     /* waiters handed a server by other threads */
	int nsessions;               /* live client sessions */
	bool draining;               /* SIGTERM: no new requests on kept-alive connections */
	struct lb_srvconn *idle;     /* pooled server connections (doubly linked) */
	int nidle;
	uint64_t rr_key;             /* LCG state: hash keys for requests without one */
	uv_timer_t sweep;            /* closes pooled connections idle too long */
	char scratch[65536];         /* read buffer for connections with nothing buffered */
	struct http1_msg msg;        /* parse scratch: heads are parsed and consumed in one go */
	struct lb_sess *sessions;    /* all live sessions, for drain and sweeps */
};

struct lb_proc {
	uv_loop_t *loop;             /* main thread loop */
	const char *config_path;
	int nthreads;
	pthread_mutex_t world_lock;  /* guards world pointer swaps */
	struct lb_world *world;      /* current world (ref held) */
	struct lb_worker *workers;   /* [nthreads] */
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t grace_timer;
	uv_async_t joined;           /* the workers have all exited */
	bool stopping;
	struct lb_stats *stats;      /* stats listener, main thread */
	struct lb_checks *checks;    /* health checks, main thread */
	uint64_t generation;
	uint64_t start_ms;           /* wall clock at start, for uptime */
	struct lb_feeder *feeders;   /* catalog-fed backends' threads (catalog.c) */
	uv_async_t servers_changed;  /* a feeder changed a server set: sync the checks */
	uv_timer_t revive;           /* brings passively downed servers back (lb__revive_passive) */
	_Atomic uint64_t reloads;    /* successful reloads */
	_Atomic uint64_t reload_failures;
};

/* ---- worlds and backends (runtime.c) ---- */

/* Builds the runtime for <cfg>, reusing the backends and frontends of <prev>
 * (may be NULL) that keep their name. Takes ownership of <cfg> on success;
 * on failure (TLS files) returns NULL with *err set, and nothing of <prev>
 * was touched. Main thread. */
struct lb_world *lb__world_build(struct lb_config *cfg, struct lb_world *prev, int nthreads, char **err);
void lb__world_ref(struct lb_world *w);
void lb__world_unref(struct lb_world *w);

/* Replaces the server set of <be> with <list, n>: servers whose name is kept
 * keep their state, counters and connections (their weight, maxconn, backup,
 * cookie and address are updated; an address change makes a new server);
 * others are added (UP) or removed. Thread-safe; this is the seam a dynamic
 * source (the catalog) drives at runtime. */
void lb_backend_set_servers(struct lb_backend *be, const struct lb_server_cfg *list, int n,
			    const struct lb_backend_cfg *cfg);
/* Applies a reloaded backend's settings (algorithm, queue) without touching
 * its servers: for catalog-fed backends. Thread-safe. */
void lb__backend_apply_cfg(struct lb_backend *be, const struct lb_backend_cfg *cfg);
void lb__backend_ref(struct lb_backend *be);
void lb__backend_unref(struct lb_backend *be);

/* Marks <srv> of <be> up or down and rebuilds the balancer. Logs the change
 * with <why>. Any thread. */
void lb__server_set_state(struct lb_backend *be, struct lb_server *srv, int state, const char *why);
/* Servers of check-less backends that passive detection took down come
 * back after the backend's check interval (default 2s), like nginx's
 * fail_timeout: they are tried again, and go down again if they still
 * fail. Main thread, from a periodic timer. */
void lb__revive_passive(struct lb_world *w, uint64_t now_ms);
/* Passive health: a connect to <srv> failed or timed out, or succeeded. */
void lb__server_report(struct lb_backend *be, struct lb_server *srv, bool ok, int fall);

void lb__server_ref(struct lb_server *s);
void lb__server_unref(struct lb_server *s);

/* Picks a server for a request and takes a slot on it (cur_conns + 1).
 * <avoid> may be NULL. Returns NULL if none is usable now. */
struct lb_server *lb__backend_take(struct lb_backend *be, uint64_t hash, const struct lb_server *avoid);
/* Takes a slot on <srv> if it is usable (sticky). */
bool lb__server_take(struct lb_backend *be, struct lb_server *srv);
/* Gives back a slot; a queued waiter may get it. */
void lb__server_release(struct lb_backend *be, struct lb_server *srv);
/* Queues <wt>; returns false if the queue is full. */
bool lb__backend_enqueue(struct lb_backend *be, struct lb_waiter *wt);
/* Removes <wt> if still queued (returns true). If it was already handed a
 * server (false), the hand-off will arrive in the owner's inbox. */
bool lb__backend_dequeue(struct lb_backend *be, struct lb_waiter *wt);
/* Servers that could take traffic (up, weight > 0), full or not. */
int lb__backend_usable_count(struct lb_backend *be);
/* Finds a server of <be> by its sticky cookie value, by name. */
struct lb_server *lb__backend_find_cookie(struct lb_backend *be, struct slice value);

/* App-cookie stickiness (sticky.c). */
void lb__appck_learn(struct lb_backend *be, struct slice value, struct lb_server *srv, uint64_t ttl_ms);
/* Returns the server learned for <value> with a ref, or NULL. */
struct lb_server *lb__appck_lookup(struct lb_backend *be, struct slice value);
void lb__appck_free(struct lb_backend *be);

/* ---- workers (worker.c) ---- */
int lb__workers_start(struct lb_proc *p);
/* Wakes every worker: pick up the current world, or drain. */
void lb__workers_kick(struct lb_proc *p);
void lb__workers_join(struct lb_proc *p);
void lb__worker_inbox_push(struct lb_worker *w, struct lb_waiter *wt);
/* Opens a listening socket with SO_REUSEPORT; returns fd or -errno. */
int lb__listen_socket(const struct sockaddr *sa, socklen_t salen, int backlog);

/* ---- sessions (http.c, tcp.c) ---- */
struct lb_sess;
void lb__http_accept(struct lb_worker *w, struct lb_listener *l);
void lb__tcp_accept(struct lb_worker *w, struct lb_listener *l);
/* Close idle keep-alive sessions and pooled connections (drain). */
void lb__sessions_drain(struct lb_worker *w);
void lb__pool_close_all(struct lb_worker *w);

/* Current time in ms for this loop. */
static inline uint64_t lb__now(struct lb_worker *w)
{
	return uv_now(&w->loop);
}

/* ---- catalog-fed backends (catalog.c): main thread ---- */
struct lb_feeder;
/* Starts a feeder thread for every catalog-fed backend of the current
 * world, stopping those of the previous one (after a reload). */
void lb__catalog_sync(struct lb_proc *p);
/* Stops and joins every feeder. */
void lb__catalog_stop(struct lb_proc *p);

/* ---- stats (stats.c), checks (check.c), tls (tls.c): main thread ---- */
int lb__stats_start(struct lb_proc *p);
void lb__stats_stop(struct lb_proc *p);
/* Renders the current world's counters. <fmt>: 0 HTML, 1 JSON, 2 Prometheus. */
void lb__stats_render(struct lb_proc *p, int fmt, struct buf *out);

int lb__checks_start(struct lb_proc *p);
/* Reconciles the running checks with the current world (after a reload). */
void lb__checks_sync(struct lb_proc *p);
void lb__checks_stop(struct lb_proc *p);

/* TLS termination (tls.c), with buffers in and out so that the session code
 * owns all socket I/O: ciphertext read from the socket goes in, plaintext and
 * ciphertext to send come out. Any thread; a connection is used by one. */

/* Builds a TLS context for a frontend from its PEM files (each: certificate
 * chain + private key). The certificate is chosen by SNI among the names of
 * each certificate (subjectAltName DNS entries, else CN; "*.example.com"
 * wildcards match one label); the first file is the default. Returns NULL
 * with *err set ("tls: FILE: reason") on failure. Safe to free with NULL. */
struct lb_tls_ctx *lb__tls_ctx_new(const struct lb_tls_cfg *cfg, char **err);
void lb__tls_ctx_free(struct lb_tls_ctx *t);

struct lb_tls_conn;
struct lb_tls_conn *lb__tls_conn_new(struct lb_tls_ctx *t);
void lb__tls_conn_free(struct lb_tls_conn *c);
/* Feeds <p, n> bytes received from the client. Decrypted application data is
 * appended to <plain>; bytes that must be sent to the client (handshake,
 * alerts) are appended to <out>. Returns 0, or -1 on a fatal TLS error (the
 * connection must be closed after sending <out>). */
int lb__tls_conn_input(struct lb_tls_conn *c, const char *p, size_t n, struct buf *plain, struct buf *out);
/* Encrypts <p, n> (handshake must be done, or the data is kept until it
 * is), appending ciphertext to <out>. Returns 0 or -1. */
int lb__tls_conn_output(struct lb_tls_conn *c, const char *p, size_t n, struct buf *out);
/* Appends a close_notify alert to <out>. */
void lb__tls_conn_shutdown(struct lb_tls_conn *c, struct buf *out);
bool lb__tls_conn_ready(const struct lb_tls_conn *c);   /* handshake done */
const char *lb__tls_conn_sni(const struct lb_tls_conn *c); /* server name sent, or NULL */

#endif
