/* Tests of the stats listener: JSON, Prometheus and HTML rendering of a hand-built world, and the HTTP side. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "lb/lb-int.h"

/* ---- test doubles ----
 * The real lb__world_ref/unref and lb__server_ref/unref live in runtime.c,
 * which pulls in the balancers, TLS and the config loader. stats.c only
 * needs the counting, so these doubles count and never free: the fixture
 * owns the objects and checks that every ref taken was given back. */

void lb__world_ref(struct lb_world *w)
{
	atomic_fetch_add(&w->refs, 1);
}

void lb__world_unref(struct lb_world *w)
{
	if (w)
		atomic_fetch_sub(&w->refs, 1);
}

void lb__server_ref(struct lb_server *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void lb__server_unref(struct lb_server *s)
{
	atomic_fetch_sub(&s->refs, 1);
}

/* ---- a world built by hand ---- */

#define NTHREADS 2
#define XSS "<script>alert(1)</script>"
#define ODD_SRV "we\"ird\\name"  /* we"ird\name */
#define NL_SRV "line\nbreak"

static struct lb_proc proc;
static struct lb_config cfg;
static struct lb_world world;
static struct lb_frontend_cfg fe_cfgs[2];
static struct lb_backend_cfg be_cfgs[2];
static struct lb_frontend *fes[2];
static struct lb_backend *bes[2];
static struct lb_server *srvs[4];   /* app: a, ODD_SRV, NL_SRV; api: api1 */
static uint64_t wall_start_ms;

/* Thread <t> of object number <obj> gets distinct values per field, so a
 * sum that mixes up fields, objects or threads shows. */
static void fill(struct lb_counters *c, int obj)
{
	for (int t = 0; t < NTHREADS; t++) {
		uint64_t b = (uint64_t)obj * 100000 + (uint64_t)(t + 1) * 1000;
		c[t].conns = b + 1;
		c[t].reqs = b + 2;
		for (int k = 0; k < 6; k++)
			c[t].resp[k] = b + 10 + (uint64_t)k;
		c[t].bytes_in = b + 20;
		c[t].bytes_out = b + 21;
		c[t].err_req = b + 30;
		c[t].err_conn = b + 31;
		c[t].err_resp = b + 32;
		c[t].retries = b + 33;
		c[t].redispatches = b + 34;
		c[t].queued = b + 35;
		c[t].queue_timeouts = b + 36;
		c[t].denied = b + 37;
	}
}

/* The sum over both threads of the field filled with <b + off>. */
static long long expect(int obj, int off)
{
	return 2LL * obj * 100000 + 3000 + 2 * off;
}

static struct lb_server *mk_server(const char *name, const char *addr, int obj)
{
	struct lb_server *s = XNEW(struct lb_server);

	s->name = xstrdup(name);
	s->addr_text = xstrdup(addr);
	s->weight = 1;
	atomic_init(&s->refs, 1);
	atomic_init(&s->state, LB_SRV_UP);
	atomic_init(&s->last_change_ms, time_mono_ms());
	s->cnt = XNEWV(struct lb_counters, NTHREADS);
	fill(s->cnt, obj);
	return s;
}

static struct lb_backend *mk_backend(const char *name, enum lb_algo algo, struct lb_server **list, int n, int obj)
{
	struct lb_backend *be = XNEW(struct lb_backend);

	be->name = xstrdup(name);
	atomic_init(&be->refs, 1);
	pthread_mutex_init(&be->lock, NULL);
	be->algo = algo;
	be->nthreads = NTHREADS;
	be->cnt = XNEWV(struct lb_counters, NTHREADS);
	fill(be->cnt, obj);
	be->srv = XNEWV(struct lb_server *, n);
	memcpy(be->srv, list, sizeof(*list) * (size_t)n);
	be->nsrv = n;
	be->queue_max = 1024;
	return be;
}

static struct lb_frontend *mk_frontend(const char *name, int obj)
{
	struct lb_frontend *fe = XNEW(struct lb_frontend);

	fe->name = xstrdup(name);
	atomic_init(&fe->refs, 1);
	fe->cnt = XNEWV(struct lb_counters, NTHREADS);
	fill(fe->cnt, obj);
	return fe;
}

static void setup(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	wall_start_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - 120000;

	fe_cfgs[0] = (struct lb_frontend_cfg){.name = "web", .mode = LB_MODE_HTTP};
	fe_cfgs[1] = (struct lb_frontend_cfg){.name = XSS, .mode = LB_MODE_TCP};
	be_cfgs[0] = (struct lb_backend_cfg){.name = "app", .algo = LB_ALGO_ROUNDROBIN,
					     .check = {.type = LB_CHECK_HTTP}};
	be_cfgs[1] = (struct lb_backend_cfg){.name = "api", .algo = LB_ALGO_HASH_HEADER,
					     .hash_key = "X-User"};
	cfg = (struct lb_config){.threads = NTHREADS, .fes = fe_cfgs, .nfes = 2, .bes = be_cfgs, .nbes = 2};

	fes[0] = mk_frontend("web", 1);
	atomic_store(&fes[0]->cur_conns, 5);
	fes[1] = mk_frontend(XSS, 2);

	srvs[0] = mk_server("a", "127.0.0.1:3001", 10);
	srvs[0]->maxconn = 100;
	srvs[0]->weight = 2;
	atomic_store(&srvs[0]->cur_conns, 3);
	atomic_store(&srvs[0]->max_conns, 7);
	atomic_store(&srvs[0]->check_status, 1);
	atomic_store(&srvs[0]->last_change_ms, time_mono_ms() - 65000);
	srvs[1] = mk_server(ODD_SRV, "127.0.0.1:3002", 11);
	srvs[1]->backup = true;
	atomic_store(&srvs[1]->state, LB_SRV_DOWN);
	atomic_store(&srvs[1]->check_status, -1);
	srvs[2] = mk_server(NL_SRV, "[::1]:3003", 12);
	atomic_store(&srvs[2]->cur_conns, 1);
	srvs[3] = mk_server("api1", "127.0.0.1:4001", 20);
	bes[0] = mk_backend("app", LB_ALGO_ROUNDROBIN, srvs, 3, 3);
	bes[0]->nqueued = 4;
	bes[1] = mk_backend("api", LB_ALGO_HASH_HEADER, srvs + 3, 1, 4);

	world = (struct lb_world){.cfg = &cfg, .be = bes, .fe = fes, .generation = 3};
	atomic_init(&world.refs, 1);

	memset(&proc, 0, sizeof(proc));
	proc.nthreads = NTHREADS;
	pthread_mutex_init(&proc.world_lock, NULL);
	proc.world = &world;
	proc.generation = 3;
	proc.start_ms = wall_start_ms;
	atomic_init(&proc.reloads, 2);
	atomic_init(&proc.reload_failures, 1);
}

static void teardown(void)
{
	/* Every ref stats.c took must have been dropped. */
	cr_expect_eq(atomic_load(&world.refs), 1, "world refs leaked");
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(atomic_load(&srvs[i]->refs), 1, "server %d refs leaked", i);
		free(srvs[i]->name);
		free(srvs[i]->addr_text);
		free(srvs[i]->cnt);
		free(srvs[i]);
	}
	for (int i = 0; i < 2; i++) {
		pthread_mutex_destroy(&bes[i]->lock);
		free(bes[i]->srv);
		free(bes[i]->cnt);
		free(bes[i]->name);
		free(bes[i]);
		free(fes[i]->cnt);
		free(fes[i]->name);
		free(fes[i]);
	}
	pthread_mutex_destroy(&proc.world_lock);
}

