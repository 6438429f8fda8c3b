/* What each request of the sqlite backend does to the file: ranges, txns,
 * leases, compaction and lease expiry. Every write is one BEGIN IMMEDIATE ...
 * COMMIT; any failure rolls back, so nothing is ever half-applied, and the
 * in-memory counters of the db change only after the COMMIT succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite-int.h"

/* A write transaction in progress. */
struct wtx {
	struct store_sq_db *db;
	int64_t rev;                  /* the revision its changes get: db->revision + 1 */
	int seq;                      /* events written at <rev> so far; 0 = nothing changed yet */
	int64_t compact_to;           /* auto-compaction done in it: the new compact_rev; 0 = none */
	char **err;                   /* where the first failure's message goes */
};

/* A growable array of owned kvs (the layout store_result_free() releases). */
struct kvvec {
	struct store_kv *v;           /* the kvs, each key and value its own allocation */
	int n;                        /* kvs in use */
	int cap;                      /* kvs allocated */
};

int store__sq_fail(struct store_sq_db *db, const char *what, char **err)
{
	/* The first failure is the one worth telling: a ROLLBACK failing
	 * after it adds nothing. */
	if (!*err)
		*err = xasprintf("store: %s: %s (while %s)", db->path, db->db ? sqlite3_errmsg(db->db) : "out of memory",
				 what);
	return STORE_ERR_IO;
}

/* A key for a message: printable bytes as they are, the others as \xNN,
 * cut after 64 bytes. */
static char *printable(const char *p, size_t n)
{
	size_t max = n > 64 ? 64 : n;
	char *out = xmalloc(max * 4 + 4), *q = out;

	for (size_t i = 0; i < max; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			*q++ = (char)c;
		else
			q += sprintf(q, "\\x%02x", c);
	}
	if (n > max)
		q += sprintf(q, "...");
	*q = '\0';
	return out;
}

/* ---- statement helpers ---- */

static int bind_blob(sqlite3_stmt *s, int i, const char *p, size_t n)
{
	/* A NULL pointer would bind SQL NULL, not an empty blob. */
	return sqlite3_bind_blob64(s, i, n ? p : "", n, SQLITE_STATIC);
}

/* Steps <s> once: 1 for a row, 0 when done (and resets it), or
 * STORE_ERR_IO with *err set (and resets it). */
static int step(struct store_sq_db *db, sqlite3_stmt *s, const char *what, char **err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		store__sq_fail(db, what, err);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : STORE_ERR_IO;
}

/* Steps a statement that returns no rows. */
static int exec(struct store_sq_db *db, sqlite3_stmt *s, const char *what, char **err)
{
	int rc = step(db, s, what, err);

	if (rc == 1) {
		sqlite3_reset(s);
		rc = 0;
	}
	return rc;
}

static int bound(struct store_sq_db *db, int brc, sqlite3_stmt *s, const char *what, char **err)
{
	if (brc == SQLITE_OK)
		return 0;
	store__sq_fail(db, what, err);
	sqlite3_reset(s);
	return STORE_ERR_IO;
}

static void col_bytes(sqlite3_stmt *s, int col, const char **p, size_t *n)
{
	const void *b = sqlite3_column_blob(s, col);

	*n = (size_t)sqlite3_column_bytes(s, col);
	BUG_ON(!b && *n > 0);
	*p = store__memdup(b, *n);
}

/* Reads a row of the KV_COLS statements. */
static void kv_from_row(sqlite3_stmt *s, struct store_kv *kv)
{
	col_bytes(s, 0, &kv->key, &kv->key_len);
	col_bytes(s, 1, &kv->value, &kv->value_len);
	kv->create_rev = sqlite3_column_int64(s, 2);
	kv->mod_rev = sqlite3_column_int64(s, 3);
	kv->version = sqlite3_column_int64(s, 4);
	kv->lease = sqlite3_column_int64(s, 5);
}

static struct store_kv *kvvec_push(struct kvvec *vv)
{
	if (vv->n == vv->cap) {
		vv->cap = vv->cap ? vv->cap * 2 : 8;
		vv->v = xrealloc(vv->v, sizeof(*vv->v) * (size_t)vv->cap);
	}
	memset(&vv->v[vv->n], 0, sizeof(vv->v[0]));
	return &vv->v[vv->n++];
}

