/* The store contract (store.h), the same for every backend. The store comes
 * from BERTH_STORE_URL (default: a fresh sqlite file in a temp dir per
 * test), so the etcd backend runs this file unchanged:
 *
 *   BERTH_STORE_URL=etcd://127.0.0.1:2379 build/tests/unit/unit-store_conformance
 *
 * Every test works under its own key prefix and deletes it at the end, so a
 * shared etcd keeps no garbage; the revision checks (a write bumps by
 * exactly one) assume nobody else writes to that etcd during the run, and
 * the compaction tests compact it. Lease TTLs are checked as at least what
 * was asked (etcd rounds small ones up) and expiry waits are bounded by the
 * granted TTL plus slack. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
	t_setup(getenv("BERTH_STORE_URL"));
}

TestSuite(conformance, .init = setup, .fini = t_teardown, .timeout = 30);

/* ---- small tools ---- */

/* One async result, recorded. */
struct pending {
	int ncb;                  /* times the callback ran */
	struct store_result r;    /* copy of the last result */
};

static void pending_cb(const struct store_result *r, void *arg)
{
	struct pending *p = arg;

	if (p->ncb++)
		store_result_free(&p->r);
	store_result_copy(&p->r, r);
}

static bool pending_done(void *arg)
{
	return ((struct pending *)arg)->ncb > 0;
}

static bool kv_is(const struct store_kv *kv, const char *key, size_t key_len, const char *val, size_t val_len)
{
	return kv->key_len == key_len && memcmp(kv->key, key, key_len) == 0 && kv->value_len == val_len &&
	       (val_len == 0 || memcmp(kv->value, val, val_len) == 0);
}

/* Runs a txn with the one compare <c> and no ops; returns whether it held. */
static bool holds(struct store_cmp c)
{
	struct store_txn t = {.cmps = &c, .ncmps = 1};
	struct store_result r;
	bool ok;

	cr_assert_eq(store_sync_txn(t_st, &t, &r), 0, "%s", r.errmsg);
	ok = r.succeeded;
	cr_assert_eq(r.nops, 0);
	store_result_free(&r);
	return ok;
}

static struct store_cmp num_cmp(const char *key, enum store_cmp_target target, enum store_cmp_op op, int64_t num)
{
	return (struct store_cmp){.key = key, .key_len = strlen(key), .target = target, .op = op, .num = num};
}

static struct store_cmp val_cmp(const char *key, enum store_cmp_op op, const char *v, size_t n)
{
	return (struct store_cmp){
		.key = key, .key_len = strlen(key), .target = STORE_CMP_VALUE, .op = op, .value = v, .value_len = n};
}

static struct store_op put_op(const char *key, const char *val, int64_t lease)
{
	return (struct store_op){.type = STORE_OP_PUT,
				 .keys = {key, strlen(key), false},
				 .value = val,
				 .value_len = strlen(val),
				 .lease = lease};
}

static struct store_op keys_op(enum store_op_type type, const char *key, bool prefix)
{
	return (struct store_op){.type = type, .keys = {key, strlen(key), prefix}};
}

/* ---- revisions and plain keys ---- */

Test(conformance, every_write_bumps_the_revision_by_one_and_no_op_writes_do_not)
{
	int64_t r0 = t_rev(t_st), r, deleted;

	cr_assert_gt(r0, 0);
	cr_assert_eq(t_put(t_st, t_key("a"), "1", 0), r0 + 1);
	cr_assert_eq(t_put(t_st, t_key("a"), "2", 0), r0 + 2);
	cr_assert_eq(t_put(t_st, t_key("b"), "1", 0), r0 + 3);
	cr_assert_eq(t_del(t_st, t_key("a"), false, &deleted), r0 + 4);
	cr_assert_eq(deleted, 1);
	/* Deleting what is not there changes nothing. */
	cr_assert_eq(t_del(t_st, t_key("a"), false, &deleted), r0 + 4);
	cr_assert_eq(deleted, 0);
	cr_assert_eq(t_del(t_st, t_key("none/"), true, &deleted), r0 + 4);
	cr_assert_eq(deleted, 0);
	cr_assert_eq(t_rev(t_st), r0 + 4);

	/* A txn is one revision, whatever it does. */
	struct store_op ops[] = {put_op(t_key("x"), "1", 0), put_op(t_key("y"), "1", 0),
				 keys_op(STORE_OP_DELETE, t_key("b"), false), put_op(t_key("z"), "1", 0)};
	struct store_txn t = {.success = ops, .nsuccess = 4};
	struct store_result res;

	cr_assert_eq(store_sync_txn(t_st, &t, &res), 0, "%s", res.errmsg);
	r = res.revision;
	store_result_free(&res);
	cr_assert_eq(r, r0 + 5);
	cr_assert_eq(t_rev(t_st), r0 + 5);
	for (int i = 0; i < 3; i++) {
		const char *names[] = {"x", "y", "z"};
		const struct store_kv *kv;

		cr_assert(t_get(t_st, t_key(names[i]), &res, &kv));
		cr_assert_eq(kv->mod_rev, r0 + 5, "%s", names[i]);
		store_result_free(&res);
	}

	/* Only GETs, or deletes of nothing: no revision. */
	struct store_op reads[] = {keys_op(STORE_OP_GET, t_key("x"), false),
				   keys_op(STORE_OP_DELETE, t_key("missing"), false)};
	struct store_txn tr = {.success = reads, .nsuccess = 2};

	cr_assert_eq(store_sync_txn(t_st, &tr, &res), 0, "%s", res.errmsg);
	cr_assert_eq(res.revision, r0 + 5);
	cr_assert_eq(res.nops, 2);
	cr_assert_eq(res.ops[0].nkvs, 1);
	cr_assert_eq(res.ops[1].deleted, 0);
	store_result_free(&res);
	cr_assert_eq(t_rev(t_st), r0 + 5);

	/* Leases are not revisions either. */
	int64_t id = t_grant(t_st, 60, NULL);

	cr_assert_eq(t_rev(t_st), r0 + 5);
	cr_assert_eq(store_sync_lease_keepalive(t_st, id, &res), 0, "%s", res.errmsg);
	store_result_free(&res);
	cr_assert_eq(store_sync_lease_revoke(t_st, id, &res), 0, "%s", res.errmsg);
	cr_assert_eq(res.revision, r0 + 5, "revoking a lease with no keys changed the revision");
	store_result_free(&res);
}

