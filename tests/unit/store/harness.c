/* The store tests' harness (see harness.h). */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

/* Under ASan, leaks fail the test that made them (LeakSanitizer's report at
 * exit would not change a Criterion verdict). */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_LEAKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_LEAKS 1
#endif
#endif
#ifdef CHECK_LEAKS
#include <sanitizer/lsan_interface.h>
#endif

#define T_MAX_HANDLES 8

uv_loop_t t_loop;
char *t_url;
char *t_dir;
struct store *t_st;

static struct store *extra[T_MAX_HANDLES]; /* t_open()'s handles */
static uv_timer_t deadline;                /* bounds each t_run_until */
static bool timed_out;
static char prefix[64];
static size_t prefix_len;
static int nclosed;                        /* close callbacks seen */

uint64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct store *open_url(void)
{
	struct store *s = NULL;
	char *err = NULL;
	int rc = store_open(&t_loop, t_url, &s, &err);

	cr_assert_eq(rc, 0, "store_open(%s): %s", t_url, err ? err : "?");
	return s;
}

void t_setup(const char *url)
{
	struct timespec ts;

	log_setup(LOG_LVL_ERROR, LOG_FMT_TEXT);
	cr_assert_eq(uv_loop_init(&t_loop), 0);
	uv_timer_init(&t_loop, &deadline);
	if (url && *url) {
		t_url = xstrdup(url);
	} else {
		t_dir = xstrdup("/tmp/berth-store-test-XXXXXX");
		cr_assert_not_null(mkdtemp(t_dir));
		t_url = xasprintf("sqlite:%s/store.db", t_dir);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "/berth-test/%ld-%lx%lx/", (long)getpid(),
				      (long)ts.tv_sec, (long)ts.tv_nsec);
	t_st = open_url();
}

struct store *t_open(void)
{
	for (int i = 0; i < T_MAX_HANDLES; i++) {
		if (!extra[i]) {
			extra[i] = open_url();
			return extra[i];
		}
	}
	cr_assert_fail("too many handles");
	return NULL;
}

static void on_closed(struct store *s)
{
	nclosed++;
}

static bool closed_reached(void *arg)
{
	return nclosed >= *(int *)arg;
}

void t_close(struct store **s)
{
	struct store *victim = *s;
	int want = nclosed + 1;

	*s = NULL;
	for (int i = 0; i < T_MAX_HANDLES; i++)
		if (extra[i] == victim)
			extra[i] = NULL;
	store_close(victim, on_closed);
	cr_assert(t_run_until(closed_reached, &want, 5000), "store_close: done never called");
}

void t_reopen(void)
{
	if (t_st)
		t_close(&t_st);
	t_st = open_url();
}

void t_teardown(void)
{
	struct store_result r;

	/* Leave a shared store as we found it. */
	if (!t_st)
		t_st = open_url();
	store_sync_delete(t_st, prefix, true, &r);
	store_result_free(&r);
	t_close(&t_st);
	for (int i = 0; i < T_MAX_HANDLES; i++)
		if (extra[i])
			t_close(&extra[i]);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(&t_loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&t_loop), 0, "handles left on the loop");
	if (t_dir) {
		const char *suffixes[] = {"", "-wal", "-shm", ".lock"};

		for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
			char *p = xasprintf("%s/store.db%s", t_dir, suffixes[i]);

			unlink(p);
			free(p);
		}
		rmdir(t_dir);
		free(t_dir);
		t_dir = NULL;
	}
	free(t_url);
	t_url = NULL;
#ifdef CHECK_LEAKS
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the report above)");
#endif
}

static void on_deadline(uv_timer_t *t)
{
	timed_out = true;
}

bool t_run_until(bool (*cond)(void *arg), void *arg, uint64_t max_ms)
{
	timed_out = false;
	uv_update_time(&t_loop);
	uv_timer_start(&deadline, on_deadline, max_ms, 0);
	while (!(cond && cond(arg)) && !timed_out)
		uv_run(&t_loop, UV_RUN_ONCE);
	uv_timer_stop(&deadline);
	return cond ? cond(arg) : true;
}

void t_run_for(uint64_t max_ms)
{
	t_run_until(NULL, NULL, max_ms);
}

const char *t_prefix(void)
{
	return prefix;
}

const char *t_key(const char *name)
{
	static char ring[16][256];
	static int next;
	char *b = ring[next++ % 16];

	snprintf(b, sizeof(ring[0]), "%s%s", prefix, name);
	return b;
}