static int meta_set(struct wtx *x, const char *name, int64_t v)
{
	sqlite3_stmt *s = x->db->stmt[SQ_META_SET];
	int brc = sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) | sqlite3_bind_int64(s, 2, v);

	if (bound(x->db, brc, s, "updating meta", x->err) < 0)
		return STORE_ERR_IO;
	return exec(x->db, s, "updating meta", x->err);
}

/* ---- reads ---- */

/* Appends to <vv> the keys <keys> covers, in key order; with <keys_only>
 * the values are left empty. */
static int kv_read(struct store_sq_db *db, const struct store_keys *keys, bool keys_only, struct kvvec *vv,
		   char **err)
{
	char *end = NULL;
	sqlite3_stmt *s;
	int brc, rc;

	if (!keys->prefix) {
		s = db->stmt[SQ_KV_GET];
		brc = bind_blob(s, 1, keys->key, keys->key_len);
	} else {
		size_t n;

		end = xmalloc(keys->key_len + 1);
		n = store__prefix_end(keys->key, keys->key_len, end);
		s = db->stmt[n ? SQ_KV_RANGE : SQ_KV_RANGE_OPEN];
		brc = bind_blob(s, 1, keys->key, keys->key_len);
		if (n)
			brc |= bind_blob(s, 2, end, n);
	}
	rc = bound(db, brc, s, "reading keys", err);
	while (rc == 0 && (rc = step(db, s, "reading keys", err)) == 1) {
		struct store_kv *kv = kvvec_push(vv);

		if (keys_only) {
			col_bytes(s, 0, &kv->key, &kv->key_len);
			kv->value = store__memdup("", 0);
		} else {
			kv_from_row(s, kv);
		}
		rc = 0;
	}
	free(end);
	return rc;
}

/* Looks one key up; *found says whether it exists (then <kv> is owned). */
static int kv_lookup(struct store_sq_db *db, const char *key, size_t key_len, struct store_kv *kv, bool *found,
		     char **err)
{
	struct store_keys k = {key, key_len, false};
	struct kvvec vv = {0};
	int rc = kv_read(db, &k, false, &vv, err);

	*found = rc == 0 && vv.n == 1;
	if (*found) {
		*kv = vv.v[0];
		free(vv.v);
	} else {
		store__kvs_free(vv.v, vv.n);
	}
	return rc;
}

static int lease_lookup(struct store_sq_db *db, int64_t id, int64_t *ttl, int64_t *deadline, char **err)
{
	sqlite3_stmt *s = db->stmt[SQ_LEASE_GET];
	int rc = bound(db, sqlite3_bind_int64(s, 1, id), s, "reading a lease", err);

	if (rc == 0)
		rc = step(db, s, "reading a lease", err);
	if (rc == 1) {
		*ttl = sqlite3_column_int64(s, 0);
		*deadline = sqlite3_column_int64(s, 1);
		sqlite3_reset(s);
	}
	return rc; /* 1 found, 0 not found, < 0 error */
}

int store__sq_next_deadline(struct store_sq_db *db, char **err)
{
	sqlite3_stmt *s = db->stmt[SQ_LEASE_MIN];
	int rc = step(db, s, "reading lease deadlines", err);

	if (rc < 0)
		return rc;
	db->next_deadline = INT64_MAX;
	if (rc == 1) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL)
			db->next_deadline = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	return 0;
}

/* ---- write transactions ---- */

static int wtx_begin(struct wtx *x, struct store_sq_db *db, char **err)
{
	*x = (struct wtx){.db = db, .rev = db->revision + 1, .err = err};
	return exec(db, db->stmt[SQ_BEGIN], "starting a transaction", err);
}

static void wtx_rollback(struct wtx *x)
{
	char *err = NULL;

	if (sqlite3_get_autocommit(x->db->db))
		return; /* sqlite already rolled back (e.g. after SQLITE_FULL) */
	if (exec(x->db, x->db->stmt[SQ_ROLLBACK], "rolling back", &err) < 0) {
		log_error("store", "%s", err);
		free(err);
	}
}

/* Commits: the revision when something changed, auto-compaction when the
 * history grew past its bound (sqlite-int.h), then COMMIT. On success the
 * db's counters follow and watchers are woken; on failure it rolled back. */
