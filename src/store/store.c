/* The store's front: backend table, URL dispatch, argument checks shared by
 * every backend, conveniences, blocking forms and result copies. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/store-int.h"

/* Every backend, matched against the URL by scheme. Adding a backend is one
 * more file and one more row. A URL with no known scheme and no "://" is a
 * path, which means sqlite (the first row). */
static const struct store_ops *const backends[] = {
	&store_sqlite_ops,
};

/* What store_open() allocates: the part callers and backends see, then what
 * the front needs to close it. */
struct store_handle {
	struct store st;                /* first: callers hold &h->st */
	void (*done)(struct store *st); /* store_close's <done>, may be NULL */
	bool closing;                   /* store_close() was called: new calls fail */
};

static struct store_handle *handle_of(struct store *st)
{
	return (struct store_handle *)st;
}

/* ---- open, close ---- */

int store_open(uv_loop_t *loop, const char *url, struct store **out, char **err)
{
	const struct store_ops *be = NULL;
	const char *rest = url;
	struct store_handle *h;
	int rc;

	*out = NULL;
	if (!url || !*url) {
		*err = xstrdup("store: empty store URL (expected sqlite:PATH or etcd://HOST:PORT,...)");
		return STORE_ERR_INVALID;
	}
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t n = strlen(backends[i]->scheme);

		if (strncmp(url, backends[i]->scheme, n) == 0) {
			be = backends[i];
			rest = url + n;
			break;
		}
	}
	if (!be) {
		if (strstr(url, "://")) {
			*err = xasprintf("store: unknown store URL scheme in \"%s\" (expected sqlite:PATH)", url);
			return STORE_ERR_INVALID;
		}
		be = backends[0];
	}
	h = XNEW(struct store_handle);
	h->st.ops = be;
	h->st.loop = loop;
	h->st.url = xstrdup(url);
	rc = be->open(&h->st, rest, err);
	if (rc < 0) {
		free(h->st.url);
		free(h);
		return rc;
	}
	*out = &h->st;
	return 0;
}

/* The backend has released everything: tell the user, then free. */
static void closed(struct store *st)
{
	struct store_handle *h = handle_of(st);

	if (h->done)
		h->done(st);
	free(st->url);
	free(h);
}

void store_close(struct store *st, void (*done)(struct store *st))
{
	struct store_handle *h = handle_of(st);

	BUG_ON(h->closing);
	h->closing = true;
	h->done = done;
	st->ops->close(st, closed);
}

/* ---- argument checks, the same for every backend ---- */

/* A key or prefix: a single key is never empty; an empty prefix is every key. */
static bool keys_ok(const struct store_keys *k)
{
	if (!k || (k->key_len > 0 && !k->key))
		return false;
	return k->prefix || k->key_len > 0;
}

static bool bytes_ok(const char *p, size_t n)
{
	return p || n == 0;
}

/* etcd refuses a branch that puts one key twice, or puts a key that a
 * delete of the same branch covers ("duplicate key given in txn request");
 * refusing here too keeps code written against sqlite valid on etcd. */
static bool branch_ok(const struct store_op *ops, int n)
{
	if (n < 0 || (n > 0 && !ops))
		return false;
	for (int i = 0; i < n; i++) {
		const struct store_op *o = &ops[i];

		switch (o->type) {
		case STORE_OP_GET:
		case STORE_OP_DELETE:
			if (!keys_ok(&o->keys))
				return false;
			break;
		case STORE_OP_PUT:
			if (!o->keys.key || o->keys.key_len == 0 || !bytes_ok(o->value, o->value_len) ||
			    o->lease < 0)
				return false;
			for (int j = 0; j < n; j++) {
				const struct store_op *p = &ops[j];

				if (j == i || p->type == STORE_OP_GET)
					continue;
				if (p->type == STORE_OP_PUT && j < i && p->keys.key_len == o->keys.key_len &&
				    memcmp(p->keys.key, o->keys.key, o->keys.key_len) == 0)
					return false;
				if (p->type == STORE_OP_DELETE &&
				    store__keys_match(&p->keys, o->keys.key, o->keys.key_len))
					return false;
			}
			break;
		default:
			return false;
		}
	}
	return true;
}

static bool txn_ok(const struct store_txn *t)
{
	if (!t || t->ncmps < 0 || (t->ncmps > 0 && !t->cmps))
		return false;
	for (int i = 0; i < t->ncmps; i++) {
		const struct store_cmp *c = &t->cmps[i];

		if (!c->key || c->key_len == 0)
			return false;
		if ((unsigned)c->target > STORE_CMP_LEASE || (unsigned)c->op > STORE_CMP_GT)
			return false;
		if (c->target == STORE_CMP_VALUE && !bytes_ok(c->value, c->value_len))
			return false;
	}
	return branch_ok(t->success, t->nsuccess) && branch_ok(t->failure, t->nfailure);
}

