/* Unit tests of the balancing algorithms, on server arrays built by hand (no sockets). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "lb/balance/balance.h"

TestSuite(balance, .timeout = 30);

/* A backend's servers as the proxy would hold them, plus its lbprm. */
struct pool {
	struct lb_server *srv;  /* [n], named "s0", "s1", ... */
	struct lb_server **ptr; /* [n], &srv[i], the list handed to lb_lbprm_rebuild() */
	int n;
	struct lb_lbprm p;
};

static void pool_init(struct pool *t, enum lb_algo algo, const int *weights, int n)
{
	t->n = n;
	t->srv = XNEWV(struct lb_server, n);
	t->ptr = XNEWV(struct lb_server *, n);
	for (int i = 0; i < n; i++) {
		t->srv[i].name = xasprintf("s%d", i);
		t->srv[i].weight = weights[i];
		atomic_store(&t->srv[i].state, LB_SRV_UP);
		t->ptr[i] = &t->srv[i];
	}
	memset(&t->p, 0, sizeof(t->p));
	t->p.ops = lb_balance_find(algo);
	lb_lbprm_rebuild(&t->p, t->ptr, n);
}

static void pool_rebuild(struct pool *t)
{
	lb_lbprm_rebuild(&t->p, t->ptr, t->n);
}

static void pool_free(struct pool *t)
{
	lb_lbprm_destroy(&t->p);
	cr_assert_null(t->p.ctx, "destroy must release the algorithm's state");
	for (int i = 0; i < t->n; i++)
		free(t->srv[i].name);
	free(t->srv);
	free(t->ptr);
}

static struct lb_server *pick(struct pool *t, uint64_t hash, const struct lb_server *avoid)
{
	return t->p.ops->select(&t->p, hash, avoid);
}

/* Index of <s> in the pool, -1 for NULL. */
static int idx(const struct pool *t, const struct lb_server *s)
{
	return s ? (int)(s - t->srv) : -1;
}

static void set_down(struct pool *t, int i)
{
	atomic_store(&t->srv[i].state, LB_SRV_DOWN);
}

static void set_full(struct pool *t, int i)
{
	t->srv[i].maxconn = 3;
	atomic_store(&t->srv[i].cur_conns, 3);
}

/* The key a caller hashes for source / uri / header / cookie balancing. */
static uint64_t key(int i)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "key-%d", i);

	return hash64(buf, (size_t)len);
}

static const enum lb_algo all_algos[] = {
	LB_ALGO_ROUNDROBIN, LB_ALGO_LEASTCONN, LB_ALGO_SOURCE, LB_ALGO_RANDOM,
};
#define NALGOS ((int)(sizeof(all_algos) / sizeof(all_algos[0])))

/* ---- roundrobin ---- */

Test(balance, rr_exact_proportions)
{
	static const int sets[][4] = {{5, 3, 1, 1}, {4, 2, 6, 8}, {1, 1, 1, 1}, {256, 1, 7, 100}};

	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		struct pool t;
		int count[4] = {0}, sum = 0;

		pool_init(&t, LB_ALGO_ROUNDROBIN, sets[k], 4);
		for (int i = 0; i < 4; i++)
			sum += sets[k][i];
		for (int i = 0; i < 1000 * sum; i++)
			count[idx(&t, pick(&t, 0, NULL))]++;
		for (int i = 0; i < 4; i++)
			cr_assert_eq(count[i], 1000 * sets[k][i], "set %zu server %d: %d picks, want %d",
				     k, i, count[i], 1000 * sets[k][i]);
		pool_free(&t);
	}
}

Test(balance, rr_smooth_interleaving)
{
	static const int w[] = {5, 1, 1};
	static const int want[] = {0, 0, 1, 0, 2, 0, 0};
	struct pool t;

	pool_init(&t, LB_ALGO_ROUNDROBIN, w, 3);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 7; i++) {
			int got = idx(&t, pick(&t, 0, NULL));

			cr_assert_eq(got, want[i], "round %d pick %d: s%d, want s%d", round, i, got, want[i]);
		}
	pool_free(&t);
}

