/* The agent API's routes (docs/api.md). Reads are answered from the
 * agent's mirrors of the store; writes go to the store (with a compare on
 * the record's mod_rev, retried on a race) and take effect through the
 * components watching it. Streams (logs, events) stay open until the
 * client goes or the agent stops. */
#include "api/routes.h"
#include "api/routes-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/events.h"
#include "agent/logs.h"
#include "agent/mirror.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "http/server.h"
#include "runner/runner.h"
#include "spec/spec.h"
#include "store/store.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

#define MUTATE_TRIES 8            /* compare-and-swap attempts on a busy record */
#define FOLLOW_POLL_MS 100        /* how often followed log files are looked at */
#define STREAM_HIGH (1024 * 1024) /* queued bytes beyond which a stream pauses */

struct stream;

struct api_state {
	struct stream *streams;
};

static struct api_state *state_of(struct agent *a)
{
	static struct api_state st; /* one agent per process */
	(void)a;
	return &st;
}

static void now_rfc3339(char *buf, size_t cap)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-' || *p == '.'))
			return false;
	return true;
}

/* ---- reading the mirrors ---- */

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
static json_t *instances(struct agent *a, const char *stack, const char *service)
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
	json_t *insts = instances(a, stack, s->name);
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
};

static void deploy_ctx_free(void *p)
{
	struct deploy_ctx *d = p;

	json_decref(d->spec);
	free(d);
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
	now_rfc3339(ts, sizeof(ts));
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
	spec_stack_free(s);
	json_decref(body);
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
		json_t *insts = instances(a, e->key + pl, NULL);
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

/* ---- streams: logs and events ---- */

struct follow {
	struct log_reader rd;
	char *instance;              /* "web.1" */
	char *service;
	int index;
};

struct stream {
	struct stream *next, *prev;
	struct agent *a;
	struct http_req *rq;
	char *stack;
	json_t *services;            /* names to show, or NULL: all */
	bool follow;
	struct follow *f;
	int nf;
	struct events_sub *sub;
	uv_timer_t timer;
	bool timer_open;
	bool dead;
};

static void stream_unlink(struct stream *s)
{
	struct api_state *st = state_of(s->a);

	if (s->prev)
		s->prev->next = s->next;
	else if (st->streams == s)
		st->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static void on_stream_timer_closed(uv_handle_t *h)
{
	struct stream *s = h->data;

	for (int i = 0; i < s->nf; i++) {
		log_reader_free(&s->f[i].rd);
		free(s->f[i].instance);
		free(s->f[i].service);
	}
	free(s->f);
	json_decref(s->services);
	free(s->stack);
	free(s);
}

/* Ends a stream's own resources; the request is answered or gone already. */
static void stream_release(struct stream *s)
{
	if (s->dead)
		return;
	s->dead = true;
	stream_unlink(s);
	if (s->sub)
		events_unsubscribe(s->sub);
	s->sub = NULL;
	/* Freed from the close callback, never right here: callers up the
	 * stack (a write that failed) may still look at the stream. */
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, on_stream_timer_closed);
}

static void on_stream_abort(struct http_req *rq)
{
	struct stream *s = rq->user;

	s->rq = NULL;
	stream_release(s);
}

static void stream_end(struct stream *s)
{
	struct http_req *rq = s->rq;

	s->rq = NULL;
	if (rq) {
		rq->on_abort = NULL;
		http_stream_end(rq);
	}
	stream_release(s);
}

/* Links a new stream, gives it its timer, and starts the chunked answer. */
static void stream_register(struct stream *s, struct http_req *rq)
{
	struct api_state *st = state_of(s->a);

	rq->user = s;
	rq->on_abort = on_stream_abort;
	s->next = st->streams;
	if (st->streams)
		st->streams->prev = s;
	st->streams = s;
	uv_timer_init(s->a->loop, &s->timer);
	s->timer.data = s;
	s->timer_open = true;
	http_stream_start(rq, 200, "application/x-ndjson", NULL);
}

static bool wanted_service(const struct stream *s, const char *svc)
{
	size_t i;
	json_t *v;

	if (!s->services || !json_array_size(s->services))
		return true;
	json_array_foreach(s->services, i, v)
		if (strcmp(json_string_value(v) ?: "", svc) == 0)
			return true;
	return false;
}

static void stream_send(struct stream *s, json_t *j)
{
	char *text;

	if (!s->rq)
		return;
	text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	http_stream_write(s->rq, text, n);
	free(text);
}

static void send_line(struct stream *s, const struct follow *f, const struct log_line *l)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s%}", "t", "log", "instance", f->instance, "service",
			      f->service, "index", f->index, "stream", l->stderr_ ? "stderr" : "stdout", "time", l->time,
			      "line", l->text, l->len);
	stream_send(s, j);
	json_decref(j);
}