Test(conformance, binary_keys_and_values_round_trip)
{
	char k1[256], k2[256], p[256], q[256];
	size_t n1 = t_bkey(k1, "a\0b\xff", 4), n2 = t_bkey(k2, "a\0c", 3);
	const char v1[] = "x\0y\0\xfe";
	struct store_op ops[] = {
		{.type = STORE_OP_PUT, .keys = {k1, n1, false}, .value = v1, .value_len = 5},
		{.type = STORE_OP_PUT, .keys = {k2, n2, false}, .value = NULL, .value_len = 0},
	};
	struct store_txn t = {.success = ops, .nsuccess = 2};
	struct store_keys one = {k1, n1, false};
	struct store_keys pre = {p, t_bkey(p, "a\0", 2), true}; /* a prefix that holds a NUL */
	struct store_keys none = {q, t_bkey(q, "a", 1), false};
	struct store_result r;

	cr_assert_eq(store_sync_txn(t_st, &t, &r), 0, "%s", r.errmsg);
	store_result_free(&r);

	cr_assert_eq(store_sync_range(t_st, &one, &r), 0, "%s", r.errmsg);
	cr_assert_eq(r.nkvs, 1);
	cr_assert(kv_is(&r.kvs[0], k1, n1, v1, 5));
	store_result_free(&r);

	cr_assert_eq(store_sync_range(t_st, &pre, &r), 0, "%s", r.errmsg);
	cr_assert_eq(r.nkvs, 2);
	cr_assert(kv_is(&r.kvs[0], k1, n1, v1, 5));
	cr_assert(kv_is(&r.kvs[1], k2, n2, "", 0), "the empty value");
	cr_assert_not_null(r.kvs[1].value);
	store_result_free(&r);

	cr_assert_eq(store_sync_range(t_st, &none, &r), 0);
	cr_assert_eq(r.nkvs, 0, "\"a\" is a prefix of the keys, not a key");
	store_result_free(&r);
}

Test(conformance, create_rev_mod_rev_and_version_follow_puts_and_deletes)
{
	struct store_result r;
	const struct store_kv *kv;
	int64_t r1 = t_put(t_st, t_key("k"), "1", 0);

	cr_assert(t_get(t_st, t_key("k"), &r, &kv));
	cr_assert_eq(kv->create_rev, r1);
	cr_assert_eq(kv->mod_rev, r1);
	cr_assert_eq(kv->version, 1);
	cr_assert_eq(kv->lease, 0);
	store_result_free(&r);

	int64_t r2 = t_put(t_st, t_key("k"), "2", 0);
	int64_t r3 = t_put(t_st, t_key("k"), "3", 0);

	cr_assert(t_get(t_st, t_key("k"), &r, &kv));
	cr_assert_eq(kv->create_rev, r1);
	cr_assert_eq(kv->mod_rev, r3);
	cr_assert_gt(r3, r2);
	cr_assert_eq(kv->version, 3);
	cr_assert(kv_is(kv, t_key("k"), strlen(t_key("k")), "3", 1));
	store_result_free(&r);

	t_del(t_st, t_key("k"), false, NULL);
	cr_assert_not(t_get(t_st, t_key("k"), &r, &kv));
	store_result_free(&r);

	/* Re-created: a new life. */
	int64_t r5 = t_put(t_st, t_key("k"), "again", 0);

	cr_assert(t_get(t_st, t_key("k"), &r, &kv));
	cr_assert_eq(kv->create_rev, r5);
	cr_assert_eq(kv->version, 1);
	store_result_free(&r);
}

Test(conformance, prefix_ranges_are_sorted_bytewise_and_exact)
{
	static const struct {
		const char *s;
		size_t n;
	} keys[] = {
		{"b", 1}, {"a\xff\xff", 3}, {"ab", 2}, {"a", 1}, {"a\xff", 2},
		{"a\0", 2}, {"a\xff\0", 3}, {"\x01", 1}, {"\xff", 1}, {"aa", 2},
	};
	const int n = sizeof(keys) / sizeof(keys[0]);
	char k[256], p[256];
	struct store_result r;

	for (int i = 0; i < n; i++) {
		struct store_op op = {.type = STORE_OP_PUT, .keys = {k, t_bkey(k, keys[i].s, keys[i].n), false},
				      .value = "v", .value_len = 1};
		struct store_txn t = {.success = &op, .nsuccess = 1};

		cr_assert_eq(store_sync_txn(t_st, &t, &r), 0, "%s", r.errmsg);
		store_result_free(&r);
	}

	/* Everything under the test prefix, in memcmp order. */
	struct store_keys all = {t_prefix(), strlen(t_prefix()), true};

	cr_assert_eq(store_sync_range(t_st, &all, &r), 0);
	cr_assert_eq(r.nkvs, n);
	for (int i = 1; i < r.nkvs; i++) {
		const struct store_kv *a = &r.kvs[i - 1], *b = &r.kvs[i];
		size_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
		int d = memcmp(a->key, b->key, m);

		cr_assert(d < 0 || (d == 0 && a->key_len < b->key_len), "key %d out of order", i);
	}
	store_result_free(&r);

	/* "a": a, a\0, aa, ab, a\xff, a\xff\0, a\xff\xff; not b. */
	struct store_keys pa = {p, t_bkey(p, "a", 1), true};

	cr_assert_eq(store_sync_range(t_st, &pa, &r), 0);
	cr_assert_eq(r.nkvs, 7);
	store_result_free(&r);

	/* A prefix ending in 0xff: its range end carries over. */
	struct store_keys pff = {p, t_bkey(p, "a\xff", 2), true};

	cr_assert_eq(store_sync_range(t_st, &pff, &r), 0);
	cr_assert_eq(r.nkvs, 3);
	cr_assert(kv_is(&r.kvs[0], p, pff.key_len, "v", 1));
	store_result_free(&r);

	/* A single-key range is the key only, not a prefix. */
	struct store_keys one = {p, t_bkey(p, "a", 1), false};

	cr_assert_eq(store_sync_range(t_st, &one, &r), 0);
	cr_assert_eq(r.nkvs, 1);
	store_result_free(&r);

	/* The conveniences. */
	cr_assert_eq(store_sync_put(t_st, t_key("conv/1"), "one", 0, &r), 0);
	store_result_free(&r);
	struct pending pg = {0};

	cr_assert_eq(store_get_prefix(t_st, t_key("conv/"), pending_cb, &pg), 0);
	cr_assert(t_run_until(pending_done, &pg, 5000));
	cr_assert_eq(pg.r.nkvs, 1);
	cr_assert(kv_is(&pg.r.kvs[0], t_key("conv/1"), strlen(t_key("conv/1")), "one", 3));
	store_result_free(&pg.r);
}