Test(balance, rr_weight_zero_never_picked)
{
	static const int w[] = {2, 0, 1};
	struct pool t;
	int count[3] = {0};

	pool_init(&t, LB_ALGO_ROUNDROBIN, w, 3);
	for (int i = 0; i < 300; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	cr_assert_eq(count[1], 0);
	cr_assert_eq(count[0], 200);
	cr_assert_eq(count[2], 100);

	/* Weight dropped to 0 before the rebuild caught up: skipped already. */
	t.srv[2].weight = 0;
	for (int i = 0; i < 50; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 0);
	pool_free(&t);
}

Test(balance, rr_backup_only_when_actives_down)
{
	static const int w[] = {1, 1, 1, 2};
	struct pool t;
	int count[4] = {0};

	pool_init(&t, LB_ALGO_ROUNDROBIN, w, 4);
	t.srv[2].backup = t.srv[3].backup = true;
	pool_rebuild(&t);
	for (int i = 0; i < 100; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	cr_assert(count[0] == 50 && count[1] == 50 && count[2] == 0 && count[3] == 0);

	/* One active left: it takes everything, backups stay idle. */
	set_down(&t, 0);
	pool_rebuild(&t);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 1);

	/* No active up: every backup shares the load, by weight. */
	set_down(&t, 1);
	pool_rebuild(&t);
	memset(count, 0, sizeof(count));
	for (int i = 0; i < 300; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	cr_assert(count[0] == 0 && count[1] == 0 && count[2] == 100 && count[3] == 200,
		  "backups got %d/%d", count[2], count[3]);

	/* An active comes back: backups stop at once. */
	atomic_store(&t.srv[0].state, LB_SRV_UP);
	pool_rebuild(&t);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 0);
	pool_free(&t);
}

Test(balance, rr_down_server_skipped_after_rebuild)
{
	static const int w[] = {1, 2, 3};
	struct pool t;
	int count[3] = {0};

	pool_init(&t, LB_ALGO_ROUNDROBIN, w, 3);
	for (int i = 0; i < 7; i++)
		pick(&t, 0, NULL);
	set_down(&t, 1);
	pool_rebuild(&t);
	for (int i = 0; i < 400; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	cr_assert(count[0] == 100 && count[1] == 0 && count[2] == 300, "got %d/%d/%d", count[0], count[1],
		  count[2]);
	pool_free(&t);
}

Test(balance, rr_full_server_skipped_without_rebuild)
{
	static const int w[] = {5, 1, 1};
	struct pool t;
	int count[3] = {0};
	bool seen = false;

	pool_init(&t, LB_ALGO_ROUNDROBIN, w, 3);
	set_full(&t, 1);
	for (int i = 0; i < 600; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	/* The others keep their exact ratio. */
	cr_assert(count[0] == 500 && count[1] == 0 && count[2] == 100, "got %d/%d/%d", count[0],
		  count[1], count[2]);

	/* One connection released: it is back within one period. */
	atomic_store(&t.srv[1].cur_conns, 2);
	for (int i = 0; i < 7; i++)
		seen |= idx(&t, pick(&t, 0, NULL)) == 1;
	cr_assert(seen);
	pool_free(&t);
}

/* The heavy server's slots fill the schedule: the walk gives up and the slow
 * path must still share fairly between the light ones. */
Test(balance, rr_heavy_server_full_light_ones_share)
{
	static const int w[] = {256, 1, 1};
	struct pool t;
	int count[3] = {0};

	pool_init(&t, LB_ALGO_ROUNDROBIN, w, 3);
	set_full(&t, 0);
	for (int i = 0; i < 1000; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	cr_assert_eq(count[0], 0);
	cr_assert(count[1] >= 450 && count[2] >= 450, "got %d/%d", count[1], count[2]);
	pool_free(&t);
}

/* 200 servers with coprime-ish weights: the period is too long to precompute
 * and every pick runs the smooth step; still exact over one period. */
Test(balance, rr_large_pool_exact)
{
	enum { N = 200 };
	int w[N], count[N] = {0}, sum = 0;
	struct pool t;

	for (int i = 0; i < N; i++) {
		w[i] = 255 - (i * 7) % 156;
		sum += w[i];
	}
	pool_init(&t, LB_ALGO_ROUNDROBIN, w, N);
	for (int i = 0; i < sum; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	for (int i = 0; i < N; i++)
		cr_assert_eq(count[i], w[i], "s%d: %d picks, want %d", i, count[i], w[i]);
	pool_free(&t);
}

Test(balance, rr_avoid)
{
	static const int w[] = {1, 1, 1};
	struct pool t;
	int count[3] = {0};

	pool_init(&t, LB_ALGO_ROUNDROBIN, w, 3);
	for (int i = 0; i < 100; i++)
		count[idx(&t, pick(&t, 0, &t.srv[0]))]++;
	cr_assert(count[0] == 0 && count[1] == 50 && count[2] == 50, "got %d/%d/%d", count[0], count[1],
		  count[2]);
	pool_free(&t);
}

/* ---- behaviour every algorithm shares ---- */

Test(balance, all_avoid_returned_when_only_usable)
{
	static const int w[] = {1, 1, 1};

	for (int a = 0; a < NALGOS; a++) {
		struct pool t;

		pool_init(&t, all_algos[a], w, 3);
		set_full(&t, 0);
		set_down(&t, 2); /* flipped, not yet rebuilt */
		for (int i = 0; i < 20; i++)
			cr_assert_eq(idx(&t, pick(&t, key(i), &t.srv[1])), 1, "%s", t.p.ops->name);
		/* Avoiding an unusable server changes nothing. */
		for (int i = 0; i < 20; i++)
			cr_assert_eq(idx(&t, pick(&t, key(i), &t.srv[0])), 1, "%s", t.p.ops->name);
		set_full(&t, 1);
		cr_assert_null(pick(&t, key(0), &t.srv[1]), "%s", t.p.ops->name);
		pool_free(&t);
	}
}

Test(balance, all_avoid_honoured)
{
	static const int w[] = {1, 2, 1, 3};

	for (int a = 0; a < NALGOS; a++) {
		struct pool t;

		pool_init(&t, all_algos[a], w, 4);
		for (int i = 0; i < 2000; i++) {
			struct lb_server *s = pick(&t, key(i), &t.srv[3]);

			cr_assert(s && s != &t.srv[3], "%s", t.p.ops->name);
		}
		pool_free(&t);
	}
}

Test(balance, all_null_when_all_down)
{
	static const int w[] = {1, 3, 2};

	for (int a = 0; a < NALGOS; a++) {
		struct pool t;

		pool_init(&t, all_algos[a], w, 3);
		for (int i = 0; i < 3; i++)
			set_down(&t, i);
		/* State flips reach select before the rebuild does. */
		cr_assert_null(pick(&t, key(1), NULL), "%s", t.p.ops->name);
		pool_rebuild(&t);
		cr_assert_null(pick(&t, key(1), NULL), "%s", t.p.ops->name);
		cr_assert_null(pick(&t, key(2), &t.srv[0]), "%s", t.p.ops->name);
		/* Back up: served again, and rebuilding twice leaks nothing. */
		atomic_store(&t.srv[1].state, LB_SRV_UP);
		pool_rebuild(&t);
		pool_rebuild(&t);
		cr_assert_eq(idx(&t, pick(&t, key(1), NULL)), 1, "%s", t.p.ops->name);
		pool_free(&t);
	}
}

Test(balance, all_empty_pool)
{
	for (int a = 0; a < NALGOS; a++) {
		struct pool t;

		pool_init(&t, all_algos[a], NULL, 0);
		cr_assert_null(pick(&t, key(0), NULL), "%s", t.p.ops->name);
		pool_free(&t);
	}
}

Test(balance, all_full_server_skipped)
{
	static const int w[] = {1, 1, 1, 1};

	for (int a = 0; a < NALGOS; a++) {
		struct pool t;
		int count[4] = {0};

		pool_init(&t, all_algos[a], w, 4);
		set_full(&t, 2);
		for (int i = 0; i < 4000; i++)
			count[idx(&t, pick(&t, key(i), NULL))]++;
		cr_assert_eq(count[2], 0, "%s", t.p.ops->name);
		for (int i = 0; i < 4; i++)
			if (i != 2)
				cr_assert_gt(count[i], 800, "%s: s%d got %d", t.p.ops->name, i, count[i]);
		pool_free(&t);
	}
}

Test(balance, all_backups_shared)
{
	static const int w[] = {1, 1, 1, 1};

	for (int a = 0; a < NALGOS; a++) {
		struct pool t;
		int count[4] = {0};

		pool_init(&t, all_algos[a], w, 4);
		t.srv[2].backup = t.srv[3].backup = true;
		set_down(&t, 0);
		set_down(&t, 1);
		pool_rebuild(&t);
		for (int i = 0; i < 4000; i++)
			count[idx(&t, pick(&t, key(i), NULL))]++;
		cr_assert(count[0] == 0 && count[1] == 0, "%s", t.p.ops->name);
		cr_assert(count[2] > 1200 && count[3] > 1200, "%s: backups got %d/%d", t.p.ops->name,
			  count[2], count[3]);
		pool_free(&t);
	}
}

/* ---- leastconn ---- */

Test(balance, lc_picks_least_loaded)
{
	static const int w1[] = {1, 1, 1};
	static const int w2[] = {4, 1, 8};
	struct pool t;

	pool_init(&t, LB_ALGO_LEASTCONN, w1, 3);
	atomic_store(&t.srv[0].cur_conns, 5);
	atomic_store(&t.srv[1].cur_conns, 2);
	atomic_store(&t.srv[2].cur_conns, 7);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 1);
	/* Unless it is the server to avoid. */
	cr_assert_eq(idx(&t, pick(&t, 0, &t.srv[1])), 0);
	pool_free(&t);

	/* Per unit of weight: 6/4, 3/1, 8/8. */
	pool_init(&t, LB_ALGO_LEASTCONN, w2, 3);
	atomic_store(&t.srv[0].cur_conns, 5);
	atomic_store(&t.srv[1].cur_conns, 2);
	atomic_store(&t.srv[2].cur_conns, 7);
	cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 2);
	pool_free(&t);
}

Test(balance, lc_weight_ratio)
{
	static const int w[] = {3, 1, 2};
	struct pool t;

	pool_init(&t, LB_ALGO_LEASTCONN, w, 3);
	/* Connections that stay open: the caller counts each pick. */
	for (int i = 0; i < 600; i++)
		atomic_fetch_add(&pick(&t, 0, NULL)->cur_conns, 1);
	for (int i = 0; i < 3; i++) {
		int c = atomic_load(&t.srv[i].cur_conns);

		cr_assert(c >= 100 * w[i] - 1 && c <= 100 * w[i] + 1, "s%d holds %d", i, c);
	}
	pool_free(&t);
}

/* The + 1 counts the connection being placed: an idle heavy server takes
 * it rather than tying with an idle light one. */
Test(balance, lc_idle_prefers_heavier)
{
	static const int w[] = {1, 3};
	struct pool t;

	pool_init(&t, LB_ALGO_LEASTCONN, w, 2);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 1);
	pool_free(&t);
}

Test(balance, lc_ties_alternate)
{
	static const int w[] = {1, 1, 1};
	struct pool t;

	pool_init(&t, LB_ALGO_LEASTCONN, w, 3);
	/* Idle backend: every server ties. */
	for (int i = 0; i < 9; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), i % 3);
	/* Short requests, released before the next pick: still rotates. */
	for (int i = 0; i < 9; i++) {
		struct lb_server *s = pick(&t, 0, NULL);

		atomic_fetch_add(&s->cur_conns, 1);
		cr_assert_eq(idx(&t, s), i % 3);
		atomic_fetch_sub(&s->cur_conns, 1);
	}
	/* One busy server: the two others alternate. */
	atomic_store(&t.srv[0].cur_conns, 4);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 1 + i % 2);
	pool_free(&t);
}