static int wtx_commit(struct wtx *x)
{
	struct store_sq_db *db = x->db;
	int rc = 0;

	if (x->seq > 0) {
		rc = meta_set(x, "revision", x->rev);
		if (rc == 0 && x->rev - db->compact_rev > SQ_HISTORY_KEEP + SQ_HISTORY_SLACK) {
			sqlite3_stmt *s = db->stmt[SQ_HIST_COMPACT];

			x->compact_to = x->rev - SQ_HISTORY_KEEP + 1;
			rc = bound(db, sqlite3_bind_int64(s, 1, x->compact_to), s, "compacting history", x->err);
			if (rc == 0)
				rc = exec(db, s, "compacting history", x->err);
			if (rc == 0)
				rc = meta_set(x, "compact_rev", x->compact_to);
		}
	}
	if (rc == 0)
		rc = exec(db, db->stmt[SQ_COMMIT], "committing", x->err);
	if (rc < 0) {
		wtx_rollback(x);
		return rc;
	}
	if (x->seq > 0) {
		db->revision = x->rev;
		if (x->compact_to)
			db->compact_rev = x->compact_to;
		store__sq_db_changed(db);
	}
	return 0;
}

/* Records one event of this revision. */
static int hist_add(struct wtx *x, enum store_event_type type, const struct store_kv *kv)
{
	sqlite3_stmt *s = x->db->stmt[SQ_HIST_ADD];
	int brc = sqlite3_bind_int64(s, 1, x->rev) | sqlite3_bind_int(s, 2, x->seq) | sqlite3_bind_int(s, 3, type) |
		  bind_blob(s, 4, kv->key, kv->key_len) | bind_blob(s, 5, kv->value, kv->value_len) |
		  sqlite3_bind_int64(s, 6, kv->create_rev) | sqlite3_bind_int64(s, 7, kv->version) |
		  sqlite3_bind_int64(s, 8, kv->lease);
	int rc = bound(x->db, brc, s, "recording history", x->err);

	if (rc == 0)
		rc = exec(x->db, s, "recording history", x->err);
	if (rc == 0)
		x->seq++;
	return rc;
}

static int put(struct wtx *x, const struct store_op *op)
{
	struct store_sq_db *db = x->db;
	struct store_kv kv = {
		.key = op->keys.key,
		.key_len = op->keys.key_len,
		.value = op->value,
		.value_len = op->value_len,
		.create_rev = x->rev,
		.mod_rev = x->rev,
		.version = 1,
		.lease = op->lease,
	};
	sqlite3_stmt *s;
	int64_t ttl, deadline;
	int brc, rc;

	if (op->lease) {
		rc = lease_lookup(db, op->lease, &ttl, &deadline, x->err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			char *k = printable(op->keys.key, op->keys.key_len);

			*x->err = xasprintf("store: lease %lld not found (revoked or expired), putting %s",
					    (long long)op->lease, k);
			free(k);
			return STORE_ERR_NO_LEASE;
		}
	}
	s = db->stmt[SQ_KV_HEAD];
	rc = bound(db, bind_blob(s, 1, kv.key, kv.key_len), s, "reading a key", x->err);
	if (rc == 0)
		rc = step(db, s, "reading a key", x->err);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		kv.create_rev = sqlite3_column_int64(s, 0);
		kv.version = sqlite3_column_int64(s, 1) + 1;
		sqlite3_reset(s);
	}
	s = db->stmt[SQ_KV_PUT];
	brc = bind_blob(s, 1, kv.key, kv.key_len) | bind_blob(s, 2, kv.value, kv.value_len) |
	      sqlite3_bind_int64(s, 3, kv.create_rev) | sqlite3_bind_int64(s, 4, kv.mod_rev) |
	      sqlite3_bind_int64(s, 5, kv.version) | sqlite3_bind_int64(s, 6, kv.lease);
	rc = bound(db, brc, s, "writing a key", x->err);
	if (rc == 0)
		rc = exec(db, s, "writing a key", x->err);
	if (rc == 0)
		rc = hist_add(x, STORE_EV_PUT, &kv);
	return rc;
}