Test(conformance, delete_one_key_or_a_prefix)
{
	int64_t deleted;
	struct store_result r;
	const struct store_kv *kv;

	t_put(t_st, t_key("d/1"), "x", 0);
	t_put(t_st, t_key("d/2"), "x", 0);
	t_put(t_st, t_key("d/3/4"), "x", 0);
	t_put(t_st, t_key("d"), "x", 0);
	t_put(t_st, t_key("e/1"), "x", 0);

	int64_t r1 = t_del(t_st, t_key("d/1"), false, &deleted);

	cr_assert_eq(deleted, 1);
	cr_assert_eq(t_del(t_st, t_key("d/"), true, &deleted), r1 + 1, "a prefix delete is one revision");
	cr_assert_eq(deleted, 2);
	cr_assert(t_get(t_st, t_key("d"), &r, &kv), "\"d\" is not under \"d/\"");
	store_result_free(&r);
	cr_assert(t_get(t_st, t_key("e/1"), &r, &kv));
	store_result_free(&r);
	cr_assert_not(t_get(t_st, t_key("d/3/4"), &r, &kv));
	store_result_free(&r);
}

/* ---- transactions ---- */

Test(conformance, txn_compares_on_every_target_with_every_op)
{
	const char *k = t_key("c"), *missing = t_key("missing");
	int64_t r1 = t_put(t_st, k, "m", 0);
	int64_t r2 = t_put(t_st, k, "mm", 0);
	int64_t lease = t_grant(t_st, 60, NULL);

	/* mod_rev */
	cr_assert(holds(num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_EQ, r2)));
	cr_assert_not(holds(num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_EQ, r1)));
	cr_assert(holds(num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_NE, r1)));
	cr_assert(holds(num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_LT, r2 + 1)));
	cr_assert_not(holds(num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_LT, r2)));
	cr_assert(holds(num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_GT, r1)));
	cr_assert_not(holds(num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_GT, r2)));
	/* create_rev: the existence test */
	cr_assert(holds(num_cmp(k, STORE_CMP_CREATE_REV, STORE_CMP_EQ, r1)));
	cr_assert(holds(num_cmp(k, STORE_CMP_CREATE_REV, STORE_CMP_GT, 0)));
	cr_assert(holds(num_cmp(missing, STORE_CMP_CREATE_REV, STORE_CMP_EQ, 0)));
	cr_assert_not(holds(num_cmp(missing, STORE_CMP_CREATE_REV, STORE_CMP_NE, 0)));
	cr_assert(holds(num_cmp(missing, STORE_CMP_MOD_REV, STORE_CMP_LT, 1)));
	/* version */
	cr_assert(holds(num_cmp(k, STORE_CMP_VERSION, STORE_CMP_EQ, 2)));
	cr_assert(holds(num_cmp(k, STORE_CMP_VERSION, STORE_CMP_NE, 1)));
	cr_assert(holds(num_cmp(k, STORE_CMP_VERSION, STORE_CMP_LT, 3)));
	cr_assert(holds(num_cmp(k, STORE_CMP_VERSION, STORE_CMP_GT, 1)));
	cr_assert_not(holds(num_cmp(k, STORE_CMP_VERSION, STORE_CMP_GT, 2)));
	cr_assert(holds(num_cmp(missing, STORE_CMP_VERSION, STORE_CMP_EQ, 0)));
	/* value: bytewise, then length */
	cr_assert(holds(val_cmp(k, STORE_CMP_EQ, "mm", 2)));
	cr_assert_not(holds(val_cmp(k, STORE_CMP_EQ, "m", 1)));
	cr_assert(holds(val_cmp(k, STORE_CMP_NE, "m", 1)));
	cr_assert(holds(val_cmp(k, STORE_CMP_GT, "m", 1)), "\"mm\" > \"m\" (longer)");
	cr_assert(holds(val_cmp(k, STORE_CMP_LT, "n", 1)), "\"mm\" < \"n\" (bytewise)");
	cr_assert(holds(val_cmp(k, STORE_CMP_GT, "", 0)));
	cr_assert_not(holds(val_cmp(k, STORE_CMP_LT, "ma", 2)));
	/* a missing key compares false on value, whatever the op */
	cr_assert_not(holds(val_cmp(missing, STORE_CMP_EQ, "", 0)));
	cr_assert_not(holds(val_cmp(missing, STORE_CMP_NE, "x", 1)));
	cr_assert_not(holds(val_cmp(missing, STORE_CMP_LT, "x", 1)));
	cr_assert_not(holds(val_cmp(missing, STORE_CMP_GT, "", 0)));
	/* lease */
	cr_assert(holds(num_cmp(k, STORE_CMP_LEASE, STORE_CMP_EQ, 0)));
	t_put(t_st, k, "leased", lease);
	cr_assert(holds(num_cmp(k, STORE_CMP_LEASE, STORE_CMP_EQ, lease)));
	cr_assert(holds(num_cmp(k, STORE_CMP_LEASE, STORE_CMP_NE, 0)));
	cr_assert(holds(num_cmp(missing, STORE_CMP_LEASE, STORE_CMP_EQ, 0)));

	/* Several compares: all must hold. */
	struct store_cmp two[] = {num_cmp(k, STORE_CMP_VERSION, STORE_CMP_EQ, 3),
				  num_cmp(missing, STORE_CMP_VERSION, STORE_CMP_GT, 0)};
	struct store_txn t = {.cmps = two, .ncmps = 2};
	struct store_result r;

	cr_assert_eq(store_sync_txn(t_st, &t, &r), 0);
	cr_assert_not(r.succeeded);
	store_result_free(&r);
	struct store_result rv;

	cr_assert_eq(store_sync_lease_revoke(t_st, lease, &rv), 0);
	store_result_free(&rv);
}

