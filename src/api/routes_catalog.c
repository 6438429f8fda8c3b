/* The discovery half of the agent API (docs/api.md): the catalog with
 * Consul-style blocking queries, the user key/value space with
 * check-and-set and locks, and leases for those locks.
 *
 * A blocking query names the index it last saw (?index=N); when the
 * service's index is still N it is parked until the service changes or
 * ?wait= runs out, then answered with the new (or the same) index in
 * X-Berth-Index. Waiters are woken by discovery_listen() callbacks, one
 * per changed service, so a change to one service wakes only its own
 * waiters. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/discovery.h"
#include "api/routes-int.h"
#include "catalog/catalog.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "http/server.h"
#include "store/store.h"

#define WAIT_DEFAULT_MS (5 * 60 * 1000) /* Consul's default */
#define WAIT_MAX_MS (10 * 60 * 1000)
#define KV_PREFIX "/berth/kv/"
#define KV_MAX_VALUE (512 * 1024)

struct waiter {
	struct waiter *next, *prev;
	struct agent *a;
	struct http_req *rq;
	char *stack;                 /* NULL: any stack */
	char *svc;
	char *tag;
	bool healthy;
	uint64_t seen;               /* the index the client has */
	uv_timer_t timer;
	bool done;
};

static struct waiter *waiters;

static uint64_t query_index(struct agent *a, const char *stack, const char *svc)
{
	/* Without a stack, any change anywhere may matter: the global index. */
	return stack ? catalog_service_index(a->catalog, stack, svc) : catalog_index(a->catalog);
}

static void answer_service(struct agent *a, struct http_req *rq, const char *stack, const char *svc,
			   const char *tag, bool healthy)
{
	int n = catalog_select(a->catalog, stack, svc, tag, 0, healthy, NULL, 0);
	const struct catalog_endpoint **eps = XNEWV(const struct catalog_endpoint *, (size_t)n + 1);
	json_t *arr = json_array();
	char hdr[64];

	catalog_select(a->catalog, stack, svc, tag, 0, healthy, eps, n);
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, catalog_endpoint_json(eps[i]));
	free(eps);
	snprintf(hdr, sizeof(hdr), "X-Berth-Index: %" PRIu64 "\r\n", query_index(a, stack, svc));
	http_reply_json_hdr(rq, 200, hdr, arr);
}

static void on_waiter_closed(uv_handle_t *h)
{
	struct waiter *w = h->data;

	free(w->stack);
	free(w->svc);
	free(w->tag);
	free(w);
}

static void waiter_end(struct waiter *w, bool answer)
{
	if (w->done)
		return;
	w->done = true;
	if (w->prev)
		w->prev->next = w->next;
	else
		waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	uv_timer_stop(&w->timer);
	if (answer && w->rq) {
		w->rq->on_abort = NULL;
		answer_service(w->a, w->rq, w->stack, w->svc, w->tag, w->healthy);
	}
	w->rq = NULL;
	uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static void on_waiter_abort(struct http_req *rq)
{
	struct waiter *w = rq->user;

	w->rq = NULL;
	waiter_end(w, false);
}

static void on_waiter_timeout(uv_timer_t *t)
{
	waiter_end(t->data, true);
}

/* A service changed: answer the waiters it concerns whose index moved. */
static void on_service_changed(const char *stack, const char *svc, void *arg)
{
	struct agent *a = arg;

	for (struct waiter *w = waiters, *next; w; w = next) {
		next = w->next;
		if (strcmp(w->svc, svc) != 0 || (w->stack && strcmp(w->stack, stack) != 0))
			continue;
		if (query_index(a, w->stack, w->svc) > w->seen)
			waiter_end(w, true);
	}
}

static void get_service(struct agent *a, struct http_req *rq, const char *svc)
{
	char stack[128], tag[128], healthy[8], index[32], wait[32];
	const char *st = http_req_query(rq, "stack", stack, sizeof(stack));
	const char *tg = http_req_query(rq, "tag", tag, sizeof(tag));
	const char *hl = http_req_query(rq, "healthy", healthy, sizeof(healthy));
	const char *ix = http_req_query(rq, "index", index, sizeof(index));
	const char *wt = http_req_query(rq, "wait", wait, sizeof(wait));
	bool only_healthy = hl && (strcmp(hl, "1") == 0 || strcmp(hl, "true") == 0 || !*hl);
	uint64_t seen = 0, wait_ms = WAIT_DEFAULT_MS;

	if (st && !*st)
		st = NULL;
	if (tg && !*tg)
		tg = NULL;
	if (ix && *ix) {
		char *end;
		seen = strtoull(ix, &end, 10);
		if (*end) {
			http_reply_error(rq, 400, "index: expected a number (the X-Berth-Index of a previous answer)");
			return;
		}
	}
	if (wt && *wt && (duration_parse(wt, &wait_ms) < 0 || wait_ms > WAIT_MAX_MS)) {
		http_reply_error(rq, 400, "wait: expected a duration up to 10m (e.g. 30s)");
		return;
	}
	/* No index, or the client is behind: answer now. */
	if (!ix || !*ix || query_index(a, st, svc) > seen) {
		answer_service(a, rq, st, svc, tg, only_healthy);
		return;
	}
	struct waiter *w = XNEW(struct waiter);
	w->a = a;
	w->rq = rq;
	w->stack = st ? xstrdup(st) : NULL;
	w->svc = xstrdup(svc);
	w->tag = tg ? xstrdup(tg) : NULL;
	w->healthy = only_healthy;
	w->seen = seen;
	uv_timer_init(a->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, on_waiter_timeout, wait_ms, 0);
	rq->user = w;
	rq->on_abort = on_waiter_abort;
	w->next = waiters;
	if (waiters)
		waiters->prev = w;
	waiters = w;
}

static void get_services(struct agent *a, struct http_req *rq)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "X-Berth-Index: %" PRIu64 "\r\n", catalog_index(a->catalog));
	http_reply_json_hdr(rq, 200, hdr, catalog_services_json(a->catalog));
}

