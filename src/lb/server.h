/* Runtime servers and backends, shared by every worker thread.
 *
 * A backend's server set can change while traffic flows (SIGHUP today, the
 * catalog later): lb_backend_set_servers() merges a new list by server name,
 * keeping the state and counters of servers that stay. Servers are
 * refcounted because a connection in flight may outlive its removal. */
#ifndef BERTH_LB_SERVER_H
#define BERTH_LB_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lb/config.h"

#define LB_MAX_THREADS 64

struct lb_srvconn;

enum lb_srv_state {
	LB_SRV_DOWN = 0, /* takes no traffic. Please keep set to zero. */
	LB_SRV_UP,       /* takes traffic */
};

/* Counters of one server, backend or frontend, one copy per thread so the
 * hot path never shares a cache line; stats sum them. */
struct lb_counters {
	uint64_t conns;        /* connections accepted (fe) or opened (be/srv) */
	uint64_t reqs;         /* HTTP requests (fe) or requests sent (be/srv) */
	uint64_t resp[6];      /* responses by class: [0] other, [1] 1xx .. [5] 5xx */
	uint64_t bytes_in;     /* from clients (fe) / sent to servers (be/srv) */
	uint64_t bytes_out;    /* to clients (fe) / received from servers (be/srv) */
	uint64_t err_req;      /* malformed or refused requests */
	uint64_t err_conn;     /* failed server connects */
	uint64_t err_resp;     /* server errors: reset, timeout, bad response */
	uint64_t retries;      /* attempts again after a failure */
	uint64_t redispatches; /* attempts moved to another server */
	uint64_t queued;       /* requests that had to wait for a slot */
	uint64_t queue_timeouts; /* ... and gave up */
	uint64_t denied;       /* 401 on stats, maxconn refusals */
	char pad[64];          /* keeps two threads' copies apart */
};

struct lb_server {
	char *name;
	char *addr_text;
	struct sockaddr_storage sa;
	socklen_t salen;
	char *cookie;           /* value inserted by cookie stickiness */
	int weight;             /* 0..256 */
	int maxconn;            /* 0 = unlimited */
	bool backup;
	_Atomic int state;      /* enum lb_srv_state */
	_Atomic int cur_conns;  /* requests/connections assigned now, all threads */
	_Atomic int max_conns;  /* highest cur_conns seen */
	_Atomic int refs;
	_Atomic uint64_t last_change_ms; /* monotonic time of the last state change */
	_Atomic int check_status;        /* last check: 0 none, 1 ok, -1 failed */
	int health;             /* check thread only: consecutive result count */
	int consec_fail;        /* passive: consecutive failed connects (atomic ops) */
	bool removed;           /* no longer in its backend's set */
	_Atomic bool passive_down; /* DOWN because connects failed, not because a check said so */
	/* Pooled idle connections, one list per worker thread; each thread
	 * touches only its own slot (see lb/conn.c). */
	struct lb_srvconn *idle[LB_MAX_THREADS];
	/* Balancer-private scratch, touched only under the backend lock. */
	int64_t lb_cur;         /* roundrobin: current weight */
	uint32_t lb_pos;        /* position in the balancer's arrays */
	struct lb_counters *cnt; /* [nthreads] */
};

struct lb_lbprm;

/* A balancing algorithm (lb/balance/). Every call happens with the backend
 * lock held. Each algorithm is one file plus one row in lb_balance_table. */
struct lb_balance_ops {
	const char *name;
	/* (Re)builds private state from p->act/p->bck after the server set, a
	 * weight or a server state changed. Also called once at start. */
	void (*update)(struct lb_lbprm *p);
	/* Picks a server among the usable ones of the pool (active, or backup
	 * when no active server is up). <hash> is the key for hashing
	 * algorithms (ignored by others). <avoid> (may be NULL) is skipped
	 * unless it is the only usable one. Returns NULL when every server is
	 * down or full. */
	struct lb_server *(*select)(struct lb_lbprm *p, uint64_t hash, const struct lb_server *avoid);
	void (*destroy)(struct lb_lbprm *p);
};

struct lb_lbprm {
	const struct lb_balance_ops *ops;
	void *ctx;                /* algorithm-private */
	struct lb_server **act;   /* up, non-backup, weight > 0 (rebuilt before update) */
	int nact;
	struct lb_server **bck;   /* up, backup, weight > 0 */
	int nbck;
	uint64_t rng;             /* xorshift state for algorithms that need one */
};

/* A server that can take one more request now. */
static inline bool lb_server_usable(const struct lb_server *s)
{
	return atomic_load_explicit(&s->state, memory_order_relaxed) == LB_SRV_UP && s->weight > 0 &&
	       (s->maxconn == 0 || atomic_load_explicit(&s->cur_conns, memory_order_relaxed) < s->maxconn);
}

const struct lb_balance_ops *lb_balance_find(enum lb_algo algo);

/* Rebuilds p->act/p->bck from <srv, n>, then calls ops->update. */
void lb_lbprm_rebuild(struct lb_lbprm *p, struct lb_server **srv, int n);
void lb_lbprm_destroy(struct lb_lbprm *p);

#endif