Test(conformance, txn_applies_the_branch_its_compares_select_with_per_op_results)
{
	const char *k = t_key("cas");
	int64_t r1 = t_put(t_st, k, "v1", 0);
	struct store_result r;

	t_put(t_st, t_key("gone/1"), "x", 0);
	t_put(t_st, t_key("gone/2"), "x", 0);

	/* Success branch: put, a GET that sees it, a prefix delete, a GET of nothing. */
	struct store_cmp c = num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_EQ, r1);
	struct store_op ok_ops[] = {put_op(k, "v2", 0), keys_op(STORE_OP_GET, k, false),
				    keys_op(STORE_OP_DELETE, t_key("gone/"), true),
				    keys_op(STORE_OP_GET, t_key("gone/"), true)};
	struct store_op fail_ops[] = {put_op(t_key("failed"), "yes", 0)};
	struct store_txn t = {.cmps = &c, .ncmps = 1, .success = ok_ops, .nsuccess = 4, .failure = fail_ops,
			      .nfailure = 1};

	cr_assert_eq(store_sync_txn(t_st, &t, &r), 0, "%s", r.errmsg);
	cr_assert(r.succeeded);
	cr_assert_eq(r.nops, 4);
	cr_assert_eq(r.ops[0].type, STORE_OP_PUT);
	cr_assert_eq(r.ops[1].type, STORE_OP_GET);
	cr_assert_eq(r.ops[1].nkvs, 1);
	cr_assert(kv_is(&r.ops[1].kvs[0], k, strlen(k), "v2", 2), "a GET sees the txn's earlier put");
	cr_assert_eq(r.ops[1].kvs[0].mod_rev, r.revision);
	cr_assert_eq(r.ops[2].type, STORE_OP_DELETE);
	cr_assert_eq(r.ops[2].deleted, 2);
	cr_assert_eq(r.ops[3].nkvs, 0);
	int64_t r2 = r.revision;

	store_result_free(&r);

	/* Same txn again: mod_rev moved, so the failure branch runs. */
	cr_assert_eq(store_sync_txn(t_st, &t, &r), 0, "%s", r.errmsg);
	cr_assert_not(r.succeeded);
	cr_assert_eq(r.nops, 1);
	cr_assert_eq(r.ops[0].type, STORE_OP_PUT);
	cr_assert_eq(r.revision, r2 + 1);
	store_result_free(&r);

	const struct store_kv *kv;

	cr_assert(t_get(t_st, t_key("failed"), &r, &kv));
	store_result_free(&r);
	cr_assert(t_get(t_st, k, &r, &kv));
	cr_assert(kv_is(kv, k, strlen(k), "v2", 2));
	store_result_free(&r);

	/* A failure branch with no ops changes nothing. */
	struct store_txn t2 = {.cmps = &c, .ncmps = 1, .success = ok_ops, .nsuccess = 1};

	cr_assert_eq(store_sync_txn(t_st, &t2, &r), 0);
	cr_assert_not(r.succeeded);
	cr_assert_eq(r.nops, 0);
	cr_assert_eq(r.revision, r2 + 1);
	store_result_free(&r);
}

Test(conformance, a_txn_that_fails_applies_nothing)
{
	int64_t dead = t_grant(t_st, 60, NULL), r0;
	struct store_result r;
	const struct store_kv *kv;

	cr_assert_eq(store_sync_lease_revoke(t_st, dead, &r), 0);
	store_result_free(&r);
	r0 = t_rev(t_st);

	struct store_op ops[] = {put_op(t_key("a"), "1", 0), put_op(t_key("b"), "1", dead)};
	struct store_txn t = {.success = ops, .nsuccess = 2};

	cr_assert_eq(store_sync_txn(t_st, &t, &r), STORE_ERR_NO_LEASE);
	cr_assert_eq(r.err, STORE_ERR_NO_LEASE);
	cr_assert_not_null(r.errmsg);
	store_result_free(&r);
	cr_assert_not(t_get(t_st, t_key("a"), &r, &kv), "half a txn was applied");
	store_result_free(&r);
	cr_assert_eq(t_rev(t_st), r0);
}

static int ncalled;

static void count_cb(const struct store_result *r, void *arg)
{
	ncalled++;
}

static void count_wcb(struct store_watch *w, const struct store_event *evs, int n, int err, void *arg)
{
	ncalled++;
}

Test(conformance, bad_arguments_fail_at_once_and_never_call_back)
{
	const char *k = t_key("k");
	struct store_op dup[] = {put_op(k, "1", 0), put_op(k, "2", 0)};
	struct store_op covered[] = {keys_op(STORE_OP_DELETE, t_key(""), true), put_op(k, "2", 0)};
	struct store_op empty_put[] = {{.type = STORE_OP_PUT, .keys = {"", 0, false}, .value = "x", .value_len = 1}};
	struct store_op neg_lease[] = {put_op(k, "1", -5)};
	struct store_cmp empty_cmp = {.key = "", .key_len = 0, .target = STORE_CMP_VERSION};
	struct store_txn bad[] = {
		{.success = dup, .nsuccess = 2},
		{.failure = dup, .nfailure = 2},
		{.success = covered, .nsuccess = 2},
		{.success = empty_put, .nsuccess = 1},
		{.success = neg_lease, .nsuccess = 1},
		{.cmps = &empty_cmp, .ncmps = 1},
		{.success = NULL, .nsuccess = 1},
	};
	struct store_keys empty = {"", 0, false}, ok = {k, strlen(k), false};
	struct store_watch *w = NULL;
	int64_t r0 = t_rev(t_st);

	ncalled = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(store_txn(t_st, &bad[i], count_cb, NULL), STORE_ERR_INVALID, "txn %zu", i);
	cr_assert_eq(store_put(t_st, "", "x", 1, 0, count_cb, NULL), STORE_ERR_INVALID);
	cr_assert_eq(store_range(t_st, &empty, count_cb, NULL), STORE_ERR_INVALID);
	cr_assert_eq(store_lease_grant(t_st, 0, count_cb, NULL), STORE_ERR_INVALID);
	cr_assert_eq(store_lease_grant(t_st, -1, count_cb, NULL), STORE_ERR_INVALID);
	cr_assert_eq(store_lease_keepalive(t_st, 0, count_cb, NULL), STORE_ERR_INVALID);
	cr_assert_eq(store_lease_revoke(t_st, -3, count_cb, NULL), STORE_ERR_INVALID);
	cr_assert_eq(store_compact(t_st, 0, count_cb, NULL), STORE_ERR_INVALID);
	cr_assert_eq(store_watch(t_st, &ok, -1, count_wcb, NULL, &w), STORE_ERR_INVALID);
	cr_assert_eq(store_watch(t_st, &empty, 0, count_wcb, NULL, &w), STORE_ERR_INVALID);
	t_run_for(50);
	cr_assert_eq(ncalled, 0, "a failed start called back");
	cr_assert_eq(t_rev(t_st), r0);

	/* The blocking forms report the same code. */
	struct store_result r;

	cr_assert_eq(store_sync_lease_grant(t_st, 0, &r), STORE_ERR_INVALID);
	cr_assert_eq(r.err, STORE_ERR_INVALID);
	cr_assert_not_null(r.errmsg);
	store_result_free(&r);
}

