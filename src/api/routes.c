/* The agent API's routes (docs/api.md). Reads are answered from the
 * agent's mirrors of the store; writes go to the store (with a compare on
 * the record's mod_rev, retried on a race) and take effect through the
 * components watching it. Streams (logs, events) stay open until the
 * client goes or the agent stops. */
#include "api/routes.h"
#include "api/routes-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "logs/logs.h"
#include "agent/events.h"
#include "agent/logs.h"
#include "agent/mirror.h"
#include "core/log.h"
#include "dns/dns.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "http/server.h"
#include "runner/driver.h"
#include "runner/runner.h"
#include "spec/spec.h"
#include "store/store.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

#define MUTATE_TRIES 8            /* compare-and-swap attempts on a busy record */

bool api__valid_name(const char *s)
{
	/* Names become paths and keys: no "." or ".." (or any leading dot). */
	if (!*s || strlen(s) > 63 || s[0] == '.')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-' || *p == '.'))
			return false;
	return true;
}

/* ---- reading the mirrors ---- */

bool api__stack_exists(struct agent *a, const char *stack)
{
	char *key = agent_stack_key(stack);
	bool found = mirror_get(a->stacks, key) != NULL;

	free(key);
	return found;
}

static const struct mirror_entry *stack_entry(struct agent *a, const char *stack)
{
	char *key = agent_stack_key(stack);
	const struct mirror_entry *e = mirror_get(a->stacks, key);

	free(key);
	return e;
}

static int inst_cmp(const void *x, const void *y)
{
	json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	int c = strcmp(json_string_value(json_object_get(a, "stack")) ?: "",
		       json_string_value(json_object_get(b, "stack")) ?: "");

	if (!c)
		c = strcmp(json_string_value(json_object_get(a, "service")) ?: "",
			   json_string_value(json_object_get(b, "service")) ?: "");
	if (!c)
		c = (int)(json_integer_value(json_object_get(a, "index")) - json_integer_value(json_object_get(b, "index")));
	return c;
}

/* Status records of <stack> (NULL: all), <service> (NULL: all), sorted. */
json_t *api__instances(struct agent *a, const char *stack, const char *service)
{
	json_t *arr = json_array();
	json_t **v = XNEWV(json_t *, (size_t)a->status->n + 1);
	int n = 0;

	for (int i = 0; i < a->status->n; i++) {
		json_t *j = a->status->e[i].json;
		if (json_is_object(j))
			json_object_set_new(j, "mod_rev", json_integer(a->status->e[i].mod_rev));
		if (!json_is_object(j))
			continue;
		if (stack && strcmp(json_string_value(json_object_get(j, "stack")) ?: "", stack))
			continue;
		if (service && strcmp(json_string_value(json_object_get(j, "service")) ?: "", service))
			continue;
		v[n++] = j;
	}
	qsort(v, (size_t)n, sizeof(*v), inst_cmp);
	for (int i = 0; i < n; i++)
		json_array_append(arr, v[i]);
	free(v);
	return arr;
}

static json_t *service_view(struct agent *a, const char *stack, const struct spec_service *s, json_t *state)
{
	json_t *st = json_object_get(json_object_get(state, "services"), s->name);
	json_t *over = json_object_get(st, "replicas");
	int desired = json_is_integer(over) ? (int)json_integer_value(over) : s->deploy.replicas;
	json_t *insts = api__instances(a, stack, s->name);
	int running = 0;
	size_t i;
	json_t *v;

	json_array_foreach(insts, i, v)
		running += strcmp(json_string_value(json_object_get(v, "state")) ?: "", "running") == 0;
	json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:b}", "name", s->name, "mode",
			      s->deploy.mode == SPEC_MODE_GLOBAL ? "global" : "replicated", "running", running,
			      "instances", (int)json_array_size(insts), "stopped", json_is_true(json_object_get(st, "stopped")));
	if (s->deploy.mode != SPEC_MODE_GLOBAL)
		json_object_set_new(j, "replicas", json_integer(desired));
	json_decref(insts);
	return j;
}

/* ---- record updates with compare-and-swap ---- */

/* Changes <record> (a copy of the stack's record, or NULL when there is
 * none) in place, or returns an HTTP status with *msg (heap) to refuse. A
 * returned *out replaces the record; NULL from a non-NULL record deletes. */
