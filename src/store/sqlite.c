/* The embedded store: one sqlite file in WAL mode, shared by every handle
 * of the process, with requests queued and run from the handle's loop.
 *
 * Durability: journal_mode=WAL with synchronous=NORMAL. A COMMIT has
 * written its frames to the WAL file (write(2)) before it returns, so a
 * committed transaction survives the process being killed (kill -9, a
 * crash): the kernel has the bytes. What it does not survive is losing
 * power before the next checkpoint fsyncs: the last transactions may be
 * rolled back, never half-applied. That is the trade the embedded store
 * makes for not paying an fsync per write; a multi-host cluster runs etcd.
 *
 * Requests run synchronously on the loop thread, from the handle's idle
 * callback (local sqlite calls take microseconds), in the order they were
 * made; the two handles of a CAS race interleave at request granularity,
 * exactly as two etcd clients would. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite-int.h"

#define SQ_SCHEMA_VERSION 1

/* The tables. kv is the current state, history every event since the
 * compaction point (for watches), leases the live leases with their
 * deadline as wall-clock ms (so expiry survives a restart), meta the
 * counters (revision, compact_rev, next_lease) and the schema version. */
static const char schema_sql[] =
	"BEGIN IMMEDIATE;"
	"CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL,"
	" create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL,"
	" lease INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease);"
	"CREATE TABLE IF NOT EXISTS history(rev INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" type INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, create_rev INTEGER NOT NULL,"
	" version INTEGER NOT NULL, lease INTEGER NOT NULL, PRIMARY KEY(rev, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS leases(id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL,"
	" deadline_ms INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS leases_deadline ON leases(deadline_ms);"
	"INSERT OR IGNORE INTO meta(name, value) VALUES ('schema', 1), ('revision', 1),"
	" ('compact_rev', 0), ('next_lease', 1);"
	"COMMIT;";

#define KV_COLS "SELECT key, value, create_rev, mod_rev, version, lease FROM kv "

static const char *const stmt_sql[SQ_NSTMTS] = {
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_KV_GET] = KV_COLS "WHERE key = ?1",
	[SQ_KV_RANGE] = KV_COLS "WHERE key >= ?1 AND key < ?2 ORDER BY key",
	[SQ_KV_RANGE_OPEN] = KV_COLS "WHERE key >= ?1 ORDER BY key",
	[SQ_KV_HEAD] = "SELECT create_rev, version FROM kv WHERE key = ?1",
	[SQ_KV_PUT] = "INSERT OR REPLACE INTO kv(key, value, create_rev, mod_rev, version, lease)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQ_KV_DEL] = "DELETE FROM kv WHERE key = ?1",
	[SQ_KV_BY_LEASE] = "SELECT key FROM kv WHERE lease = ?1 ORDER BY key",
	[SQ_HIST_ADD] = "INSERT INTO history(rev, seq, type, key, value, create_rev, version, lease)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SQ_HIST_SCAN] = "SELECT rev, type, key, value, create_rev, version, lease FROM history"
			 " WHERE rev >= ?1 AND rev <= ?2 ORDER BY rev, seq",
	[SQ_HIST_COMPACT] = "DELETE FROM history WHERE rev < ?1",
	[SQ_LEASE_GET] = "SELECT ttl, deadline_ms FROM leases WHERE id = ?1",
	[SQ_LEASE_PUT] = "INSERT OR REPLACE INTO leases(id, ttl, deadline_ms) VALUES (?1, ?2, ?3)",
	[SQ_LEASE_DEL] = "DELETE FROM leases WHERE id = ?1",
	[SQ_LEASE_MIN] = "SELECT MIN(deadline_ms) FROM leases",
	[SQ_LEASE_DUE] = "SELECT id FROM leases WHERE deadline_ms <= ?1 ORDER BY deadline_ms, id",
	[SQ_META_SET] = "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)",
};

int64_t store__sq_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the process's registry of open files ---- */

/* Guards <registry> only: a db itself is used by one thread (sqlite-int.h). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_sq_db *registry;

/* Entries inherited across fork() belong to the parent: skipped, never freed. */
static struct store_sq_db *registry_find(const char *path)
{
	pid_t me = getpid();

	for (struct store_sq_db *db = registry; db; db = db->next)
		if (db->pid == me && strcmp(db->path, path) == 0)
			return db;
	return NULL;
}

static void registry_del(struct store_sq_db *db)
{
	struct store_sq_db **pp = &registry;

	while (*pp != db)
		pp = &(*pp)->next;
	*pp = db->next;
}