struct live_ctx {
	struct stream *s;
	struct follow *f;
};

static void on_live_line(const struct log_line *l, void *arg)
{
	struct live_ctx *c = arg;

	send_line(c->s, c->f, l);
}

/* Adds a reader for every instance of the selection not followed yet. */
static int add_followers(struct stream *s)
{
	json_t *insts = instances(s->a, s->stack, NULL);
	size_t i;
	json_t *v;
	int added = 0;

	json_array_foreach(insts, i, v) {
		const char *svc = json_string_value(json_object_get(v, "service"));
		const char *inst = json_string_value(json_object_get(v, "instance"));
		const char *node = json_string_value(json_object_get(v, "node"));
		int idx = (int)json_integer_value(json_object_get(v, "index"));
		bool have = false;
		if (!svc || !inst || !wanted_service(s, svc))
			continue;
		/* Logs live on the instance's node; this agent serves its own. */
		if (node && strcmp(node, s->a->cfg->node) != 0)
			continue;
		for (int k = 0; k < s->nf && !have; k++)
			have = strcmp(s->f[k].instance, inst) == 0;
		if (have)
			continue;
		s->f = xrealloc(s->f, sizeof(*s->f) * (size_t)(s->nf + 1));
		struct follow *f = &s->f[s->nf];
		memset(f, 0, sizeof(*f));
		char *path = runner_log_path(s->a->cfg->data_dir, s->stack, svc, idx);
		log_reader_init(&f->rd, path, s->nf);
		free(path);
		f->instance = xstrdup(inst);
		f->service = xstrdup(svc);
		f->index = idx;
		s->nf++;
		added++;
	}
	json_decref(insts);
	return added;
}

static void on_follow_timer(uv_timer_t *t)
{
	struct stream *s = t->data;

	if (!s->rq)
		return;
	/* A client that does not read: wait for it, do not buffer more. */
	if (http_stream_write(s->rq, NULL, 0) > STREAM_HIGH)
		return;
	int before = s->nf;
	add_followers(s);
	for (int i = 0; i < s->nf; i++) {
		struct live_ctx c = {s, &s->f[i]};
		/* A new instance's log is read from its start. */
		(void)before;
		log_reader_poll(&s->f[i].rd, on_live_line, &c);
	}
}

static int line_cmp(const void *x, const void *y)
{
	const struct log_line *a = x, *b = y;
	int c = logs_time_cmp(a->time, b->time);

	return c ? c : a->src - b->src;
}

static void on_stream_event(struct events_sub *sub, const struct event_rec *ev, void *arg)
{
	struct stream *s = arg;

	if (s->dead || !s->rq || (s->stack && (!ev->stack || strcmp(ev->stack, s->stack) != 0)))
		return;
	if (ev->service && !wanted_service(s, ev->service))
		return;
	char *line = xmalloc(ev->len + 1);
	memcpy(line, ev->text, ev->len);
	line[ev->len] = '\n';
	http_stream_write(s->rq, line, ev->len + 1);
	free(line);
}