Test(conformance, callbacks_run_on_the_loop_never_inside_the_starting_call)
{
	struct pending p1 = {0}, p2 = {0}, p3 = {0};
	struct t_rec rec = {.want = 1};
	int64_t r1 = t_put(t_st, t_key("w"), "1", 0);

	cr_assert_eq(store_put(t_st, t_key("a"), "1", 1, 0, pending_cb, &p1), 0);
	cr_assert_eq(store_get(t_st, t_key("a"), pending_cb, &p2), 0);
	cr_assert_eq(store_lease_grant(t_st, 30, pending_cb, &p3), 0);
	t_rec_start(&rec, t_st, t_key("w"), strlen(t_key("w")), false, r1); /* history to replay at once */
	cr_assert_eq(p1.ncb + p2.ncb + p3.ncb + rec.ncb, 0);
	cr_assert(t_run_until(pending_done, &p3, 5000));
	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	cr_assert(t_run_until(pending_done, &p2, 5000));
	cr_assert(t_run_until(pending_done, &p1, 5000));
	cr_assert_eq(p1.ncb, 1);
	cr_assert_eq(p2.ncb, 1);
	cr_assert_eq(rec.n, 1);
	struct store_result r;

	cr_assert_eq(store_sync_lease_revoke(t_st, p3.r.lease, &r), 0);
	store_result_free(&r);
	store_result_free(&p1.r);
	store_result_free(&p2.r);
	store_result_free(&p3.r);
	t_rec_free(&rec);
}

/* ---- two clients ---- */

Test(conformance, of_two_cas_from_the_same_mod_rev_exactly_one_succeeds)
{
	struct store *b = t_open();
	const char *k = t_key("lock");
	int64_t r1 = t_put(t_st, k, "free", 0);
	struct store_cmp c = num_cmp(k, STORE_CMP_MOD_REV, STORE_CMP_EQ, r1);
	struct store_op oa = put_op(k, "a", 0), ob = put_op(k, "b", 0);
	struct store_txn ta = {.cmps = &c, .ncmps = 1, .success = &oa, .nsuccess = 1};
	struct store_txn tb = {.cmps = &c, .ncmps = 1, .success = &ob, .nsuccess = 1};
	struct pending pa = {0}, pb = {0};
	struct store_result r;
	const struct store_kv *kv;

	cr_assert_eq(store_txn(t_st, &ta, pending_cb, &pa), 0);
	cr_assert_eq(store_txn(b, &tb, pending_cb, &pb), 0);
	cr_assert(t_run_until(pending_done, &pa, 5000));
	cr_assert(t_run_until(pending_done, &pb, 5000));
	cr_assert_eq(pa.r.err, 0);
	cr_assert_eq(pb.r.err, 0);
	cr_assert_eq(pa.r.succeeded + pb.r.succeeded, 1, "both or neither CAS succeeded");
	cr_assert(t_get(b, k, &r, &kv));
	cr_assert(kv_is(kv, k, strlen(k), pa.r.succeeded ? "a" : "b", 1));
	store_result_free(&r);
	store_result_free(&pa.r);
	store_result_free(&pb.r);
}

#define RACE_ROUNDS 100

/* A client incrementing a counter by read-modify-write CAS. */
struct racer {
	struct store *st;
	const char *key;
	int left;          /* attempts still to make */
	int won;           /* CASes that succeeded */
	int lost;          /* CASes that found the counter moved */
	int rereads;       /* extra reads before the next CAS: varies the interleaving */
	unsigned seed;     /* for <rereads> */
	char val[32];      /* the value it tries to write */
};

static void race_read(struct racer *c);

static void race_txn_done(const struct store_result *r, void *arg)
{
	struct racer *c = arg;

	cr_assert_eq(r->err, 0, "%s", r->errmsg);
	if (r->succeeded)
		c->won++;
	else
		c->lost++;
	c->rereads = rand_r(&c->seed) % 3;
	if (--c->left > 0)
		race_read(c);
}

static void race_read_done(const struct store_result *r, void *arg)
{
	struct racer *c = arg;

	cr_assert_eq(r->err, 0, "%s", r->errmsg);
	cr_assert_eq(r->nkvs, 1);
	if (c->rereads-- > 0) {
		race_read(c);
		return;
	}

	long v = strtol(r->kvs[0].value, NULL, 10);
	struct store_cmp cmp = num_cmp(c->key, STORE_CMP_MOD_REV, STORE_CMP_EQ, r->kvs[0].mod_rev);
	struct store_op op;
	struct store_txn t = {.cmps = &cmp, .ncmps = 1, .success = &op, .nsuccess = 1};

	snprintf(c->val, sizeof(c->val), "%ld", v + 1);
	op = put_op(c->key, c->val, 0);
	cr_assert_eq(store_txn(c->st, &t, race_txn_done, c), 0);
}

static void race_read(struct racer *c)
{
	cr_assert_eq(store_get(c->st, c->key, race_read_done, c), 0);
}

static bool race_over(void *arg)
{
	struct racer *c = arg;

	return c[0].left == 0 && c[1].left == 0;
}

Test(conformance, two_clients_racing_cas_lose_no_update)
{
	const char *k = t_key("counter");
	struct racer c[2] = {{.st = t_st, .key = k, .left = RACE_ROUNDS, .seed = 1},
			     {.st = t_open(), .key = k, .left = RACE_ROUNDS, .seed = 2}};
	struct store_result r;
	const struct store_kv *kv;

	t_put(t_st, k, "0", 0);
	race_read(&c[0]);
	race_read(&c[1]);
	cr_assert(t_run_until(race_over, c, 20000), "the race did not finish");
	cr_assert_eq(c[0].won + c[0].lost + c[1].won + c[1].lost, 2 * RACE_ROUNDS);
	cr_assert(t_get(t_st, k, &r, &kv));
	cr_assert_eq(strtol(kv->value, NULL, 10), c[0].won + c[1].won, "lost update: counter %s, %d CAS won",
		     kv->value, c[0].won + c[1].won);
	cr_assert_eq(kv->version, 1 + c[0].won + c[1].won);
	store_result_free(&r);
	cr_assert_gt(c[0].lost + c[1].lost, 0, "no CAS ever raced");
	cr_log_info("race: %d+%d won, %d+%d lost", c[0].won, c[1].won, c[0].lost, c[1].lost);
}

/* ---- leases ---- */