typedef int mutate_fn(json_t *record, json_t **out, void *ctx, char **msg);

struct mutate {
	struct agent *a;
	struct http_req *rq;
	char *stack;
	char *key;
	mutate_fn *fn;
	void *ctx;
	void (*ctx_free)(void *ctx);
	int tries;
	int status;                  /* answer on success */
	json_t *reply;               /* body on success */
};

static void mutate_begin(struct mutate *m);

static void mutate_free(struct mutate *m)
{
	if (m->ctx_free)
		m->ctx_free(m->ctx);
	json_decref(m->reply);
	free(m->stack);
	free(m->key);
	free(m);
}

static void on_mutate_abort(struct http_req *rq)
{
	struct mutate *m = rq->user;

	m->rq = NULL;
}

static void mutate_answer_error(struct mutate *m, int status, const char *msg)
{
	if (m->rq)
		http_reply_error(m->rq, status, "%s", msg);
	mutate_free(m);
}

static void on_mutate_txn(const struct store_result *r, void *arg)
{
	struct mutate *m = arg;

	if (r->err) {
		mutate_answer_error(m, 503, r->errmsg ? r->errmsg : store_strerror(r->err));
		return;
	}
	if (!r->succeeded) {
		if (++m->tries < MUTATE_TRIES) {
			mutate_begin(m);
			return;
		}
		mutate_answer_error(m, 409, "the stack changed too often meanwhile; try again");
		return;
	}
	if (m->rq) {
		m->rq->on_abort = NULL;
		json_t *reply = m->reply ? m->reply : json_object();
		m->reply = NULL;
		json_object_set_new(reply, "revision", json_integer(r->revision));
		http_reply_json(m->rq, m->status ? m->status : 200, reply);
	}
	mutate_free(m);
}

static void on_mutate_get(const struct store_result *r, void *arg)
{
	struct mutate *m = arg;
	json_t *rec = NULL, *out = NULL;
	int64_t mod_rev = 0;
	char *msg = NULL;

	if (r->err) {
		mutate_answer_error(m, 503, r->errmsg ? r->errmsg : store_strerror(r->err));
		return;
	}
	/* A retry after a lost compare-and-swap builds its answer again. */
	json_decref(m->reply);
	m->reply = NULL;
	if (r->nkvs) {
		rec = json_loadb(r->kvs[0].value, r->kvs[0].value_len, 0, NULL);
		mod_rev = r->kvs[0].mod_rev;
		if (!rec) {
			mutate_answer_error(m, 500, "the stack's record in the store is not JSON");
			return;
		}
	}
	int status = m->fn(rec, &out, m, &msg);
	if (status >= 300) {
		json_decref(rec);
		json_decref(out);
		mutate_answer_error(m, status, msg ? msg : "refused");
		free(msg);
		return;
	}
	m->status = status;
	struct store_cmp cmp = {.key = m->key, .key_len = strlen(m->key), .target = STORE_CMP_MOD_REV,
				.op = STORE_CMP_EQ, .num = mod_rev};
	struct store_op op = {.keys = {m->key, strlen(m->key), false}};
	char *text = NULL;
	if (out) {
		text = json_dumps(out, JSON_COMPACT);
		op.type = STORE_OP_PUT;
		op.value = text;
		op.value_len = strlen(text);
	} else {
		op.type = STORE_OP_DELETE;
	}
	struct store_txn t = {.cmps = &cmp, .ncmps = 1, .success = &op, .nsuccess = 1};
	int rc = store_txn(m->a->st, &t, on_mutate_txn, m);
	free(text);
	json_decref(rec);
	json_decref(out);
	if (rc < 0)
		mutate_answer_error(m, 503, store_strerror(rc));
}

static void mutate_begin(struct mutate *m)
{
	int rc = store_get(m->a->st, m->key, on_mutate_get, m);

	if (rc < 0)
		mutate_answer_error(m, 503, store_strerror(rc));
}