/* Parses --since: an RFC 3339 time, or a duration ago ("10m"). */
static bool since_param(const char *v, char *out, size_t cap)
{
	uint64_t ms;

	if (!v || !*v) {
		out[0] = 0;
		return true;
	}
	if (duration_parse(v, &ms) == 0) {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		time_t t = tv.tv_sec - (time_t)(ms / 1000);
		gmtime_r(&t, &tm);
		strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
		return true;
	}
	if (strlen(v) < 10 || strlen(v) >= cap || v[4] != '-')
		return false;
	snprintf(out, cap, "%s", v);
	return true;
}

static void get_logs(struct agent *a, struct http_req *rq)
{
	char stack[128], svcs[1024], tail_s[32], since_s[64], follow_s[8], events_s[8], since[64], after_s[32];
	const char *stk = http_req_query(rq, "stack", stack, sizeof(stack));
	const char *sv = http_req_query(rq, "services", svcs, sizeof(svcs));
	const char *tl = http_req_query(rq, "tail", tail_s, sizeof(tail_s));
	const char *sn = http_req_query(rq, "since", since_s, sizeof(since_s));
	const char *fl = http_req_query(rq, "follow", follow_s, sizeof(follow_s));
	const char *ev = http_req_query(rq, "events", events_s, sizeof(events_s));
	const char *af = http_req_query(rq, "after", after_s, sizeof(after_s));
	uint64_t after = af && *af ? strtoull(af, NULL, 10) : UINT64_MAX;
	int tail = -1;

	if (!stk || !valid_name(stk)) {
		http_reply_error(rq, 400, "logs need ?stack=NAME");
		return;
	}
	if (tl && *tl && strcmp(tl, "all") != 0) {
		char *end;
		long t = strtol(tl, &end, 10);
		if (*end || t < 0) {
			http_reply_error(rq, 400, "tail: expected a number of lines or \"all\"");
			return;
		}
		tail = (int)t;
	}
	if (!since_param(sn, since, sizeof(since))) {
		http_reply_error(rq, 400, "since: expected an RFC 3339 time or a duration (10m, 2h)");
		return;
	}
	if (!stack_entry(a, stk) && !(fl && strcmp(fl, "1") == 0)) {
		http_reply_error(rq, 404, "no stack \"%s\"", stk);
		return;
	}
	struct stream *s = XNEW(struct stream);
	s->a = a;
	s->rq = rq;
	s->stack = xstrdup(stk);
	s->follow = fl && strcmp(fl, "1") == 0;
	if (sv && *sv) {
		s->services = json_array();
		char *dup = xstrdup(sv), *save = NULL;
		for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(s->services, json_string(t));
		free(dup);
	}
	stream_register(s, rq);

	/* The past first: every selected instance's lines, merged by time. */
	add_followers(s);
	struct log_line *all = NULL;
	int nall = 0;
	for (int i = 0; i < s->nf; i++) {
		struct log_line *l;
		int n;
		if (logs_read(&s->f[i].rd, tail, since, &l, &n) < 0)
			continue;
		if (n) {
			all = xrealloc(all, sizeof(*all) * (size_t)(nall + n + 1));
			memcpy(all + nall, l, sizeof(*l) * (size_t)n);
			nall += n;
		}
		free(l);
	}
	if (nall > 1)
		qsort(all, (size_t)nall, sizeof(*all), line_cmp);
	for (int i = 0; i < nall; i++)
		send_line(s, &s->f[all[i].src], &all[i]);
	logs_lines_free(all, nall);
	if (!s->rq)
		return; /* the client went away meanwhile */
	if (!s->follow) {
		stream_end(s);
		return;
	}
	if (ev && strcmp(ev, "1") == 0)
		s->sub = events_subscribe(a->events, after, on_stream_event, s);
	uv_timer_start(&s->timer, on_follow_timer, FOLLOW_POLL_MS, FOLLOW_POLL_MS);
}