/* ---- consistent hash ---- */

enum { NKEYS = 10000 };

/* Maps NKEYS keys; <out>[k] is the index of key k's server. */
static void map_keys(struct pool *t, int *out)
{
	for (int k = 0; k < NKEYS; k++)
		out[k] = idx(t, pick(t, key(k), NULL));
}

Test(balance, chash_same_key_same_server)
{
	static const int w[] = {1, 1, 1, 1};
	struct pool t;

	pool_init(&t, LB_ALGO_HASH_URI, w, 4);
	for (int k = 0; k < 1000; k++) {
		struct lb_server *s = pick(&t, key(k), NULL);

		for (int j = 0; j < 3; j++)
			cr_assert_eq(pick(&t, key(k), NULL), s);
	}
	pool_free(&t);
}

Test(balance, chash_even_distribution)
{
	static const int w[] = {1, 1, 1, 1};
	struct pool t;
	int count[4] = {0};

	pool_init(&t, LB_ALGO_SOURCE, w, 4);
	for (int k = 0; k < NKEYS; k++)
		count[idx(&t, pick(&t, key(k), NULL))]++;
	for (int i = 0; i < 4; i++)
		cr_assert(count[i] >= NKEYS * 15 / 100 && count[i] <= NKEYS * 35 / 100, "s%d got %d of %d",
			  i, count[i], NKEYS);
	pool_free(&t);
}