static void mutate_start(struct agent *a, struct http_req *rq, const char *stack, mutate_fn *fn, void *ctx,
			 void (*ctx_free)(void *))
{
	struct mutate *m = XNEW(struct mutate);

	m->a = a;
	m->rq = rq;
	m->stack = xstrdup(stack);
	m->key = agent_stack_key(stack);
	m->fn = fn;
	m->ctx = ctx;
	m->ctx_free = ctx_free;
	rq->user = m;
	rq->on_abort = on_mutate_abort;
	mutate_begin(m);
}

/* ---- stacks ---- */

struct deploy_ctx {
	json_t *spec;
	int nservices;
	char *docker_svc;            /* the first service the docker driver runs; NULL: none */
	char *docker_image;          /* its image, for the message */
};

static void deploy_ctx_free(void *p)
{
	struct deploy_ctx *d = p;

	json_decref(d->spec);
	free(d->docker_svc);
	free(d->docker_image);
	free(d);
}

static void mutate_start(struct agent *a, struct http_req *rq, const char *stack, mutate_fn *fn, void *ctx,
			 void (*ctx_free)(void *));
static int deploy_fn(json_t *rec, json_t **out, void *arg, char **msg);

/* A deploy waiting for the engine's answer. */
struct engine_wait {
	struct agent *a;
	struct http_req *rq;         /* NULL once the client went away */
	char *stack;
	struct deploy_ctx *d;
};

static void on_engine_wait_abort(struct http_req *rq)
{
	struct engine_wait *w = rq->user;

	w->rq = NULL;
}

static void on_engine_probe(const char *error, void *arg)
{
	struct engine_wait *w = arg;

	if (w->rq) {
		w->rq->on_abort = NULL;
		if (error) {
			http_reply_error(w->rq, 422,
					 "services.%s (image %s) needs a Docker engine: %s. Nothing was deployed: start "
					 "the engine (or point the agent's DOCKER_HOST at one), or set x-berth.driver: "
					 "process to run the service's command as a process",
					 w->d->docker_svc, w->d->docker_image, error);
			deploy_ctx_free(w->d);
		} else {
			mutate_start(w->a, w->rq, w->stack, deploy_fn, w->d, deploy_ctx_free);
		}
	} else {
		deploy_ctx_free(w->d);
	}
	free(w->stack);
	free(w);
}

static int deploy_fn(json_t *rec, json_t **out, void *arg, char **msg)
{
	struct mutate *m = arg;
	struct deploy_ctx *d = m->ctx;
	char ts[40];
	json_int_t gen = rec ? json_integer_value(json_object_get(rec, "generation")) : 0;
	json_t *state = json_object();
	json_t *svcs = json_object();
	const char *k;
	json_t *v;

	/* berth up deploys the file as it is: scale overrides and stops go,
	 * but restart generations stay (they are what the running instances
	 * were started for). */
	json_object_foreach(json_object_get(json_object_get(rec, "state"), "services"), k, v) {
		json_t *g = json_object_get(v, "restart_gen");
		if (g)
			json_object_set_new(svcs, k, json_pack("{s:O}", "restart_gen", g));
	}
	json_object_set_new(state, "services", svcs);
	time_now_rfc3339(ts, sizeof(ts));
	*out = json_pack("{s:I, s:O, s:o, s:s}", "generation", gen + 1, "spec", d->spec, "state", state, "updated_at", ts);
	m->reply = json_pack("{s:s, s:I, s:i, s:b}", "stack", m->stack, "generation", gen + 1, "services",
			     d->nservices, "created", rec == NULL);
	return rec ? 200 : 201;
}