static void get_events(struct agent *a, struct http_req *rq)
{
	char stack[128], after_s[32];
	const char *stk = http_req_query(rq, "stack", stack, sizeof(stack));
	const char *af = http_req_query(rq, "after", after_s, sizeof(after_s));
	uint64_t after = af && *af ? strtoull(af, NULL, 10) : UINT64_MAX;

	struct stream *s = XNEW(struct stream);
	s->a = a;
	s->rq = rq;
	s->stack = xstrdup(stk ? stk : "");
	stream_register(s, rq);
	if (!stk || !*stk) {
		/* Every stack: filter nothing. */
		free(s->stack);
		s->stack = NULL;
	}
	s->sub = events_subscribe(a->events, after, on_stream_event, s);
}

/* ---- dispatch ---- */

static bool token_ok(struct agent *a, struct http_req *rq)
{
	char auth[600];
	const char *h = http_req_header(rq, "Authorization", auth, sizeof(auth));

	if (!a->token || !h || strncmp(h, "Bearer ", 7) != 0)
		return false;
	const char *t = h + 7;
	size_t n = strlen(t), m = strlen(a->token);
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
	http_reply_json(rq, 200, j);
}

void api_routes_handle(struct http_req *rq, void *arg)
{
	struct agent *a = arg;
	char *segs[8] = {0};
	int n = 0;
	char *path = xstrdup(rq->path), *save = NULL;

	if (rq->tcp && !token_ok(a, rq)) {
		http_reply(rq, 401, "application/json", "WWW-Authenticate: Bearer\r\n",
			   "{\"error\":\"a bearer token is required\"}\n", 38);
		free(path);
		return;
	}
	for (char *t = strtok_r(path, "/", &save); t && n < 8; t = strtok_r(NULL, "/", &save))
		segs[n++] = t;
	bool get = rq->method == HTTP1_M_GET || rq->method == HTTP1_M_HEAD;
	bool post = rq->method == HTTP1_M_POST;

	if (a->stopping) {
		http_reply_error(rq, 503, "the agent is stopping");
	} else if (n < 2 || strcmp(segs[0], "v1") != 0) {
		http_reply_error(rq, 404, "no such endpoint: %s (see docs/api.md)", rq->path);
	} else if (api__catalog_route(a, rq, segs, n)) {
		/* answered (or parked) there */
	} else if (n == 2 && strcmp(segs[1], "info") == 0 && get) {
		get_info(a, rq);
	} else if (n == 2 && strcmp(segs[1], "stacks") == 0 && get) {
		get_stacks(a, rq);
	} else if (n >= 3 && strcmp(segs[1], "stacks") == 0 && !valid_name(segs[2])) {
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
		http_reply_json(rq, 200, instances(a, segs[2], NULL));
	} else if (n == 4 && strcmp(segs[1], "stacks") == 0 && post &&
		   (strcmp(segs[3], "scale") == 0 || strcmp(segs[3], "stop") == 0 || strcmp(segs[3], "start") == 0 ||
		    strcmp(segs[3], "restart") == 0)) {
		enum svc_op op = strcmp(segs[3], "scale") == 0	 ? SVC_SCALE
				 : strcmp(segs[3], "stop") == 0	 ? SVC_STOP
				 : strcmp(segs[3], "start") == 0 ? SVC_START
								 : SVC_RESTART;
		post_services(a, rq, segs[2], op);
	} else if (n == 2 && strcmp(segs[1], "instances") == 0 && get) {
		char stack[128], svc[128];
		const char *s = http_req_query(rq, "stack", stack, sizeof(stack));
		const char *v = http_req_query(rq, "service", svc, sizeof(svc));
		http_reply_json(rq, 200, instances(a, s && *s ? s : NULL, v && *v ? v : NULL));
	} else if (n == 2 && strcmp(segs[1], "logs") == 0 && get) {
		get_logs(a, rq);
	} else if (n == 2 && strcmp(segs[1], "events") == 0 && get) {
		get_events(a, rq);
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
	struct api_state *st = state_of(a);

	while (st->streams)
		stream_end(st->streams);
}
