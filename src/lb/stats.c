/* The stats listener of berth lb: its counters as an HTML page, JSON and Prometheus text. */

/*
 * Routes, GET or HEAD only, behind basic auth when stats.auth is set:
 *   /stats                    HTML page that refreshes itself every 5 s
 *   /stats.json, /stats;json  JSON, described below
 *   /metrics                  Prometheus text exposition format 0.0.4
 *
 * Counters are the sums over every worker thread's copy. They start at zero
 * when a frontend, backend or server first appears, and a reload keeps them
 * as long as the name stays.
 *
 * JSON:
 *   {"process": {"pid", "uptime_seconds", "start_time_seconds" (Unix time),
 *                "threads", "generation" (1 for the first config, +1 per
 *                reload), "reloads", "reload_failures"},
 *    "frontends": [{"name", "mode" ("http" | "tcp"), "current_connections",
 *                   <frontend counters>, "responses"}],
 *    "backends": [{"name", "balance" (as written in the config, e.g.
 *                  "roundrobin" or "hash header X-User"), "servers_up",
 *                  "servers_total", "current_connections" (sum over its
 *                  servers), "queue_current", "queue_max",
 *                  <backend counters>, "responses",
 *                  "servers": [{"name", "addr", "status" ("UP" | "DOWN"),
 *                               "check" ("ok" | "failed" | "none"),
 *                               "weight", "backup" (bool),
 *                               "current_connections", "max_connections"
 *                               (highest seen), "maxconn" (limit, 0 = none),
 *                               "last_change_seconds",
 *                               <backend counters>, "responses"}]}]}
 *   "responses": {"1xx", "2xx", "3xx", "4xx", "5xx", "other"}
 *   <frontend counters>: "connections", "requests", "bytes_in" (from
 *     clients), "bytes_out" (to clients), "request_errors", "denied".
 *   <backend counters> (backends and servers): "connections", "requests",
 *     "bytes_in" (sent to servers), "bytes_out" (received from servers),
 *     "connect_errors", "response_errors", "retries", "redispatches",
 *     "queued", "queue_timeouts", "denied".
 *
 * Prometheus (every family is prefixed berth_lb_):
 *   process_start_time_seconds, process_uptime_seconds, process_threads,
 *   process_generation (gauges); process_reloads_total,
 *   process_reload_failures_total (counters).
 *   {frontend="NAME"}: frontend_current_connections (gauge);
 *   frontend_<c>_total for each frontend counter <c> above;
 *   frontend_responses_total{frontend,code="1xx".."5xx"|"other"}.
 *   {backend="NAME"}: backend_servers_up, backend_servers,
 *   backend_current_connections, backend_queue_current (gauges);
 *   backend_<c>_total for each backend counter <c> above;
 *   backend_responses_total{backend,code}.
 *   {backend="B",server="S"}: server_up (1/0), server_check_status (1 ok,
 *   0 none, -1 failed), server_weight, server_backup (1/0),
 *   server_current_connections, server_max_connections, server_maxconn,
 *   server_last_change_seconds (gauges); server_<c>_total for each backend
 *   counter <c>; server_responses_total{backend,server,code}.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "lb/lb-int.h"

#define STATS_IDLE_MS 30000    /* a connection must send a whole request within this */
#define STATS_LINGER_MS 2000   /* reading, then dropping, after a final response */
#define STATS_MAX_HEAD 16384   /* request head limit */
#define STATS_MAX_CONNS 256    /* beyond, new connections are closed at once */
#define STATS_MAX_AUTH 1024    /* longest Authorization token considered */

enum stats_fmt {
	STATS_FMT_HTML = 0, /* values fixed by lb__stats_render()'s contract */
	STATS_FMT_JSON = 1,
	STATS_FMT_PROM = 2,
};

struct stats_conn;

struct lb_stats {
	struct lb_proc *proc;
	uv_tcp_t tcp;               /* the listener */
	char *bind_text;            /* for logs */
	char *cred;                 /* "user:pass" expected in Basic auth, NULL = open */
	struct stats_conn *conns;   /* every connection not freed yet */
	int nconns;
	bool closing;               /* lb__stats_stop() ran: free once all handles closed */
	bool listener_closed;       /* the listener's close callback ran */
	struct http1_msg msg;       /* parse scratch: a head is answered as soon as parsed */
};

struct stats_conn {
	struct lb_stats *st;
	struct stats_conn *next;    /* st->conns */
	struct stats_conn **pprev;
	uv_tcp_t tcp;
	uv_timer_t timer;           /* idle, then linger timeout */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct buf in;              /* received bytes not yet answered */
	struct buf out;             /* response being written */
	int nclosed;                /* close callbacks seen; freed at 2 */
	bool writing;               /* a response is in flight; reading is stopped */
	bool last;                  /* close (lingering) once the response is out */
	bool lingering;             /* response out, FIN sent: reading to drop */
	bool closing;               /* uv_close() called on both handles */
};

static const struct http1_limits stats_limits = {
	.max_head = STATS_MAX_HEAD,
	.max_headers = HTTP1_MAX_HEADERS,
};

/* ------------------------------------------------------------------ */
/* Snapshot: everything read from the world first, formatted after. */

struct snap_srv {
	struct lb_server *s;        /* ref held until snap_release() */
	struct lb_counters c;       /* summed over threads */
	int state;                  /* enum lb_srv_state */
	int check;                  /* 1 ok, 0 none, -1 failed */
	int cur_conns;
	int max_conns;
	uint64_t since_s;           /* seconds since the last state change */
};

struct snap_be {
	const struct lb_backend *be; /* borrowed from the world */
	const struct lb_backend_cfg *cfg;
	struct lb_counters c;
	enum lb_algo algo;
	int nqueued;
	int queue_max;
	int nup;                    /* servers UP */
	int cur_conns;              /* sum over its servers */
	int nsrv;
	struct snap_srv *srv;
};

struct snap_fe {
	const struct lb_frontend *fe; /* borrowed from the world */
	const struct lb_frontend_cfg *cfg;
	struct lb_counters c;
	int cur_conns;
};