static char *render(int fmt)
{
	struct buf b = {0};

	lb__stats_render(&proc, fmt, &b);
	buf_append(&b, "", 1);
	return b.area;
}

/* ---- JSON ---- */

static json_t *get(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(v, "missing key %s", k);
	return v;
}

static long long num(json_t *o, const char *k)
{
	json_t *v = get(o, k);
	cr_assert(json_is_integer(v), "%s is not an integer", k);
	return json_integer_value(v);
}

static const char *str(json_t *o, const char *k)
{
	json_t *v = get(o, k);
	cr_assert(json_is_string(v), "%s is not a string", k);
	return json_string_value(v);
}

static void check_responses(json_t *o, int obj)
{
	json_t *r = get(o, "responses");
	cr_expect_eq(num(r, "other"), expect(obj, 10));
	cr_expect_eq(num(r, "1xx"), expect(obj, 11));
	cr_expect_eq(num(r, "2xx"), expect(obj, 12));
	cr_expect_eq(num(r, "3xx"), expect(obj, 13));
	cr_expect_eq(num(r, "4xx"), expect(obj, 14));
	cr_expect_eq(num(r, "5xx"), expect(obj, 15));
}

static void check_be_counters(json_t *o, int obj)
{
	cr_expect_eq(num(o, "connections"), expect(obj, 1));
	cr_expect_eq(num(o, "requests"), expect(obj, 2));
	cr_expect_eq(num(o, "bytes_in"), expect(obj, 20));
	cr_expect_eq(num(o, "bytes_out"), expect(obj, 21));
	cr_expect_eq(num(o, "connect_errors"), expect(obj, 31));
	cr_expect_eq(num(o, "response_errors"), expect(obj, 32));
	cr_expect_eq(num(o, "retries"), expect(obj, 33));
	cr_expect_eq(num(o, "redispatches"), expect(obj, 34));
	cr_expect_eq(num(o, "queued"), expect(obj, 35));
	cr_expect_eq(num(o, "queue_timeouts"), expect(obj, 36));
	cr_expect_eq(num(o, "denied"), expect(obj, 37));
	cr_expect_null(json_object_get(o, "request_errors"));
	check_responses(o, obj);
}

