/* Watches of the sqlite backend. A watch is only a cursor, <next_rev>, into
 * the history table: replaying an old revision and following live writes
 * are the same read ("events of revisions [next_rev, revision]"), done from
 * the handle's tick after something was committed. So the order is the
 * table's (rev, seq), there can be no gap and no duplicate, and a revision
 * is never split (a callback covers whole revisions). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite-int.h"

/* A growable array of owned events. */
struct evvec {
	struct store_event *v;        /* the events, keys and values owned */
	int n;                        /* events in use */
	int cap;                      /* events allocated */
};

static void evvec_free(struct evvec *ev)
{
	for (int i = 0; i < ev->n; i++) {
		free((char *)ev->v[i].kv.key);
		free((char *)ev->v[i].kv.value);
	}
	free(ev->v);
}

static void col_copy(sqlite3_stmt *s, int col, const char **p, size_t *n)
{
	const void *b = sqlite3_column_blob(s, col);

	*n = (size_t)sqlite3_column_bytes(s, col);
	BUG_ON(!b && *n > 0);
	*p = store__memdup(b, *n);
}

/* Reads the events of revisions [<from>, <to>] that <w> covers. */
static int scan(struct store_sq_watch *w, int64_t from, int64_t to, struct evvec *ev, char **err)
{
	struct store_sq_db *db = w->h->db;
	sqlite3_stmt *s = db->stmt[SQ_HIST_SCAN];
	int rc;

	if (sqlite3_bind_int64(s, 1, from) != SQLITE_OK || sqlite3_bind_int64(s, 2, to) != SQLITE_OK) {
		sqlite3_reset(s);
		return store__sq_fail(db, "reading history", err);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *key = sqlite3_column_blob(s, 2);
		size_t key_len = (size_t)sqlite3_column_bytes(s, 2);
		struct store_event *e;

		if (!key || !store__keys_match(&w->keys, key, key_len))
			continue;
		if (ev->n == ev->cap) {
			ev->cap = ev->cap ? ev->cap * 2 : 16;
			ev->v = xrealloc(ev->v, sizeof(*ev->v) * (size_t)ev->cap);
		}
		e = &ev->v[ev->n++];
		memset(e, 0, sizeof(*e));
		e->type = sqlite3_column_int(s, 1) == STORE_EV_DELETE ? STORE_EV_DELETE : STORE_EV_PUT;
		e->kv.mod_rev = sqlite3_column_int64(s, 0);
		e->kv.key = store__memdup(key, key_len);
		e->kv.key_len = key_len;
		if (e->type == STORE_EV_PUT) {
			col_copy(s, 3, &e->kv.value, &e->kv.value_len);
			e->kv.create_rev = sqlite3_column_int64(s, 4);
			e->kv.version = sqlite3_column_int64(s, 5);
			e->kv.lease = sqlite3_column_int64(s, 6);
		} else {
			e->kv.value = store__memdup("", 0);
		}
	}
	if (rc != SQLITE_DONE)
		store__sq_fail(db, "reading history", err);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : STORE_ERR_IO;
}

/* Ends <w> with <err>: its last callback. */
static void end(struct store_sq_watch *w, int err)
{
	w->dead = true;
	w->cb(&w->base, NULL, 0, err, w->arg);
}

static void deliver(struct store_sq_watch *w)
{
	struct store_sq_db *db = w->h->db;
	struct evvec ev = {0};
	char *err = NULL;
	int64_t to;

	if (w->next_rev < db->compact_rev) {
		end(w, STORE_ERR_COMPACTED);
		return;
	}
	if (w->next_rev > db->revision)
		return;
	to = db->revision - w->next_rev < SQ_WATCH_BATCH ? db->revision : w->next_rev + SQ_WATCH_BATCH - 1;
	if (scan(w, w->next_rev, to, &ev, &err) < 0) {
		log_error("store", "watch: %s", err);
		free(err);
		evvec_free(&ev);
		end(w, STORE_ERR_IO);
		return;
	}
	w->next_rev = to + 1;
	if (ev.n > 0)
		w->cb(&w->base, ev.v, ev.n, STORE_OK, w->arg);
	evvec_free(&ev);
}

static void reap(struct store_sq *h)
{
	struct store_sq_watch **pp = &h->watches;

	while (*pp) {
		struct store_sq_watch *w = *pp;

		if (!w->dead) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		free((char *)w->keys.key);
		free(w);
	}
}

void store__sq_watches_run(struct store_sq *h)
{
	/* Watches started by a callback are appended and visited in this
	 * same pass: they were started before we reach them. */
	for (struct store_sq_watch *w = h->watches; w; w = w->next) {
		if (w->dead)
			continue;
		if (h->closing)
			end(w, STORE_ERR_CLOSED);
		else
			deliver(w);
	}
	reap(h);
}

bool store__sq_watches_pending(const struct store_sq *h)
{
	for (const struct store_sq_watch *w = h->watches; w; w = w->next) {
		if (w->dead)
			continue;
		if (h->closing || w->next_rev <= h->db->revision || w->next_rev < h->db->compact_rev)
			return true;
	}
	return false;
}

int store__sq_watch(struct store *st, const struct store_keys *keys, int64_t from_rev, store_watch_cb *cb,
		    void *arg, struct store_watch **out)
{
	struct store_sq *h = st->priv;
	struct store_sq_watch *w = XNEW(struct store_sq_watch), **pp = &h->watches;

	w->base.st = st;
	w->h = h;
	w->keys = *keys;
	w->keys.key = store__memdup(keys->key, keys->key_len);
	/* 0: from the next revision, as etcd's start_revision 0. A future
	 * revision is fine: the watch waits for it. */
	w->next_rev = from_rev ? from_rev : h->db->revision + 1;
	w->cb = cb;
	w->arg = arg;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
	store__sq_wake(h);
	*out = &w->base;
	return 0;
}

void store__sq_watch_cancel(struct store_watch *bw)
{
	struct store_sq_watch *w = (struct store_sq_watch *)bw;

	/* A watch that ended (its callback got an error) is already gone. */
	BUG_ON(w->dead);
	w->dead = true;
	if (!w->h->in_tick)
		reap(w->h);
}