/* ---- thin wrappers: checks and the closing state live here, once ---- */

int store_range(struct store *st, const struct store_keys *keys, store_cb *cb, void *arg)
{
	if (handle_of(st)->closing)
		return STORE_ERR_CLOSED;
	if (!keys_ok(keys))
		return STORE_ERR_INVALID;
	return st->ops->range(st, keys, cb, arg);
}

int store_txn(struct store *st, const struct store_txn *t, store_cb *cb, void *arg)
{
	if (handle_of(st)->closing)
		return STORE_ERR_CLOSED;
	if (!txn_ok(t))
		return STORE_ERR_INVALID;
	return st->ops->txn(st, t, cb, arg);
}

int store_lease_grant(struct store *st, int64_t ttl_s, store_cb *cb, void *arg)
{
	if (handle_of(st)->closing)
		return STORE_ERR_CLOSED;
	if (ttl_s <= 0 || ttl_s > STORE_MAX_TTL_S)
		return STORE_ERR_INVALID;
	return st->ops->lease_grant(st, ttl_s, cb, arg);
}

int store_lease_keepalive(struct store *st, int64_t lease, store_cb *cb, void *arg)
{
	if (handle_of(st)->closing)
		return STORE_ERR_CLOSED;
	if (lease <= 0)
		return STORE_ERR_INVALID;
	return st->ops->lease_keepalive(st, lease, cb, arg);
}

int store_lease_revoke(struct store *st, int64_t lease, store_cb *cb, void *arg)
{
	if (handle_of(st)->closing)
		return STORE_ERR_CLOSED;
	if (lease <= 0)
		return STORE_ERR_INVALID;
	return st->ops->lease_revoke(st, lease, cb, arg);
}

int store_watch(struct store *st, const struct store_keys *keys, int64_t from_rev, store_watch_cb *cb,
		void *arg, struct store_watch **out)
{
	if (handle_of(st)->closing)
		return STORE_ERR_CLOSED;
	if (!keys_ok(keys) || from_rev < 0 || !cb || !out)
		return STORE_ERR_INVALID;
	return st->ops->watch(st, keys, from_rev, cb, arg, out);
}

void store_watch_cancel(struct store_watch *w)
{
	w->st->ops->watch_cancel(w);
}

int store_compact(struct store *st, int64_t rev, store_cb *cb, void *arg)
{
	if (handle_of(st)->closing)
		return STORE_ERR_CLOSED;
	if (rev <= 0)
		return STORE_ERR_INVALID;
	return st->ops->compact(st, rev, cb, arg);
}

/* ---- conveniences ---- */

int store_get(struct store *st, const char *key, store_cb *cb, void *arg)
{
	struct store_keys k = {key, key ? strlen(key) : 0, false};

	return store_range(st, &k, cb, arg);
}

int store_get_prefix(struct store *st, const char *prefix, store_cb *cb, void *arg)
{
	struct store_keys k = {prefix, prefix ? strlen(prefix) : 0, true};

	return store_range(st, &k, cb, arg);
}

int store_put(struct store *st, const char *key, const char *value, size_t value_len, int64_t lease,
	      store_cb *cb, void *arg)
{
	struct store_op op = {
		.type = STORE_OP_PUT,
		.keys = {key, key ? strlen(key) : 0, false},
		.value = value,
		.value_len = value_len,
		.lease = lease,
	};
	struct store_txn t = {.success = &op, .nsuccess = 1};

	return store_txn(st, &t, cb, arg);
}

int store_delete(struct store *st, const char *key, bool prefix, store_cb *cb, void *arg)
{
	struct store_op op = {
		.type = STORE_OP_DELETE,
		.keys = {key, key ? strlen(key) : 0, prefix},
	};
	struct store_txn t = {.success = &op, .nsuccess = 1};

	return store_txn(st, &t, cb, arg);
}

/* ---- blocking forms ---- */

/* One blocking call in progress. */
struct sync_wait {
	struct store_result *out; /* where the callback copies the result */
	bool done;                /* the callback ran */
};

static void sync_cb(const struct store_result *r, void *arg)
{
	struct sync_wait *w = arg;

	store_result_copy(w->out, r);
	w->done = true;
}

/* Finishes a blocking call whose operation was started with <rc>: on a
 * start failure fills <w->out> with it, else runs the loop until the
 * callback ran. A loop with nothing left to run and no result is a backend
 * bug: it would spin forever. */