Test(stats, json, .init = setup, .fini = teardown, .timeout = 10)
{
	char *text = render(1);
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);

	cr_assert(root, "JSON does not parse: %s (line %d)\n%s", jerr.text, jerr.line, text);

	json_t *p = get(root, "process");
	cr_expect_eq(num(p, "pid"), getpid());
	cr_expect_geq(num(p, "uptime_seconds"), 120);
	cr_expect_leq(num(p, "uptime_seconds"), 125);
	cr_expect_eq(num(p, "start_time_seconds"), (long long)(wall_start_ms / 1000));
	cr_expect_eq(num(p, "threads"), NTHREADS);
	cr_expect_eq(num(p, "generation"), 3);
	cr_expect_eq(num(p, "reloads"), 2);
	cr_expect_eq(num(p, "reload_failures"), 1);

	json_t *fa = get(root, "frontends");
	cr_assert_eq(json_array_size(fa), 2);
	json_t *f = json_array_get(fa, 0);
	cr_expect_str_eq(str(f, "name"), "web");
	cr_expect_str_eq(str(f, "mode"), "http");
	cr_expect_eq(num(f, "current_connections"), 5);
	cr_expect_eq(num(f, "connections"), expect(1, 1));
	cr_expect_eq(num(f, "requests"), expect(1, 2));
	cr_expect_eq(num(f, "bytes_in"), expect(1, 20));
	cr_expect_eq(num(f, "bytes_out"), expect(1, 21));
	cr_expect_eq(num(f, "request_errors"), expect(1, 30));
	cr_expect_eq(num(f, "denied"), expect(1, 37));
	cr_expect_null(json_object_get(f, "connect_errors"));
	check_responses(f, 1);
	f = json_array_get(fa, 1);
	cr_expect_str_eq(str(f, "name"), XSS);
	cr_expect_str_eq(str(f, "mode"), "tcp");
	cr_expect_eq(num(f, "requests"), expect(2, 2));

	json_t *ba = get(root, "backends");
	cr_assert_eq(json_array_size(ba), 2);
	json_t *b = json_array_get(ba, 0);
	cr_expect_str_eq(str(b, "name"), "app");
	cr_expect_str_eq(str(b, "balance"), "roundrobin");
	cr_expect_eq(num(b, "servers_up"), 2);
	cr_expect_eq(num(b, "servers_total"), 3);
	cr_expect_eq(num(b, "current_connections"), 4);
	cr_expect_eq(num(b, "queue_current"), 4);
	cr_expect_eq(num(b, "queue_max"), 1024);
	check_be_counters(b, 3);

	json_t *sa = get(b, "servers");
	cr_assert_eq(json_array_size(sa), 3);
	json_t *s = json_array_get(sa, 0);
	cr_expect_str_eq(str(s, "name"), "a");
	cr_expect_str_eq(str(s, "addr"), "127.0.0.1:3001");
	cr_expect_str_eq(str(s, "status"), "UP");
	cr_expect_str_eq(str(s, "check"), "ok");
	cr_expect_eq(num(s, "weight"), 2);
	cr_expect(json_is_false(get(s, "backup")));
	cr_expect_eq(num(s, "current_connections"), 3);
	cr_expect_eq(num(s, "max_connections"), 7);
	cr_expect_eq(num(s, "maxconn"), 100);
	cr_expect_geq(num(s, "last_change_seconds"), 65);
	cr_expect_leq(num(s, "last_change_seconds"), 70);
	check_be_counters(s, 10);
	s = json_array_get(sa, 1);
	cr_expect_str_eq(str(s, "name"), ODD_SRV);
	cr_expect_str_eq(str(s, "status"), "DOWN");
	cr_expect_str_eq(str(s, "check"), "failed");
	cr_expect(json_is_true(get(s, "backup")));
	check_be_counters(s, 11);
	s = json_array_get(sa, 2);
	cr_expect_str_eq(str(s, "name"), NL_SRV);
	cr_expect_str_eq(str(s, "check"), "none");
	cr_expect_eq(num(s, "maxconn"), 0);

	b = json_array_get(ba, 1);
	cr_expect_str_eq(str(b, "name"), "api");
	cr_expect_str_eq(str(b, "balance"), "hash header X-User");
	cr_expect_eq(num(b, "servers_up"), 1);
	check_be_counters(b, 4);
	check_be_counters(json_array_get(get(b, "servers"), 0), 20);

	json_decref(root);
	free(text);
}