Test(conformance, lease_grant_attach_keepalive_revoke)
{
	int64_t ttl, id = t_grant(t_st, 30, &ttl);
	struct store_result r;
	const struct store_kv *kv;

	cr_assert_eq(ttl, 30);
	int64_t id2 = t_grant(t_st, 30, NULL);

	cr_assert_neq(id, id2, "two grants, one id");
	t_put(t_st, t_key("l/1"), "x", id);
	t_put(t_st, t_key("l/2"), "x", id);
	t_put(t_st, t_key("other"), "x", id2);
	cr_assert(t_get(t_st, t_key("l/1"), &r, &kv));
	cr_assert_eq(kv->lease, id);
	store_result_free(&r);

	cr_assert_eq(store_sync_lease_keepalive(t_st, id, &r), 0, "%s", r.errmsg);
	cr_assert_eq(r.ttl, 30);
	store_result_free(&r);

	int64_t r0 = t_rev(t_st);

	cr_assert_eq(store_sync_lease_revoke(t_st, id, &r), 0, "%s", r.errmsg);
	cr_assert_eq(r.revision, r0 + 1, "a revoke deletes its keys in one revision");
	store_result_free(&r);
	cr_assert_not(t_get(t_st, t_key("l/1"), &r, &kv));
	store_result_free(&r);
	cr_assert_not(t_get(t_st, t_key("l/2"), &r, &kv));
	store_result_free(&r);
	cr_assert(t_get(t_st, t_key("other"), &r, &kv), "another lease's key went too");
	store_result_free(&r);

	cr_assert_eq(store_sync_lease_keepalive(t_st, id, &r), STORE_ERR_NO_LEASE);
	store_result_free(&r);
	cr_assert_eq(store_sync_lease_revoke(t_st, id, &r), STORE_ERR_NO_LEASE);
	store_result_free(&r);
	cr_assert_eq(store_sync_lease_revoke(t_st, id2, &r), 0);
	store_result_free(&r);
}

Test(conformance, unknown_leases_are_refused)
{
	int64_t id = t_grant(t_st, 30, NULL);
	struct store_result r;
	const struct store_kv *kv;

	cr_assert_eq(store_sync_lease_revoke(t_st, id, &r), 0);
	store_result_free(&r);
	cr_assert_eq(store_sync_put(t_st, t_key("k"), "v", id, &r), STORE_ERR_NO_LEASE);
	cr_assert_not_null(r.errmsg);
	store_result_free(&r);
	cr_assert_not(t_get(t_st, t_key("k"), &r, &kv));
	store_result_free(&r);
	cr_assert_eq(store_sync_lease_keepalive(t_st, id, &r), STORE_ERR_NO_LEASE);
	store_result_free(&r);
	/* An id never granted. */
	cr_assert_eq(store_sync_lease_keepalive(t_st, 0x7fffffffffff1234LL, &r), STORE_ERR_NO_LEASE);
	store_result_free(&r);
}

Test(conformance, a_put_without_lease_detaches_the_key)
{
	int64_t id = t_grant(t_st, 30, NULL);
	struct store_result r;
	const struct store_kv *kv;

	t_put(t_st, t_key("k"), "leased", id);
	t_put(t_st, t_key("k"), "mine now", 0);
	cr_assert(t_get(t_st, t_key("k"), &r, &kv));
	cr_assert_eq(kv->lease, 0);
	store_result_free(&r);
	cr_assert_eq(store_sync_lease_revoke(t_st, id, &r), 0);
	store_result_free(&r);
	cr_assert(t_get(t_st, t_key("k"), &r, &kv), "a detached key went with its old lease");
	store_result_free(&r);
}

Test(conformance, expiry_deletes_the_keys_in_one_revision_with_delete_events)
{
	struct t_rec rec = {.want = 5}; /* 3 puts, 2 deletes */
	struct store_result r;
	const struct store_kv *kv;
	int64_t ttl, id;
	uint64_t t0;

	t_rec_start(&rec, t_st, t_key("node/"), strlen(t_key("node/")), true, 0);
	t0 = t_now_ms();
	id = t_grant(t_st, 1, &ttl);
	t_put(t_st, t_key("node/a"), "x", id);
	t_put(t_st, t_key("node/b"), "x", id);
	t_put(t_st, t_key("node/c"), "x", 0);
	cr_assert(t_run_until(t_rec_has, &rec, (uint64_t)ttl * 1000 + 3000), "no expiry after %lld s", (long long)ttl);
	cr_assert_geq(t_now_ms() - t0, 500, "expired too early");
	cr_assert_eq(rec.nerr, 0);
	cr_assert_eq(rec.evs[3].type, STORE_EV_DELETE);
	cr_assert_eq(rec.evs[4].type, STORE_EV_DELETE);
	cr_assert_eq(rec.evs[3].kv.mod_rev, rec.evs[4].kv.mod_rev, "one revision for a lease's keys");
	cr_assert(kv_is(&rec.evs[3].kv, t_key("node/a"), strlen(t_key("node/a")), "", 0));
	cr_assert(kv_is(&rec.evs[4].kv, t_key("node/b"), strlen(t_key("node/b")), "", 0));
	cr_assert_not(rec.split);
	cr_assert_not(t_get(t_st, t_key("node/a"), &r, &kv));
	store_result_free(&r);
	cr_assert(t_get(t_st, t_key("node/c"), &r, &kv));
	store_result_free(&r);
	cr_assert_eq(store_sync_lease_keepalive(t_st, id, &r), STORE_ERR_NO_LEASE);
	store_result_free(&r);
	t_rec_free(&rec);
}

/* Keeps a lease alive from a timer, as an agent does. */
struct keeper {
	uv_timer_t timer;
	int64_t id;
	int ok;           /* keepalives answered with the ttl */
	int bad;          /* keepalives that failed */
};

static void keep_done(const struct store_result *r, void *arg)
{
	struct keeper *k = arg;

	if (r->err == 0 && r->ttl > 0)
		k->ok++;
	else
		k->bad++;
}

static void keep_tick(uv_timer_t *t)
{
	struct keeper *k = t->data;

	cr_assert_eq(store_lease_keepalive(t_st, k->id, keep_done, k), 0);
}

static bool key_gone(void *arg)
{
	struct store_result r;
	const struct store_kv *kv;
	bool there = t_get(t_st, arg, &r, &kv);

	store_result_free(&r);
	return !there;
}