/* ---- key/value ---- */

struct kvop {
	struct agent *a;
	struct http_req *rq;
	char *key;                   /* full store key */
	char *value;
	size_t value_len;
	int64_t cas;                 /* -1: none */
	int64_t lease;               /* put: attach */
	int64_t acquire, release;    /* lock ops: the lease, or 0 */
	bool recurse, raw;
};

static void kvop_free(struct kvop *k)
{
	free(k->key);
	free(k->value);
	free(k);
}

static void on_kv_abort(struct http_req *rq)
{
	struct kvop *k = rq->user;

	k->rq = NULL;
}

static json_t *kv_json(const struct store_kv *kv)
{
	const size_t pl = strlen(KV_PREFIX);

	return json_pack("{s:s%, s:s%, s:I, s:I, s:I, s:I}", "key", kv->key + pl, kv->key_len - pl, "value", kv->value,
			 kv->value_len, "create_rev", (json_int_t)kv->create_rev, "mod_rev", (json_int_t)kv->mod_rev,
			 "version", (json_int_t)kv->version, "lease", (json_int_t)kv->lease);
}

static void on_kv_get(const struct store_result *r, void *arg)
{
	struct kvop *k = arg;
	char hdr[64];

	if (!k->rq) {
		kvop_free(k);
		return;
	}
	k->rq->on_abort = NULL;
	if (r->err) {
		http_reply_error(k->rq, 503, "%s", r->errmsg ? r->errmsg : store_strerror(r->err));
		kvop_free(k);
		return;
	}
	snprintf(hdr, sizeof(hdr), "X-Berth-Index: %lld\r\n", (long long)r->revision);
	if (!r->nkvs) {
		http_reply(k->rq, 404, "application/json", hdr, "{\"error\":\"no such key\"}\n", 24);
	} else if (k->raw && !k->recurse) {
		http_reply(k->rq, 200, "application/octet-stream", hdr, r->kvs[0].value, r->kvs[0].value_len);
	} else {
		json_t *j = k->recurse ? json_array() : kv_json(&r->kvs[0]);
		for (int i = 0; k->recurse && i < r->nkvs; i++)
			json_array_append_new(j, kv_json(&r->kvs[i]));
		http_reply_json_hdr(k->rq, 200, hdr, j);
	}
	kvop_free(k);
}

static void on_kv_txn(const struct store_result *r, void *arg)
{
	struct kvop *k = arg;
	char hdr[64];

	if (!k->rq) {
		kvop_free(k);
		return;
	}
	k->rq->on_abort = NULL;
	if (r->err == STORE_ERR_NO_LEASE) {
		http_reply_error(k->rq, 400, "no such lease (expired or revoked)");
	} else if (r->err) {
		http_reply_error(k->rq, r->err == STORE_ERR_INVALID ? 400 : 503, "%s",
				 r->errmsg ? r->errmsg : store_strerror(r->err));
	} else {
		/* Consul's answer: true when the write happened, false when a
		 * check-and-set or a lock said no. */
		snprintf(hdr, sizeof(hdr), "X-Berth-Index: %lld\r\n", (long long)r->revision);
		if (r->succeeded)
			http_reply(k->rq, 200, "application/json", hdr, "true\n", 5);
		else
			http_reply(k->rq, 200, "application/json", hdr, "false\n", 6);
	}
	kvop_free(k);
}

/* First step of an acquire: the key was absent (taken), or is held: is it
 * held by the same lease? Then refresh it, still guarded on the lease. */