Test(stats, json_without_world, .init = setup, .fini = teardown, .timeout = 10)
{
	proc.world = NULL;
	char *text = render(1);
	json_t *root = json_loads(text, 0, NULL);

	cr_assert(root, "%s", text);
	cr_expect_eq(num(get(root, "process"), "generation"), 3);
	cr_expect_eq(json_array_size(get(root, "frontends")), 0);
	cr_expect_eq(json_array_size(get(root, "backends")), 0);
	json_decref(root);
	free(text);
	proc.world = &world;
}

/* ---- Prometheus text format 0.0.4 validator ---- */

#define MAX_FAM 256
#define MAX_SAMPLES 4096

struct prom_doc {
	int nfam;
	struct {
		char name[128];
		bool help, type;
		char kind[16];
		bool closed;   /* another family's lines came after it */
	} fam[MAX_FAM];
	int nsamples;
	struct {
		char name[128];
		char labels[512]; /* as written, between the braces */
		double value;
	} s[MAX_SAMPLES];
};

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

static int fam_find(struct prom_doc *d, const char *name, size_t len)
{
	for (int i = 0; i < d->nfam; i++)
		if (strlen(d->fam[i].name) == len && memcmp(d->fam[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Enters <name> as the current family; fails if it was closed already. */
static int fam_enter(struct prom_doc *d, int *cur, const char *name, size_t len, const char **why)
{
	int i = fam_find(d, name, len);

	if (i < 0) {
		cr_assert_lt(d->nfam, MAX_FAM);
		cr_assert_lt(len, sizeof(d->fam[0].name));
		i = d->nfam++;
		memcpy(d->fam[i].name, name, len);
		d->fam[i].name[len] = '\0';
	}
	if (*cur != i) {
		if (d->fam[i].closed) {
			*why = "family appears in two separate groups";
			return -1;
		}
		if (*cur >= 0)
			d->fam[*cur].closed = true;
		*cur = i;
	}
	return i;
}

/* Checks the label block at <p> (after '{'); returns the end ('}') or NULL. */
static const char *parse_labels(const char *p, const char **why)
{
	if (*p == '}')
		return p;
	for (;;) {
		if (!name_char(*p, true) || *p == ':') {
			*why = "bad label name";
			return NULL;
		}
		while (name_char(*p, false) && *p != ':')
			p++;
		if (*p++ != '=' || *p++ != '"') {
			*why = "label name not followed by =\"";
			return NULL;
		}
		for (; *p != '"'; p++) {
			if (*p == '\0') {
				*why = "unterminated label value";
				return NULL;
			}
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n') {
					*why = "bad escape in label value";
					return NULL;
				}
			}
		}
		p++;
		if (*p == '}')
			return p;
		if (*p++ != ',') {
			*why = "labels not separated by ','";
			return NULL;
		}
	}
}

/* Validates <text>, fills <d>. Returns NULL or what is wrong (with the line). */
static char *prom_validate(const char *text, struct prom_doc *d)
{
	int cur = -1, lineno = 0;
	const char *why = NULL;
	char line[4096];

	memset(d, 0, sizeof(*d));
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		if (!nl)
			return xasprintf("last line has no line feed");
		size_t len = (size_t)(nl - p);
		cr_assert_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		lineno++;

		if (len == 0)
			continue;
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
			bool is_help = line[2] == 'H';
			const char *n = line + 7, *e = n;
			while (name_char(*e, e == n))
				e++;
			if (e == n || *e != ' ') {
				why = "bad metric name in HELP/TYPE";
				goto bad;
			}
			int i = fam_enter(d, &cur, n, (size_t)(e - n), &why);
			if (i < 0)
				goto bad;
			if (d->nsamples && strcmp(d->s[d->nsamples - 1].name, d->fam[i].name) == 0) {
				why = "HELP/TYPE after samples of the family";
				goto bad;
			}
			if (is_help) {
				if (d->fam[i].help) {
					why = "second HELP";
					goto bad;
				}
				d->fam[i].help = true;
			} else {
				if (d->fam[i].type) {
					why = "second TYPE";
					goto bad;
				}
				if (strcmp(e + 1, "counter") && strcmp(e + 1, "gauge") && strcmp(e + 1, "untyped")) {
					why = "unknown TYPE";
					goto bad;
				}
				d->fam[i].type = true;
				snprintf(d->fam[i].kind, sizeof(d->fam[i].kind), "%s", e + 1);
			}
			continue;
		}
		if (line[0] == '#')
			continue;

		const char *n = line, *e = n;
		while (name_char(*e, e == n))
			e++;
		if (e == n) {
			why = "bad sample name";
			goto bad;
		}
		int i = fam_enter(d, &cur, n, (size_t)(e - n), &why);
		if (i < 0)
			goto bad;
		if (!d->fam[i].help || !d->fam[i].type) {
			why = "sample before its family's HELP and TYPE";
			goto bad;
		}
		if (strcmp(d->fam[i].kind, "counter") == 0 && (e - n < 6 || strncmp(e - 6, "_total", 6) != 0)) {
			why = "counter without _total";
			goto bad;
		}
		cr_assert_lt(d->nsamples, MAX_SAMPLES);
		snprintf(d->s[d->nsamples].name, sizeof(d->s[0].name), "%.*s", (int)(e - n), n);
		const char *lb = e, *le = e;
		if (*e == '{') {
			lb = e + 1;
			le = parse_labels(lb, &why);
			if (!le)
				goto bad;
			e = le + 1;
		}
		snprintf(d->s[d->nsamples].labels, sizeof(d->s[0].labels), "%.*s", (int)(le - lb), lb);
		if (*e != ' ') {
			why = "no space before the value";
			goto bad;
		}
		char *end;
		errno = 0;
		d->s[d->nsamples].value = strtod(e + 1, &end);
		if (end == e + 1 || *end != '\0' || errno) {
			why = "bad value";
			goto bad;
		}
		for (int k = 0; k < d->nsamples; k++) {
			if (strcmp(d->s[k].name, d->s[d->nsamples].name) == 0 &&
			    strcmp(d->s[k].labels, d->s[d->nsamples].labels) == 0) {
				why = "duplicate series";
				goto bad;
			}
		}
		d->nsamples++;
	}
	for (int i = 0; i < d->nfam; i++)
		if (!d->fam[i].help || !d->fam[i].type)
			return xasprintf("family %s lacks HELP or TYPE", d->fam[i].name);
	return NULL;
bad:
	return xasprintf("line %d: %s: %s", lineno, why, line);
}