static void put_stack(struct agent *a, struct http_req *rq, const char *stack)
{
	char *err = NULL;
	json_t *body = http_req_json(rq, &err);
	struct spec_stack *s = NULL;

	if (!body) {
		http_reply_error(rq, 400, "%s", err);
		free(err);
		return;
	}
	json_t *spec = json_object_get(body, "spec");
	if (!spec) {
		json_decref(body);
		http_reply_error(rq, 400, "the body needs a \"spec\": the normalized stack (berth config --json)");
		return;
	}
	if (spec_from_json(spec, &s, &err) < 0) {
		json_decref(body);
		http_reply_error(rq, 400, "spec: %s", err);
		free(err);
		return;
	}
	if (strcmp(s->name, stack) != 0) {
		http_reply_error(rq, 400, "the spec is for stack \"%s\", not \"%s\"", s->name, stack);
		spec_stack_free(s);
		json_decref(body);
		return;
	}
	struct deploy_ctx *d = XNEW(struct deploy_ctx);
	d->spec = json_incref(spec);
	d->nservices = s->nservices;
	/* A service the docker driver runs is deployed only where an engine
	 * answers: the whole stack is refused otherwise, with nothing written
	 * (docs/docker.md, "No engine"). */
	for (int i = 0; i < s->nservices && !d->docker_svc; i++)
		if (strcmp(driver_for_service(&s->services[i]), "docker") == 0) {
			d->docker_svc = xstrdup(s->services[i].name);
			d->docker_image = s->services[i].image ? xstrdup(s->services[i].image)
							       : xasprintf("%s_%s (build)", s->name, s->services[i].name);
		}
	spec_stack_free(s);
	json_decref(body);
	if (d->docker_svc) {
		struct engine_wait *w = XNEW(struct engine_wait);
		w->a = a;
		w->rq = rq;
		w->stack = xstrdup(stack);
		w->d = d;
		rq->user = w;
		rq->on_abort = on_engine_wait_abort;
		driver_docker_probe(a->loop, on_engine_probe, w);
		return;
	}
	mutate_start(a, rq, stack, deploy_fn, d, deploy_ctx_free);
}

static int delete_fn(json_t *rec, json_t **out, void *arg, char **msg)
{
	struct mutate *m = arg;

	if (!rec) {
		*msg = xasprintf("no stack \"%s\"", m->stack);
		return 404;
	}
	*out = NULL;
	m->reply = json_pack("{s:s, s:b}", "stack", m->stack, "removed", 1);
	return 200;
}

/* Changes to the per-service state: scale, stop, start, restart. */
enum svc_op {
	SVC_SCALE = 0,
	SVC_STOP,
	SVC_START,
	SVC_RESTART,
};

struct svc_ctx {
	enum svc_op op;
	json_t *args;                /* SCALE: {"svc": N}; others: ["svc", ...] or [] for all */
};

static void svc_ctx_free(void *p)
{
	struct svc_ctx *c = p;

	json_decref(c->args);
	free(c);
}

static int svc_fn(json_t *rec, json_t **out, void *arg, char **msg)
{
	struct mutate *m = arg;
	struct svc_ctx *c = m->ctx;
	struct spec_stack *s = NULL;
	char *err = NULL;

	if (!rec) {
		*msg = xasprintf("no stack \"%s\" (berth up deploys it)", m->stack);
		return 404;
	}
	if (spec_from_json(json_object_get(rec, "spec"), &s, &err) < 0) {
		*msg = xasprintf("the stack's record is unreadable: %s", err);
		free(err);
		return 500;
	}
	json_t *copy = json_deep_copy(rec);
	json_t *state = json_object_get(copy, "state");
	if (!json_is_object(state)) {
		state = json_object();
		json_object_set_new(copy, "state", state);
	}
	json_t *svcs = json_object_get(state, "services");
	if (!json_is_object(svcs)) {
		svcs = json_object();
		json_object_set_new(state, "services", svcs);
	}
	json_t *done = json_array();
	int status = 200;

	/* The services named, or all of them. */
	int n = c->op == SVC_SCALE ? (int)json_object_size(c->args) : (int)json_array_size(c->args);
	const char **names = XNEWV(const char *, (size_t)(n ? n : s->nservices) + 1);
	int nn = 0;
	if (c->op == SVC_SCALE) {
		const char *k;
		json_t *v;
		json_object_foreach(c->args, k, v)
			names[nn++] = k;
	} else if (n) {
		for (int i = 0; i < n; i++)
			names[nn++] = json_string_value(json_array_get(c->args, (size_t)i));
	} else {
		for (int i = 0; i < s->nservices; i++)
			names[nn++] = s->services[i].name;
	}
	for (int i = 0; i < nn; i++) {
		const struct spec_service *sv = names[i] ? spec_service_find(s, names[i]) : NULL;
		if (!sv) {
			*msg = xasprintf("no service \"%s\" in stack \"%s\"", names[i] ? names[i] : "?", m->stack);
			status = 404;
			goto out;
		}
		json_t *st = json_object_get(svcs, sv->name);
		if (!st) {
			st = json_object();
			json_object_set_new(svcs, sv->name, st);
		}
		switch (c->op) {
		case SVC_SCALE: {
			json_t *v = json_object_get(c->args, names[i]);
			json_int_t want = json_integer_value(v);
			if (!json_is_integer(v) || want < 0 || want > SPEC_MAX_REPLICAS) {
				*msg = xasprintf("%s: expected a number of replicas between 0 and %d", names[i],
						 SPEC_MAX_REPLICAS);
				status = 400;
				goto out;
			}
			if (sv->deploy.mode == SPEC_MODE_GLOBAL) {
				*msg = xasprintf("%s is a global service (one instance per node): it cannot be scaled",
						 names[i]);
				status = 400;
				goto out;
			}
			json_object_set_new(st, "replicas", json_integer(want));
			break;
		}
		case SVC_STOP:
			json_object_set_new(st, "stopped", json_true());
			break;
		case SVC_START:
			json_object_del(st, "stopped");
			break;
		case SVC_RESTART:
			json_object_del(st, "stopped");
			json_object_set_new(st, "restart_gen",
					    json_integer(json_integer_value(json_object_get(st, "restart_gen")) + 1));
			break;
		}
		json_array_append_new(done, json_string(sv->name));
	}
	*out = json_incref(copy);
	m->reply = json_pack("{s:s, s:O}", "stack", m->stack, "services", done);
out:
	free(names);
	json_decref(done);
	json_decref(copy);
	spec_stack_free(s);
	return status;
}