Test(balance, chash_remove_one_of_five)
{
	static const int w[] = {1, 1, 1, 1, 1};
	static int before[NKEYS], after[NKEYS], downed[NKEYS];
	struct pool t;
	int moved = 0;

	pool_init(&t, LB_ALGO_HASH_HEADER, w, 5);
	map_keys(&t, before);

	/* Removed from the set: rebuild from the list without s2. */
	t.ptr[2] = t.ptr[4];
	lb_lbprm_rebuild(&t.p, t.ptr, 4);
	map_keys(&t, after);
	for (int k = 0; k < NKEYS; k++) {
		if (before[k] == after[k])
			continue;
		cr_assert_eq(before[k], 2, "key %d moved from s%d to s%d", k, before[k], after[k]);
		moved++;
	}
	cr_assert(moved >= NKEYS / 10 && moved <= NKEYS * 3 / 10, "%d of %d keys moved", moved, NKEYS);

	/* Marked down instead: the very same mapping. */
	t.ptr[2] = &t.srv[2];
	set_down(&t, 2);
	pool_rebuild(&t);
	map_keys(&t, downed);
	cr_assert_arr_eq(after, downed, sizeof(after));
	pool_free(&t);
}

Test(balance, chash_add_one)
{
	static const int w[] = {1, 1, 1, 1, 1};
	static int before[NKEYS], after[NKEYS];
	struct pool t;
	int moved = 0;

	pool_init(&t, LB_ALGO_HASH_COOKIE, w, 5);
	lb_lbprm_rebuild(&t.p, t.ptr, 4);
	map_keys(&t, before);
	pool_rebuild(&t);
	map_keys(&t, after);
	for (int k = 0; k < NKEYS; k++) {
		if (before[k] == after[k])
			continue;
		cr_assert_eq(after[k], 4, "key %d moved from s%d to s%d", k, before[k], after[k]);
		moved++;
	}
	cr_assert(moved >= NKEYS / 10 && moved <= NKEYS * 3 / 10, "%d of %d keys moved", moved, NKEYS);
	pool_free(&t);
}