size_t t_bkey(char *out, const void *suffix, size_t n)
{
	cr_assert_leq(prefix_len + n, 256);
	memcpy(out, prefix, prefix_len);
	memcpy(out + prefix_len, suffix, n);
	return prefix_len + n;
}

int64_t t_rev(struct store *s)
{
	struct store_result r;
	int64_t rev;

	cr_assert_eq(store_sync_get(s, t_key("no-such-key"), &r), 0, "%s", r.errmsg);
	rev = r.revision;
	store_result_free(&r);
	return rev;
}

int64_t t_put(struct store *s, const char *key, const char *val, int64_t lease)
{
	struct store_result r;
	int64_t rev;

	cr_assert_eq(store_sync_put(s, key, val, lease, &r), 0, "put %s: %s", key, r.errmsg);
	rev = r.revision;
	store_result_free(&r);
	return rev;
}

int64_t t_del(struct store *s, const char *key, bool prefix_, int64_t *deleted)
{
	struct store_result r;
	int64_t rev;

	cr_assert_eq(store_sync_delete(s, key, prefix_, &r), 0, "delete %s: %s", key, r.errmsg);
	cr_assert_eq(r.nops, 1);
	if (deleted)
		*deleted = r.ops[0].deleted;
	rev = r.revision;
	store_result_free(&r);
	return rev;
}

bool t_get(struct store *s, const char *key, struct store_result *r, const struct store_kv **kv)
{
	cr_assert_eq(store_sync_get(s, key, r), 0, "get %s: %s", key, r->errmsg);
	cr_assert_leq(r->nkvs, 1);
	*kv = r->nkvs ? &r->kvs[0] : NULL;
	return r->nkvs == 1;
}

int64_t t_grant(struct store *s, int64_t ttl, int64_t *granted_ttl)
{
	struct store_result r;
	int64_t id;

	cr_assert_eq(store_sync_lease_grant(s, ttl, &r), 0, "grant: %s", r.errmsg);
	cr_assert_gt(r.lease, 0);
	cr_assert_geq(r.ttl, ttl);
	id = r.lease;
	if (granted_ttl)
		*granted_ttl = r.ttl;
	store_result_free(&r);
	return id;
}

/* ---- the watch recorder ---- */

static char *dup_bytes(const char *p, size_t n)
{
	char *q = xmalloc(n + 1);

	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

static void rec_cb(struct store_watch *w, const struct store_event *evs, int n, int err, void *arg)
{
	struct t_rec *r = arg;

	cr_assert_eq(w, r->w, "callback for another watch");
	if (err) {
		cr_assert_eq(n, 0, "an error callback carries events");
		r->nerr++;
		r->err = err;
		r->w = NULL;
		return;
	}
	cr_assert_gt(n, 0, "a callback without events nor error");
	if (evs[0].kv.mod_rev == r->last_rev)
		r->split = true;
	for (int i = 0; i < n; i++) {
		struct store_event *e;

		if (evs[i].kv.mod_rev < r->last_rev)
			r->disorder = true;
		r->last_rev = evs[i].kv.mod_rev;
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 64;
			r->evs = xrealloc(r->evs, sizeof(*r->evs) * (size_t)r->cap);
		}
		e = &r->evs[r->n++];
		*e = evs[i];
		e->kv.key = dup_bytes(evs[i].kv.key, evs[i].kv.key_len);
		e->kv.value = dup_bytes(evs[i].kv.value, evs[i].kv.value_len);
	}
	r->ncb++;
	if (r->cancel_in_cb) {
		store_watch_cancel(w);
		r->w = NULL;
	}
}

void t_rec_start(struct t_rec *r, struct store *s, const char *key, size_t key_len, bool prefix_,
		 int64_t from_rev)
{
	struct store_keys k = {key, key_len, prefix_};
	bool cancel = r->cancel_in_cb;
	int want = r->want;

	memset(r, 0, sizeof(*r));
	r->cancel_in_cb = cancel;
	r->want = want;
	cr_assert_eq(store_watch(s, &k, from_rev, rec_cb, r, &r->w), 0);
	cr_assert_not_null(r->w);
}

void t_rec_free(struct t_rec *r)
{
	if (r->w)
		store_watch_cancel(r->w);
	r->w = NULL;
	for (int i = 0; i < r->n; i++) {
		free((char *)r->evs[i].kv.key);
		free((char *)r->evs[i].kv.value);
	}
	free(r->evs);
	r->evs = NULL;
	r->n = r->cap = 0;
}

bool t_rec_has(void *arg)
{
	struct t_rec *r = arg;

	return r->n >= r->want || r->nerr > 0;
}