static void post_services(struct agent *a, struct http_req *rq, const char *stack, enum svc_op op)
{
	char *err = NULL;
	json_t *body = rq->body_len ? http_req_json(rq, &err) : json_object();
	json_t *args;

	if (!body) {
		http_reply_error(rq, 400, "%s", err);
		free(err);
		return;
	}
	args = json_object_get(body, "services");
	if (op == SVC_SCALE ? !json_is_object(args) || !json_object_size(args)
			    : args && !json_is_array(args)) {
		json_decref(body);
		http_reply_error(rq, 400, op == SVC_SCALE ? "expected {\"services\": {\"NAME\": REPLICAS, ...}}"
							  : "expected {\"services\": [\"NAME\", ...]} (empty: all)");
		return;
	}
	struct svc_ctx *c = XNEW(struct svc_ctx);
	c->op = op;
	c->args = args ? json_incref(args) : json_array();
	json_decref(body);
	mutate_start(a, rq, stack, svc_fn, c, svc_ctx_free);
}

static void get_stacks(struct agent *a, struct http_req *rq)
{
	json_t *arr = json_array();
	const size_t pl = strlen("/berth/stacks/");

	for (int i = 0; i < a->stacks->n; i++) {
		const struct mirror_entry *e = &a->stacks->e[i];
		json_t *spec = json_object_get(e->json, "spec");
		json_t *insts = api__instances(a, e->key + pl, NULL);
		size_t k;
		json_t *v;
		int running = 0;
		json_array_foreach(insts, k, v)
			running += strcmp(json_string_value(json_object_get(v, "state")) ?: "", "running") == 0;
		json_array_append_new(arr, json_pack("{s:s, s:O?, s:O?, s:O?, s:i, s:i}", "name", e->key + pl,
						     "generation", json_object_get(e->json, "generation"), "updated_at",
						     json_object_get(e->json, "updated_at"), "project_dir",
						     json_object_get(spec, "project_dir"), "instances",
						     (int)json_array_size(insts), "running", running));
		json_decref(insts);
	}
	http_reply_json(rq, 200, arr);
}