/* The value of series <name>{<labels>}, or -1 when absent. */
static double sample(const struct prom_doc *d, const char *name, const char *labels)
{
	for (int i = 0; i < d->nsamples; i++)
		if (strcmp(d->s[i].name, name) == 0 && strcmp(d->s[i].labels, labels) == 0)
			return d->s[i].value;
	return -1;
}

/* The validator must refuse what it is there to catch. */
Test(stats, prom_validator_self_test, .timeout = 10)
{
	static struct prom_doc d;
	const char *bad[] = {
		"# HELP x_total a\n# TYPE x_total counter\nx_total 1\n# HELP y a\n# TYPE y gauge\ny 1\nx_total{a=\"b\"} 2\n",
		"# HELP x a\n# HELP x a\n# TYPE x gauge\nx 1\n",
		"x 1\n",
		"# HELP x a\n# TYPE x gauge\nx{a=\"b\"c\"} 1\n",
		"# HELP x a\n# TYPE x gauge\nx{a=\"b\\q\"} 1\n",
		"# HELP x a\n# TYPE x gauge\nx 1\nx 2\n",
		"# HELP x a\n# TYPE x counter\nx 1\n",
		"# HELP x a\n# TYPE x gauge\nx one\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *why = prom_validate(bad[i], &d);
		cr_expect(why, "accepted bad input %zu", i);
		free(why);
	}
	char *why = prom_validate("# HELP x a\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1\n", &d);
	cr_expect_null(why, "%s", why);
	free(why);
}

