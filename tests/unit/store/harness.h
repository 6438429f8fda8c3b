/* The store tests' harness: a real loop per test, stores opened from a URL,
 * bounded waits (a uv timer, never a sleep), a key prefix unique to the
 * test, blocking helpers that assert, and a watch recorder. */
#ifndef BERTH_TESTS_STORE_HARNESS_H
#define BERTH_TESTS_STORE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

extern uv_loop_t t_loop;
extern char *t_url;  /* the store under test */
extern char *t_dir;  /* the temp dir holding its file (sqlite), or NULL */
extern struct store *t_st; /* the test's first handle */

/* Starts the loop and opens t_st on <url>, or, when NULL, on a fresh
 * sqlite file in a new temp dir. */
void t_setup(const char *url);
/* Deletes the test's keys, closes every handle, checks that no uv handle is
 * left on the loop and removes the temp dir. */
void t_teardown(void);

/* Another handle on t_url (a second client). Closed by t_teardown() unless
 * closed before with t_close(). */
struct store *t_open(void);
void t_close(struct store **s);
/* Closes t_st (waiting for its <done>) and opens it again on t_url: a restart. */
void t_reopen(void);

/* Runs the loop until <cond>(<arg>) holds or <max_ms> passed; returns
 * whether it holds. With <cond> NULL, just runs the loop for <max_ms>. */
bool t_run_until(bool (*cond)(void *arg), void *arg, uint64_t max_ms);
void t_run_for(uint64_t max_ms);
uint64_t t_now_ms(void);

/* The test's keys: its prefix ("/berth-test/<unique>/") then <name>. The C
 * string form lives in a ring of 16 buffers; the binary one writes <out>
 * (room for 256 bytes) and returns its length. */
const char *t_key(const char *name);
size_t t_bkey(char *out, const void *suffix, size_t n);
const char *t_prefix(void);

/* Blocking helpers that assert success; each returns the revision after. */
int64_t t_rev(struct store *s);
int64_t t_put(struct store *s, const char *key, const char *val, int64_t lease);
int64_t t_del(struct store *s, const char *key, bool prefix, int64_t *deleted);
/* The kv of <key>: true and *kv filled (its bytes in <r>, free it), or false. */
bool t_get(struct store *s, const char *key, struct store_result *r, const struct store_kv **kv);
int64_t t_grant(struct store *s, int64_t ttl, int64_t *granted_ttl);

/* Records what a watch delivers (deep copies). */
struct t_rec {
	struct store_watch *w;   /* NULL once ended or cancelled */
	struct store_event *evs; /* every event so far */
	int n;
	int cap;
	int ncb;                 /* callbacks with events */
	int nerr;                /* callbacks with an error (at most 1 expected) */
	int err;                 /* the error */
	int64_t last_rev;        /* revision of the last event delivered */
	bool split;              /* a revision came in two callbacks */
	bool disorder;           /* a revision went backwards */
	bool cancel_in_cb;       /* cancel the watch from its first callback */
	int want;                /* t_rec_has: events wanted */
};

void t_rec_start(struct t_rec *r, struct store *s, const char *key, size_t key_len, bool prefix,
		 int64_t from_rev);
/* Cancels (if still running) and frees. */
void t_rec_free(struct t_rec *r);
/* Condition for t_run_until: r->n >= r->want, or an error came. */
bool t_rec_has(void *arg);

#endif
