/* The store contract (DESIGN.md section 3): etcd's key/value semantics
 * behind an ops table, so the embedded sqlite backend and the etcd backend
 * are interchangeable and pass the same conformance suite.
 *
 * Semantics, as etcd v3:
 *   - keys and values are byte strings (may hold NUL); a key is never empty;
 *   - every write that changes something bumps one global revision; a txn
 *     is one revision whatever it does; a delete of nothing bumps nothing;
 *   - each key has create_rev (revision of the put that created it),
 *     mod_rev (of its last put), version (puts since creation, 1 for the
 *     first) and lease (0 or the lease it is attached to);
 *   - a txn evaluates its compares against the current state, then applies
 *     either its success ops or its failure ops, atomically;
 *   - leases: grant(ttl) -> id; keepalive(id) renews the full ttl; revoke
 *     or expiry deletes every key attached to the lease, in one revision;
 *     a put naming an unknown lease fails with STORE_ERR_NO_LEASE;
 *   - watch(prefix, from_rev): every put and delete under the prefix with
 *     revision >= from_rev, in revision order, no gaps, no duplicates; the
 *     events of one revision arrive in one callback. Watching from a
 *     revision older than the compaction point fails with
 *     STORE_ERR_COMPACTED: the watcher must resync (range, then watch from
 *     the range's revision + 1).
 *
 * Asynchrony, as libuv: every operation is started on the store's loop and
 * completes in a callback on that loop, never before the starting call
 * returns; when a starting call returns an error, its callback is never
 * called. Results passed to callbacks are borrowed for the duration of the
 * callback. All calls are made from the loop's thread.
 *
 * Requests (keys, txns, values) are borrowed only for the duration of the
 * starting call: a backend copies what it needs before returning. A
 * store_cb may be NULL when the caller does not want the outcome (a watch
 * callback may not). Argument checks are made once, in store.c, for every
 * backend: a bad argument is STORE_ERR_INVALID from the starting call,
 * including a txn branch that puts one key twice or puts a key its own
 * delete covers (etcd's "duplicate key given in txn request").
 */
#ifndef BERTH_STORE_STORE_H
#define BERTH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct store;
struct store_watch;

/* Errors, negative like libuv's (whose codes are > -4096 ... < 0). */
enum store_err {
	STORE_OK = 0,
	STORE_ERR_COMPACTED = -20001, /* revision compacted away: resync */
	STORE_ERR_NO_LEASE = -20002,  /* lease unknown, revoked or expired */
	STORE_ERR_IO = -20003,        /* disk or network failure; the message says which */
	STORE_ERR_INVALID = -20004,   /* bad argument (empty key, ttl <= 0, ...) */
	STORE_ERR_CLOSED = -20005,    /* the store is closing */
	STORE_ERR_FUTURE_REV = -20006, /* a revision not written yet */
};

const char *store_strerror(int err);

/* One key as stored. Borrowed from the result that holds it. */
struct store_kv {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	int64_t create_rev;
	int64_t mod_rev;
	int64_t version;
	int64_t lease;
};

/* ---- requests ---- */

/* Which keys a range, a delete or a watch covers: one key, or every key
 * that starts with <key> (prefix). */
struct store_keys {
	const char *key;
	size_t key_len;
	bool prefix;
};

enum store_cmp_target {
	STORE_CMP_VERSION = 0, /* 0 when the key does not exist */
	STORE_CMP_CREATE_REV,  /* 0 when the key does not exist: the existence test */
	STORE_CMP_MOD_REV,     /* 0 when the key does not exist */
	STORE_CMP_VALUE,       /* a missing key compares false, whatever the op */
	STORE_CMP_LEASE,       /* 0 when the key does not exist or has no lease */
};

enum store_cmp_op {
	STORE_CMP_EQ = 0,
	STORE_CMP_NE,
	STORE_CMP_LT,
	STORE_CMP_GT,
};

struct store_cmp {
	const char *key;
	size_t key_len;
	enum store_cmp_target target;
	enum store_cmp_op op;
	int64_t num;               /* for every target but VALUE */
	const char *value;         /* VALUE: compared bytewise (memcmp, then length) */
	size_t value_len;
};

enum store_op_type {
	STORE_OP_GET = 0,      /* keys: one or a prefix */
	STORE_OP_PUT,          /* key, value, lease */
	STORE_OP_DELETE,       /* keys: one or a prefix */
};

struct store_op {
	enum store_op_type type;
	struct store_keys keys;    /* PUT: keys.key only (prefix ignored) */
	const char *value;         /* PUT */
	size_t value_len;
	int64_t lease;             /* PUT: 0 = none */
};

/* A transaction. A plain put or delete is a txn without compares. */
struct store_txn {
	const struct store_cmp *cmps;
	int ncmps;
	const struct store_op *success; /* applied when every compare holds */
	int nsuccess;
	const struct store_op *failure; /* applied otherwise */
	int nfailure;
};

/* ---- results ---- */

/* The outcome of one op of a txn. */
struct store_op_result {
	enum store_op_type type;
	const struct store_kv *kvs; /* GET: the keys, sorted bytewise */
	int nkvs;
	int64_t deleted;            /* DELETE: how many keys went */
};

struct store_result {
	int err;                    /* STORE_OK or a negative code */
	const char *errmsg;         /* when err: a sentence for logs and users */
	int64_t revision;           /* the store's revision after the operation */
	/* range */
	const struct store_kv *kvs; /* sorted bytewise */
	int nkvs;
	/* txn */
	bool succeeded;             /* the compares held (success branch taken) */
	const struct store_op_result *ops; /* one per op of the branch taken */
	int nops;
	/* leases */
	int64_t lease;              /* grant: the new lease id */
	int64_t ttl;                /* grant, keepalive: seconds granted */
};