static void get_stack(struct agent *a, struct http_req *rq, const char *stack, bool services_only)
{
	const struct mirror_entry *e = stack_entry(a, stack);
	struct spec_stack *s = NULL;
	char *err = NULL;

	if (!e) {
		http_reply_error(rq, 404, "no stack \"%s\"", stack);
		return;
	}
	if (spec_from_json(json_object_get(e->json, "spec"), &s, &err) < 0) {
		http_reply_error(rq, 500, "the stack's record is unreadable: %s", err);
		free(err);
		return;
	}
	json_t *svcs = json_array();
	for (int i = 0; i < s->nservices; i++)
		json_array_append_new(svcs, service_view(a, stack, &s->services[i], json_object_get(e->json, "state")));
	spec_stack_free(s);
	if (services_only) {
		http_reply_json(rq, 200, svcs);
		return;
	}
	json_t *j = json_pack("{s:s, s:O?, s:O?, s:O?, s:o}", "name", stack, "generation",
			      json_object_get(e->json, "generation"), "updated_at", json_object_get(e->json, "updated_at"),
			      "spec", json_object_get(e->json, "spec"), "services", svcs);
	http_reply_json(rq, 200, j);
}

/* ---- dispatch ---- */

bool api_routes_authorize(const struct http1_msg *head, bool tcp, void *arg)
{
	struct agent *a = arg;
	const struct http1_header *h;

	if (!tcp)
		return true; /* the unix socket: its permissions are the check */
	h = http1_find_header(head, SLICE_LIT("authorization"));
	if (!a->token || !h || h->value.len < 7 || strncmp(h->value.ptr, "Bearer ", 7) != 0)
		return false;
	const char *t = h->value.ptr + 7;
	size_t n = h->value.len - 7, m = strlen(a->token);
	unsigned diff = (unsigned)(n ^ m);
	for (size_t i = 0; i < n && i < m; i++)
		diff |= (unsigned)(t[i] ^ a->token[i]);
	return diff == 0;
}

static void get_info(struct agent *a, struct http_req *rq)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "version", BERTH_VERSION, "node",
			      a->cfg->node, "addr", a->cfg->addr, "data_dir", a->cfg->data_dir, "store", a->cfg->store,
			      "started_at", a->started_at, "pid", (int)getpid(), "lease", (json_int_t)a->lease,
			      "events_seq", (json_int_t)events_last_seq(a->events));
	json_object_set_new(j, "blocking_queries", json_integer(api__catalog_waiters()));
	json_object_set_new(j, "dns_port", json_integer(a->dns ? dns_server_port(a->dns) : 0));
	http_reply_json(rq, 200, j);
}

/* Prometheus text: the agent's own gauges and the log pipeline's. */
static void get_metrics(struct agent *a, struct http_req *rq)
{
	struct buf b = {0};

	buf_appendf(&b, "# HELP berth_agent_info The agent.\n# TYPE berth_agent_info gauge\n"
			"berth_agent_info{node=\"%s\",version=\"%s\"} 1\n",
		    a->cfg->node, BERTH_VERSION);
	buf_appendf(&b, "# HELP berth_agent_blocking_queries Catalog queries waiting for a change.\n"
			"# TYPE berth_agent_blocking_queries gauge\nberth_agent_blocking_queries %d\n",
		    api__catalog_waiters());
	if (a->logs)
		logs_metrics(a->logs, &b);
	buf_append(&b, "", 1);
	http_reply(rq, 200, "text/plain; version=0.0.4", NULL, buf_ptr(&b), b.data - 1);
	buf_free(&b);
}