struct snap {
	struct lb_world *w;         /* ref held, NULL before any config */
	long pid;
	uint64_t start_s;           /* Unix time of the start */
	uint64_t uptime_s;
	int threads;
	uint64_t generation;
	uint64_t reloads;
	uint64_t reload_failures;
	int nfe;
	struct snap_fe *fe;
	int nbe;
	struct snap_be *be;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Workers bump their own copy without locks; a relaxed load is enough to
 * get a value that was current at some point, which is all stats promise. */
static uint64_t ld(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* Sums the <n> per-thread copies at <src> into <dst>. */
static void sum_counters(struct lb_counters *dst, const struct lb_counters *src, int n)
{
	memset(dst, 0, sizeof(*dst));
	for (int t = 0; t < n; t++) {
		const struct lb_counters *c = &src[t];
		dst->conns += ld(&c->conns);
		dst->reqs += ld(&c->reqs);
		for (int k = 0; k < 6; k++)
			dst->resp[k] += ld(&c->resp[k]);
		dst->bytes_in += ld(&c->bytes_in);
		dst->bytes_out += ld(&c->bytes_out);
		dst->err_req += ld(&c->err_req);
		dst->err_conn += ld(&c->err_conn);
		dst->err_resp += ld(&c->err_resp);
		dst->retries += ld(&c->retries);
		dst->redispatches += ld(&c->redispatches);
		dst->queued += ld(&c->queued);
		dst->queue_timeouts += ld(&c->queue_timeouts);
		dst->denied += ld(&c->denied);
	}
}

/* Takes the current world of <p> and copies what stats show. Takes
 * p->world_lock and each backend's lock, briefly. Release with
 * snap_release(). */
static void snap_take(struct lb_proc *p, struct snap *sn)
{
	uint64_t now_wall = wall_ms(), now_mono = time_mono_ms();
	struct lb_world *w;

	memset(sn, 0, sizeof(*sn));
	pthread_mutex_lock(&p->world_lock);
	w = p->world;
	if (w)
		lb__world_ref(w);
	pthread_mutex_unlock(&p->world_lock);

	sn->w = w;
	sn->pid = (long)getpid();
	sn->start_s = p->start_ms / 1000;
	sn->uptime_s = now_wall > p->start_ms ? (now_wall - p->start_ms) / 1000 : 0;
	sn->threads = p->nthreads;
	sn->generation = w ? w->generation : p->generation;
	sn->reloads = atomic_load(&p->reloads);
	sn->reload_failures = atomic_load(&p->reload_failures);
	if (!w)
		return;

	sn->nfe = w->cfg->nfes;
	sn->fe = XNEWV(struct snap_fe, sn->nfe);
	for (int i = 0; i < sn->nfe; i++) {
		struct snap_fe *f = &sn->fe[i];
		f->fe = w->fe[i];
		f->cfg = &w->cfg->fes[i];
		f->cur_conns = atomic_load(&w->fe[i]->cur_conns);
		sum_counters(&f->c, w->fe[i]->cnt, p->nthreads);
	}

	sn->nbe = w->cfg->nbes;
	sn->be = XNEWV(struct snap_be, sn->nbe);
	for (int i = 0; i < sn->nbe; i++) {
		struct lb_backend *be = w->be[i];
		struct snap_be *b = &sn->be[i];

		b->be = be;
		b->cfg = &w->cfg->bes[i];
		/* The set may be swapped by a reload or the catalog at any time:
		 * hold each server while it is read, outside the lock. */
		pthread_mutex_lock(&be->lock);
		b->algo = be->algo;
		b->nqueued = be->nqueued;
		b->queue_max = be->queue_max;
		b->nsrv = be->nsrv;
		b->srv = XNEWV(struct snap_srv, b->nsrv);
		for (int j = 0; j < b->nsrv; j++) {
			b->srv[j].s = be->srv[j];
			lb__server_ref(be->srv[j]);
		}
		pthread_mutex_unlock(&be->lock);

		sum_counters(&b->c, be->cnt, be->nthreads);
		for (int j = 0; j < b->nsrv; j++) {
			struct snap_srv *v = &b->srv[j];
			struct lb_server *s = v->s;
			uint64_t changed = atomic_load(&s->last_change_ms);

			v->state = atomic_load(&s->state);
			v->check = atomic_load(&s->check_status);
			v->cur_conns = atomic_load(&s->cur_conns);
			v->max_conns = atomic_load(&s->max_conns);
			v->since_s = now_mono > changed ? (now_mono - changed) / 1000 : 0;
			sum_counters(&v->c, s->cnt, be->nthreads);
			if (v->state == LB_SRV_UP)
				b->nup++;
			b->cur_conns += v->cur_conns;
		}
	}
}

static void snap_release(struct snap *sn)
{
	for (int i = 0; i < sn->nbe; i++) {
		for (int j = 0; j < sn->be[i].nsrv; j++)
			lb__server_unref(sn->be[i].srv[j].s);
		free(sn->be[i].srv);
	}
	free(sn->be);
	free(sn->fe);
	if (sn->w)
		lb__world_unref(sn->w);
	memset(sn, 0, sizeof(*sn));
}

/* ------------------------------------------------------------------ */
/* Names and counters shared by the three formats. */

#define SC_FE 0x1 /* counter shown for frontends */
#define SC_BE 0x2 /* ... for backends and servers */

/* The counters as data: JSON field, Prometheus family (<scope>_<name>_total)
 * and HELP text, from one row each. "responses" is not here: it is a group. */
static const struct counter_def {
	const char *name;
	size_t off;               /* in struct lb_counters */
	unsigned scopes;          /* SC_* */
	const char *help_fe;
	const char *help_be;
} counter_defs[] = {
	{"connections", offsetof(struct lb_counters, conns), SC_FE | SC_BE,
	 "Client connections accepted.", "Connections opened to servers."},
	{"requests", offsetof(struct lb_counters, reqs), SC_FE | SC_BE,
	 "HTTP requests received.", "HTTP requests sent to servers."},
	{"bytes_in", offsetof(struct lb_counters, bytes_in), SC_FE | SC_BE,
	 "Bytes received from clients.", "Bytes sent to servers."},
	{"bytes_out", offsetof(struct lb_counters, bytes_out), SC_FE | SC_BE,
	 "Bytes sent to clients.", "Bytes received from servers."},
	{"request_errors", offsetof(struct lb_counters, err_req), SC_FE,
	 "Malformed or refused client requests.", NULL},
	{"connect_errors", offsetof(struct lb_counters, err_conn), SC_BE,
	 NULL, "Failed or timed out connects to servers."},
	{"response_errors", offsetof(struct lb_counters, err_resp), SC_BE,
	 NULL, "Server resets, timeouts and bad responses."},
	{"retries", offsetof(struct lb_counters, retries), SC_BE,
	 NULL, "Attempts made again after a failure."},
	{"redispatches", offsetof(struct lb_counters, redispatches), SC_BE,
	 NULL, "Attempts moved to another server."},
	{"queued", offsetof(struct lb_counters, queued), SC_BE,
	 NULL, "Requests that waited for a free server slot."},
	{"queue_timeouts", offsetof(struct lb_counters, queue_timeouts), SC_BE,
	 NULL, "Requests that gave up waiting for a server slot."},
	{"denied", offsetof(struct lb_counters, denied), SC_FE | SC_BE,
	 "Requests or connections denied.", "Requests refused by maxconn limits."},
};

#define NCOUNTERS (sizeof(counter_defs) / sizeof(counter_defs[0]))

static uint64_t counter_get(const struct lb_counters *c, const struct counter_def *d)
{
	return *(const uint64_t *)((const char *)c + d->off);
}

/* Response classes in display order, with their index in lb_counters.resp. */
static const struct {
	const char *name;
	int idx;
} resp_classes[] = {
	{"1xx", 1}, {"2xx", 2}, {"3xx", 3}, {"4xx", 4}, {"5xx", 5}, {"other", 0},
};

static const char *const algo_names[] = {
	[LB_ALGO_ROUNDROBIN] = "roundrobin",
	[LB_ALGO_LEASTCONN] = "leastconn",
	[LB_ALGO_SOURCE] = "source",
	[LB_ALGO_RANDOM] = "random",
	[LB_ALGO_HASH_URI] = "hash uri",
	[LB_ALGO_HASH_HEADER] = "hash header",
	[LB_ALGO_HASH_COOKIE] = "hash cookie",
};

/* Writes the balance setting of <b> as the config spells it into <dst>. */
static void balance_text(const struct snap_be *b, char *dst, size_t cap)
{
	const char *name = "unknown";

	if ((unsigned)b->algo < sizeof(algo_names) / sizeof(algo_names[0]) && algo_names[b->algo])
		name = algo_names[b->algo];
	if ((b->algo == LB_ALGO_HASH_HEADER || b->algo == LB_ALGO_HASH_COOKIE) && b->cfg->hash_key)
		snprintf(dst, cap, "%s %s", name, b->cfg->hash_key);
	else
		snprintf(dst, cap, "%s", name);
}

static const char *check_name(int check)
{
	return check > 0 ? "ok" : check < 0 ? "failed" : "none";
}

/* ------------------------------------------------------------------ */
/* JSON */

static void json_put_u64(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void json_put_counters(json_t *o, const struct lb_counters *c, unsigned scope)
{
	json_t *r = json_object();

	for (size_t i = 0; i < NCOUNTERS; i++)
		if (counter_defs[i].scopes & scope)
			json_put_u64(o, counter_defs[i].name, counter_get(c, &counter_defs[i]));
	for (size_t i = 0; i < 6; i++)
		json_put_u64(r, resp_classes[i].name, c->resp[resp_classes[i].idx]);
	json_object_set_new(o, "responses", r);
}

static void render_json(const struct snap *sn, struct buf *out)
{
	json_t *root = json_object(), *proc = json_object();
	json_t *fes = json_array(), *bes = json_array();
	char bal[256];
	char *text;

	json_object_set_new(proc, "pid", json_integer(sn->pid));
	json_put_u64(proc, "uptime_seconds", sn->uptime_s);
	json_put_u64(proc, "start_time_seconds", sn->start_s);
	json_object_set_new(proc, "threads", json_integer(sn->threads));
	json_put_u64(proc, "generation", sn->generation);
	json_put_u64(proc, "reloads", sn->reloads);
	json_put_u64(proc, "reload_failures", sn->reload_failures);
	json_object_set_new(root, "process", proc);

	for (int i = 0; i < sn->nfe; i++) {
		const struct snap_fe *f = &sn->fe[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(f->fe->name));
		json_object_set_new(o, "mode", json_string(f->cfg->mode == LB_MODE_TCP ? "tcp" : "http"));
		json_object_set_new(o, "current_connections", json_integer(f->cur_conns));
		json_put_counters(o, &f->c, SC_FE);
		json_array_append_new(fes, o);
	}
	json_object_set_new(root, "frontends", fes);

	for (int i = 0; i < sn->nbe; i++) {
		const struct snap_be *b = &sn->be[i];
		json_t *o = json_object(), *srvs = json_array();
		balance_text(b, bal, sizeof(bal));
		json_object_set_new(o, "name", json_string(b->be->name));
		json_object_set_new(o, "balance", json_string(bal));
		json_object_set_new(o, "servers_up", json_integer(b->nup));
		json_object_set_new(o, "servers_total", json_integer(b->nsrv));
		json_object_set_new(o, "current_connections", json_integer(b->cur_conns));
		json_object_set_new(o, "queue_current", json_integer(b->nqueued));
		json_object_set_new(o, "queue_max", json_integer(b->queue_max));
		json_put_counters(o, &b->c, SC_BE);
		for (int j = 0; j < b->nsrv; j++) {
			const struct snap_srv *v = &b->srv[j];
			json_t *s = json_object();
			json_object_set_new(s, "name", json_string(v->s->name));
			json_object_set_new(s, "addr", json_string(v->s->addr_text));
			json_object_set_new(s, "status", json_string(v->state == LB_SRV_UP ? "UP" : "DOWN"));
			json_object_set_new(s, "check", json_string(check_name(v->check)));
			json_object_set_new(s, "weight", json_integer(v->s->weight));
			json_object_set_new(s, "backup", json_boolean(v->s->backup));
			json_object_set_new(s, "current_connections", json_integer(v->cur_conns));
			json_object_set_new(s, "max_connections", json_integer(v->max_conns));
			json_object_set_new(s, "maxconn", json_integer(v->s->maxconn));
			json_put_u64(s, "last_change_seconds", v->since_s);
			json_put_counters(s, &v->c, SC_BE);
			json_array_append_new(srvs, s);
		}
		json_object_set_new(o, "servers", srvs);
		json_array_append_new(bes, o);
	}
	json_object_set_new(root, "backends", bes);

	/* json_string() returns NULL on invalid UTF-8; names come from a YAML
	 * file libfyaml decoded, so that would be a bug upstream. Dumping
	 * still works: a NULL value makes json_object_set_new() skip it. */
	text = json_dumps(root, JSON_INDENT(2));
	if (text) {
		buf_appends(out, text);
		buf_appends(out, "\n");
		free(text);
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* Prometheus text format 0.0.4 */

/* Appends <s> as a label value: backslash, double quote and line feed are
 * the three characters the format escapes. */
static void prom_escape(struct buf *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_appends(o, "\\\\");
		else if (*s == '"')
			buf_appends(o, "\\\"");
		else if (*s == '\n')
			buf_appends(o, "\\n");
		else
			buf_append(o, s, 1);
	}
}

static void prom_family(struct buf *o, const char *scope, const char *name, const char *type,
			const char *help)
{
	buf_appendf(o, "# HELP berth_lb_%s_%s %s\n# TYPE berth_lb_%s_%s %s\n", scope, name, help, scope,
		    name, type);
}

/* Objects of one scope, with their labels written once. */
struct prom_row {
	char *labels;               /* `frontend="web"`, escaped; owned */
	const struct lb_counters *c;
	const struct snap_fe *fe;   /* exactly one of these three is set */
	const struct snap_be *be;
	const struct snap_srv *srv;
};

static char *prom_labels(const char *k1, const char *v1, const char *k2, const char *v2)
{
	struct buf b = {0};

	buf_appendf(&b, "%s=\"", k1);
	prom_escape(&b, v1);
	buf_appends(&b, "\"");
	if (k2) {
		buf_appendf(&b, ",%s=\"", k2);
		prom_escape(&b, v2);
		buf_appends(&b, "\"");
	}
	buf_append(&b, "", 1);
	return b.area;
}

/* A gauge read from a row. */
struct prom_gauge {
	const char *name;
	const char *help;
	int64_t (*get)(const struct prom_row *r);
};

static int64_t g_fe_cur(const struct prom_row *r) { return r->fe->cur_conns; }
static int64_t g_be_up(const struct prom_row *r) { return r->be->nup; }
static int64_t g_be_total(const struct prom_row *r) { return r->be->nsrv; }
static int64_t g_be_cur(const struct prom_row *r) { return r->be->cur_conns; }
static int64_t g_be_queue(const struct prom_row *r) { return r->be->nqueued; }
static int64_t g_srv_up(const struct prom_row *r) { return r->srv->state == LB_SRV_UP; }
static int64_t g_srv_check(const struct prom_row *r) { return r->srv->check; }
static int64_t g_srv_weight(const struct prom_row *r) { return r->srv->s->weight; }
static int64_t g_srv_backup(const struct prom_row *r) { return r->srv->s->backup; }
static int64_t g_srv_cur(const struct prom_row *r) { return r->srv->cur_conns; }
static int64_t g_srv_max(const struct prom_row *r) { return r->srv->max_conns; }
static int64_t g_srv_maxconn(const struct prom_row *r) { return r->srv->s->maxconn; }
static int64_t g_srv_since(const struct prom_row *r) { return (int64_t)r->srv->since_s; }

static const struct prom_gauge fe_gauges[] = {
	{"current_connections", "Client connections open now.", g_fe_cur},
	{NULL, NULL, NULL},
};

static const struct prom_gauge be_gauges[] = {
	{"servers_up", "Servers of the backend that are UP.", g_be_up},
	{"servers", "Servers of the backend.", g_be_total},
	{"current_connections", "Requests or connections assigned to its servers now.", g_be_cur},
	{"queue_current", "Requests waiting for a server slot now.", g_be_queue},
	{NULL, NULL, NULL},
};

static const struct prom_gauge srv_gauges[] = {
	{"up", "1 if the server is UP, 0 if DOWN.", g_srv_up},
	{"check_status", "Last health check: 1 ok, -1 failed, 0 none.", g_srv_check},
	{"weight", "Configured weight.", g_srv_weight},
	{"backup", "1 for a backup server.", g_srv_backup},
	{"current_connections", "Requests or connections assigned now.", g_srv_cur},
	{"max_connections", "Highest number of connections assigned at once.", g_srv_max},
	{"maxconn", "Connection limit, 0 for none.", g_srv_maxconn},
	{"last_change_seconds", "Seconds since the last UP/DOWN change.", g_srv_since},
	{NULL, NULL, NULL},
};

/* Writes every family of one scope ("frontend", "backend", "server"). Each
 * family is written whole, HELP and TYPE then all its samples, even when
 * there are no rows: the format forbids a family in two pieces. */
static void prom_scope(struct buf *o, const char *scope, unsigned sc, const struct prom_gauge *gauges,
		       const struct prom_row *rows, int n)
{
	char name[64];

	for (const struct prom_gauge *g = gauges; g->name; g++) {
		prom_family(o, scope, g->name, "gauge", g->help);
		for (int i = 0; i < n; i++)
			buf_appendf(o, "berth_lb_%s_%s{%s} %" PRId64 "\n", scope, g->name, rows[i].labels,
				    g->get(&rows[i]));
	}
	for (size_t k = 0; k < NCOUNTERS; k++) {
		const struct counter_def *d = &counter_defs[k];
		if (!(d->scopes & sc))
			continue;
		snprintf(name, sizeof(name), "%s_total", d->name);
		prom_family(o, scope, name, "counter", sc == SC_FE ? d->help_fe : d->help_be);
		for (int i = 0; i < n; i++)
			buf_appendf(o, "berth_lb_%s_%s{%s} %" PRIu64 "\n", scope, name, rows[i].labels,
				    counter_get(rows[i].c, d));
	}
	prom_family(o, scope, "responses_total", "counter", "HTTP responses by status class.");
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < 6; k++)
			buf_appendf(o, "berth_lb_%s_responses_total{%s,code=\"%s\"} %" PRIu64 "\n", scope,
				    rows[i].labels, resp_classes[k].name, rows[i].c->resp[resp_classes[k].idx]);
}

static void render_prom(const struct snap *sn, struct buf *out)
{
	struct prom_row *rows;
	int nsrv = 0, n;

	prom_family(out, "process", "start_time_seconds", "gauge", "Start time of the process, Unix seconds.");
	buf_appendf(out, "berth_lb_process_start_time_seconds %" PRIu64 "\n", sn->start_s);
	prom_family(out, "process", "uptime_seconds", "gauge", "Seconds since the process started.");
	buf_appendf(out, "berth_lb_process_uptime_seconds %" PRIu64 "\n", sn->uptime_s);
	prom_family(out, "process", "threads", "gauge", "Worker threads.");
	buf_appendf(out, "berth_lb_process_threads %d\n", sn->threads);
	prom_family(out, "process", "generation", "gauge", "Config generation: 1 for the first, +1 per reload.");
	buf_appendf(out, "berth_lb_process_generation %" PRIu64 "\n", sn->generation);
	prom_family(out, "process", "reloads_total", "counter", "Successful config reloads.");
	buf_appendf(out, "berth_lb_process_reloads_total %" PRIu64 "\n", sn->reloads);
	prom_family(out, "process", "reload_failures_total", "counter", "Refused config reloads.");
	buf_appendf(out, "berth_lb_process_reload_failures_total %" PRIu64 "\n", sn->reload_failures);

	/* One array serves the three scopes in turn. */
	for (int i = 0; i < sn->nbe; i++)
		nsrv += sn->be[i].nsrv;
	n = sn->nfe > sn->nbe ? sn->nfe : sn->nbe;
	rows = XNEWV(struct prom_row, (size_t)(n > nsrv ? n : nsrv));

	for (int i = 0; i < sn->nfe; i++) {
		rows[i] = (struct prom_row){prom_labels("frontend", sn->fe[i].fe->name, NULL, NULL),
					    &sn->fe[i].c, &sn->fe[i], NULL, NULL};
	}
	prom_scope(out, "frontend", SC_FE, fe_gauges, rows, sn->nfe);
	for (int i = 0; i < sn->nfe; i++)
		free(rows[i].labels);

	for (int i = 0; i < sn->nbe; i++) {
		rows[i] = (struct prom_row){prom_labels("backend", sn->be[i].be->name, NULL, NULL),
					    &sn->be[i].c, NULL, &sn->be[i], NULL};
	}
	prom_scope(out, "backend", SC_BE, be_gauges, rows, sn->nbe);
	for (int i = 0; i < sn->nbe; i++)
		free(rows[i].labels);

	n = 0;
	for (int i = 0; i < sn->nbe; i++) {
		for (int j = 0; j < sn->be[i].nsrv; j++) {
			const struct snap_srv *v = &sn->be[i].srv[j];
			rows[n++] = (struct prom_row){prom_labels("backend", sn->be[i].be->name, "server",
								  v->s->name),
						      &v->c, NULL, NULL, v};
		}
	}
	prom_scope(out, "server", SC_BE, srv_gauges, rows, n);
	for (int i = 0; i < n; i++)
		free(rows[i].labels);
	free(rows);
}

/* ------------------------------------------------------------------ */
/* HTML */

static void html_escape(struct buf *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_appends(o, "&amp;"); break;
		case '<': buf_appends(o, "&lt;"); break;
		case '>': buf_appends(o, "&gt;"); break;
		case '"': buf_appends(o, "&quot;"); break;
		case '\'': buf_appends(o, "&#39;"); break;
		default: buf_append(o, s, 1); break;
		}
	}
}

/* "3d04h", "2h05m", "4m07s", "12s": two units are enough to read at a glance. */
static void html_duration(struct buf *o, uint64_t s)
{
	if (s >= 86400)
		buf_appendf(o, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		buf_appendf(o, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		buf_appendf(o, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		buf_appendf(o, "%" PRIu64 "s", s);
}

/* A byte count cell: short binary units, the exact figure in the tooltip. */
static void html_bytes_td(struct buf *o, uint64_t v, const char *cls)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	buf_appendf(o, "<td%s title=\"%" PRIu64 "\">", cls, v);
	if (u == 0)
		buf_appendf(o, "%" PRIu64 " B</td>", v);
	else
		buf_appendf(o, "%.1f %s</td>", d, units[u]);
}

static void html_num_td(struct buf *o, uint64_t v)
{
	buf_appendf(o, "<td>%" PRIu64 "</td>", v);
}

static const char html_head[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"refresh\" content=\"5\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>berth lb statistics</title>\n"
	"<style>\n"
	"body{font:13px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
	"margin:1.5em 2em;color:#1f2328;background:#f6f8fa}\n"
	"h1{font-size:1.5em;margin:0 0 .2em}\n"
	"h2{font-size:1.15em;margin:1.8em 0 .5em}\n"
	"h2 small{font-weight:400;color:#59636e;margin-left:.8em}\n"
	".meta{color:#59636e}\n"
	".meta b{color:#1f2328;font-weight:600}\n"
	".wrap{overflow-x:auto}\n"
	"table{border-collapse:collapse;background:#fff;border:1px solid #d1d9e0;"
	"box-shadow:0 1px 2px rgba(31,35,40,.06)}\n"
	"th,td{padding:4px 9px;border-bottom:1px solid #e4e8ec;text-align:right;white-space:nowrap;"
	"font-variant-numeric:tabular-nums}\n"
	"th{background:#eef2f6;font-weight:600;color:#31373d;border-bottom:1px solid #d1d9e0}\n"
	"th.g{text-align:center;border-left:1px solid #d1d9e0}\n"
	"td.b,th.b{border-left:1px solid #e4e8ec}\n"
	".l{text-align:left}\n"
	"tr.total td{font-weight:600;background:#f3f6f9}\n"
	"tr.bck td.l:first-child{font-style:italic}\n"
	"td.up{background:#dafbe1;color:#116329;font-weight:600}\n"
	"td.down{background:#ffebe9;color:#a40e26;font-weight:600}\n"
	"td.chk{color:#59636e}\n"
	".none{color:#8c959f}\n"
	"</style></head><body>\n";

static void html_counter_heads(struct buf *o)
{
	buf_appends(o, "<th class=\"b\" title=\"connections\">Conns</th><th>Requests</th>"
		       "<th class=\"b\">1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th><th>other</th>"
		       "<th class=\"b\">Bytes in</th><th>Bytes out</th>");
}

static void html_counter_cells(struct buf *o, const struct lb_counters *c)
{
	buf_appendf(o, "<td class=\"b\">%" PRIu64 "</td>", c->conns);
	html_num_td(o, c->reqs);
	for (size_t k = 0; k < 6; k++) {
		if (k == 0)
			buf_appendf(o, "<td class=\"b\">%" PRIu64 "</td>", c->resp[resp_classes[k].idx]);
		else
			html_num_td(o, c->resp[resp_classes[k].idx]);
	}
	html_bytes_td(o, c->bytes_in, " class=\"b\"");
	html_bytes_td(o, c->bytes_out, "");
}

static void html_be_cells(struct buf *o, const struct lb_counters *c)
{
	buf_appendf(o, "<td class=\"b\">%" PRIu64 "</td>", c->err_conn);
	html_num_td(o, c->err_resp);
	html_num_td(o, c->retries);
	html_num_td(o, c->redispatches);
	html_num_td(o, c->queued);
	html_num_td(o, c->queue_timeouts);
	html_num_td(o, c->denied);
}

static void render_html(const struct snap *sn, struct buf *o)
{
	char bal[256];

	buf_appends(o, html_head);
	buf_appends(o, "<h1>berth lb</h1>\n<div class=\"meta\">");
	buf_appendf(o, "pid <b>%ld</b> &middot; up <b>", sn->pid);
	html_duration(o, sn->uptime_s);
	buf_appendf(o, "</b> &middot; <b>%d</b> threads &middot; config generation <b>%" PRIu64 "</b>"
		       " &middot; <b>%" PRIu64 "</b> reloads, <b>%" PRIu64 "</b> failed</div>\n",
		    sn->threads, sn->generation, sn->reloads, sn->reload_failures);

	buf_appends(o, "<h2>Frontends</h2>\n<div class=\"wrap\"><table>\n<tr><th class=\"l\">Name</th>"
		       "<th>Mode</th><th>Current</th>");
	html_counter_heads(o);
	buf_appends(o, "<th class=\"b\" title=\"malformed or refused requests\">Req errors</th>"
		       "<th>Denied</th></tr>\n");
	for (int i = 0; i < sn->nfe; i++) {
		const struct snap_fe *f = &sn->fe[i];
		buf_appends(o, "<tr><td class=\"l\">");
		html_escape(o, f->fe->name);
		buf_appendf(o, "</td><td>%s</td><td>%d</td>", f->cfg->mode == LB_MODE_TCP ? "tcp" : "http",
			    f->cur_conns);
		html_counter_cells(o, &f->c);
		buf_appendf(o, "<td class=\"b\">%" PRIu64 "</td>", f->c.err_req);
		html_num_td(o, f->c.denied);
		buf_appends(o, "</tr>\n");
	}
	if (sn->nfe == 0)
		buf_appends(o, "<tr><td class=\"l none\" colspan=\"15\">no frontend</td></tr>\n");
	buf_appends(o, "</table></div>\n");

	for (int i = 0; i < sn->nbe; i++) {
		const struct snap_be *b = &sn->be[i];
		bool checked = b->cfg->check.type != LB_CHECK_NONE;

		balance_text(b, bal, sizeof(bal));
		buf_appends(o, "<h2>Backend ");
		html_escape(o, b->be->name);
		buf_appends(o, "<small>");
		html_escape(o, bal);
		buf_appendf(o, " &middot; %d/%d servers up &middot; queue %d/%d</small></h2>\n", b->nup,
			    b->nsrv, b->nqueued, b->queue_max);
		buf_appends(o, "<div class=\"wrap\"><table>\n<tr><th class=\"l\">Server</th><th class=\"l\">Address</th>"
			       "<th class=\"l\">Status</th><th class=\"l\">Check</th><th title=\"since the last "
			       "UP/DOWN change\">For</th><th>Weight</th><th>Backup</th>"
			       "<th class=\"b\">Current</th><th title=\"highest seen\">Max</th>"
			       "<th title=\"maxconn\">Limit</th>");
		html_counter_heads(o);
		buf_appends(o, "<th class=\"b\">Conn errors</th><th>Resp errors</th><th>Retries</th>"
			       "<th>Redispatches</th><th>Queued</th><th>Queue timeouts</th><th>Denied</th></tr>\n");
		for (int j = 0; j < b->nsrv; j++) {
			const struct snap_srv *v = &b->srv[j];
			bool up = v->state == LB_SRV_UP;
			buf_appendf(o, "<tr%s><td class=\"l\">", v->s->backup ? " class=\"bck\"" : "");
			html_escape(o, v->s->name);
			buf_appends(o, "</td><td class=\"l\">");
			html_escape(o, v->s->addr_text);
			buf_appendf(o, "</td><td class=\"l %s\">%s</td><td class=\"l chk\">%s</td><td>",
				    up ? "up" : "down", up ? "UP" : "DOWN",
				    !checked && v->check == 0 ? "no check" :
				    v->check > 0 ? "ok" : v->check < 0 ? "failed" : "pending");
			html_duration(o, v->since_s);
			buf_appendf(o, "</td><td>%d</td><td>%s</td><td class=\"b\">%d</td><td>%d</td><td>",
				    v->s->weight, v->s->backup ? "yes" : "", v->cur_conns, v->max_conns);
			if (v->s->maxconn)
				buf_appendf(o, "%d", v->s->maxconn);
			else
				buf_appends(o, "<span class=\"none\">&ndash;</span>");
			buf_appends(o, "</td>");
			html_counter_cells(o, &v->c);
			html_be_cells(o, &v->c);
			buf_appends(o, "</tr>\n");
		}
		buf_appendf(o, "<tr class=\"total\"><td class=\"l\">Backend</td><td></td>"
			       "<td class=\"l %s\">%d/%d UP</td><td></td><td></td><td></td><td></td>"
			       "<td class=\"b\">%d</td><td></td><td></td>",
			    b->nup ? "up" : "down", b->nup, b->nsrv, b->cur_conns);
		html_counter_cells(o, &b->c);
		html_be_cells(o, &b->c);
		buf_appends(o, "</tr>\n</table></div>\n");
	}
	buf_appends(o, "</body></html>\n");
}

void lb__stats_render(struct lb_proc *p, int fmt, struct buf *out)
{
	struct snap sn;

	snap_take(p, &sn);
	if (fmt == STATS_FMT_JSON)
		render_json(&sn, out);
	else if (fmt == STATS_FMT_PROM)
		render_prom(&sn, out);
	else
		render_html(&sn, out);
	snap_release(&sn);
}

/* ------------------------------------------------------------------ */
/* Basic auth */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes standard base64 <in> into <out> (room for in.len * 3 / 4 + 3).
 * Padding is optional; anything else out of the alphabet is refused.
 * Returns the decoded length or -1. */
static ssize_t b64_decode(struct slice in, unsigned char *out)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0, i = 0;

	for (; i < in.len && in.ptr[i] != '='; i++) {
		int v = b64_value((unsigned char)in.ptr[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits >= 6)              /* one lone character left: not base64 */
		return -1;
	for (; i < in.len; i++)      /* only padding may follow */
		if (in.ptr[i] != '=')
			return -1;
	return (ssize_t)n;
}

/* Compares <a> (from the client) with <secret> in a time that depends only
 * on the secret's length, so timing tells nothing about how much matched. */
static bool equal_ct(const unsigned char *a, size_t alen, const char *secret, size_t slen)
{
	volatile unsigned char d = alen != slen;

	for (size_t i = 0; i < slen; i++)
		d |= (unsigned char)((i < alen ? a[i] : 0) ^ (unsigned char)secret[i]);
	return d == 0;
}

/* Whether the request in <m> carries the credentials of <st>. */
static bool auth_ok(const struct lb_stats *st, const struct http1_msg *m)
{
	const struct http1_header *h;
	unsigned char dec[STATS_MAX_AUTH];
	struct slice v;
	ssize_t n;

	if (!st->cred)
		return true;
	h = http1_find_header(m, SLICE_LIT("Authorization"));
	if (!h)
		return false;
	v = h->value;
	if (v.len < 6 || !slice_eq_ci((struct slice){v.ptr, 5}, SLICE_LIT("Basic")) || v.ptr[5] != ' ')
		return false;
	v = slice_trim((struct slice){v.ptr + 6, v.len - 6});
	if (v.len > (sizeof(dec) - 3) / 3 * 4)
		return false;
	n = b64_decode(v, dec);
	if (n < 0)
		return false;
	return equal_ct(dec, (size_t)n, st->cred, strlen(st->cred));
}

/* ------------------------------------------------------------------ */
/* Connections */

static void stats_maybe_free(struct lb_stats *st)
{
	if (!st->closing || !st->listener_closed || st->conns)
		return;
	free(st->bind_text);
	free(st->cred);
	free(st);
}

/* Both handles of a connection report here; the second one frees it. */
static void on_conn_closed(uv_handle_t *h)
{
	struct stats_conn *c = h->data;
	struct lb_stats *st = c->st;

	if (++c->nclosed < 2)
		return;
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	st->nconns--;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
	stats_maybe_free(st);
}

/* Closes <c>. Safe from any of its callbacks and more than once: memory
 * goes in on_conn_closed(), and pending writes end with UV_ECANCELED. */
static void conn_close(struct stats_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timer(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct stats_conn *c = h->data;

	/* Once lingering, what arrives is dropped: reuse the same bytes. */
	if (c->lingering)
		buf_reset(&c->in);
	buf_reserve(&c->in, 4096);
	b->base = buf_tail(&c->in);
	b->len = buf_room(&c->in);
}

static void conn_process(struct stats_conn *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct stats_conn *c = req->data;

	if (status < 0)
		conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct stats_conn *c = req->data;
	int rc;

	c->writing = false;
	buf_reset(&c->out);
	if (status < 0 || c->closing) {
		conn_close(c);
		return;
	}
	if (c->last) {
		/* Closing now would reset the connection if the client is still
		 * sending (an oversized head, a body we refuse), and a reset can
		 * destroy the response before the client reads it. So send FIN,
		 * drop whatever still comes, and close on EOF or after a while. */
		c->lingering = true;
		buf_reset(&c->in);
		c->sreq.data = c;
		if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0 ||
		    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
			conn_close(c);
			return;
		}
		uv_timer_start(&c->timer, on_timer, STATS_LINGER_MS, 0);
		return;
	}
	/* Waiting for the next request: the idle clock starts again. */
	uv_timer_start(&c->timer, on_timer, STATS_IDLE_MS, 0);
	rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc < 0) {
		conn_close(c);
		return;
	}
	conn_process(c); /* pipelined requests already buffered */
}

/* Sends one response on <c>: <status>, <ctype> and <body> (may be NULL; not
 * sent for HEAD), plus <extra> header lines each ending in CRLF (may be
 * NULL). <keep> says whether the connection stays open afterwards. Reading
 * stops until the response is out. */
static void conn_respond(struct stats_conn *c, int status, const char *ctype, const char *extra,
			 const struct buf *body, bool head_only, bool keep, int version_minor)
{
	size_t blen = body ? body->data : 0;
	uv_buf_t ub;
	int rc;

	buf_appendf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
		    status, http1_reason(status), ctype, blen);
	if (extra)
		buf_appends(&c->out, extra);
	if (!keep)
		buf_appends(&c->out, "Connection: close\r\n");
	else if (version_minor == 0)
		buf_appends(&c->out, "Connection: keep-alive\r\n");
	buf_appends(&c->out, "\r\n");
	if (body && !head_only)
		buf_append(&c->out, buf_ptr(body), blen);

	c->last = !keep;
	c->writing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_timer_start(&c->timer, on_timer, STATS_IDLE_MS, 0);
	c->wreq.data = c;
	ub = uv_buf_init(buf_ptr(&c->out), (unsigned)c->out.data);
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &ub, 1, on_write);
	if (rc < 0) {
		c->writing = false;
		conn_close(c);
	}
}

static void conn_respond_text(struct stats_conn *c, int status, const char *extra, bool head_only,
			      bool keep, int version_minor)
{
	struct buf body = {0};

	buf_appendf(&body, "%d %s\n", status, http1_reason(status));
	conn_respond(c, status, "text/plain; charset=utf-8", extra, &body, head_only, keep, version_minor);
	buf_free(&body);
}

/* Answers the request whose head was just parsed into st->msg. */
static void conn_answer(struct stats_conn *c, const struct http1_msg *m)
{
	struct slice path = m->path;
	bool head = m->method == HTTP1_M_HEAD;
	/* We never read request bodies: after one, the stream position is
	 * unknown, so the connection ends with this response. */
	bool keep = (m->flags & HTTP1_F_KEEPALIVE) && m->body == HTTP1_BODY_NONE;
	struct buf body = {0};
	const char *ctype;
	int fmt;

	if (m->method != HTTP1_M_GET && !head) {
		conn_respond_text(c, 405, "Allow: GET, HEAD\r\n", false, keep, m->version_minor);
		return;
	}
	if (!auth_ok(c->st, m)) {
		conn_respond_text(c, 401, "WWW-Authenticate: Basic realm=\"berth lb\"\r\n", head, keep,
				  m->version_minor);
		return;
	}
	if (slice_eq(path, SLICE_LIT("/stats"))) {
		fmt = STATS_FMT_HTML;
		ctype = "text/html; charset=utf-8";
	} else if (slice_eq(path, SLICE_LIT("/stats.json")) || slice_eq(path, SLICE_LIT("/stats;json"))) {
		fmt = STATS_FMT_JSON;
		ctype = "application/json";
	} else if (slice_eq(path, SLICE_LIT("/metrics"))) {
		fmt = STATS_FMT_PROM;
		ctype = "text/plain; version=0.0.4; charset=utf-8";
	} else {
		conn_respond_text(c, 404, NULL, head, keep, m->version_minor);
		return;
	}
	lb__stats_render(c->st->proc, fmt, &body);
	conn_respond(c, 200, ctype, NULL, &body, head, keep, m->version_minor);
	buf_free(&body);
}

/* Parses and answers the next buffered request of <c>, if complete. */
static void conn_process(struct stats_conn *c)
{
	struct http1_msg *m = &c->st->msg;
	int n, status;

	if (c->writing || c->closing || c->lingering || c->in.data == 0)
		return;
	n = http1_parse_request(buf_ptr(&c->in), c->in.data, m, &stats_limits);
	/* The parser reports an oversized head early; the check here only
	 * bounds the buffer should it ever wait for more instead. */
	if (n == HTTP1_INCOMPLETE && c->in.data > STATS_MAX_HEAD)
		n = HTTP1_ERR_TOO_LARGE;
	if (n == HTTP1_INCOMPLETE)
		return;
	if (n < 0) {
		switch (n) {
		case HTTP1_ERR_TOO_LARGE: status = 431; break;
		case HTTP1_ERR_TE: status = 501; break;
		case HTTP1_ERR_VERSION: status = 505; break;
		default: status = 400; break;
		}
		conn_respond_text(c, status, NULL, false, false, 1);
		return;
	}
	conn_answer(c, m);
	/* The head is answered; its bytes go. Any body follows only on a
	 * connection that now closes, so it is never parsed. */
	buf_consume(&c->in, (size_t)n);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct stats_conn *c = s->data;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (c->lingering)
		return;
	c->in.data += (size_t)nread;
	conn_process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct lb_stats *st = server->data;
	struct stats_conn *c;

	if (status < 0) {
		log_errno(LOG_LVL_WARN, "lb", status, "stats: accept on %s", st->bind_text);
		return;
	}
	c = XNEW(struct stats_conn);
	c->st = st;
	uv_tcp_init(server->loop, &c->tcp);
	uv_timer_init(server->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->next = st->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &st->conns;
	st->conns = c;
	st->nconns++;

	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (st->nconns > STATS_MAX_CONNS) {
		log_warn("lb", "stats: more than %d connections on %s, closing new ones", STATS_MAX_CONNS,
			 st->bind_text);
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->timer, on_timer, STATS_IDLE_MS, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

/* ------------------------------------------------------------------ */
/* Listener */

static void on_listener_closed(uv_handle_t *h)
{
	struct lb_stats *st = h->data;

	st->listener_closed = true;
	stats_maybe_free(st);
}

/* Opens the listener when the current config enables stats. Does nothing if
 * it is already open (call lb__stats_stop() first to apply a new stats
 * section). Returns 0 or a libuv error, logged. Main thread. */
int lb__stats_start(struct lb_proc *p)
{
	const struct lb_stats_cfg *sc;
	struct sockaddr_storage sa;
	struct lb_stats *st;
	int rc;

	if (p->stats)
		return 0;
	/* Everything needed is copied under the lock: the listener outlives
	 * the config snapshot it came from. */
	pthread_mutex_lock(&p->world_lock);
	if (!p->world || !p->world->cfg->stats.enabled) {
		pthread_mutex_unlock(&p->world_lock);
		return 0;
	}
	sc = &p->world->cfg->stats;
	sa = sc->bind.sa;
	st = XNEW(struct lb_stats);
	st->proc = p;
	st->bind_text = xstrdup(sc->bind.text ? sc->bind.text : "?");
	if (sc->user)
		st->cred = xasprintf("%s:%s", sc->user, sc->pass ? sc->pass : "");
	pthread_mutex_unlock(&p->world_lock);

	uv_tcp_init(p->loop, &st->tcp);
	st->tcp.data = st;
	/* libuv may defer a bind error (EADDRINUSE) to uv_listen(). */
	rc = uv_tcp_bind(&st->tcp, (const struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&st->tcp, 128, on_connection);
	if (rc < 0) {
		log_errno(LOG_LVL_ERROR, "lb", rc, "stats: cannot listen on %s", st->bind_text);
		st->closing = true;
		uv_close((uv_handle_t *)&st->tcp, on_listener_closed);
		return rc;
	}
	p->stats = st;
	log_info("lb", "stats: listening on %s%s", st->bind_text, st->cred ? " (basic auth)" : "");
	return 0;
}

/* Closes the listener and every stats connection. Their memory goes in
 * close callbacks, so the loop must run once more. Safe when not started.
 * Main thread. */
void lb__stats_stop(struct lb_proc *p)
{
	struct lb_stats *st = p->stats;

	if (!st)
		return;
	p->stats = NULL;
	st->closing = true;
	uv_close((uv_handle_t *)&st->tcp, on_listener_closed);
	/* Connections unlink themselves only when freed, later: walking the
	 * list while closing is safe. */
	for (struct stats_conn *c = st->conns; c; c = c->next)
		conn_close(c);
}
