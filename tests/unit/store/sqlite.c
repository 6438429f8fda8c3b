/* What only the sqlite backend promises: the file survives restarts (keys,
 * revision, history, leases and their deadlines), one process owns it, a
 * kill -9 loses no committed write, bad files fail clearly, and the history
 * stays bounded. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/mem.h"
#include "harness.h"
#include "store/sqlite-int.h"

static void setup(void)
{
	t_setup(NULL); /* always a fresh sqlite file, whatever BERTH_STORE_URL says */
}

TestSuite(sqlite, .init = setup, .fini = t_teardown, .timeout = 30);

static const char *db_path(void)
{
	return t_url + strlen("sqlite:");
}

static bool kv_gone(void *arg)
{
	struct store_result r;
	const struct store_kv *kv;
	bool there = t_get(t_st, arg, &r, &kv);

	store_result_free(&r);
	return !there;
}

/* Counts history rows through a connection of our own (read only). */
static void history_stats(int64_t *rows, int64_t *min_rev)
{
	sqlite3 *db;
	sqlite3_stmt *s;

	cr_assert_eq(sqlite3_open_v2(db_path(), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT COUNT(*), MIN(rev) FROM history", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	*rows = sqlite3_column_int64(s, 0);
	*min_rev = sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

Test(sqlite, keys_revision_history_and_leases_survive_a_restart)
{
	struct store_result r;
	const struct store_kv *kv;
	int64_t first = t_put(t_st, t_key("a"), "1", 0);
	int64_t id = t_grant(t_st, 60, NULL);

	t_put(t_st, t_key("a"), "2", 0);
	t_put(t_st, t_key("leased"), "x", id);
	t_put(t_st, t_key("b"), "gone soon", 0);
	int64_t last = t_del(t_st, t_key("b"), false, NULL);

	t_reopen();
	cr_assert_eq(t_rev(t_st), last);
	cr_assert(t_get(t_st, t_key("a"), &r, &kv));
	cr_assert_eq(kv->create_rev, first);
	cr_assert_eq(kv->version, 2);
	cr_assert_eq(kv->value_len, 1);
	cr_assert_eq(kv->value[0], '2');
	store_result_free(&r);
	cr_assert(t_get(t_st, t_key("leased"), &r, &kv));
	cr_assert_eq(kv->lease, id);
	store_result_free(&r);
	cr_assert_eq(store_sync_lease_keepalive(t_st, id, &r), 0, "%s", r.errmsg);
	cr_assert_eq(r.ttl, 60);
	store_result_free(&r);

	/* The history too: a watch from the first revision replays it all. */
	struct t_rec rec = {.want = 5};

	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, first);
	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	cr_assert_eq(rec.n, 5);
	cr_assert_eq(rec.evs[0].kv.mod_rev, first);
	cr_assert_eq(rec.evs[4].type, STORE_EV_DELETE);
	cr_assert_eq(rec.evs[4].kv.mod_rev, last);
	t_rec_free(&rec);

	/* Revisions and lease ids go on from where they were. */
	cr_assert_eq(t_put(t_st, t_key("c"), "x", 0), last + 1);
	cr_assert_gt(t_grant(t_st, 60, NULL), id);
}

Test(sqlite, a_lease_that_expired_while_down_is_expired_at_open)
{
	struct store_result r;
	const struct store_kv *kv;
	uint64_t t0 = t_now_ms();
	int64_t id = t_grant(t_st, 2, NULL);

	t_put(t_st, t_key("node"), "x", id);
	int64_t before = t_put(t_st, t_key("stays"), "x", 0);

	t_close(&t_st);
	t_run_for(t0 + 2300 - t_now_ms()); /* nobody has the file open past the deadline */
	t_reopen();
	cr_assert_not(t_get(t_st, t_key("node"), &r, &kv), "an expired lease's key survived the restart");
	cr_assert_eq(r.revision, before + 1, "the expiry is one revision");
	store_result_free(&r);
	cr_assert(t_get(t_st, t_key("stays"), &r, &kv));
	store_result_free(&r);
	cr_assert_eq(store_sync_lease_keepalive(t_st, id, &r), STORE_ERR_NO_LEASE);
	store_result_free(&r);

	/* Watchers that resume see the DELETE. */
	struct t_rec rec = {.want = 1};

	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, before + 1);
	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	cr_assert_eq(rec.evs[0].type, STORE_EV_DELETE);
	cr_assert_eq(rec.evs[0].kv.key_len, strlen(t_key("node")));
	cr_assert_eq(memcmp(rec.evs[0].kv.key, t_key("node"), rec.evs[0].kv.key_len), 0);
	t_rec_free(&rec);
}

Test(sqlite, a_lease_alive_across_a_restart_keeps_its_remaining_time)
{
	struct t_rec rec = {.want = 1};
	uint64_t t0 = t_now_ms(), t1;
	int64_t id = t_grant(t_st, 2, NULL);

	t_put(t_st, t_key("node"), "x", id);
	t_run_for(1000);
	t_reopen();
	t1 = t_now_ms();
	cr_assert_not(kv_gone((void *)t_key("node")), "expired before its deadline");
	t_rec_start(&rec, t_st, t_key("node"), strlen(t_key("node")), false, 0);
	cr_assert(t_run_until(t_rec_has, &rec, 3000), "never expired");
	cr_assert_eq(rec.evs[0].type, STORE_EV_DELETE);
	/* Due at t0 + 2 s: about 1 s after the reopen, not a fresh 2 s. */
	cr_assert_geq(t_now_ms() - t0, 1900, "expired early: %llu ms", (unsigned long long)(t_now_ms() - t0));
	cr_assert_lt(t_now_ms() - t1, 1800, "the restart reset the ttl: %llu ms",
		     (unsigned long long)(t_now_ms() - t1));
	t_rec_free(&rec);
}

/* In a child: tries to open the store, exits 0 when refused with the
 * expected message (naming <holder>), 1 otherwise; with <holder> 0,
 * exits 0 when the open succeeds. */
static void child_open(pid_t holder)
{
	uv_loop_t loop;
	struct store *s = NULL;
	char *err = NULL, want[128];
	int rc;

	uv_loop_init(&loop);
	rc = store_open(&loop, t_url, &s, &err);
	if (holder == 0)
		_exit(rc == 0 ? 0 : 1);
	snprintf(want, sizeof(want), "is in use by another process (pid %ld)", (long)holder);
	if (rc == STORE_ERR_IO && err && strstr(err, want) && strstr(err, db_path()))
		_exit(0);
	fprintf(stderr, "child: rc %d, err %s\n", rc, err ? err : "(none)");
	_exit(1);
}

static int run_child(pid_t holder)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		child_open(holder);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(sqlite, a_second_process_is_refused_while_the_file_is_open)
{
	t_put(t_st, t_key("k"), "x", 0);
	cr_assert_eq(run_child(getpid()), 0, "another process opened the store (see its stderr)");
	/* Our own handle is unharmed. */
	t_put(t_st, t_key("k"), "y", 0);
	t_close(&t_st);
	cr_assert_eq(run_child(0), 0, "refused although nobody has it open");
}

Test(sqlite, a_write_acknowledged_before_kill_9_is_kept)
{
	struct store_result r;
	const struct store_kv *kv;
	int status;
	pid_t pid;

	t_close(&t_st);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uv_loop_t loop;
		struct store *s;
		char *err = NULL;

		uv_loop_init(&loop);
		if (store_open(&loop, t_url, &s, &err) != 0 || store_sync_put(s, t_key("acked"), "yes", 0, &r) != 0)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
	t_reopen();
	cr_assert(t_get(t_st, t_key("acked"), &r, &kv), "an acknowledged write was lost");
	store_result_free(&r);
}

Test(sqlite, a_corrupt_file_is_a_clear_error)
{
	char *path = xasprintf("%s/junk.db", t_dir), *url = xasprintf("sqlite:%s", path), *err = NULL;
	struct store *s = NULL;
	char junk[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	memset(junk, 'J', sizeof(junk));
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	cr_assert_eq(store_open(&t_loop, url, &s, &err), STORE_ERR_IO);
	cr_assert_null(s);
	cr_assert_not_null(err);
	cr_assert(strstr(err, path), "the message does not name the file: %s", err);
	cr_assert(strstr(err, "not a database"), "the message does not say what is wrong: %s", err);
	free(err);
	err = NULL;

	/* A directory that does not exist. */
	cr_assert_eq(store_open(&t_loop, "sqlite:/nonexistent-berth-dir/x/store.db", &s, &err), STORE_ERR_IO);
	cr_assert(strstr(err, "/nonexistent-berth-dir/x/store.db"), "%s", err);
	free(err);
	err = NULL;

	/* A file that is not ours can be read again: nothing was left locked. */
	cr_assert_eq(store_open(&t_loop, url, &s, &err), STORE_ERR_IO);
	free(err);
	unlink(path);
	char *lock = xasprintf("%s.lock", path);

	unlink(lock);
	free(lock);
	free(path);
	free(url);
}

Test(sqlite, url_forms_and_one_database_per_file)
{
	char *err = NULL, *bare = xasprintf("%s/./store.db", t_dir), *triple = xasprintf("sqlite://%s", db_path());
	struct store *a = NULL, *b = NULL;
	struct t_rec rec = {.want = 1};

	cr_assert_eq(store_open(&t_loop, bare, &a, &err), 0, "%s", err);
	cr_assert_eq(store_open(&t_loop, triple, &b, &err), 0, "%s", err);
	/* Three spellings, one db: a's watch sees b's write, t_st reads it. */
	t_rec_start(&rec, a, t_prefix(), strlen(t_prefix()), true, 0);
	int64_t rev = t_put(b, t_key("k"), "v", 0);

	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	cr_assert_eq(rec.evs[0].kv.mod_rev, rev);
	cr_assert_eq(t_rev(t_st), rev);
	t_rec_free(&rec);
	t_close(&a);
	/* Closing one handle leaves the db to the others. */
	t_put(b, t_key("k"), "w", 0);
	t_close(&b);
	cr_assert_eq(t_put(t_st, t_key("k"), "z", 0), rev + 2);

	cr_assert_eq(store_open(&t_loop, "mysql://x", &a, &err), STORE_ERR_INVALID);
	cr_assert(strstr(err, "mysql://x"), "%s", err);
	free(err);
	err = NULL;
	cr_assert_eq(store_open(&t_loop, "sqlite:", &a, &err), STORE_ERR_INVALID);
	free(err);
	err = NULL;
	cr_assert_eq(store_open(&t_loop, "", &a, &err), STORE_ERR_INVALID);
	free(err);
	free(bare);
	free(triple);
}

static int nput;

static void put_done(const struct store_result *r, void *arg)
{
	cr_assert_eq(r->err, 0, "%s", r->errmsg);
	nput++;
}

static bool puts_done(void *arg)
{
	return nput >= *(int *)arg;
}

Test(sqlite, history_stays_bounded_by_auto_compaction)
{
	const int total = SQ_HISTORY_KEEP + SQ_HISTORY_SLACK + 500;
	struct store_result r;
	int64_t rows, min_rev, rev;
	static struct t_rec live; /* big: off the stack */

	/* All queued at once (each put is still its own transaction): the
	 * watcher keeps up and is never compacted away. */
	live.want = total;
	t_rec_start(&live, t_st, t_key("hot"), strlen(t_key("hot")), false, 0);
	for (int i = 0; i < total; i++)
		cr_assert_eq(store_put(t_st, t_key("hot"), "x", 1, 0, put_done, NULL), 0);
	cr_assert(t_run_until(puts_done, (void *)&total, 20000));
	cr_assert(t_run_until(t_rec_has, &live, 5000));
	cr_assert_eq(live.nerr, 0, "the watcher was compacted away (err %d)", live.err);
	cr_assert_eq(live.n, total);
	cr_assert_not(live.split);
	t_rec_free(&live);
	rev = t_rev(t_st);
	history_stats(&rows, &min_rev);
	cr_assert_leq(rows, SQ_HISTORY_KEEP + SQ_HISTORY_SLACK, "history has %lld rows", (long long)rows);
	cr_assert_geq(rows, SQ_HISTORY_KEEP);
	cr_assert_geq(min_rev, rev - SQ_HISTORY_KEEP - SQ_HISTORY_SLACK);

	/* The last SQ_HISTORY_KEEP revisions can be watched; older cannot. */
	struct t_rec ok = {.want = SQ_HISTORY_KEEP}, old = {.want = 1};

	t_rec_start(&ok, t_st, t_key("hot"), strlen(t_key("hot")), false, rev - SQ_HISTORY_KEEP + 1);
	cr_assert(t_run_until(t_rec_has, &ok, 10000));
	cr_assert_eq(ok.nerr, 0);
	cr_assert_eq(ok.n, SQ_HISTORY_KEEP);
	cr_assert_geq(ok.ncb, SQ_HISTORY_KEEP / SQ_WATCH_BATCH, "one callback per batch of revisions");
	t_rec_free(&ok);
	t_rec_start(&old, t_st, t_key("hot"), strlen(t_key("hot")), false, 2);
	cr_assert(t_run_until(t_rec_has, &old, 5000));
	cr_assert_eq(old.err, STORE_ERR_COMPACTED);
	t_rec_free(&old);

	/* Survives a restart, and a compaction below it is refused. */
	t_reopen();
	cr_assert_eq(store_sync_compact(t_st, 2, &r), STORE_ERR_COMPACTED);
	store_result_free(&r);
}

Test(sqlite, a_compaction_fails_a_watch_still_behind_it)
{
	struct t_rec rec = {.want = 1};
	int64_t r1 = t_put(t_st, t_key("1"), "x", 0);

	t_put(t_st, t_key("2"), "x", 0);
	int64_t r3 = t_put(t_st, t_key("3"), "x", 0);

	/* Started, but the compaction queued after it runs first (requests
	 * before watches in a tick). */
	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, r1);
	cr_assert_eq(store_compact(t_st, r3, NULL, NULL), 0);
	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	t_run_for(30);
	cr_assert_eq(rec.n, 0);
	cr_assert_eq(rec.nerr, 1);
	cr_assert_eq(rec.err, STORE_ERR_COMPACTED);
	t_rec_free(&rec);
}