void api_routes_handle(struct http_req *rq, void *arg)
{
	struct agent *a = arg;
	char *segs[8] = {0};
	int n = 0;
	char *path = xstrdup(rq->path), *save = NULL;

	/* TCP requests were authorized before their body was read
	 * (api_routes_authorize). */
	for (char *t = strtok_r(path, "/", &save); t && n < 8; t = strtok_r(NULL, "/", &save))
		segs[n++] = t;
	bool get = rq->method == HTTP1_M_GET || rq->method == HTTP1_M_HEAD;
	bool post = rq->method == HTTP1_M_POST;

	if (a->stopping) {
		http_reply_error(rq, 503, "the agent is stopping");
	} else if (n == 1 && strcmp(segs[0], "metrics") == 0 && get) {
		get_metrics(a, rq);
	} else if (n < 2 || strcmp(segs[0], "v1") != 0) {
		http_reply_error(rq, 404, "no such endpoint: %s (see docs/api.md)", rq->path);
	} else if (api__catalog_route(a, rq, segs, n)) {
		/* answered (or parked) there */
	} else if (n == 2 && strcmp(segs[1], "info") == 0 && get) {
		get_info(a, rq);
	} else if (n == 2 && strcmp(segs[1], "stacks") == 0 && get) {
		get_stacks(a, rq);
	} else if (n >= 3 && strcmp(segs[1], "stacks") == 0 && !api__valid_name(segs[2])) {
		http_reply_error(rq, 400, "bad stack name \"%s\"", segs[2]);
	} else if (n == 3 && strcmp(segs[1], "stacks") == 0) {
		if (get)
			get_stack(a, rq, segs[2], false);
		else if (rq->method == HTTP1_M_PUT)
			put_stack(a, rq, segs[2]);
		else if (rq->method == HTTP1_M_DELETE)
			mutate_start(a, rq, segs[2], delete_fn, NULL, NULL);
		else
			http_reply_error(rq, 405, "GET, PUT or DELETE");
	} else if (n == 4 && strcmp(segs[1], "stacks") == 0 && strcmp(segs[3], "services") == 0 && get) {
		get_stack(a, rq, segs[2], true);
	} else if (n == 4 && strcmp(segs[1], "stacks") == 0 && strcmp(segs[3], "instances") == 0 && get) {
		http_reply_json(rq, 200, api__instances(a, segs[2], NULL));
	} else if (n == 4 && strcmp(segs[1], "stacks") == 0 && post &&
		   (strcmp(segs[3], "scale") == 0 || strcmp(segs[3], "stop") == 0 || strcmp(segs[3], "start") == 0 ||
		    strcmp(segs[3], "restart") == 0)) {
		enum svc_op op = strcmp(segs[3], "scale") == 0	 ? SVC_SCALE
				 : strcmp(segs[3], "stop") == 0	 ? SVC_STOP
				 : strcmp(segs[3], "start") == 0 ? SVC_START
								 : SVC_RESTART;
		post_services(a, rq, segs[2], op);
	} else if (n == 7 && strcmp(segs[1], "instances") == 0 && strcmp(segs[5], "check") == 0 &&
		   (strcmp(segs[6], "pass") == 0 || strcmp(segs[6], "fail") == 0) &&
		   (rq->method == HTTP1_M_PUT || rq->method == HTTP1_M_POST)) {
		/* A TTL check's refresh: PUT /v1/instances/STACK/SVC/IDX/check/pass */
		char note[512];
		const char *nt = http_req_query(rq, "note", note, sizeof(note));
		char *end;
		long idx = strtol(segs[4], &end, 10);
		int rc = *end || idx < 1 || !a->runner ? -ENOENT
			 : runner_ttl(a->runner, segs[2], segs[3], (int)idx, strcmp(segs[6], "pass") == 0, nt);
		if (rc == -ENOENT)
			http_reply_error(rq, 404, "no instance %s.%s of stack %s runs on this node", segs[3], segs[4], segs[2]);
		else if (rc < 0)
			http_reply_error(rq, 409, "%s.%s has no ttl check (x-berth.check.ttl)", segs[3], segs[4]);
		else
			http_reply_json(rq, 200, json_pack("{s:b}", "ok", 1));
	} else if (n == 2 && strcmp(segs[1], "instances") == 0 && get) {
		char stack[128], svc[128];
		const char *s = http_req_query(rq, "stack", stack, sizeof(stack));
		const char *v = http_req_query(rq, "service", svc, sizeof(svc));
		http_reply_json(rq, 200, api__instances(a, s && *s ? s : NULL, v && *v ? v : NULL));
	} else if (n == 2 && (strcmp(segs[1], "logs") == 0 || strcmp(segs[1], "events") == 0) &&
		   rq->method == HTTP1_M_HEAD) {
		http_reply_error(rq, 405, "streams answer GET only");
	} else if (n == 2 && strcmp(segs[1], "logs") == 0 && get) {
		api__get_logs(a, rq);
	} else if (n == 2 && strcmp(segs[1], "events") == 0 && get) {
		api__get_events(a, rq);
	} else {
		http_reply_error(rq, 404, "no such endpoint: %s %s (see docs/api.md)", rq->method_str, rq->path);
	}
	free(path);
}

void api_routes_start(struct agent *a)
{
	api__catalog_start(a);
}

void api_routes_stop(struct agent *a)
{
	api__streams_stop(a);
}