static void on_kv_acquire(const struct store_result *r, void *arg)
{
	struct kvop *k = arg;

	if (r->err || r->succeeded || !k->rq) {
		on_kv_txn(r, arg);
		return;
	}
	struct store_cmp cmp = {.key = k->key, .key_len = strlen(k->key), .target = STORE_CMP_LEASE,
				.op = STORE_CMP_EQ, .num = k->acquire};
	struct store_op op = {.type = STORE_OP_PUT, .keys = {k->key, strlen(k->key), false}, .value = k->value,
			      .value_len = k->value_len, .lease = k->acquire};
	struct store_txn t = {.cmps = &cmp, .ncmps = 1, .success = &op, .nsuccess = 1};
	if (store_txn(k->a->st, &t, on_kv_txn, k) < 0) {
		k->rq->on_abort = NULL;
		http_reply_error(k->rq, 503, "the store refused the request");
		kvop_free(k);
	}
}

static bool valid_kv_key(const char *k)
{
	size_t n = strlen(k);

	if (!n || n > 512 || k[0] == '/' || strstr(k, "//"))
		return false;
	for (const char *p = k; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool num_param(struct http_req *rq, const char *name, int64_t *out)
{
	char buf[32];
	const char *v = http_req_query(rq, name, buf, sizeof(buf));
	char *end;

	if (!v)
		return true;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || n < 0)
		return false;
	*out = n;
	return true;
}

static void kv_route(struct agent *a, struct http_req *rq, const char *key)
{
	struct kvop *k;
	char buf[8];
	int rc;

	if (!valid_kv_key(key)) {
		http_reply_error(rq, 400, "bad key: 1..512 bytes, no control characters, no leading or double '/'");
		return;
	}
	k = XNEW(struct kvop);
	k->a = a;
	k->rq = rq;
	k->key = xasprintf(KV_PREFIX "%s", key);
	k->cas = -1;
	k->recurse = http_req_query(rq, "recurse", buf, sizeof(buf)) != NULL;
	k->raw = http_req_query(rq, "raw", buf, sizeof(buf)) != NULL;
	if (!num_param(rq, "cas", &k->cas) || !num_param(rq, "lease", &k->lease) ||
	    !num_param(rq, "acquire", &k->acquire) || !num_param(rq, "release", &k->release)) {
		http_reply_error(rq, 400, "cas, lease, acquire and release take a number");
		kvop_free(k);
		return;
	}
	rq->user = k;
	rq->on_abort = on_kv_abort;
	if (rq->method == HTTP1_M_GET || rq->method == HTTP1_M_HEAD) {
		struct store_keys keys = {k->key, strlen(k->key), k->recurse};
		rc = store_range(a->st, &keys, on_kv_get, k);
	} else if (rq->method == HTTP1_M_PUT || rq->method == HTTP1_M_DELETE) {
		bool put = rq->method == HTTP1_M_PUT;
		struct store_cmp cmp = {.key = k->key, .key_len = strlen(k->key)};
		int ncmp = 0;
		if (put && rq->body_len > KV_MAX_VALUE) {
			rq->on_abort = NULL;
			http_reply_error(rq, 413, "values are at most %d bytes", KV_MAX_VALUE);
			kvop_free(k);
			return;
		}
		if (k->acquire && put) {
			/* A lock: taken when the key is absent (this txn), or
			 * refreshed when it is already ours (on_kv_acquire's second
			 * txn, guarded on the lease). Written with the lease, so it
			 * is released when the lease goes. */
			cmp.target = STORE_CMP_CREATE_REV;
			cmp.op = STORE_CMP_EQ;
			cmp.num = 0;
			ncmp = 1;
			k->lease = k->acquire;
			k->value = xmalloc(rq->body_len + 1);
			memcpy(k->value, rq->body, rq->body_len + 1);
			k->value_len = rq->body_len;
		} else if (k->release && put) {
			cmp.target = STORE_CMP_LEASE;
			cmp.op = STORE_CMP_EQ;
			cmp.num = k->release;
			ncmp = 1;
		} else if (k->cas >= 0) {
			cmp.target = k->cas == 0 ? STORE_CMP_CREATE_REV : STORE_CMP_MOD_REV;
			cmp.op = STORE_CMP_EQ;
			cmp.num = k->cas;
			ncmp = 1;
		}
		struct store_op op = {.keys = {k->key, strlen(k->key), !put && k->recurse}};
		if (put && !k->release) {
			op.type = STORE_OP_PUT;
			op.value = rq->body;
			op.value_len = rq->body_len;
			op.lease = k->lease;
		} else {
			op.type = STORE_OP_DELETE;
		}
		struct store_txn t = {.cmps = &cmp, .ncmps = ncmp, .success = &op, .nsuccess = 1};
		rc = store_txn(a->st, &t, k->acquire && put ? on_kv_acquire : on_kv_txn, k);
	} else {
		rq->on_abort = NULL;
		http_reply_error(rq, 405, "GET, PUT or DELETE");
		kvop_free(k);
		return;
	}
	if (rc < 0) {
		rq->on_abort = NULL;
		http_reply_error(rq, 503, "%s", store_strerror(rc));
		kvop_free(k);
	}
}

/* ---- leases (for locks and bootstrap-once jobs) ---- */

struct leaseop {
	struct http_req *rq;
};

static void on_lease_abort(struct http_req *rq)
{
	struct leaseop *l = rq->user;

	l->rq = NULL;
}

static void on_lease(const struct store_result *r, void *arg)
{
	struct leaseop *l = arg;

	if (l->rq) {
		l->rq->on_abort = NULL;
		if (r->err == STORE_ERR_NO_LEASE)
			http_reply_error(l->rq, 404, "no such lease (expired or revoked)");
		else if (r->err)
			http_reply_error(l->rq, r->err == STORE_ERR_INVALID ? 400 : 503, "%s",
					 r->errmsg ? r->errmsg : store_strerror(r->err));
		else
			http_reply_json(l->rq, 200, json_pack("{s:I, s:I}", "lease", (json_int_t)r->lease, "ttl",
							     (json_int_t)r->ttl));
	}
	free(l);
}

static void lease_route(struct agent *a, struct http_req *rq, char **segs, int n)
{
	struct leaseop *l = XNEW(struct leaseop);
	int rc = -1;
	int64_t id = 0;

	l->rq = rq;
	rq->user = l;
	rq->on_abort = on_lease_abort;
	if (n >= 3) {
		char *end;
		id = strtoll(segs[2], &end, 10);
		if (*end || id <= 0) {
			rq->on_abort = NULL;
			http_reply_error(rq, 400, "bad lease id");
			free(l);
			return;
		}
	}
	if (n == 2 && rq->method == HTTP1_M_POST) {
		char ttl_s[32], *err = NULL;
		uint64_t ms = 10000;
		const char *t = http_req_query(rq, "ttl", ttl_s, sizeof(ttl_s));
		json_t *body = rq->body_len ? http_req_json(rq, &err) : NULL;
		free(err);
		if (!t && json_is_string(json_object_get(body, "ttl")))
			t = json_string_value(json_object_get(body, "ttl"));
		if (t && (duration_parse(t, &ms) < 0 || ms < 1000 || ms > 86400000)) {
			json_decref(body);
			rq->on_abort = NULL;
			http_reply_error(rq, 400, "ttl: expected a duration between 1s and 24h");
			free(l);
			return;
		}
		json_decref(body);
		rc = store_lease_grant(a->st, (int64_t)(ms / 1000), on_lease, l);
	} else if (n == 4 && strcmp(segs[3], "keepalive") == 0 &&
		   (rq->method == HTTP1_M_PUT || rq->method == HTTP1_M_POST)) {
		rc = store_lease_keepalive(a->st, id, on_lease, l);
	} else if (n == 3 && rq->method == HTTP1_M_DELETE) {
		rc = store_lease_revoke(a->st, id, on_lease, l);
	} else {
		rq->on_abort = NULL;
		http_reply_error(rq, 404, "leases: POST /v1/leases, PUT /v1/leases/ID/keepalive, DELETE /v1/leases/ID");
		free(l);
		return;
	}
	if (rc < 0) {
		rq->on_abort = NULL;
		http_reply_error(rq, 503, "%s", store_strerror(rc));
		free(l);
	}
}

/* ---- dispatch ---- */

bool api__catalog_route(struct agent *a, struct http_req *rq, char **segs, int n)
{
	bool get = rq->method == HTTP1_M_GET || rq->method == HTTP1_M_HEAD;

	if (n == 3 && strcmp(segs[1], "catalog") == 0 && strcmp(segs[2], "services") == 0 && get) {
		get_services(a, rq);
		return true;
	}
	if (n == 4 && strcmp(segs[1], "catalog") == 0 && strcmp(segs[2], "service") == 0 && get) {
		get_service(a, rq, segs[3]);
		return true;
	}
	if (n >= 3 && strcmp(segs[1], "kv") == 0) {
		/* The key is the rest of the path, slashes and all. */
		kv_route(a, rq, rq->path + strlen("/v1/kv/"));
		return true;
	}
	if (n >= 2 && strcmp(segs[1], "leases") == 0) {
		lease_route(a, rq, segs, n);
		return true;
	}
	return false;
}

void api__catalog_start(struct agent *a)
{
	discovery_listen(a, on_service_changed, a);
}

int api__catalog_waiters(void)
{
	int n = 0;

	for (struct waiter *w = waiters; w; w = w->next)
		n++;
	return n;
}