Test(stats, prometheus, .init = setup, .fini = teardown, .timeout = 10)
{
	static struct prom_doc d;
	char *text = render(2);
	char *why = prom_validate(text, &d);

	cr_assert_null(why, "invalid exposition: %s\n%s", why, text);

	cr_expect_eq(sample(&d, "berth_lb_process_reloads_total", ""), 2);
	cr_expect_eq(sample(&d, "berth_lb_process_reload_failures_total", ""), 1);
	cr_expect_eq(sample(&d, "berth_lb_process_start_time_seconds", ""), (double)(wall_start_ms / 1000));
	cr_expect_eq(sample(&d, "berth_lb_process_threads", ""), NTHREADS);
	cr_expect_eq(sample(&d, "berth_lb_process_generation", ""), 3);

	cr_expect_eq(sample(&d, "berth_lb_frontend_requests_total", "frontend=\"web\""), expect(1, 2));
	cr_expect_eq(sample(&d, "berth_lb_frontend_current_connections", "frontend=\"web\""), 5);
	cr_expect_eq(sample(&d, "berth_lb_frontend_responses_total", "frontend=\"web\",code=\"2xx\""),
		     expect(1, 12));
	cr_expect_eq(sample(&d, "berth_lb_frontend_responses_total", "frontend=\"web\",code=\"other\""),
		     expect(1, 10));
	cr_expect_eq(sample(&d, "berth_lb_frontend_request_errors_total", "frontend=\"" XSS "\""), expect(2, 30));

	cr_expect_eq(sample(&d, "berth_lb_backend_requests_total", "backend=\"app\""), expect(3, 2));
	cr_expect_eq(sample(&d, "berth_lb_backend_responses_total", "backend=\"api\",code=\"5xx\""), expect(4, 15));
	cr_expect_eq(sample(&d, "berth_lb_backend_servers_up", "backend=\"app\""), 2);
	cr_expect_eq(sample(&d, "berth_lb_backend_servers", "backend=\"app\""), 3);
	cr_expect_eq(sample(&d, "berth_lb_backend_queue_current", "backend=\"app\""), 4);
	cr_expect_eq(sample(&d, "berth_lb_backend_connect_errors_total", "backend=\"app\""), expect(3, 31));

	cr_expect_eq(sample(&d, "berth_lb_server_up", "backend=\"app\",server=\"a\""), 1);
	cr_expect_eq(sample(&d, "berth_lb_server_check_status", "backend=\"app\",server=\"a\""), 1);
	cr_expect_eq(sample(&d, "berth_lb_server_current_connections", "backend=\"app\",server=\"a\""), 3);
	cr_expect_eq(sample(&d, "berth_lb_server_maxconn", "backend=\"app\",server=\"a\""), 100);
	cr_expect_eq(sample(&d, "berth_lb_server_bytes_in_total", "backend=\"app\",server=\"a\""), expect(10, 20));
	cr_expect_eq(sample(&d, "berth_lb_server_bytes_out_total", "backend=\"app\",server=\"a\""), expect(10, 21));
	/* we"ird\name and line<LF>break, escaped as the format says. */
	cr_expect_eq(sample(&d, "berth_lb_server_up", "backend=\"app\",server=\"we\\\"ird\\\\name\""), 0);
	cr_expect_eq(sample(&d, "berth_lb_server_check_status", "backend=\"app\",server=\"we\\\"ird\\\\name\""), -1);
	cr_expect_eq(sample(&d, "berth_lb_server_requests_total", "backend=\"app\",server=\"we\\\"ird\\\\name\""),
		     expect(11, 2));
	cr_expect_eq(sample(&d, "berth_lb_server_responses_total",
			    "backend=\"app\",server=\"line\\nbreak\",code=\"4xx\""), expect(12, 14));
	cr_expect_eq(sample(&d, "berth_lb_server_connect_errors_total", "backend=\"api\",server=\"api1\""),
		     expect(20, 31));
	cr_expect_eq(sample(&d, "berth_lb_server_response_errors_total", "backend=\"api\",server=\"api1\""),
		     expect(20, 32));
	double since = sample(&d, "berth_lb_server_last_change_seconds", "backend=\"app\",server=\"a\"");
	cr_expect(since >= 65 && since <= 70, "last change %f", since);

	free(text);
}

/* ---- HTML ---- */

Test(stats, html, .init = setup, .fini = teardown, .timeout = 10)
{
	char *text = render(0);

	cr_expect(strncmp(text, "<!DOCTYPE html>", 15) == 0);
	cr_expect(strstr(text, "<meta http-equiv=\"refresh\" content=\"5\">"));
	cr_expect_null(strstr(text, "<script"), "unescaped name in the page");
	cr_expect(strstr(text, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	cr_expect(strstr(text, "we&quot;ird\\name"));
	cr_expect(strstr(text, "class=\"l up\">UP<"));
	cr_expect(strstr(text, "class=\"l down\">DOWN<"));
	cr_expect(strstr(text, "no check"));        /* api has no checks */
	cr_expect(strstr(text, "hash header X-User"));
	cr_expect(strstr(text, "1m05s") || strstr(text, "1m06s"));
	cr_expect(strstr(text, "</html>"));
	free(text);
}

/* ---- the listener ---- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void set_bind(int port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&cfg.stats.bind.sa;

	memset(&cfg.stats.bind, 0, sizeof(cfg.stats.bind));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.stats.bind.salen = sizeof(*a);
	cfg.stats.bind.text = "127.0.0.1:test";
	cfg.stats.enabled = true;
}

Test(stats, start_disabled_and_idempotent, .init = setup, .fini = teardown, .timeout = 10)
{
	uv_loop_t loop;

	uv_loop_init(&loop);
	proc.loop = &loop;
	cr_expect_eq(lb__stats_start(&proc), 0);
	cr_expect_null(proc.stats);
	lb__stats_stop(&proc);

	set_bind(free_port());
	cr_assert_eq(lb__stats_start(&proc), 0);
	struct lb_stats *st = proc.stats;
	cr_assert(st);
	cr_expect_eq(lb__stats_start(&proc), 0);
	cr_expect_eq(proc.stats, st);
	/* Stop then start at once, as after a reload: the port is free again
	 * before the old listener's close callback has even run. */
	lb__stats_stop(&proc);
	cr_expect_null(proc.stats);
	lb__stats_stop(&proc);
	cr_assert_eq(lb__stats_start(&proc), 0);
	lb__stats_stop(&proc);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(stats, start_port_in_use, .init = setup, .fini = teardown, .timeout = 10)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uv_loop_t loop;

	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	set_bind(ntohs(a.sin_port));

	uv_loop_init(&loop);
	proc.loop = &loop;
	cr_expect_eq(lb__stats_start(&proc), UV_EADDRINUSE);
	cr_expect_null(proc.stats);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0);
	close(fd);
}