Test(conformance, keepalive_holds_a_lease_past_its_ttl)
{
	static struct keeper k; /* its timer outlives no frame */
	struct store_result r;
	const struct store_kv *kv;
	int64_t ttl;
	const char *key = t_key("alive");

	k.id = t_grant(t_st, 1, &ttl);
	t_put(t_st, key, "x", k.id);
	uv_timer_init(&t_loop, &k.timer);
	k.timer.data = &k;
	uv_timer_start(&k.timer, keep_tick, (uint64_t)ttl * 1000 / 4, (uint64_t)ttl * 1000 / 4);
	t_run_for((uint64_t)ttl * 2500);
	uv_timer_stop(&k.timer);
	cr_assert_eq(k.bad, 0);
	cr_assert_geq(k.ok, 4);
	cr_assert(t_get(t_st, key, &r, &kv), "the key expired although kept alive");
	store_result_free(&r);
	/* Left alone, it goes. */
	cr_assert(t_run_until(key_gone, (void *)key, (uint64_t)ttl * 1000 + 3000));
	uv_close((uv_handle_t *)&k.timer, NULL);
	t_run_for(10);
}

/* ---- watches ---- */

Test(conformance, watch_a_prefix_sees_its_puts_and_deletes_only)
{
	struct t_rec rec = {.want = 4};
	const char *a1 = t_key("w/a/1"), *a2 = t_key("w/a/2");

	t_rec_start(&rec, t_st, t_key("w/a/"), strlen(t_key("w/a/")), true, 0);
	int64_t r1 = t_put(t_st, a1, "one", 0);

	t_put(t_st, t_key("w/b/1"), "no", 0);
	t_put(t_st, t_key("w/a"), "no", 0);
	int64_t r4 = t_put(t_st, a2, "two", 0);
	int64_t r5 = t_put(t_st, a1, "uno", 0);
	int64_t r6 = t_del(t_st, a1, false, NULL);

	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	t_run_for(30);
	cr_assert_eq(rec.n, 4);
	cr_assert_eq(rec.evs[0].type, STORE_EV_PUT);
	cr_assert(kv_is(&rec.evs[0].kv, a1, strlen(a1), "one", 3));
	cr_assert_eq(rec.evs[0].kv.mod_rev, r1);
	cr_assert_eq(rec.evs[0].kv.create_rev, r1);
	cr_assert_eq(rec.evs[0].kv.version, 1);
	cr_assert_eq(rec.evs[1].kv.mod_rev, r4);
	cr_assert_eq(rec.evs[2].kv.mod_rev, r5);
	cr_assert_eq(rec.evs[2].kv.create_rev, r1);
	cr_assert_eq(rec.evs[2].kv.version, 2);
	/* A DELETE: the key and the deleting revision, the rest zero. */
	cr_assert_eq(rec.evs[3].type, STORE_EV_DELETE);
	cr_assert(kv_is(&rec.evs[3].kv, a1, strlen(a1), "", 0));
	cr_assert_eq(rec.evs[3].kv.mod_rev, r6);
	cr_assert_eq(rec.evs[3].kv.create_rev, 0);
	cr_assert_eq(rec.evs[3].kv.version, 0);
	cr_assert_eq(rec.evs[3].kv.lease, 0);
	t_rec_free(&rec);

	/* A single-key watch. */
	struct t_rec one = {.want = 1};

	t_rec_start(&one, t_st, a2, strlen(a2), false, 0);
	t_put(t_st, t_key("w/a/22"), "no", 0);
	t_put(t_st, a2, "deux", 0);
	cr_assert(t_run_until(t_rec_has, &one, 5000));
	t_run_for(30);
	cr_assert_eq(one.n, 1);
	cr_assert(kv_is(&one.evs[0].kv, a2, strlen(a2), "deux", 4));
	t_rec_free(&one);
}

#define MANY 300

Test(conformance, many_writes_arrive_in_order_with_no_gap_and_no_duplicate)
{
	struct t_rec rec = {.want = MANY + 3};
	int64_t first = 0, last = 0;
	char name[32];

	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, 0);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "m/%d", i % 17);
		last = t_put(t_st, t_key(name), name, 0);
		if (i == 0)
			first = last;
		if (i == MANY / 2) {
			/* Three events in one revision: one callback. */
			struct store_op ops[] = {put_op(t_key("t/1"), "1", 0), put_op(t_key("t/2"), "2", 0),
						 put_op(t_key("t/3"), "3", 0)};
			struct store_txn t = {.success = ops, .nsuccess = 3};
			struct store_result r;

			cr_assert_eq(store_sync_txn(t_st, &t, &r), 0);
			store_result_free(&r);
		}
	}
	cr_assert(t_run_until(t_rec_has, &rec, 10000), "%d of %d events", rec.n, rec.want);
	t_run_for(30);
	cr_assert_eq(rec.n, MANY + 3);
	cr_assert_eq(last - first + 1, MANY + 1);
	cr_assert_not(rec.disorder);
	cr_assert_not(rec.split, "a revision was split across callbacks");
	int64_t expect = first;

	for (int i = 0; i < rec.n; i++) {
		bool in_txn = i > 0 && rec.evs[i].kv.mod_rev == rec.evs[i - 1].kv.mod_rev;

		if (!in_txn && i > 0)
			expect++;
		cr_assert_eq(rec.evs[i].kv.mod_rev, expect, "event %d: revision %lld, expected %lld", i,
			     (long long)rec.evs[i].kv.mod_rev, (long long)expect);
	}
	cr_assert_eq(expect, last);
	t_rec_free(&rec);
}

Test(conformance, watch_from_an_old_revision_replays_then_follows_live)
{
	struct t_rec rec = {.want = 3};
	int64_t revs[5];
	char name[8];

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		revs[i] = t_put(t_st, t_key(name), name, 0);
	}
	/* Resume after the second event, as a watcher that saw it would. */
	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, revs[1] + 1);
	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	cr_assert_eq(rec.n, 3);
	cr_assert_eq(rec.evs[0].kv.mod_rev, revs[2]);
	cr_assert_eq(rec.evs[2].kv.mod_rev, revs[4]);
	int64_t live = t_put(t_st, t_key("r5"), "live", 0);

	rec.want = 4;
	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	t_run_for(30);
	cr_assert_eq(rec.n, 4);
	cr_assert_eq(rec.evs[3].kv.mod_rev, live);
	cr_assert_not(rec.disorder);
	t_rec_free(&rec);
}

Test(conformance, watch_from_zero_starts_after_the_current_revision)
{
	struct t_rec rec = {.want = 1};

	t_put(t_st, t_key("before"), "x", 0);
	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, 0);
	t_run_for(30);
	cr_assert_eq(rec.n, 0);
	int64_t r = t_put(t_st, t_key("after"), "x", 0);

	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	cr_assert_eq(rec.n, 1);
	cr_assert_eq(rec.evs[0].kv.mod_rev, r);
	t_rec_free(&rec);

	/* A future revision: nothing before it. */
	struct t_rec fut = {.want = 2};

	t_rec_start(&fut, t_st, t_prefix(), strlen(t_prefix()), true, r + 3);
	for (int i = 0; i < 4; i++)
		t_put(t_st, t_key("f"), "x", 0);
	cr_assert(t_run_until(t_rec_has, &fut, 5000));
	t_run_for(30);
	cr_assert_eq(fut.n, 2);
	cr_assert_eq(fut.evs[0].kv.mod_rev, r + 3);
	t_rec_free(&fut);
}

