/* Internals of the sqlite backend, shared by sqlite.c (handles, queue,
 * timers), sqlite_exec.c (what each request does to the file) and
 * sqlite_watch.c (watches). */
#ifndef BERTH_STORE_SQLITE_INT_H
#define BERTH_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "store/store-int.h"

/* History kept for watches: at least the last SQ_HISTORY_KEEP revisions.
 * When it spans more than SQ_HISTORY_KEEP + SQ_HISTORY_SLACK revisions, the
 * write that crossed the line also compacts back to SQ_HISTORY_KEEP (in the
 * same sqlite transaction), so the table stays bounded and the cost is paid
 * once per SQ_HISTORY_SLACK writes. A watcher further behind than that gets
 * STORE_ERR_COMPACTED and must resync. */
#define SQ_HISTORY_KEEP 10000
#define SQ_HISTORY_SLACK 1000

/* At most this many revisions go into one watch callback (a revision is
 * never split, however many events it holds). */
#define SQ_WATCH_BATCH 1000

/* At most this many requests run per tick of a handle, then its watches
 * run: with SQ_TICK_REQS < SQ_WATCH_BATCH a watcher in the process keeps up
 * with any write rate instead of being compacted away by a bulk writer. */
#define SQ_TICK_REQS 256

/* Prepared statements of a database, by use. */
enum sq_stmt {
	SQ_BEGIN = 0,      /* BEGIN IMMEDIATE */
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_KV_GET,         /* one key: key, value, create_rev, mod_rev, version, lease */
	SQ_KV_RANGE,       /* [?1, ?2) in key order, same columns */
	SQ_KV_RANGE_OPEN,  /* [?1, end) in key order, same columns */
	SQ_KV_HEAD,        /* create_rev, version of one key */
	SQ_KV_PUT,
	SQ_KV_DEL,
	SQ_KV_BY_LEASE,    /* keys attached to lease ?1, in key order */
	SQ_HIST_ADD,
	SQ_HIST_SCAN,      /* events of revisions [?1, ?2] in order */
	SQ_HIST_COMPACT,   /* drops revisions < ?1 */
	SQ_LEASE_GET,      /* ttl, deadline of lease ?1 */
	SQ_LEASE_PUT,
	SQ_LEASE_DEL,
	SQ_LEASE_MIN,      /* earliest deadline */
	SQ_LEASE_DUE,      /* leases with deadline <= ?1 */
	SQ_META_SET,
	SQ_NSTMTS
};

/* One database file, shared by every handle of this process that opened it
 * (the registry in sqlite.c, keyed by canonical path). All its users run on
 * one thread: the handles' loops must be run by the same thread.
 *
 * <revision>, <compact_rev> and <next_lease> mirror the meta table; they
 * change only after a successful COMMIT, so a rolled-back transaction
 * leaves them as they were. */
struct store_sq_db {
	struct store_sq_db *next;     /* the registry chain */
	char *path;                   /* canonical path of the database file */
	pid_t pid;                    /* the process that opened it: a forked child must not use it */
	int refs;                     /* handles open on it */
	int lock_fd;                  /* <path>.lock, write-locked (fcntl) while open; -1 none */
	sqlite3 *db;                  /* the one connection every handle shares */
	sqlite3_stmt *stmt[SQ_NSTMTS]; /* prepared once, reset after each use */
	int64_t revision;             /* last committed revision; 1 for a new file, as etcd */
	int64_t compact_rev;          /* history before this revision is gone; 0 = none dropped */
	int64_t next_lease;           /* the id the next grant gets (ids only grow: never reused) */
	int64_t next_deadline;        /* no lease is due before this (wall-clock ms); INT64_MAX = none */
	struct store_sq *handles;     /* every handle open on the file */
};

enum sq_req_type {
	SQ_REQ_RANGE = 0,
	SQ_REQ_TXN,
	SQ_REQ_GRANT,
	SQ_REQ_KEEPALIVE,
	SQ_REQ_REVOKE,
	SQ_REQ_COMPACT,
};