/* A blocking client on its own thread records what it got; the test thread
 * runs the loop and checks after (Criterion asserts belong to it). */

#define MAX_RESP 16

struct resp {
	int status;
	char *head;  /* status line and headers, NUL-terminated */
	char *body;
	size_t blen;
};

struct client {
	int port;
	uv_async_t done;
	struct resp r[MAX_RESP];
	int n;
	bool eof_after_400;
	bool eof_after_431;
	int errors;
	char rbuf[1 << 20];
	size_t rlen;
};

static int client_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Reads one response into the next slot; <head_req> when it answers HEAD. */
static int read_resp(struct client *cl, int fd, bool head_req)
{
	char *end;

	cl->rbuf[cl->rlen] = '\0';
	while (!(end = strstr(cl->rbuf, "\r\n\r\n"))) {
		ssize_t n = recv(fd, cl->rbuf + cl->rlen, sizeof(cl->rbuf) - 1 - cl->rlen, 0);
		if (n <= 0)
			return -1;
		cl->rlen += (size_t)n;
		cl->rbuf[cl->rlen] = '\0';
	}
	size_t hlen = (size_t)(end - cl->rbuf) + 4;
	struct resp *r = &cl->r[cl->n++];
	r->head = xstrndup(cl->rbuf, hlen);
	r->status = atoi(cl->rbuf + 9);
	const char *cl_hdr = strcasestr(r->head, "\r\nContent-Length: ");
	size_t blen = cl_hdr && !head_req ? strtoul(cl_hdr + 18, NULL, 10) : 0;
	while (cl->rlen < hlen + blen) {
		ssize_t n = recv(fd, cl->rbuf + cl->rlen, sizeof(cl->rbuf) - 1 - cl->rlen, 0);
		if (n <= 0)
			return -1;
		cl->rlen += (size_t)n;
	}
	r->body = xstrndup(cl->rbuf + hlen, blen);
	r->blen = blen;
	memmove(cl->rbuf, cl->rbuf + hlen + blen, cl->rlen - hlen - blen);
	cl->rlen -= hlen + blen;
	return 0;
}

static bool wait_eof(int fd)
{
	char tmp[512];
	ssize_t n;

	while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
		;
	return n == 0;
}

/* base64("admin:s3:cret") */
#define GOOD_AUTH "Authorization: Basic YWRtaW46czM6Y3JldA==\r\n"
/* base64("admin:s3:creT") */
#define BAD_AUTH "Authorization: Basic YWRtaW46czM6Y3JlVA==\r\n"