/* The canonical form of <path>, so that two spellings of one file share one
 * db: realpath() of the file, or of its directory when the file does not
 * exist yet. NULL with *err set when the directory cannot be resolved. */
static char *canon_path(const char *path, char **err)
{
	char *r = realpath(path, NULL), *dcopy, *bcopy, *dir;

	if (r)
		return r;
	if (errno != ENOENT) {
		*err = xasprintf("store: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	dcopy = xstrdup(path);
	bcopy = xstrdup(path);
	dir = realpath(dirname(dcopy), NULL);
	if (!dir)
		*err = xasprintf("store: cannot open %s: directory %s: %s", path, dirname(bcopy), strerror(errno));
	else
		r = xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", basename(bcopy));
	free(dir);
	free(dcopy);
	free(bcopy);
	return r;
}

/* ---- opening and closing a database file ---- */

/* Takes the write lock of <db->path>.lock, which says "this process owns the
 * file": sqlite's own locking would let a second process in, and two
 * processes each expiring leases and numbering revisions would not be
 * etcd. An fcntl lock dies with its process, so a crash never leaves a
 * stale lock; the file itself stays (removing it would race). */
static int lock_take(struct store_sq_db *db, char **err)
{
	char *lpath = xasprintf("%s.lock", db->path);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char pid[32];
	int fd, n, rc = STORE_ERR_IO;

	fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		*err = xasprintf("store: cannot open lock file %s: %s", lpath, strerror(errno));
		goto out;
	}
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

		if (errno != EACCES && errno != EAGAIN)
			*err = xasprintf("store: cannot lock %s: %s", lpath, strerror(errno));
		else if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK)
			*err = xasprintf("store: %s is in use by another process (pid %ld)", db->path, (long)q.l_pid);
		else
			*err = xasprintf("store: %s is in use by another process", db->path);
		close(fd);
		goto out;
	}
	/* For operators only: who holds it. The lock is what counts. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, pid, (size_t)n) != n)
		log_warn("store", "cannot write pid into %s: %s", lpath, strerror(errno));
	db->lock_fd = fd;
	rc = 0;
out:
	free(lpath);
	return rc;
}

/* Runs a pragma and checks its one-row answer starts with <want>. */
static int pragma(struct store_sq_db *db, const char *sql, const char *want, char **err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = store__sq_fail(db, sql, err);
	} else if (want && (rc != SQLITE_ROW || !sqlite3_column_text(s, 0) ||
			    strcmp((const char *)sqlite3_column_text(s, 0), want) != 0)) {
		*err = xasprintf("store: %s: %s answered \"%s\", not \"%s\"", db->path, sql,
				 rc == SQLITE_ROW && sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0)
									   : "",
				 want);
		rc = STORE_ERR_IO;
	} else {
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

static int meta_load(struct store_sq_db *db, char **err)
{
	sqlite3_stmt *s = NULL;
	int64_t schema = 0;
	int rc = sqlite3_prepare_v2(db->db, "SELECT name, value FROM meta", -1, &s, NULL);

	if (rc != SQLITE_OK)
		return store__sq_fail(db, "reading meta", err);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		int64_t v = sqlite3_column_int64(s, 1);

		if (!name)
			continue;
		if (strcmp(name, "schema") == 0)
			schema = v;
		else if (strcmp(name, "revision") == 0)
			db->revision = v;
		else if (strcmp(name, "compact_rev") == 0)
			db->compact_rev = v;
		else if (strcmp(name, "next_lease") == 0)
			db->next_lease = v;
	}
	if (rc != SQLITE_DONE) {
		rc = store__sq_fail(db, "reading meta", err);
	} else if (schema != SQ_SCHEMA_VERSION) {
		*err = xasprintf("store: %s: unknown store schema version %lld (this berth knows %d)", db->path,
				 (long long)schema, SQ_SCHEMA_VERSION);
		rc = STORE_ERR_IO;
	} else if (db->revision < 1 || db->compact_rev < 0 || db->compact_rev > db->revision ||
		   db->next_lease < 1) {
		*err = xasprintf("store: %s: inconsistent meta table (revision %lld, compact_rev %lld)", db->path,
				 (long long)db->revision, (long long)db->compact_rev);
		rc = STORE_ERR_IO;
	} else {
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

static void db_free(struct store_sq_db *db)
{
	for (int i = 0; i < SQ_NSTMTS; i++)
		sqlite3_finalize(db->stmt[i]);
	if (db->db && sqlite3_close(db->db) != SQLITE_OK)
		log_error("store", "%s: closing: %s", db->path, sqlite3_errmsg(db->db));
	if (db->lock_fd >= 0)
		close(db->lock_fd);
	free(db->path);
	free(db);
}

/* Opens the file at canonical <path>: lock, WAL, schema, statements, then
 * expires the leases whose deadline passed while nobody had it open. */
static int db_open(const char *path, struct store_sq_db **out, char **err)
{
	struct store_sq_db *db = XNEW(struct store_sq_db);
	char *emsg = NULL;
	int rc;

	db->path = xstrdup(path);
	db->pid = getpid();
	db->lock_fd = -1;
	db->next_deadline = INT64_MAX;
	rc = lock_take(db, err);
	if (rc < 0)
		goto err;
	if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = store__sq_fail(db, "opening", err);
		goto err;
	}
	sqlite3_busy_timeout(db->db, 5000);
	if (sqlite3_db_readonly(db->db, "main") == 1) {
		*err = xasprintf("store: %s is read-only", path);
		rc = STORE_ERR_IO;
		goto err;
	}
	/* The first read of the file: a corrupt or foreign file fails here. */
	rc = pragma(db, "PRAGMA journal_mode=WAL", "wal", err);
	if (rc == 0)
		rc = pragma(db, "PRAGMA synchronous=NORMAL", NULL, err);
	if (rc < 0)
		goto err;
	if (sqlite3_exec(db->db, schema_sql, NULL, NULL, &emsg) != SQLITE_OK) {
		*err = xasprintf("store: %s: %s (while creating the tables)", path, emsg ? emsg : "?");
		sqlite3_free(emsg);
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
		rc = STORE_ERR_IO;
		goto err;
	}
	rc = meta_load(db, err);
	if (rc < 0)
		goto err;
	for (int i = 0; i < SQ_NSTMTS; i++) {
		if (sqlite3_prepare_v3(db->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &db->stmt[i], NULL) !=
		    SQLITE_OK) {
			rc = store__sq_fail(db, "preparing statements", err);
			goto err;
		}
	}
	rc = store__sq_next_deadline(db, err);
	if (rc == 0)
		rc = store__sq_expire(db, err);
	if (rc < 0)
		goto err;
	*out = db;
	return 0;
err:
	db_free(db);
	return rc;
}

static void db_unref(struct store_sq_db *db)
{
	pthread_mutex_lock(&registry_lock);
	if (--db->refs > 0) {
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	registry_del(db);
	pthread_mutex_unlock(&registry_lock);
	db_free(db);
}

/* ---- handles ---- */

static void on_idle(uv_idle_t *idle);
static void on_lease_timer(uv_timer_t *t);

void store__sq_wake(struct store_sq *h)
{
	uv_idle_start(&h->idle, on_idle);
}

void store__sq_db_changed(struct store_sq_db *db)
{
	for (struct store_sq *h = db->handles; h; h = h->next)
		if (h->watches)
			store__sq_wake(h);
}

static void lease_timer_arm(struct store_sq *h)
{
	int64_t next = h->db->next_deadline, delay;

	if (h->closing)
		return;
	if (next == INT64_MAX) {
		uv_timer_stop(&h->lease_timer);
		return;
	}
	delay = next - store__sq_wall_ms();
	uv_timer_start(&h->lease_timer, on_lease_timer, delay > 0 ? (uint64_t)delay : 0, 0);
}

void store__sq_leases_changed(struct store_sq_db *db)
{
	for (struct store_sq *h = db->handles; h; h = h->next)
		lease_timer_arm(h);
}

/* Every handle on a db runs a timer to the earliest deadline; the first to
 * fire does the work, the others then find nothing due. An early firing
 * (the monotonic and wall clocks drift) just rearms. */
static void on_lease_timer(uv_timer_t *t)
{
	struct store_sq *h = t->data;
	char *err = NULL;

	if (h->closing)
		return;
	if (store__sq_expire(h->db, &err) < 0) {
		log_error("store", "expiring leases: %s (retrying in 1 s)", err);
		free(err);
		uv_timer_start(&h->lease_timer, on_lease_timer, 1000, 0);
		return;
	}
	lease_timer_arm(h);
}

static int sq_open(struct store *st, const char *url, char **err)
{
	const char *path = url;
	struct store_sq_db *db;
	struct store_sq *h;
	char *canon;
	int rc = 0;

	/* "sqlite:///var/lib/berth/store.db" is "sqlite:/var/lib/berth/store.db". */
	if (strncmp(path, "//", 2) == 0)
		path += 2;
	if (!*path) {
		*err = xstrdup("store: the sqlite store URL names no file (expected sqlite:PATH)");
		return STORE_ERR_INVALID;
	}
	canon = canon_path(path, err);
	if (!canon)
		return STORE_ERR_IO;
	pthread_mutex_lock(&registry_lock);
	db = registry_find(canon);
	if (!db) {
		rc = db_open(canon, &db, err);
		if (rc == 0) {
			db->next = registry;
			registry = db;
		}
	}
	if (rc == 0)
		db->refs++;
	pthread_mutex_unlock(&registry_lock);
	free(canon);
	if (rc < 0)
		return rc;

	h = XNEW(struct store_sq);
	h->st = st;
	h->db = db;
	h->reqs_tail = &h->reqs;
	h->next = db->handles;
	db->handles = h;
	uv_idle_init(st->loop, &h->idle);
	uv_timer_init(st->loop, &h->lease_timer);
	h->idle.data = h;
	h->lease_timer.data = h;
	h->nopen = 2;
	st->priv = h;
	lease_timer_arm(h);
	return 0;
}

static void sq_close(struct store *st, void (*done)(struct store *st))
{
	struct store_sq *h = st->priv;

	h->closing = true;
	h->done = done;
	uv_timer_stop(&h->lease_timer);
	store__sq_wake(h);
}

static void handle_closed(uv_handle_t *uh)
{
	struct store_sq *h = uh->data;
	void (*done)(struct store *st) = h->done;
	struct store *st = h->st;

	if (--h->nopen > 0)
		return;
	free(h);
	done(st);
}

/* Called once nothing is queued and every watch has had its
 * STORE_ERR_CLOSED: lets go of the db, then of the uv handles. */
static void handle_finish(struct store_sq *h)
{
	struct store_sq **pp = &h->db->handles;

	while (*pp != h)
		pp = &(*pp)->next;
	*pp = h->next;
	db_unref(h->db);
	h->db = NULL;
	uv_close((uv_handle_t *)&h->idle, handle_closed);
	uv_close((uv_handle_t *)&h->lease_timer, handle_closed);
}

/* ---- requests ---- */

static void req_free(struct store_sq_req *req)
{
	free(req->bytes);
	free((void *)req->txn.cmps);
	free((void *)req->txn.success);
	free((void *)req->txn.failure);
	free(req);
}

static void run_req(struct store_sq *h, struct store_sq_req *req)
{
	struct store_result r = {0};
	char *err = NULL;

	if (h->closing) {
		r.err = STORE_ERR_CLOSED;
		r.errmsg = xstrdup("store: the store was closed before the operation ran");
		r.revision = h->db->revision;
	} else {
		/* No request may see a lease that is past its deadline. */
		if (store__sq_expire(h->db, &err) < 0) {
			log_error("store", "expiring leases: %s", err);
			free(err);
		}
		store__sq_exec(h->db, req, &r);
	}
	if (req->cb)
		req->cb(&r, req->arg);
	store_result_free(&r);
	req_free(req);
}

/* The tick: runs the requests queued before it started, at most
 * SQ_TICK_REQS (those queued by its callbacks wait for the next tick, so a
 * busy caller cannot starve the watches), then the watches; goes idle when
 * nothing is left, or finishes closing. Any callback may close the store or
 * cancel a watch. */
static void on_idle(uv_idle_t *idle)
{
	struct store_sq *h = idle->data;
	int n = h->nreqs < SQ_TICK_REQS ? h->nreqs : SQ_TICK_REQS;

	h->in_tick = true;
	while (n-- > 0) {
		struct store_sq_req *req = h->reqs;

		h->reqs = req->next;
		if (!h->reqs)
			h->reqs_tail = &h->reqs;
		h->nreqs--;
		run_req(h, req);
	}
	store__sq_watches_run(h);
	h->in_tick = false;
	if (h->reqs || store__sq_watches_pending(h))
		return;
	if (h->closing)
		handle_finish(h);
	else
		uv_idle_stop(idle);
}

static struct store_sq_req *req_new(enum sq_req_type type, store_cb *cb, void *arg)
{
	struct store_sq_req *req = XNEW(struct store_sq_req);

	req->type = type;
	req->cb = cb;
	req->arg = arg;
	return req;
}

static int req_queue(struct store *st, struct store_sq_req *req)
{
	struct store_sq *h = st->priv;

	*h->reqs_tail = req;
	h->reqs_tail = &req->next;
	h->nreqs++;
	store__sq_wake(h);
	return 0;
}

/* Copies <n> bytes at <p> to the block at *<pos> and advances it. */
static const char *stash(char **pos, const char *p, size_t n)
{
	char *q = *pos;

	if (n)
		memcpy(q, p, n);
	*pos += n;
	return q;
}

static size_t op_bytes(const struct store_op *ops, int n)
{
	size_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += ops[i].keys.key_len + (ops[i].type == STORE_OP_PUT ? ops[i].value_len : 0);
	return sum;
}

static struct store_op *ops_copy(const struct store_op *ops, int n, char **pos)
{
	struct store_op *c;

	if (n == 0)
		return NULL;
	c = XNEWV(struct store_op, n);
	for (int i = 0; i < n; i++) {
		c[i] = ops[i];
		c[i].keys.key = stash(pos, ops[i].keys.key, ops[i].keys.key_len);
		c[i].value = NULL;
		c[i].value_len = 0;
		if (ops[i].type == STORE_OP_PUT) {
			c[i].value = stash(pos, ops[i].value, ops[i].value_len);
			c[i].value_len = ops[i].value_len;
		}
	}
	return c;
}

static int sq_range(struct store *st, const struct store_keys *keys, store_cb *cb, void *arg)
{
	struct store_sq_req *req = req_new(SQ_REQ_RANGE, cb, arg);
	char *pos;

	req->bytes = pos = xmalloc(keys->key_len);
	req->keys = *keys;
	req->keys.key = stash(&pos, keys->key, keys->key_len);
	return req_queue(st, req);
}

static int sq_txn(struct store *st, const struct store_txn *t, store_cb *cb, void *arg)
{
	struct store_sq_req *req = req_new(SQ_REQ_TXN, cb, arg);
	size_t sum = op_bytes(t->success, t->nsuccess) + op_bytes(t->failure, t->nfailure);
	struct store_cmp *cmps = NULL;
	char *pos;

	for (int i = 0; i < t->ncmps; i++)
		sum += t->cmps[i].key_len + (t->cmps[i].target == STORE_CMP_VALUE ? t->cmps[i].value_len : 0);
	req->bytes = pos = xmalloc(sum);
	if (t->ncmps > 0) {
		cmps = XNEWV(struct store_cmp, t->ncmps);
		for (int i = 0; i < t->ncmps; i++) {
			cmps[i] = t->cmps[i];
			cmps[i].key = stash(&pos, t->cmps[i].key, t->cmps[i].key_len);
			cmps[i].value = NULL;
			cmps[i].value_len = 0;
			if (t->cmps[i].target == STORE_CMP_VALUE) {
				cmps[i].value = stash(&pos, t->cmps[i].value, t->cmps[i].value_len);
				cmps[i].value_len = t->cmps[i].value_len;
			}
		}
	}
	req->txn.cmps = cmps;
	req->txn.ncmps = t->ncmps;
	req->txn.success = ops_copy(t->success, t->nsuccess, &pos);
	req->txn.nsuccess = t->nsuccess;
	req->txn.failure = ops_copy(t->failure, t->nfailure, &pos);
	req->txn.nfailure = t->nfailure;
	return req_queue(st, req);
}

static int sq_num(struct store *st, enum sq_req_type type, int64_t num, store_cb *cb, void *arg)
{
	struct store_sq_req *req = req_new(type, cb, arg);

	req->num = num;
	return req_queue(st, req);
}

static int sq_lease_grant(struct store *st, int64_t ttl_s, store_cb *cb, void *arg)
{
	return sq_num(st, SQ_REQ_GRANT, ttl_s, cb, arg);
}

static int sq_lease_keepalive(struct store *st, int64_t lease, store_cb *cb, void *arg)
{
	return sq_num(st, SQ_REQ_KEEPALIVE, lease, cb, arg);
}

static int sq_lease_revoke(struct store *st, int64_t lease, store_cb *cb, void *arg)
{
	return sq_num(st, SQ_REQ_REVOKE, lease, cb, arg);
}

static int sq_compact(struct store *st, int64_t rev, store_cb *cb, void *arg)
{
	return sq_num(st, SQ_REQ_COMPACT, rev, cb, arg);
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.scheme = "sqlite:",
	.open = sq_open,
	.close = sq_close,
	.range = sq_range,
	.txn = sq_txn,
	.lease_grant = sq_lease_grant,
	.lease_keepalive = sq_lease_keepalive,
	.lease_revoke = sq_lease_revoke,
	.watch = store__sq_watch,
	.watch_cancel = store__sq_watch_cancel,
	.compact = sq_compact,
};