typedef void store_cb(const struct store_result *r, void *arg);

enum store_event_type {
	STORE_EV_PUT = 0,
	STORE_EV_DELETE,
};

struct store_event {
	enum store_event_type type;
	struct store_kv kv;          /* DELETE: key, mod_rev = the deleting revision, rest 0 */
};

/* <err> is STORE_OK with events, or an error after which the watch is over
 * (already cancelled: do not cancel it again) with none. */
typedef void store_watch_cb(struct store_watch *w, const struct store_event *evs, int nevs, int err,
			    void *arg);

/* ---- the backend interface ---- */

struct store_ops {
	const char *name;            /* "sqlite", "etcd" */
	const char *scheme;          /* URL prefix it serves: "sqlite:", "etcd://" */
	/* Opens the store at <url> (after the scheme). Synchronous: returns 0,
	 * or a negative code with *err set (heap). */
	int (*open)(struct store *st, const char *url, char **err);
	/* Cancels watches (their callbacks get STORE_ERR_CLOSED), fails pending
	 * operations with STORE_ERR_CLOSED, closes handles; <done> runs once
	 * everything is released. */
	void (*close)(struct store *st, void (*done)(struct store *st));
	int (*range)(struct store *st, const struct store_keys *keys, store_cb *cb, void *arg);
	int (*txn)(struct store *st, const struct store_txn *t, store_cb *cb, void *arg);
	int (*lease_grant)(struct store *st, int64_t ttl_s, store_cb *cb, void *arg);
	int (*lease_keepalive)(struct store *st, int64_t lease, store_cb *cb, void *arg);
	int (*lease_revoke)(struct store *st, int64_t lease, store_cb *cb, void *arg);
	/* Starts a watch; *out is valid until cancelled or ended by an error. */
	int (*watch)(struct store *st, const struct store_keys *keys, int64_t from_rev, store_watch_cb *cb,
		     void *arg, struct store_watch **out);
	void (*watch_cancel)(struct store_watch *w);
	/* Forgets history before <rev>: watches from older revisions then
	 * fail with STORE_ERR_COMPACTED. */
	int (*compact)(struct store *st, int64_t rev, store_cb *cb, void *arg);
};

/* The common part of every store; a backend embeds it first in its own
 * struct (or keeps its state behind <priv>). */
struct store {
	const struct store_ops *ops;
	uv_loop_t *loop;
	char *url;                   /* as given to store_open */
	void *priv;                  /* backend state */
	void *data;                  /* the user's */
};

/* Backends, registered in store.c's table. */
extern const struct store_ops store_sqlite_ops;

/* Opens "sqlite:/path/to/file.db" (or a bare path, which means sqlite),
 * later "etcd://h1:2379,h2:2379". Returns 0 and *out, or a negative code
 * with *err set (heap, the caller frees it). */
int store_open(uv_loop_t *loop, const char *url, struct store **out, char **err);
/* <done> (may be NULL) runs when the store is gone; its memory is freed
 * right after. */
void store_close(struct store *st, void (*done)(struct store *st));

/* Thin wrappers over the ops table (STYLE.md 2): callers never write
 * st->ops->... themselves. */
int store_range(struct store *st, const struct store_keys *keys, store_cb *cb, void *arg);
int store_txn(struct store *st, const struct store_txn *t, store_cb *cb, void *arg);
int store_lease_grant(struct store *st, int64_t ttl_s, store_cb *cb, void *arg);
int store_lease_keepalive(struct store *st, int64_t lease, store_cb *cb, void *arg);
int store_lease_revoke(struct store *st, int64_t lease, store_cb *cb, void *arg);
int store_watch(struct store *st, const struct store_keys *keys, int64_t from_rev, store_watch_cb *cb,
		void *arg, struct store_watch **out);
void store_watch_cancel(struct store_watch *w);
int store_compact(struct store *st, int64_t rev, store_cb *cb, void *arg);

/* Conveniences built on txn and range. */
int store_get(struct store *st, const char *key, store_cb *cb, void *arg);
int store_get_prefix(struct store *st, const char *prefix, store_cb *cb, void *arg);
int store_put(struct store *st, const char *key, const char *value, size_t value_len, int64_t lease,
	      store_cb *cb, void *arg);
int store_delete(struct store *st, const char *key, bool prefix, store_cb *cb, void *arg);

/* Blocking forms for the CLI, tools and tests: each starts the operation
 * and runs the store's loop until it completes. Never call them from a
 * callback on that loop. The result is deep-copied into <out> and must be
 * released with store_result_free(). Returns out->err. */
int store_sync_range(struct store *st, const struct store_keys *keys, struct store_result *out);
int store_sync_txn(struct store *st, const struct store_txn *t, struct store_result *out);
int store_sync_put(struct store *st, const char *key, const char *value, int64_t lease,
		   struct store_result *out);
int store_sync_get(struct store *st, const char *key, struct store_result *out);
int store_sync_delete(struct store *st, const char *key, bool prefix, struct store_result *out);
int store_sync_lease_grant(struct store *st, int64_t ttl_s, struct store_result *out);
int store_sync_lease_keepalive(struct store *st, int64_t lease, struct store_result *out);
int store_sync_lease_revoke(struct store *st, int64_t lease, struct store_result *out);
int store_sync_compact(struct store *st, int64_t rev, struct store_result *out);
/* Deep copy of a result (for keeping one past its callback). */
void store_result_copy(struct store_result *dst, const struct store_result *src);
void store_result_free(struct store_result *r);

#endif