Test(balance, chash_ring_ignores_server_order)
{
	static const int w[] = {1, 2, 1, 3};
	static int fwd[NKEYS], rev[NKEYS];
	struct pool t;

	pool_init(&t, LB_ALGO_SOURCE, w, 4);
	map_keys(&t, fwd);
	for (int i = 0; i < 4; i++)
		t.ptr[i] = &t.srv[3 - i];
	pool_rebuild(&t);
	map_keys(&t, rev);
	cr_assert_arr_eq(fwd, rev, sizeof(fwd));
	pool_free(&t);
}

Test(balance, chash_weight_shifts_share)
{
	static const int w[] = {3, 1};
	struct pool t;
	int count[2] = {0};

	pool_init(&t, LB_ALGO_SOURCE, w, 2);
	for (int k = 0; k < NKEYS; k++)
		count[idx(&t, pick(&t, key(k), NULL))]++;
	cr_assert(count[0] >= NKEYS * 65 / 100 && count[0] <= NKEYS * 85 / 100, "s0 got %d of %d",
		  count[0], NKEYS);
	pool_free(&t);
}

/* A full or avoided server sends its keys to a stable second choice and gets
 * them back when it frees up; nobody else's keys move. */
Test(balance, chash_unusable_walks_forward)
{
	static const int w[] = {1, 1, 1, 1};
	static int before[NKEYS], full[NKEYS], again[NKEYS];
	struct pool t;

	pool_init(&t, LB_ALGO_HASH_URI, w, 4);
	map_keys(&t, before);
	set_full(&t, 1);
	map_keys(&t, full);
	map_keys(&t, again);
	cr_assert_arr_eq(full, again, sizeof(full));
	for (int k = 0; k < NKEYS; k++) {
		cr_assert_neq(full[k], 1);
		if (before[k] != 1)
			cr_assert_eq(full[k], before[k]);
	}
	atomic_store(&t.srv[1].cur_conns, 0);
	map_keys(&t, again);
	cr_assert_arr_eq(before, again, sizeof(before));

	for (int k = 0; k < NKEYS; k++) {
		struct lb_server *s = pick(&t, key(k), &t.srv[before[k]]);

		cr_assert(s && idx(&t, s) != before[k]);
		cr_assert_eq(pick(&t, key(k), &t.srv[before[k]]), s);
	}
	pool_free(&t);
}