Test(conformance, cancel_stops_the_events)
{
	struct t_rec rec = {.want = 1};

	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, 0);
	t_put(t_st, t_key("1"), "x", 0);
	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	store_watch_cancel(rec.w);
	rec.w = NULL;
	t_put(t_st, t_key("2"), "x", 0);
	t_run_for(50);
	cr_assert_eq(rec.n, 1);
	cr_assert_eq(rec.nerr, 0, "a cancelled watch was called back");
	t_rec_free(&rec);

	/* Cancelled from its own callback, with more events queued. */
	struct t_rec self = {.want = 1, .cancel_in_cb = true};
	int64_t r = t_put(t_st, t_key("3"), "x", 0);

	t_put(t_st, t_key("4"), "x", 0);
	t_rec_start(&self, t_st, t_prefix(), strlen(t_prefix()), true, r - 1);
	cr_assert(t_run_until(t_rec_has, &self, 5000));
	t_put(t_st, t_key("5"), "x", 0);
	t_run_for(50);
	cr_assert_eq(self.ncb, 1);
	cr_assert_eq(self.nerr, 0);
	t_rec_free(&self);
}

Test(conformance, a_watch_on_one_client_sees_the_writes_of_another)
{
	struct store *b = t_open();
	struct t_rec rec = {.want = 2};

	t_rec_start(&rec, t_st, t_prefix(), strlen(t_prefix()), true, 0);
	int64_t r1 = t_put(b, t_key("from-b"), "x", 0);
	int64_t r2 = t_del(b, t_key("from-b"), false, NULL);

	cr_assert(t_run_until(t_rec_has, &rec, 5000));
	cr_assert_eq(rec.evs[0].kv.mod_rev, r1);
	cr_assert_eq(rec.evs[1].type, STORE_EV_DELETE);
	cr_assert_eq(rec.evs[1].kv.mod_rev, r2);
	t_rec_free(&rec);
}

Test(conformance, a_watch_from_a_compacted_revision_fails_then_resyncs)
{
	struct t_rec old = {.want = 1}, at = {.want = 1}, resync = {.want = 1};
	struct store_result r;
	int64_t r1 = t_put(t_st, t_key("c/1"), "1", 0);
	int64_t r2 = t_put(t_st, t_key("c/2"), "2", 0);

	cr_assert_gt(r2, r1);
	cr_assert_eq(store_sync_compact(t_st, r2, &r), 0, "%s", r.errmsg);
	store_result_free(&r);

	t_rec_start(&old, t_st, t_key("c/"), strlen(t_key("c/")), true, r1);
	cr_assert(t_run_until(t_rec_has, &old, 5000));
	cr_assert_eq(old.nerr, 1);
	cr_assert_eq(old.err, STORE_ERR_COMPACTED);
	cr_assert_eq(old.n, 0);
	cr_assert_null(old.w, "the watch is over");

	/* The compaction revision itself is still there. */
	t_rec_start(&at, t_st, t_key("c/"), strlen(t_key("c/")), true, r2);
	cr_assert(t_run_until(t_rec_has, &at, 5000));
	cr_assert_eq(at.nerr, 0);
	cr_assert_eq(at.evs[0].kv.mod_rev, r2);
	t_rec_free(&at);

	/* Resync: range, then watch from its revision + 1. */
	struct store_keys k = {t_key("c/"), strlen(t_key("c/")), true};

	cr_assert_eq(store_sync_range(t_st, &k, &r), 0);
	cr_assert_eq(r.nkvs, 2);
	t_rec_start(&resync, t_st, t_key("c/"), strlen(t_key("c/")), true, r.revision + 1);
	store_result_free(&r);
	int64_t r3 = t_put(t_st, t_key("c/3"), "3", 0);

	cr_assert(t_run_until(t_rec_has, &resync, 5000));
	t_run_for(30);
	cr_assert_eq(resync.n, 1);
	cr_assert_eq(resync.evs[0].kv.mod_rev, r3);
	t_rec_free(&resync);
	t_rec_free(&old);

	/* Compaction bounds. */
	cr_assert_eq(store_sync_compact(t_st, r3 + 1000, &r), STORE_ERR_FUTURE_REV);
	store_result_free(&r);
	cr_assert_eq(store_sync_compact(t_st, r1, &r), STORE_ERR_COMPACTED);
	store_result_free(&r);
}

/* ---- closing ---- */

static int nclosed_ops, nclosed_watch, ndone;

static void closed_op(const struct store_result *r, void *arg)
{
	cr_assert_eq(r->err, STORE_ERR_CLOSED, "a pending op ended with %d", r->err);
	nclosed_ops++;
}

static void closed_watch(struct store_watch *w, const struct store_event *evs, int n, int err, void *arg)
{
	cr_assert_eq(err, STORE_ERR_CLOSED);
	nclosed_watch++;
}

static void closed_done(struct store *s)
{
	ndone++;
}

static bool done_once(void *arg)
{
	return ndone > 0;
}

Test(conformance, close_fails_pending_ops_and_ends_watches_once)
{
	struct store *s = NULL;
	char *err = NULL;
	struct store_keys k = {t_prefix(), strlen(t_prefix()), true};
	struct store_watch *w;

	cr_assert_eq(store_open(&t_loop, t_url, &s, &err), 0, "%s", err);
	cr_assert_eq(store_watch(s, &k, 0, closed_watch, NULL, &w), 0);
	cr_assert_eq(store_put(s, t_key("a"), "1", 1, 0, closed_op, NULL), 0);
	cr_assert_eq(store_get(s, t_key("a"), closed_op, NULL), 0);
	cr_assert_eq(store_lease_grant(s, 10, closed_op, NULL), 0);
	store_close(s, closed_done);
	/* Until <done> runs, calls fail at once. */
	cr_assert_eq(store_put(s, t_key("b"), "1", 1, 0, closed_op, NULL), STORE_ERR_CLOSED);
	cr_assert(t_run_until(done_once, NULL, 5000));
	t_run_for(30);
	cr_assert_eq(nclosed_ops, 3);
	cr_assert_eq(nclosed_watch, 1);
	cr_assert_eq(ndone, 1);
}