static void *client_main(void *arg)
{
	struct client *cl = arg;
	int fd = client_connect(cl->port);

	if (fd < 0) {
		cl->errors++;
		goto out;
	}
	const char *reqs[] = {
		"GET /stats.json HTTP/1.1\r\nHost: x\r\n\r\n",                   /* 0: 401 */
		"GET /stats.json HTTP/1.1\r\nHost: x\r\n" BAD_AUTH "\r\n",       /* 1: 401 */
		"GET /stats.json HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "\r\n",      /* 2: JSON */
		"GET /metrics HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "\r\n",         /* 3: metrics */
		"HEAD /stats HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "\r\n",          /* 4: HEAD */
		"GET /stats;json HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "\r\n",      /* 5: JSON */
		"GET /nope HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "\r\n",            /* 6: 404 */
		"DELETE /stats HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "\r\n",        /* 7: 405 */
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		send_all(fd, reqs[i], strlen(reqs[i]));
		if (read_resp(cl, fd, i == 4) < 0) {
			cl->errors++;
			goto out;
		}
	}
	/* 8, 9: two pipelined requests in one segment. */
	const char *two = "GET /stats HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "\r\n"
			  "GET /metrics HTTP/1.1\r\nHost: x\r\n" GOOD_AUTH "Connection: close\r\n\r\n";
	send_all(fd, two, strlen(two));
	if (read_resp(cl, fd, false) < 0 || read_resp(cl, fd, false) < 0 || !wait_eof(fd))
		cl->errors++;
	close(fd);

	/* 10: garbage gets 400, then the connection ends. */
	fd = client_connect(cl->port);
	send_all(fd, "GET /stats HTTP/1.1\r\nHost x\r\n\r\n", 31);
	if (read_resp(cl, fd, false) < 0)
		cl->errors++;
	cl->eof_after_400 = wait_eof(fd);
	close(fd);

	/* 11: an oversized head gets 431, readable even though we were still
	 * sending when the server answered. */
	fd = client_connect(cl->port);
	static char big[40000];
	size_t n = (size_t)snprintf(big, sizeof(big), "GET /stats HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(big + n, 'a', sizeof(big) - n - 4);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	send_all(fd, big, sizeof(big));
	if (read_resp(cl, fd, false) < 0)
		cl->errors++;
	cl->eof_after_431 = wait_eof(fd);
	close(fd);

	/* Left open with half a request: stopping must close it. */
	fd = client_connect(cl->port);
	send_all(fd, "GET /sta", 8);
	usleep(50000);
out:
	uv_async_send(&cl->done);
	if (fd >= 0) {
		wait_eof(fd);
		close(fd);
	}
	return NULL;
}

static void on_client_done(uv_async_t *a)
{
	lb__stats_stop(&proc);
	uv_close((uv_handle_t *)a, NULL);
}

static const char *header(const struct resp *r, const char *line)
{
	return strstr(r->head, line);
}

Test(stats, http, .init = setup, .fini = teardown, .timeout = 30)
{
	static struct client cl;
	uv_loop_t loop;
	pthread_t th;

	cfg.stats.user = "admin";
	cfg.stats.pass = "s3:cret";
	set_bind(free_port());
	cl.port = ntohs(((struct sockaddr_in *)&cfg.stats.bind.sa)->sin_port);
	uv_loop_init(&loop);
	proc.loop = &loop;
	cr_assert_eq(lb__stats_start(&proc), 0);
	uv_async_init(&loop, &cl.done, on_client_done);
	pthread_create(&th, NULL, client_main, &cl);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");

	cr_assert_eq(cl.errors, 0, "client saw %d errors after %d responses", cl.errors, cl.n);
	cr_assert_eq(cl.n, 12);

	cr_expect_eq(cl.r[0].status, 401);
	cr_expect(header(&cl.r[0], "\r\nWWW-Authenticate: Basic realm=\"berth lb\"\r\n"));
	cr_expect_eq(cl.r[1].status, 401);

	cr_expect_eq(cl.r[2].status, 200);
	cr_expect(header(&cl.r[2], "\r\nContent-Type: application/json\r\n"));
	json_t *root = json_loads(cl.r[2].body, 0, NULL);
	cr_expect(root, "JSON body: %s", cl.r[2].body);
	json_decref(root);
	cr_expect_null(header(&cl.r[2], "Connection: close"));

	cr_expect_eq(cl.r[3].status, 200);
	cr_expect(header(&cl.r[3], "\r\nContent-Type: text/plain; version=0.0.4"));
	cr_expect(strstr(cl.r[3].body, "# TYPE berth_lb_frontend_requests_total counter\n"));

	cr_expect_eq(cl.r[4].status, 200);
	cr_expect(header(&cl.r[4], "\r\nContent-Type: text/html"));
	cr_expect_null(header(&cl.r[4], "Content-Length: 0\r\n"), "HEAD must announce the GET length");

	cr_expect_eq(cl.r[5].status, 200);
	cr_expect(header(&cl.r[5], "\r\nContent-Type: application/json\r\n"));
	cr_expect_eq(cl.r[6].status, 404);
	cr_expect_eq(cl.r[7].status, 405);
	cr_expect(header(&cl.r[7], "\r\nAllow: GET, HEAD\r\n"));

	cr_expect_eq(cl.r[8].status, 200);
	cr_expect(strstr(cl.r[8].body, "<!DOCTYPE html>"));
	cr_expect_eq(cl.r[9].status, 200);
	cr_expect(header(&cl.r[9], "\r\nConnection: close\r\n"));

	cr_expect_eq(cl.r[10].status, 400);
	cr_expect(header(&cl.r[10], "\r\nConnection: close\r\n"));
	cr_expect(cl.eof_after_400);
	cr_expect_eq(cl.r[11].status, 431);
	cr_expect(cl.eof_after_431);

	for (int i = 0; i < cl.n; i++) {
		free(cl.r[i].head);
		free(cl.r[i].body);
	}
}