/* A queued request. Its arguments are copied at the starting call, so the
 * caller's buffers are free as soon as the call returns. */
struct store_sq_req {
	struct store_sq_req *next;    /* queue order */
	enum sq_req_type type;
	store_cb *cb;                 /* may be NULL */
	void *arg;
	struct store_keys keys;       /* RANGE: own copy */
	struct store_txn txn;         /* TXN: own deep copy */
	int64_t num;                  /* GRANT: ttl (s); KEEPALIVE, REVOKE: lease; COMPACT: revision */
	char *bytes;                  /* every byte string of keys and txn, in one block */
};

/* A store handle (st->priv). Requests run from <idle>, in the order they
 * were made, and so do watch deliveries: never inside the starting call.
 *
 * Lifetime: close marks it <closing>; the next tick fails what is queued
 * with STORE_ERR_CLOSED, ends the watches, drops the db ref and closes both
 * uv handles; the last close callback frees it and calls <done>. */
struct store_sq {
	struct store *st;             /* the public part */
	struct store_sq_db *db;       /* shared database; NULL once released */
	struct store_sq *next;        /* next handle on the same db */
	uv_idle_t idle;               /* runs the queue and the watches while there is work */
	uv_timer_t lease_timer;       /* fires at the db's earliest lease deadline */
	int nopen;                    /* uv handles not closed yet */
	struct store_sq_req *reqs;    /* queued requests, oldest first */
	struct store_sq_req **reqs_tail; /* where the next one goes */
	int nreqs;                    /* requests in the queue */
	struct store_sq_watch *watches; /* this handle's watches, dead ones until reaped */
	bool in_tick;                 /* the idle callback runs: watches are reaped, not freed */
	bool closing;                 /* store_close() was called */
	void (*done)(struct store *st); /* the front's close callback */
};

/* A watch (embeds the common part first). */
struct store_sq_watch {
	struct store_watch base;
	struct store_sq *h;           /* its handle */
	struct store_sq_watch *next;  /* in h->watches */
	struct store_keys keys;       /* own copy of the key or prefix */
	int64_t next_rev;             /* first revision not delivered yet */
	store_watch_cb *cb;
	void *arg;
	bool dead;                    /* cancelled or ended: no more callbacks; reaped by the tick */
};

/* sqlite.c */
int64_t store__sq_wall_ms(void);
/* Something was committed: wakes the handles that have watches. */
void store__sq_db_changed(struct store_sq_db *db);
/* The earliest lease deadline may have moved: rearms every handle's timer. */
void store__sq_leases_changed(struct store_sq_db *db);
/* Makes sure <h>'s idle runs on the next loop iteration. */
void store__sq_wake(struct store_sq *h);

/* sqlite_exec.c */
/* Builds the message of a failed sqlite call, naming the file, and returns
 * STORE_ERR_IO. <what> says what was being done. */
int store__sq_fail(struct store_sq_db *db, const char *what, char **err);
/* Runs <req> against <db> and fills <r> (owned: store_result_free()). */
void store__sq_exec(struct store_sq_db *db, const struct store_sq_req *req, struct store_result *r);
/* Revokes every lease whose deadline has passed, each in its own revision.
 * Cheap when none is due. Returns 0 or STORE_ERR_IO with *err set. */
int store__sq_expire(struct store_sq_db *db, char **err);
/* Reads the earliest lease deadline into db->next_deadline. */
int store__sq_next_deadline(struct store_sq_db *db, char **err);

/* sqlite_watch.c */
int store__sq_watch(struct store *st, const struct store_keys *keys, int64_t from_rev, store_watch_cb *cb,
		    void *arg, struct store_watch **out);
void store__sq_watch_cancel(struct store_watch *w);
/* From the tick: delivers what each watch of <h> is owed (or STORE_ERR_CLOSED
 * when closing), then frees the dead ones. */
void store__sq_watches_run(struct store_sq *h);
/* Whether some watch of <h> is owed a callback. */
bool store__sq_watches_pending(const struct store_sq *h);

#endif