/* ---- random, two choices ---- */

Test(balance, random_only_usable)
{
	static const int w[] = {1, 1, 1, 1, 1};
	struct pool t;
	int count[5] = {0};

	pool_init(&t, LB_ALGO_RANDOM, w, 5);
	set_down(&t, 0);
	set_full(&t, 1);
	for (int i = 0; i < 2000; i++)
		count[idx(&t, pick(&t, 0, &t.srv[2]))]++;
	cr_assert(count[0] == 0 && count[1] == 0 && count[2] == 0);
	cr_assert(count[3] > 600 && count[4] > 600, "got %d/%d", count[3], count[4]);
	pool_free(&t);
}

/* Seven of eight full: the draws miss often and the scan must find the last. */
Test(balance, random_scan_fallback)
{
	static const int w[] = {1, 1, 1, 1, 1, 1, 1, 1};
	struct pool t;

	pool_init(&t, LB_ALGO_RANDOM, w, 8);
	for (int i = 0; i < 8; i++)
		if (i != 5)
			set_full(&t, i);
	for (int i = 0; i < 500; i++)
		cr_assert_eq(idx(&t, pick(&t, 0, NULL)), 5);
	pool_free(&t);
}

Test(balance, random_prefers_less_loaded)
{
	static const int w[] = {1, 1};
	struct pool t;
	int count[2] = {0};

	pool_init(&t, LB_ALGO_RANDOM, w, 2);
	atomic_store(&t.srv[0].cur_conns, 50);
	for (int i = 0; i < 10000; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	/* It loses every pair but (s0, s0): about 1/4. */
	cr_assert(count[1] >= 6500, "idle server got %d of 10000", count[1]);
	pool_free(&t);
}

Test(balance, random_weighted_draws)
{
	static const int w[] = {3, 1};
	struct pool t;
	int count[2] = {0};

	pool_init(&t, LB_ALGO_RANDOM, w, 2);
	/* Equal load: the first draw wins, so the share follows the weights. */
	for (int i = 0; i < 10000; i++)
		count[idx(&t, pick(&t, 0, NULL))]++;
	cr_assert(count[0] >= 7000 && count[0] <= 8000, "s0 got %d of 10000", count[0]);
	pool_free(&t);
}