/* Deletes the keys of <vv> (key order), recording a DELETE for each. */
static int del_keys(struct wtx *x, const struct kvvec *vv)
{
	sqlite3_stmt *s = x->db->stmt[SQ_KV_DEL];

	for (int i = 0; i < vv->n; i++) {
		struct store_kv tomb = {.key = vv->v[i].key, .key_len = vv->v[i].key_len, .value = ""};
		int rc = bound(x->db, bind_blob(s, 1, tomb.key, tomb.key_len), s, "deleting a key", x->err);

		if (rc == 0)
			rc = exec(x->db, s, "deleting a key", x->err);
		if (rc == 0)
			rc = hist_add(x, STORE_EV_DELETE, &tomb);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int del_range(struct wtx *x, const struct store_keys *keys, int64_t *deleted)
{
	struct kvvec vv = {0};
	int rc = kv_read(x->db, keys, true, &vv, x->err);

	if (rc == 0)
		rc = del_keys(x, &vv);
	if (rc == 0)
		*deleted = vv.n;
	store__kvs_free(vv.v, vv.n);
	return rc;
}

/* Deletes lease <id> and every key attached to it (all in <x>'s revision). */
static int lease_drop(struct wtx *x, int64_t id, int *ndeleted)
{
	struct store_sq_db *db = x->db;
	sqlite3_stmt *s = db->stmt[SQ_KV_BY_LEASE];
	struct kvvec vv = {0};
	int rc = bound(db, sqlite3_bind_int64(s, 1, id), s, "reading a lease's keys", x->err);

	while (rc == 0 && (rc = step(db, s, "reading a lease's keys", x->err)) == 1) {
		struct store_kv *kv = kvvec_push(&vv);

		col_bytes(s, 0, &kv->key, &kv->key_len);
		kv->value = store__memdup("", 0);
		rc = 0;
	}
	if (rc == 0)
		rc = del_keys(x, &vv);
	*ndeleted = vv.n;
	store__kvs_free(vv.v, vv.n);
	if (rc == 0) {
		s = db->stmt[SQ_LEASE_DEL];
		rc = bound(db, sqlite3_bind_int64(s, 1, id), s, "deleting a lease", x->err);
		if (rc == 0)
			rc = exec(db, s, "deleting a lease", x->err);
	}
	return rc;
}

static int lease_write(struct wtx *x, int64_t id, int64_t ttl, int64_t deadline)
{
	sqlite3_stmt *s = x->db->stmt[SQ_LEASE_PUT];
	int brc = sqlite3_bind_int64(s, 1, id) | sqlite3_bind_int64(s, 2, ttl) | sqlite3_bind_int64(s, 3, deadline);
	int rc = bound(x->db, brc, s, "writing a lease", x->err);

	return rc == 0 ? exec(x->db, s, "writing a lease", x->err) : rc;
}

/* ---- compares ---- */

static int cmp_eval(struct store_sq_db *db, const struct store_cmp *c, bool *holds, char **err)
{
	struct store_kv kv = {0};
	bool found;
	int d = 0, rc = kv_lookup(db, c->key, c->key_len, &kv, &found, err);

	if (rc < 0)
		return rc;
	if (c->target == STORE_CMP_VALUE) {
		/* etcd: a value compare on a missing key is false, whatever the op. */
		if (!found) {
			*holds = false;
			return 0;
		}
		size_t n = kv.value_len < c->value_len ? kv.value_len : c->value_len;

		d = n ? memcmp(kv.value, c->value, n) : 0;
		if (d == 0)
			d = (kv.value_len > c->value_len) - (kv.value_len < c->value_len);
	} else {
		int64_t a = 0;

		if (found) {
			switch (c->target) {
			case STORE_CMP_VERSION:
				a = kv.version;
				break;
			case STORE_CMP_CREATE_REV:
				a = kv.create_rev;
				break;
			case STORE_CMP_MOD_REV:
				a = kv.mod_rev;
				break;
			default:
				a = kv.lease;
				break;
			}
		}
		d = (a > c->num) - (a < c->num);
	}
	switch (c->op) {
	case STORE_CMP_EQ:
		*holds = d == 0;
		break;
	case STORE_CMP_NE:
		*holds = d != 0;
		break;
	case STORE_CMP_LT:
		*holds = d < 0;
		break;
	default:
		*holds = d > 0;
		break;
	}
	if (found) {
		free((char *)kv.key);
		free((char *)kv.value);
	}
	return 0;
}

/* ---- requests ---- */

static int do_range(struct store_sq_db *db, const struct store_keys *keys, struct store_result *r, char **err)
{
	struct kvvec vv = {0};
	int rc = kv_read(db, keys, false, &vv, err);

	if (rc < 0) {
		store__kvs_free(vv.v, vv.n);
		return rc;
	}
	r->kvs = vv.v;
	r->nkvs = vv.n;
	return 0;
}

static void op_results_free(struct store_op_result *res, int n)
{
	for (int i = 0; i < n; i++)
		store__kvs_free((struct store_kv *)res[i].kvs, res[i].nkvs);
	free(res);
}

static int do_txn(struct store_sq_db *db, const struct store_txn *t, struct store_result *r, char **err)
{
	const struct store_op *ops;
	struct store_op_result *res = NULL;
	bool holds = true;
	struct wtx x;
	int n = 0, rc = wtx_begin(&x, db, err);

	if (rc < 0)
		return rc;
	for (int i = 0; i < t->ncmps && holds; i++) {
		rc = cmp_eval(db, &t->cmps[i], &holds, err);
		if (rc < 0)
			goto fail;
	}
	ops = holds ? t->success : t->failure;
	n = holds ? t->nsuccess : t->nfailure;
	if (n > 0)
		res = XNEWV(struct store_op_result, n);
	for (int i = 0; i < n; i++) {
		res[i].type = ops[i].type;
		switch (ops[i].type) {
		case STORE_OP_GET: {
			/* Same connection, same transaction: a GET sees the
			 * earlier ops of its txn, as in etcd. */
			struct kvvec vv = {0};

			rc = kv_read(db, &ops[i].keys, false, &vv, err);
			res[i].kvs = vv.v;
			res[i].nkvs = vv.n;
			break;
		}
		case STORE_OP_PUT:
			rc = put(&x, &ops[i]);
			break;
		case STORE_OP_DELETE:
			rc = del_range(&x, &ops[i].keys, &res[i].deleted);
			break;
		}
		if (rc < 0)
			goto fail;
	}
	rc = wtx_commit(&x);
	if (rc < 0)
		goto out;
	r->succeeded = holds;
	r->ops = res;
	r->nops = n;
	return 0;
fail:
	wtx_rollback(&x);
out:
	op_results_free(res, n);
	return rc;
}

static int do_grant(struct store_sq_db *db, int64_t ttl, struct store_result *r, char **err)
{
	int64_t id = db->next_lease, deadline = store__sq_wall_ms() + ttl * 1000;
	struct wtx x;
	int rc = wtx_begin(&x, db, err);

	if (rc == 0)
		rc = lease_write(&x, id, ttl, deadline);
	if (rc == 0)
		rc = meta_set(&x, "next_lease", id + 1);
	if (rc < 0) {
		wtx_rollback(&x);
		return rc;
	}
	rc = wtx_commit(&x);
	if (rc < 0)
		return rc;
	db->next_lease = id + 1;
	if (deadline < db->next_deadline) {
		db->next_deadline = deadline;
		store__sq_leases_changed(db);
	}
	r->lease = id;
	r->ttl = ttl;
	return 0;
}

static int no_lease(int64_t id, char **err)
{
	*err = xasprintf("store: lease %lld not found (revoked or expired)", (long long)id);
	return STORE_ERR_NO_LEASE;
}

/* Renews the full ttl. The deadline only grows, so db->next_deadline stays a
 * lower bound: the timer may fire early, find nothing due, and rearm. */
static int do_keepalive(struct store_sq_db *db, int64_t id, struct store_result *r, char **err)
{
	int64_t ttl, deadline, now = store__sq_wall_ms();
	struct wtx x;
	int rc = wtx_begin(&x, db, err);

	if (rc == 0)
		rc = lease_lookup(db, id, &ttl, &deadline, err);
	if (rc == 1 && deadline <= now)
		rc = 0; /* due, about to be revoked: as good as gone */
	if (rc == 0)
		rc = no_lease(id, err);
	if (rc == 1)
		rc = lease_write(&x, id, ttl, now + ttl * 1000);
	if (rc < 0) {
		wtx_rollback(&x);
		return rc;
	}
	rc = wtx_commit(&x);
	if (rc < 0)
		return rc;
	r->lease = id;
	r->ttl = ttl;
	return 0;
}

/* Revoke and expiry: the lease's keys go in one revision (none when it had
 * no keys). */
static int do_revoke(struct store_sq_db *db, int64_t id, bool expired, char **err)
{
	int64_t ttl, deadline;
	int ndeleted = 0;
	struct wtx x;
	int rc = wtx_begin(&x, db, err);

	if (rc == 0)
		rc = lease_lookup(db, id, &ttl, &deadline, err);
	if (rc == 0)
		rc = no_lease(id, err);
	if (rc == 1)
		rc = lease_drop(&x, id, &ndeleted);
	if (rc < 0) {
		wtx_rollback(&x);
		return rc;
	}
	rc = wtx_commit(&x);
	if (rc == 0)
		log_debug("store", "lease %lld %s: %d key(s) deleted", (long long)id, expired ? "expired" : "revoked",
			  ndeleted);
	return rc;
}

static int do_compact(struct store_sq_db *db, int64_t rev, char **err)
{
	sqlite3_stmt *s = db->stmt[SQ_HIST_COMPACT];
	struct wtx x;
	int rc;

	if (rev > db->revision) {
		*err = xasprintf("store: cannot compact to revision %lld: it is a future revision (current %lld)",
				 (long long)rev, (long long)db->revision);
		return STORE_ERR_FUTURE_REV;
	}
	if (rev <= db->compact_rev) {
		*err = xasprintf("store: revision %lld has been compacted already (compacted up to %lld)",
				 (long long)rev, (long long)db->compact_rev);
		return STORE_ERR_COMPACTED;
	}
	rc = wtx_begin(&x, db, err);
	if (rc == 0)
		rc = bound(db, sqlite3_bind_int64(s, 1, rev), s, "compacting history", err);
	if (rc == 0)
		rc = exec(db, s, "compacting history", err);
	if (rc == 0)
		rc = meta_set(&x, "compact_rev", rev);
	if (rc < 0) {
		wtx_rollback(&x);
		return rc;
	}
	rc = wtx_commit(&x);
	if (rc < 0)
		return rc;
	db->compact_rev = rev;
	store__sq_db_changed(db); /* watches still behind <rev> now fail */
	return 0;
}

void store__sq_exec(struct store_sq_db *db, const struct store_sq_req *req, struct store_result *r)
{
	char *err = NULL;
	int rc = 0;

	switch (req->type) {
	case SQ_REQ_RANGE:
		rc = do_range(db, &req->keys, r, &err);
		break;
	case SQ_REQ_TXN:
		rc = do_txn(db, &req->txn, r, &err);
		break;
	case SQ_REQ_GRANT:
		rc = do_grant(db, req->num, r, &err);
		break;
	case SQ_REQ_KEEPALIVE:
		rc = do_keepalive(db, req->num, r, &err);
		break;
	case SQ_REQ_REVOKE:
		rc = do_revoke(db, req->num, false, &err);
		break;
	case SQ_REQ_COMPACT:
		rc = do_compact(db, req->num, &err);
		break;
	}
	r->revision = db->revision;
	if (rc < 0) {
		r->err = rc;
		r->errmsg = err ? err : xasprintf("store: %s", store_strerror(rc));
	} else {
		free(err);
	}
}

int store__sq_expire(struct store_sq_db *db, char **err)
{
	int64_t now = store__sq_wall_ms(), *ids = NULL;
	sqlite3_stmt *s = db->stmt[SQ_LEASE_DUE];
	int n = 0, cap = 0, rc;

	if (db->next_deadline > now)
		return 0;
	rc = bound(db, sqlite3_bind_int64(s, 1, now), s, "reading due leases", err);
	while (rc == 0 && (rc = step(db, s, "reading due leases", err)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			ids = xrealloc(ids, sizeof(*ids) * (size_t)cap);
		}
		ids[n++] = sqlite3_column_int64(s, 0);
		rc = 0;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		rc = do_revoke(db, ids[i], true, err);
		if (rc == STORE_ERR_NO_LEASE) {
			/* Cannot happen (just read): keep going with the others. */
			free(*err);
			*err = NULL;
			rc = 0;
		}
	}
	free(ids);
	if (rc == 0)
		rc = store__sq_next_deadline(db, err);
	if (rc == 0)
		store__sq_leases_changed(db);
	return rc;
}