static int sync_finish(struct store *st, struct sync_wait *w, int rc)
{
	if (rc < 0) {
		w->out->err = rc;
		w->out->errmsg = xasprintf("store: %s", store_strerror(rc));
		return rc;
	}
	while (!w->done) {
		int alive = uv_run(st->loop, UV_RUN_ONCE);

		BUG_ON(!alive && !w->done);
	}
	return w->out->err;
}

static struct sync_wait sync_begin(struct store_result *out)
{
	memset(out, 0, sizeof(*out));
	return (struct sync_wait){out, false};
}

int store_sync_range(struct store *st, const struct store_keys *keys, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_range(st, keys, sync_cb, &w));
}

int store_sync_txn(struct store *st, const struct store_txn *t, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_txn(st, t, sync_cb, &w));
}

int store_sync_put(struct store *st, const char *key, const char *value, int64_t lease,
		   struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w,
			   store_put(st, key, value ? value : "", value ? strlen(value) : 0, lease, sync_cb, &w));
}

int store_sync_get(struct store *st, const char *key, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_get(st, key, sync_cb, &w));
}

int store_sync_delete(struct store *st, const char *key, bool prefix, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_delete(st, key, prefix, sync_cb, &w));
}

int store_sync_lease_grant(struct store *st, int64_t ttl_s, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_lease_grant(st, ttl_s, sync_cb, &w));
}

int store_sync_lease_keepalive(struct store *st, int64_t lease, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_lease_keepalive(st, lease, sync_cb, &w));
}

int store_sync_lease_revoke(struct store *st, int64_t lease, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_lease_revoke(st, lease, sync_cb, &w));
}

int store_sync_compact(struct store *st, int64_t rev, struct store_result *out)
{
	struct sync_wait w = sync_begin(out);

	return sync_finish(st, &w, store_compact(st, rev, sync_cb, &w));
}

/* ---- errors ---- */

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_OK:
		return "ok";
	case STORE_ERR_COMPACTED:
		return "required revision has been compacted (resync: range, then watch from its revision + 1)";
	case STORE_ERR_NO_LEASE:
		return "lease not found (revoked or expired)";
	case STORE_ERR_IO:
		return "I/O error";
	case STORE_ERR_INVALID:
		return "invalid argument";
	case STORE_ERR_CLOSED:
		return "the store is closing";
	case STORE_ERR_FUTURE_REV:
		return "required revision is a future revision";
	default:
		return err < 0 && err > -4096 ? uv_strerror(err) : "unknown store error";
	}
}

/* ---- results and shared helpers ---- */

char *store__memdup(const void *p, size_t n)
{
	char *q = xmalloc(n + 1);

	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

struct store_kv *store__kvs_copy(const struct store_kv *kvs, int n)
{
	struct store_kv *c;

	if (n <= 0)
		return NULL;
	c = XNEWV(struct store_kv, n);
	for (int i = 0; i < n; i++) {
		c[i] = kvs[i];
		c[i].key = store__memdup(kvs[i].key, kvs[i].key_len);
		c[i].value = store__memdup(kvs[i].value, kvs[i].value_len);
	}
	return c;
}

void store__kvs_free(struct store_kv *kvs, int n)
{
	for (int i = 0; i < n; i++) {
		free((char *)kvs[i].key);
		free((char *)kvs[i].value);
	}
	free(kvs);
}

void store_result_copy(struct store_result *dst, const struct store_result *src)
{
	struct store_op_result *ops = NULL;

	*dst = *src;
	dst->errmsg = src->errmsg ? xstrdup(src->errmsg) : NULL;
	dst->kvs = store__kvs_copy(src->kvs, src->nkvs);
	if (src->nops > 0) {
		ops = XNEWV(struct store_op_result, src->nops);
		for (int i = 0; i < src->nops; i++) {
			ops[i] = src->ops[i];
			ops[i].kvs = store__kvs_copy(src->ops[i].kvs, src->ops[i].nkvs);
		}
	}
	dst->ops = ops;
}

void store_result_free(struct store_result *r)
{
	free((char *)r->errmsg);
	store__kvs_free((struct store_kv *)r->kvs, r->nkvs);
	for (int i = 0; i < r->nops; i++)
		store__kvs_free((struct store_kv *)r->ops[i].kvs, r->ops[i].nkvs);
	free((struct store_op_result *)r->ops);
	memset(r, 0, sizeof(*r));
}

bool store__keys_match(const struct store_keys *keys, const char *key, size_t key_len)
{
	if (!keys->prefix)
		return key_len == keys->key_len && memcmp(key, keys->key, key_len) == 0;
	return key_len >= keys->key_len && (keys->key_len == 0 || memcmp(key, keys->key, keys->key_len) == 0);
}

size_t store__prefix_end(const char *p, size_t n, char *out)
{
	while (n > 0 && (unsigned char)p[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	memcpy(out, p, n);
	out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	return n;
}
