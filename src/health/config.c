/* A service's health check config: x-berth.check over rancher-compose health_check over compose healthcheck. */
#include "health/health-int.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"

/*
 * Precedence (docs/health.md): an x-berth.check with a kind key (http, tcp,
 * ttl, redis, exec) is the check, whatever else the service says; else
 * rancher-compose's health_check (a network check from outside, which is
 * what rancher ran even when the image had a HEALTHCHECK); else compose's
 * healthcheck. An x-berth.check without a kind tunes the one below it.
 *
 * The x-berth JSON has been validated by the loader (src/spec/xcheck.c,
 * with file:line:col); this reads it again because a stack also comes back
 * from the store, and JSON has no positions: errors name the key.
 */

#define DAY_MS (86400ULL * 1000)

/* x-berth defaults: the load balancer's check vocabulary (DESIGN.md 5). */
#define XB_INTERVAL 2000
#define XB_RISE     2
#define XB_FALL     3
/* docker's, when compose gives 0 */
#define DOCKER_INTERVAL       30000
#define DOCKER_TIMEOUT        30000
#define DOCKER_RETRIES        3
#define DOCKER_START_INTERVAL 5000

const char *health_state_name(enum health_state s)
{
	switch (s) {
	case HEALTH_STARTING:
		return "starting";
	case HEALTH_HEALTHY:
		return "healthy";
	case HEALTH_UNHEALTHY:
		return "unhealthy";
	case HEALTH_NONE:
		break;
	}
	return "none";
}

const char *health_kind_name(enum health_kind k)
{
	const struct health_kind_ops *ops = health__kind_find(k);

	return ops ? ops->name : "none";
}

void health_config_free(struct health_config *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->method);
	free(c->path);
	free(c->host);
	free(c->password);
	free(c->password_env);
	memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void health_config_copy(struct health_config *dst, const struct health_config *src)
{
	*dst = *src;
	dst->argv = NULL;
	if (src->argv) {
		dst->argv = XNEWV(char *, (size_t)src->argc + 1);
		for (int i = 0; i < src->argc; i++)
			dst->argv[i] = xstrdup(src->argv[i]);
	}
	dst->method = dup_or_null(src->method);
	dst->path = dup_or_null(src->path);
	dst->host = dup_or_null(src->host);
	dst->password = dup_or_null(src->password);
	dst->password_env = dup_or_null(src->password_env);
}

static void set_argv(struct health_config *c, const char *const *v, int n)
{
	c->argv = XNEWV(char *, (size_t)n + 1);
	for (int i = 0; i < n; i++)
		c->argv[i] = xstrdup(v[i]);
	c->argc = n;
}

static void set_shell(struct health_config *c, const char *line)
{
	const char *v[] = {"/bin/sh", "-c", line};

	set_argv(c, v, 3);
	c->shell = true;
}

/* ---- JSON values as YAML wrote them ---- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A duration: an integer of milliseconds (rancher's and HAProxy's bare
 * numbers), or a string of compose's syntax. */
static int j_duration(const json_t *v, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t ms;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -1;
		ms = (uint64_t)json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (all_digits(s)) {
			if (strlen(s) > 15)
				return -1;
			ms = strtoull(s, NULL, 10);
		} else if (duration_parse_go(s, &ms) < 0) {
			return -1;
		}
	} else {
		return -1;
	}
	if (ms < min || ms > max)
		return -1;
	*out = ms;
	return 0;
}

static int j_int(const json_t *v, long long min, long long max, long long *out)
{
	long long n;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v) && all_digits(json_string_value(v)) &&
		   strlen(json_string_value(v)) <= 15) {
		n = strtoll(json_string_value(v), NULL, 10);
	} else {
		return -1;
	}
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* true/false, yes/no, on/off, any case (core/yaml's booleans). */
static int j_bool(const json_t *v, bool *out)
{
	static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};

	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(json_string_value(v), t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(json_string_value(v), f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static const char *j_str(const json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	return s && *s ? s : NULL;
}

/* A status (200), a class ("2xx"), a string status ("204"). */
static int expect_one(const json_t *v, struct health_expect *e)
{
	long long n;

	if (j_int(v, 100, 999, &n) == 0) {
		e->lo = e->hi = (int)n;
		return 0;
	}
	const char *s = j_str(v);
	if (s && strlen(s) == 3 && s[0] >= '1' && s[0] <= '9' && (s[1] == 'x' || s[1] == 'X') &&
	    (s[2] == 'x' || s[2] == 'X')) {
		e->lo = (s[0] - '0') * 100;
		e->hi = e->lo + 99;
		return 0;
	}
	return -1;
}

/* A valid path for a request target: starts with '/', no space or CTL. */
static bool is_target(const char *s)
{
	if (!s || s[0] != '/')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/* A Host header value: printable, no space. */
static bool is_host(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/* ---- x-berth.check: one row per key (options are data) ---- */

#define K(k) (1u << (k))
#define TIMED (K(HEALTH_KIND_EXEC) | K(HEALTH_KIND_HTTP) | K(HEALTH_KIND_TCP) | K(HEALTH_KIND_REDIS))
#define NETWORK (K(HEALTH_KIND_HTTP) | K(HEALTH_KIND_TCP) | K(HEALTH_KIND_REDIS))

struct xkey;
typedef int xkey_fn(const json_t *v, const struct xkey *row, struct health_config *c, int *index);

struct xkey {
	const char *name;
	xkey_fn *fn;
	size_t off;              /* of the field in struct health_config */
	uint64_t min, max;       /* durations (ms) and counts */
	enum health_kind kind;   /* the kind this key names, or HEALTH_KIND_NONE */
	unsigned kinds;          /* kinds the key applies to; 0: a kind key */
	bool tuning;             /* allowed without a kind (tunes the check below) */
	const char *what;        /* what is expected, for messages */
};

static int x_http(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	const char *s = j_str(v);

	if (!is_target(s))
		return -1;
	c->path = xstrdup(s);
	c->method = xstrdup("GET");
	c->http_minor = 1;
	return 0;
}

static int x_true(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	bool b;

	return j_bool(v, &b) == 0 && b ? 0 : -1;
}

static int x_redis(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	bool b;

	if (j_bool(v, &b) == 0)
		return b ? 0 : -1;
	return j_str(v) && strcmp(j_str(v), "role") == 0 ? 0 : -1;
}

/* exec: a list is an argv (compose's ["CMD", ...] and ["CMD-SHELL",
 * "line"] forms are understood), a string a shell command line. */
static int x_exec(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	char words[64][24];
	const char *v0[64];
	size_t n = json_array_size(v), first = 0;

	if (j_str(v)) {
		set_shell(c, j_str(v));
		return 0;
	}
	if (!json_is_array(v) || n == 0 || n > 64)
		return -1;
	/* YAML typed some words (exit 1, true): they are words all the same */
	for (size_t i = 0; i < n; i++) {
		const json_t *w = json_array_get(v, i);
		if (j_str(w)) {
			v0[i] = json_string_value(w);
		} else if (json_is_integer(w)) {
			snprintf(words[i], sizeof(words[i]), "%lld", (long long)json_integer_value(w));
			v0[i] = words[i];
		} else if (json_is_boolean(w)) {
			v0[i] = json_is_true(w) ? "true" : "false";
		} else {
			*index = (int)i;
			return -1;
		}
	}
	if (strcmp(v0[0], "CMD-SHELL") == 0) {
		if (n != 2)
			return -1;
		set_shell(c, v0[1]);
		return 0;
	}
	if (strcmp(v0[0], "CMD") == 0)
		first = 1;
	if (n == first)
		return -1;
	set_argv(c, v0 + first, (int)(n - first));
	return 0;
}

static int x_duration(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	return j_duration(v, row->min, row->max, (uint64_t *)(void *)((char *)c + row->off));
}

static int x_int(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	long long n;

	if (j_int(v, (long long)row->min, (long long)row->max, &n) < 0)
		return -1;
	*(int *)((char *)c + row->off) = (int)n;
	return 0;
}

static int x_bool(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	return j_bool(v, (bool *)((char *)c + row->off));
}

static int x_str(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	char **f = (char **)((char *)c + row->off);

	if (!j_str(v))
		return -1;
	free(*f);
	*f = xstrdup(j_str(v));
	return 0;
}

static int x_host(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	if (!j_str(v) || !is_host(j_str(v)))
		return -1;
	return x_str(v, row, c, index);
}

static int x_expect(const json_t *v, const struct xkey *row, struct health_config *c, int *index)
{
	if (!json_is_array(v)) {
		c->nexpect = 1;
		return expect_one(v, &c->expect[0]);
	}
	if (json_array_size(v) == 0 || json_array_size(v) > HEALTH_MAX_EXPECT)
		return -1;
	c->nexpect = (int)json_array_size(v);
	for (int i = 0; i < c->nexpect; i++) {
		if (expect_one(json_array_get(v, (size_t)i), &c->expect[i]) < 0) {
			*index = i;
			return -1;
		}
	}
	return 0;
}

#define OFF(f) offsetof(struct health_config, f)
#define DUR "a duration like \"10s\", \"1m30s\" or a number of milliseconds"

static const struct xkey xkeys[] = {
	{"http", x_http, 0, 0, 0, HEALTH_KIND_HTTP, 0, false, "a path starting with '/'"},
	{"tcp", x_true, 0, 0, 0, HEALTH_KIND_TCP, 0, false, "true"},
	{"ttl", x_duration, OFF(ttl), 1, DAY_MS, HEALTH_KIND_TTL, 0, false, DUR},
	{"redis", x_redis, 0, 0, 0, HEALTH_KIND_REDIS, 0, false, "role (or true)"},
	{"exec", x_exec, 0, 0, 0, HEALTH_KIND_EXEC, 0, false,
	 "a command line, or a list of program and arguments"},
	{"expect", x_expect, 0, 0, 0, 0, K(HEALTH_KIND_HTTP), false,
	 "a status (200), a class (\"2xx\") or a list of them"},
	{"host", x_host, OFF(host), 0, 0, 0, K(HEALTH_KIND_HTTP), false, "a Host header value"},
	{"port", x_int, OFF(port), 1, 65535, 0, NETWORK, false, "a container port, 1..65535"},
	{"password", x_str, OFF(password), 0, 0, 0, K(HEALTH_KIND_REDIS), false, "a string"},
	{"password_env", x_str, OFF(password_env), 0, 0, 0, K(HEALTH_KIND_REDIS), false,
	 "the name of a variable of the instance's environment"},
	{"interval", x_duration, OFF(interval), 1, DAY_MS, 0, TIMED, true, DUR},
	{"timeout", x_duration, OFF(timeout), 1, DAY_MS, 0, TIMED, true, DUR},
	{"start_period", x_duration, OFF(start_period), 0, DAY_MS, 0, TIMED, true, DUR},
	{"start_interval", x_duration, OFF(start_interval), 1, DAY_MS, 0, TIMED, true, DUR},
	{"initializing_timeout", x_duration, OFF(initializing_timeout), 0, DAY_MS, 0, ~0u, true, DUR},
	{"rise", x_int, OFF(rise), 1, 1000, 0, ~0u, true, "a count, 1..1000"},
	{"fall", x_int, OFF(fall), 1, 1000, 0, ~0u, true, "a count, 1..1000"},
	{"restart_on_unhealthy", x_bool, OFF(restart_on_unhealthy), 0, 0, 0, ~0u, true, "true or false"},
	{NULL},
};

static const struct xkey *xkey_find(const char *name)
{
	for (const struct xkey *r = xkeys; r->name; r++)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

/* Where x-berth.check is wrong, for messages: the key (NULL: the value
 * of check itself), the list item (-1: none), whether the key itself is
 * at fault (unknown, a second kind) rather than its value, and why. */
struct xerr {
	const char *key;
	int index;
	bool at_key;
	char why[256];
};

static int xfail(struct xerr *e, const char *key, bool at_key, const char *fmt, const char *arg)
{
	e->key = key;
	e->at_key = at_key;
	snprintf(e->why, sizeof(e->why), fmt, arg);
	return -1;
}

/* The kind key of <xc>, NULL when it has none; -1 when it has two. */
static int xcheck_kind(const json_t *xc, const struct xkey **kind, struct xerr *e)
{
	const char *k;
	json_t *v;

	*kind = NULL;
	json_object_foreach((json_t *)xc, k, v) {
		const struct xkey *r = xkey_find(k);
		if (!r || !r->kind)
			continue;
		if (*kind)
			return xfail(e, k, true, "one check kind only; %s is given too", (*kind)->name);
		*kind = r;
	}
	return 0;
}

/* Applies the keys of <xc> onto <c>, whose kind is set (or NONE for a
 * tuning-only check). */
static int xcheck_apply(const json_t *xc, struct health_config *c, bool tuning_only, struct xerr *e)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)xc, k, v) {
		const struct xkey *r = xkey_find(k);
		if (!r)
			return xfail(e, k, true, "unknown key \"%s\"; the keys are http, tcp, ttl, redis, exec, "
						 "expect, host, port, password, password_env, interval, timeout, "
						 "start_period, start_interval, initializing_timeout, rise, fall and "
						 "restart_on_unhealthy", k);
		if (tuning_only && !r->tuning)
			return xfail(e, k, false, "%s", "applies only to a check of some kind: give one of http, "
							"tcp, ttl, redis or exec");
		if (!r->kind && c->kind != HEALTH_KIND_NONE && !(r->kinds & K(c->kind)))
			return xfail(e, k, false, "does not apply to a %s check", health_kind_name(c->kind));
		e->index = -1;
		if (r->fn(v, r, c, &e->index) < 0)
			return xfail(e, k, false, "expected %s", r->what);
	}
	return 0;
}

/* x-berth.check's JSON value: absent (NULL or null), false (no check), or
 * an object, whose kind is returned in *kind (NULL: a tuning-only one). */
static int xcheck_top(const json_t *xc, bool *off, const struct xkey **kind, struct xerr *e)
{
	*off = false;
	*kind = NULL;
	if (!xc || json_is_null(xc))
		return 0;
	if (!json_is_object(xc)) {
		bool b;
		if (j_bool(xc, &b) < 0 || b)
			return xfail(e, NULL, false, "%s", "expected a mapping, or false to turn the checks off");
		*off = true;
		return 0;
	}
	return xcheck_kind(xc, kind, e);
}

int health_xcheck_validate(const json_t *check, const char **key, int *index, bool *at_key, char **why)
{
	struct health_config c;
	struct xerr e = {NULL, -1, false, ""};
	const struct xkey *kind;
	bool off;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = xcheck_top(check, &off, &kind, &e);
	if (rc == 0 && json_is_object(check)) {
		c.kind = kind ? kind->kind : HEALTH_KIND_NONE;
		rc = xcheck_apply(check, &c, !kind, &e);
	}
	health_config_free(&c);
	if (rc == 0)
		return 0;
	*key = e.key;
	*index = e.index;
	*at_key = e.at_key;
	*why = xstrdup(e.why);
	return -1;
}

enum health_kind health_xcheck_kind(const json_t *check, bool *off)
{
	struct xerr e = {NULL, -1, false, ""};
	const struct xkey *kind;

	if (xcheck_top(check, off, &kind, &e) < 0 || !kind)
		return HEALTH_KIND_NONE;
	return kind->kind;
}

static char *xerr_text(const struct xerr *e)
{
	if (!e->key)
		return xasprintf("x-berth.check: %s", e->why);
	if (e->index >= 0)
		return xasprintf("x-berth.check.%s[%d]: %s", e->key, e->index, e->why);
	return xasprintf("x-berth.check.%s: %s", e->key, e->why);
}

static int from_xberth(const json_t *xc, const struct xkey *kind, struct health_config *c, struct xerr *e)
{
	c->kind = kind->kind;
	c->source = HEALTH_SRC_XBERTH;
	c->interval = XB_INTERVAL;
	c->rise = XB_RISE;
	c->fall = XB_FALL;
	c->restart_on_unhealthy = true;
	if (c->kind == HEALTH_KIND_TTL) {
		/* a pass is healthy, a fail or a lapse unhealthy, at once */
		c->rise = 1;
		c->fall = 1;
	}
	if (xcheck_apply(xc, c, false, e) < 0)
		return -1;
	if (!json_object_get(xc, "timeout"))
		c->timeout = c->interval;
	if (!json_object_get(xc, "start_interval"))
		c->start_interval = c->interval;
	if (c->kind == HEALTH_KIND_TTL)
		c->interval = c->timeout = c->start_interval = c->ttl;
	return 0;
}

/* ---- rancher-compose health_check ---- */

/* Reads one word of a request line: a token, or a double-quoted string
 * (rancher's UI writes GET "/" "HTTP/1.0"). Returns the length consumed,
 * 0 at the end, -1 on a bad quote. */
static int rl_word(const char *s, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (s[i] == ' ')
		i++;
	if (!s[i])
		return 0;
	if (s[i] == '"') {
		for (i++; s[i] && s[i] != '"'; i++)
			if (o + 1 < cap)
				out[o++] = s[i];
		if (s[i] != '"' || (s[i + 1] && s[i + 1] != ' '))
			return -1;
		i++;
	} else {
		for (; s[i] && s[i] != ' '; i++)
			if (o + 1 < cap)
				out[o++] = s[i];
	}
	out[o] = '\0';
	return (int)i;
}

/* The version defaults to HTTP/1.0, HAProxy's (rancher ran HAProxy). */
int health__request_line_parse(const char *s, char *method, size_t mcap, char *path, size_t pcap, int *minor)
{
	char ver[32];
	int n;

	if ((n = rl_word(s, method, mcap)) <= 0)
		return -1;
	s += n;
	for (const char *m = method; *m; m++)
		if (!isupper((unsigned char)*m))
			return -1;
	if ((n = rl_word(s, path, pcap)) <= 0 || !is_target(path))
		return -1;
	s += n;
	*minor = 0;
	if ((n = rl_word(s, ver, sizeof(ver))) < 0)
		return -1;
	if (n > 0) {
		s += n;
		if (strcmp(ver, "HTTP/1.1") == 0)
			*minor = 1;
		else if (strcmp(ver, "HTTP/1.0") != 0)
			return -1;
		while (*s == ' ')
			s++;
		if (*s)
			return -1;
	}
	return 0;
}

static int from_rancher(const struct spec_rancher_check *r, struct health_config *c, char **err)
{
	c->source = HEALTH_SRC_RANCHER;
	c->port = r->port;
	if (r->request_line) {
		char method[32], path[2048];
		if (health__request_line_parse(r->request_line, method, sizeof(method), path, sizeof(path),
					       &c->http_minor) < 0) {
			*err = xasprintf("health_check.request_line: expected \"METHOD /path [HTTP/1.x]\", got \"%s\"",
					 r->request_line);
			return -1;
		}
		c->kind = HEALTH_KIND_HTTP;
		c->method = xstrdup(method);
		c->path = xstrdup(path);
	} else {
		c->kind = HEALTH_KIND_TCP;
	}
	c->interval = r->interval ? r->interval : 2000;
	c->timeout = r->response_timeout ? r->response_timeout : 2000;
	c->start_interval = c->interval;
	c->rise = r->healthy_threshold > 0 ? r->healthy_threshold : 2;
	c->fall = r->unhealthy_threshold > 0 ? r->unhealthy_threshold : 3;
	c->initializing_timeout = r->initializing_timeout;
	c->reinitializing_timeout = r->reinitializing_timeout;
	/* strategy none: "only mark it unhealthy" */
	c->restart_on_unhealthy = r->strategy != SPEC_RANCHER_NONE;
	return 0;
}

/* ---- compose healthcheck ---- */

static void from_compose(const struct spec_healthcheck *h, struct health_config *c)
{
	if (h->type == SPEC_HC_CMD && h->ntest >= 1) {
		set_argv(c, (const char *const *)h->test, h->ntest);
	} else if (h->type == SPEC_HC_SHELL && h->ntest == 1) {
		set_shell(c, h->test[0]);
	} else {
		/* NONE, or INHERIT: the image's own HEALTHCHECK is the docker
		 * engine's business; a process has none. */
		return;
	}
	c->kind = HEALTH_KIND_EXEC;
	c->source = HEALTH_SRC_COMPOSE;
	/* docker reads 0 as "the default" for each of these */
	c->interval = h->interval ? h->interval : DOCKER_INTERVAL;
	c->timeout = h->timeout ? h->timeout : DOCKER_TIMEOUT;
	c->fall = h->retries > 0 ? h->retries : DOCKER_RETRIES;
	c->rise = 1;
	c->start_period = h->start_period;
	c->start_interval = h->start_interval ? h->start_interval : DOCKER_START_INTERVAL;
	c->restart_on_unhealthy = true;
}

int health_config_from_service(const struct spec_service *svc, struct health_config *out, char **err)
{
	const json_t *xc = svc->x_berth ? json_object_get(svc->x_berth, "check") : NULL;
	struct xerr e = {NULL, -1, false, ""};
	const struct xkey *kind;
	bool off;
	int rc;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	if (xcheck_top(xc, &off, &kind, &e) < 0) {
		*err = xerr_text(&e);
		return -1;
	}
	if (off)
		return 0;
	if (kind) {
		rc = from_xberth(xc, kind, out, &e);
	} else {
		rc = 0;
		if (svc->health_check)
			rc = from_rancher(svc->health_check, out, err);
		else if (svc->healthcheck)
			from_compose(svc->healthcheck, out);
		if (rc == 0 && json_is_object(xc)) {
			/* a new interval carries over to start_interval, except
			 * compose's, which has its own (5s by default) */
			bool carry = out->source != HEALTH_SRC_COMPOSE && !json_object_get(xc, "start_interval");
			rc = xcheck_apply(xc, out, true, &e);
			if (rc == 0 && carry)
				out->start_interval = out->interval;
		}
	}
	if (rc < 0) {
		if (!*err)
			*err = xerr_text(&e);
		health_config_free(out);
		return -1;
	}
	if (out->kind == HEALTH_KIND_NONE)
		health_config_free(out);
	return 0;
}
