/* berth lb configuration: lb.yml (DESIGN.md section 5) loaded and validated into a struct lb_config. */
#include "lb/config.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/yaml.h"

/*
 * Shape of the work: one table of yaml_field rows per YAML mapping (the
 * defaults, ranges and documentation live in those rows), YF_FUNC callbacks
 * for the few values that are more than a scalar, then a last pass for what
 * spans several mappings (backend references, overlapping binds). Arrays
 * get their final count before their items are parsed, so lb_config_free()
 * frees a half-built config like a whole one.
 */

#define TIMEOUT_MAX (24ULL * 86400 * 1000) /* ms; fits a signed 32-bit count of ms */
#define COUNT_MAX 1000000                   /* maxconn, queue_max */
#define THREADS_MAX 64
#define BINDS_MAX 1024                      /* listening addresses in all; each is a socket
					     * per worker thread, which fd limits bound anyway */

/* ---- string shapes ---- */

static bool is_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* RFC 9110 token: header names, cookie names. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

/* RFC 6265 cookie-octet: what may appear in our cookie's value unquoted. */
static bool is_cookie_value(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\')
			return false;
	}
	return true;
}

static bool is_hostname(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
			return false;
	return true;
}

static bool is_rule_host(const char *s)
{
	return is_hostname(strncmp(s, "*.", 2) == 0 ? s + 2 : s);
}

static bool is_domain(const char *s)
{
	return is_hostname(*s == '.' ? s + 1 : s);
}

/* Visible ASCII, no spaces: a path or a header value we put on the wire. */
static bool is_visible(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool is_path(const char *s)
{
	return *s == '/' && is_visible(s);
}

static int get_checked(struct yaml_ctx *y, const struct yaml_node *n, char **out,
		       bool (*ok)(const char *s), const char *what)
{
	char got[64];

	if (n->kind == YAML_SCALAR && !yaml_is_null(n) && ok(n->text)) {
		free(*out);
		*out = xstrdup(n->text);
		return 0;
	}
	return yaml_error(y, n, "expected %s, got %s", what, yaml_describe(n, got, sizeof(got)));
}

/* A name and where it came from, for finding repeats in O(n log n): lists
 * shared through aliases can make them long. */
struct name_ref {
	const char *s;
	int idx;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorts <v>; returns the first index, in file order, whose string repeats
 * an earlier one (that earlier index in *prev), or -1. */
static int first_repeat(struct name_ref *v, int n, int *prev)
{
	int best = -1;

	qsort(v, (size_t)n, sizeof(*v), name_ref_cmp);
	for (int i = 1; i < n; i++) {
		/* v[i] is the second of its group: the first repeat of it */
		if (strcmp(v[i].s, v[i - 1].s) == 0 && (i < 2 || strcmp(v[i - 1].s, v[i - 2].s) != 0) &&
		    (best < 0 || v[i].idx < best)) {
			best = v[i].idx;
			*prev = v[i - 1].idx;
		}
	}
	return best;
}

/* ---- YF_FUNC callbacks: <field> is the row's target ---- */

static int parse_name(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return get_checked(y, n, field, is_name, "a name of letters, digits, '.', '_' or '-'");
}

static int parse_cookie_name(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return get_checked(y, n, field, is_token, "a cookie name like SRV");
}

static int parse_cookie_value(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return get_checked(y, n, field, is_cookie_value,
			   "a cookie value (no spaces, quotes, commas, semicolons or backslashes)");
}

static int parse_rule_host(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return get_checked(y, n, field, is_rule_host,
			   "a host name like api.example.com or *.example.com, without a port");
}

static int parse_path(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return get_checked(y, n, field, is_path, "a path starting with '/'");
}

static int parse_domain(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return get_checked(y, n, field, is_domain, "a cookie domain like example.com");
}

static int parse_header_value(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return get_checked(y, n, field, is_visible, "a host name (no spaces)");
}

static int parse_addr(struct yaml_ctx *y, const struct yaml_node *n, struct lb_addr *a, bool server)
{
	char got[64];
	const char *why;
	char *text = NULL;

	if (yaml_get_str(y, n, &text) < 0)
		return -1;
	if (addr_parse(text, &a->sa, &a->salen, &why) < 0) {
		free(text);
		return yaml_error(y, n, "expected an address like 127.0.0.1:8080, [::1]:8080 or *:8080, got %s: %s",
				  yaml_describe(n, got, sizeof(got)), why);
	}
	free(a->text);
	a->text = text;
	if (!server)
		return 0;

	/* Port 0 and wildcards are fine to listen on, never to connect to. */
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
	if ((a->sa.ss_family == AF_INET && sin->sin_port == 0) ||
	    (a->sa.ss_family == AF_INET6 && sin6->sin6_port == 0))
		return yaml_error(y, n, "a server needs a port 1..65535, got %s",
				  yaml_describe(n, got, sizeof(got)));
	if ((a->sa.ss_family == AF_INET && sin->sin_addr.s_addr == htonl(INADDR_ANY)) ||
	    (a->sa.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr)))
		return yaml_error(y, n, "a server address cannot be a wildcard, got %s",
				  yaml_describe(n, got, sizeof(got)));
	return 0;
}

static int parse_bind_addr(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return parse_addr(y, n, field, false);
}

static int parse_server_addr(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return parse_addr(y, n, field, true);
}

static int parse_binds(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_frontend_cfg *fe = field;
	const struct lb_config *c = y->user;
	int cnt = yaml_list_count(n), total = cnt;

	if (yaml_expect_list(y, n, true) < 0)
		return -1;
	if (cnt == 0)
		return yaml_error(y, n, "expected at least one address to listen on");
	for (int i = 0; i < c->nfes; i++)
		total += c->fes[i].nbinds; /* this frontend's is still 0 */
	if (total > BINDS_MAX)
		return yaml_error(y, n, "more than %d addresses to listen on in all", BINDS_MAX);
	fe->binds = XNEWV(struct lb_addr, (size_t)cnt);
	fe->nbinds = cnt;
	for (int i = 0; i < cnt; i++) {
		size_t mark = n->kind == YAML_SEQ ? yaml_path_push_index(y, i) : y->pathlen;
		int rc = parse_bind_addr(y, yaml_list_item(n, i), &fe->binds[i]);
		yaml_path_pop(y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int parse_auth(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_stats_cfg *st = field;
	char got[64];
	const char *colon;

	if (n->kind != YAML_SCALAR || yaml_is_null(n))
		return yaml_error(y, n, "expected user:password, got %s", yaml_describe(n, got, sizeof(got)));
	/* The value is a secret: the message does not repeat it. */
	colon = strchr(n->text, ':');
	if (!colon || colon == n->text || colon[1] == '\0')
		return yaml_error(y, n, "expected user:password, both non-empty");
	free(st->user);
	free(st->pass);
	st->user = xstrndup(n->text, (size_t)(colon - n->text));
	st->pass = xstrdup(colon + 1);
	return 0;
}

static const struct yaml_field stats_fields[] = {
	{.key = "bind", .type = YF_FUNC, .offset = offsetof(struct lb_stats_cfg, bind),
	 .fn = parse_bind_addr, .required = true,
	 .doc = "address of the stats listener: /stats (HTML), /stats.json, /metrics"},
	{.key = "auth", .type = YF_FUNC, .offset = 0, .fn = parse_auth,
	 .doc = "user:password for basic auth; default: open"},
	{0},
};

static int parse_stats(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_stats_cfg *st = field;

	st->enabled = true;
	return yaml_map_apply(y, n, stats_fields, st, NULL);
}

#define TIMEOUT_ROW(name, member, dflt, what)                                            \
	{.key = name, .type = YF_DURATION, .offset = offsetof(struct lb_timeouts, member), \
	 .min = 1, .max = TIMEOUT_MAX, .def = dflt, .doc = what}

/* The same seven in frontends and backends; every one is filled in after a
 * load, so the proxy never sees 0. */
static const struct yaml_field timeout_fields[] = {
	TIMEOUT_ROW("connect", connect, "5s", "connecting to a server"),
	TIMEOUT_ROW("client", client, "30s", "client inactivity"),
	TIMEOUT_ROW("server", server, "30s", "server inactivity"),
	TIMEOUT_ROW("http-request", http_request, "10s", "receiving a whole request head"),
	TIMEOUT_ROW("keep-alive", keep_alive, "5s", "idle client between requests"),
	TIMEOUT_ROW("tunnel", tunnel, "1h", "idle WebSocket or TCP tunnel"),
	TIMEOUT_ROW("queue", queue, "5s", "waiting for a server slot"),
	{0},
};

static const struct yaml_field rule_fields[] = {
	{.key = "host", .type = YF_FUNC, .offset = offsetof(struct lb_rule_cfg, host),
	 .fn = parse_rule_host, .doc = "exact host or *.example.com; default: any"},
	{.key = "path", .type = YF_FUNC, .offset = offsetof(struct lb_rule_cfg, path),
	 .fn = parse_path, .doc = "path prefix; default: any"},
	{.key = "backend", .type = YF_FUNC, .offset = offsetof(struct lb_rule_cfg, backend),
	 .fn = parse_name, .required = true, .doc = "backend for matching requests"},
	{0},
};

static int parse_rules(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_frontend_cfg *fe = field;
	int cnt = yaml_list_count(n);

	if (yaml_expect_list(y, n, false) < 0)
		return -1;
	fe->rules = XNEWV(struct lb_rule_cfg, (size_t)(cnt > 0 ? cnt : 0));
	fe->nrules = cnt;
	for (int i = 0; i < cnt; i++)
		fe->rules[i].backend_idx = -1;
	for (int i = 0; i < cnt; i++) {
		size_t mark = yaml_path_push_index(y, i);
		int rc = yaml_map_apply(y, n->items[i], rule_fields, &fe->rules[i], NULL);
		yaml_path_pop(y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static const struct yaml_field tls_fields[] = {
	{.key = "certs", .type = YF_STRLIST, .offset = offsetof(struct lb_tls_cfg, certs),
	 .offset2 = offsetof(struct lb_tls_cfg, ncerts), .required = true,
	 .doc = "PEM files (certificate chain + key each), picked by SNI; a list or one file"},
	{0},
};

static const struct yaml_enum mode_names[] = {
	{"http", LB_MODE_HTTP},
	{"tcp", LB_MODE_TCP},
	{NULL, 0},
};

static const struct yaml_field frontend_fields[] = {
	{.key = "bind", .type = YF_FUNC, .offset = 0, .fn = parse_binds, .required = true,
	 .doc = "address or list of addresses to listen on"},
	{.key = "mode", .type = YF_ENUM, .offset = offsetof(struct lb_frontend_cfg, mode),
	 .names = mode_names, .def = "http", .doc = "http or tcp"},
	{.key = "timeouts", .type = YF_MAP, .offset = offsetof(struct lb_frontend_cfg, to),
	 .sub = timeout_fields, .doc = "connect, client, server, http-request, keep-alive, tunnel, queue"},
	{.key = "rules", .type = YF_FUNC, .offset = 0, .fn = parse_rules,
	 .doc = "list of {host, path, backend}; first match wins (http only)"},
	{.key = "default_backend", .type = YF_FUNC,
	 .offset = offsetof(struct lb_frontend_cfg, default_backend), .fn = parse_name,
	 .doc = "backend for requests no rule matched"},
	{.key = "tls", .type = YF_MAP, .offset = offsetof(struct lb_frontend_cfg, tls),
	 .sub = tls_fields, .doc = "{certs: [...]}: terminate TLS on this frontend"},
	{.key = "maxconn", .type = YF_INT, .offset = offsetof(struct lb_frontend_cfg, maxconn),
	 .min = 0, .max = COUNT_MAX, .def = "0", .doc = "concurrent client connections, 0 = unlimited"},
	{0},
};

static int parse_frontends(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_config *c = field;

	if (yaml_expect_map(y, n, "a mapping of frontend names to frontends") < 0)
		return -1;
	c->fes = XNEWV(struct lb_frontend_cfg, (size_t)n->npairs);
	c->nfes = n->npairs;
	for (int i = 0; i < c->nfes; i++)
		c->fes[i].default_idx = -1;
	for (int i = 0; i < c->nfes; i++) {
		struct lb_frontend_cfg *fe = &c->fes[i];
		const struct yaml_pair *p = &n->pairs[i];
		size_t mark;
		int rc;

		if (parse_name(y, p->key, &fe->name) < 0)
			return -1;
		mark = yaml_path_push_key(y, fe->name);
		rc = yaml_map_apply(y, p->value, frontend_fields, fe, NULL);
		yaml_path_pop(y, mark);
		if (rc < 0)
			return -1;
	}
	if (c->nfes == 0)
		return yaml_error(y, n, "expected at least one frontend");
	return 0;
}

/* "roundrobin", ..., "hash uri", "hash header NAME", "hash cookie NAME". */
static int parse_balance(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	static const struct yaml_enum simple[] = {
		{"roundrobin", LB_ALGO_ROUNDROBIN},
		{"leastconn", LB_ALGO_LEASTCONN},
		{"source", LB_ALGO_SOURCE},
		{"random", LB_ALGO_RANDOM},
		{NULL, 0},
	};
	struct lb_backend_cfg *be = field;
	char *s = NULL, *save = NULL, *w[4] = {NULL};
	char got[64];
	int nw = 0, rc = -1, algo;

	if (yaml_get_str(y, n, &s) < 0)
		return -1;
	for (char *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		if (nw < 4)
			w[nw++] = t;
		else
			nw++;

	if (nw == 1 && strcmp(w[0], "hash") != 0) {
		for (const struct yaml_enum *e = simple; e->name; e++) {
			if (strcmp(e->name, w[0]) == 0) {
				be->algo = e->value;
				rc = 0;
			}
		}
	} else if (nw >= 1 && strcmp(w[0], "hash") == 0) {
		if (nw == 2 && strcmp(w[1], "uri") == 0) {
			be->algo = LB_ALGO_HASH_URI;
			rc = 0;
		} else if (nw >= 2 && (strcmp(w[1], "header") == 0 || strcmp(w[1], "cookie") == 0)) {
			algo = w[1][0] == 'h' ? LB_ALGO_HASH_HEADER : LB_ALGO_HASH_COOKIE;
			if (nw != 3 || !is_token(w[2])) {
				yaml_error(y, n, "\"hash %s\" needs one %s name, e.g. \"hash %s %s\", got %s",
					   w[1], w[1], w[1], algo == LB_ALGO_HASH_HEADER ? "X-User" : "session",
					   yaml_describe(n, got, sizeof(got)));
				goto out;
			}
			be->algo = algo;
			free(be->hash_key);
			be->hash_key = xstrdup(w[2]);
			rc = 0;
		}
	}
	if (rc < 0)
		yaml_error(y, n, "expected roundrobin, leastconn, source, random, hash uri, "
			   "hash header NAME or hash cookie NAME, got %s",
			   yaml_describe(n, got, sizeof(got)));
out:
	free(s);
	return rc;
}

static int parse_sticky_mode(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	char got[64];

	/* Only insert exists; the mode key is accepted so that configs
	 * written for HAProxy or rancher read naturally. */
	if (n->kind == YAML_SCALAR && strcmp(n->text, "insert") == 0)
		return 0;
	if (n->kind == YAML_SCALAR && (strcmp(n->text, "rewrite") == 0 || strcmp(n->text, "prefix") == 0))
		return yaml_error(y, n, "cookie mode \"%s\" is not supported, use insert", n->text);
	return yaml_error(y, n, "expected insert, got %s", yaml_describe(n, got, sizeof(got)));
}

enum { /* rows of sticky_fields, for the seen bits */
	STK_COOKIE = 0, STK_MODE, STK_INDIRECT, STK_NOCACHE, STK_POSTONLY, STK_DOMAIN,
	STK_APP_COOKIE, STK_TTL,
};

static const struct yaml_field sticky_fields[] = {
	[STK_COOKIE] = {.key = "cookie", .type = YF_FUNC, .offset = offsetof(struct lb_sticky_cfg, cookie),
		.fn = parse_cookie_name, .doc = "insert our own cookie of this name"},
	[STK_MODE] = {.key = "mode", .type = YF_FUNC, .offset = 0, .fn = parse_sticky_mode,
		.def = "insert", .doc = "insert (the only mode)"},
	[STK_INDIRECT] = {.key = "indirect", .type = YF_BOOL,
		.offset = offsetof(struct lb_sticky_cfg, indirect), .def = "false",
		.doc = "remove our cookie before the request reaches the server"},
	[STK_NOCACHE] = {.key = "nocache", .type = YF_BOOL,
		.offset = offsetof(struct lb_sticky_cfg, nocache), .def = "false",
		.doc = "add Cache-Control: private when setting the cookie"},
	[STK_POSTONLY] = {.key = "postonly", .type = YF_BOOL,
		.offset = offsetof(struct lb_sticky_cfg, postonly), .def = "false",
		.doc = "set the cookie only on responses to POST"},
	[STK_DOMAIN] = {.key = "domain", .type = YF_FUNC, .offset = offsetof(struct lb_sticky_cfg, domain),
		.fn = parse_domain, .doc = "Domain= attribute of the cookie"},
	[STK_APP_COOKIE] = {.key = "app_cookie", .type = YF_FUNC,
		.offset = offsetof(struct lb_sticky_cfg, app_cookie), .fn = parse_cookie_name,
		.doc = "learn the server from this cookie set by the app, e.g. connect.sid"},
	[STK_TTL] = {.key = "ttl", .type = YF_DURATION, .offset = offsetof(struct lb_sticky_cfg, app_ttl),
		.min = 1000, .max = TIMEOUT_MAX, .def = "1h",
		.doc = "app_cookie: forget a learned value after this long unused"},
	{0},
};

static int parse_sticky(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_sticky_cfg *st = field;
	uint64_t seen = 0;

	if (yaml_map_apply(y, n, sticky_fields, st, &seen) < 0)
		return -1;
	if (st->cookie && st->app_cookie) {
		const struct yaml_pair *p = yaml_map_find(n, "app_cookie");
		return yaml_error(y, p->key, "cookie and app_cookie exclude each other, keep one");
	}
	if (!st->cookie && !st->app_cookie)
		return yaml_error(y, n, "stickiness needs cookie: NAME (inserted by the proxy) or "
				  "app_cookie: NAME (set by the app)");
	for (int row = 0; row < STK_APP_COOKIE; row++) {
		bool wrong = st->app_cookie ? row != STK_COOKIE : false;
		if (wrong && (seen & (UINT64_C(1) << row))) {
			const struct yaml_pair *p = yaml_map_find(n, sticky_fields[row].key);
			return yaml_error(y, p->key, "\"%s\" only applies with cookie:, not app_cookie:",
					  sticky_fields[row].key);
		}
	}
	if (st->cookie && (seen & (UINT64_C(1) << STK_TTL))) {
		const struct yaml_pair *p = yaml_map_find(n, "ttl");
		return yaml_error(y, p->key, "\"ttl\" only applies with app_cookie:");
	}
	st->mode = st->app_cookie ? LB_STICKY_APP : LB_STICKY_INSERT;
	if (st->mode != LB_STICKY_APP)
		st->app_ttl = 0;
	return 0;
}

static int parse_check_tcp(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_check_cfg *chk = field;
	bool on;

	if (yaml_get_bool(y, n, &on) < 0)
		return -1;
	chk->type = on ? LB_CHECK_TCP : LB_CHECK_NONE;
	return 0;
}

enum { /* rows of check_fields, for the seen bits */
	CHK_HTTP = 0, CHK_TCP, CHK_EXPECT, CHK_HOST, CHK_INTERVAL, CHK_TIMEOUT, CHK_RISE, CHK_FALL,
};

static const struct yaml_field check_fields[] = {
	[CHK_HTTP] = {.key = "http", .type = YF_FUNC, .offset = offsetof(struct lb_check_cfg, path),
		.fn = parse_path, .doc = "GET this path; the check passes on the expected status"},
	[CHK_TCP] = {.key = "tcp", .type = YF_FUNC, .offset = 0, .fn = parse_check_tcp,
		.doc = "true: the check passes when a connection opens (the default kind); false: no check"},
	[CHK_EXPECT] = {.key = "expect", .type = YF_INT,
		.offset = offsetof(struct lb_check_cfg, expect_status), .min = 100, .max = 599,
		.doc = "http: status to expect; default any 2xx or 3xx"},
	[CHK_HOST] = {.key = "host", .type = YF_FUNC, .offset = offsetof(struct lb_check_cfg, host),
		.fn = parse_header_value, .doc = "http: Host header; default the server address"},
	[CHK_INTERVAL] = {.key = "interval", .type = YF_DURATION,
		.offset = offsetof(struct lb_check_cfg, interval), .min = 10, .max = TIMEOUT_MAX,
		.def = "2s", .doc = "time between checks"},
	[CHK_TIMEOUT] = {.key = "timeout", .type = YF_DURATION,
		.offset = offsetof(struct lb_check_cfg, timeout), .min = 1, .max = TIMEOUT_MAX,
		.doc = "one check's time limit; default min(interval, timeouts.connect)"},
	[CHK_RISE] = {.key = "rise", .type = YF_INT, .offset = offsetof(struct lb_check_cfg, rise),
		.min = 1, .max = 100, .def = "2", .doc = "consecutive successes to mark a server up"},
	[CHK_FALL] = {.key = "fall", .type = YF_INT, .offset = offsetof(struct lb_check_cfg, fall),
		.min = 1, .max = 100, .def = "3", .doc = "consecutive failures to mark a server down"},
	{0},
};

static int parse_check(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_check_cfg *chk = field;
	uint64_t seen = 0;

	/* A check block without a kind means a connect check, like HAProxy's
	 * plain "check". */
	chk->type = LB_CHECK_TCP;
	if (yaml_map_apply(y, n, check_fields, chk, &seen) < 0)
		return -1;
	if (seen & (UINT64_C(1) << CHK_HTTP)) {
		if (seen & (UINT64_C(1) << CHK_TCP))
			return yaml_error(y, yaml_map_find(n, "tcp")->key,
					  "http and tcp checks exclude each other, keep one");
		chk->type = LB_CHECK_HTTP;
		return 0;
	}
	for (int row = CHK_EXPECT; row <= CHK_HOST; row++)
		if (seen & (UINT64_C(1) << row))
			return yaml_error(y, yaml_map_find(n, check_fields[row].key)->key,
					  "\"%s\" only applies to http checks (http: /path)",
					  check_fields[row].key);
	return 0;
}

static const struct yaml_field server_fields[] = {
	{.key = "name", .type = YF_FUNC, .offset = offsetof(struct lb_server_cfg, name),
	 .fn = parse_name, .required = true, .doc = "unique within the backend"},
	{.key = "addr", .type = YF_FUNC, .offset = offsetof(struct lb_server_cfg, addr),
	 .fn = parse_server_addr, .required = true, .doc = "IP:PORT or [IPv6]:PORT"},
	{.key = "weight", .type = YF_INT, .offset = offsetof(struct lb_server_cfg, weight),
	 .min = 0, .max = 256, .def = "1", .doc = "share of the traffic; 0 takes no new traffic"},
	{.key = "maxconn", .type = YF_INT, .offset = offsetof(struct lb_server_cfg, maxconn),
	 .min = 0, .max = COUNT_MAX, .def = "0", .doc = "concurrent connections, 0 = unlimited; beyond it requests queue"},
	{.key = "backup", .type = YF_BOOL, .offset = offsetof(struct lb_server_cfg, backup),
	 .def = "false", .doc = "used only when no other server is up"},
	{.key = "cookie", .type = YF_FUNC, .offset = offsetof(struct lb_server_cfg, cookie),
	 .fn = parse_cookie_value, .doc = "value of the stickiness cookie; default the name"},
	{0},
};

static int parse_port_ref(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	long long v;

	if (yaml_get_int(y, n, 1, 65535, &v) < 0)
		return -1;
	*(int *)field = (int)v;
	return 0;
}

static const struct yaml_field catalog_src_fields[] = {
	{.key = "service", .type = YF_FUNC, .offset = offsetof(struct lb_catalog_src, service), .fn = parse_name,
	 .required = true, .doc = "the stack service whose healthy instances are the servers"},
	{.key = "stack", .type = YF_FUNC, .offset = offsetof(struct lb_catalog_src, stack), .fn = parse_name,
	 .doc = "its stack; default the lb's own (catalog.stack)"},
	{.key = "tag", .type = YF_STR, .offset = offsetof(struct lb_catalog_src, tag),
	 .doc = "only instances with this tag (e.g. primary)"},
	{.key = "port", .type = YF_FUNC, .offset = offsetof(struct lb_catalog_src, port), .fn = parse_port_ref,
	 .doc = "the container port to send to; default each instance's first port"},
	{.key = "weight", .type = YF_INT, .offset = offsetof(struct lb_catalog_src, weight), .min = 0, .max = 256,
	 .def = "1", .doc = "weight of every server"},
	{.key = "maxconn", .type = YF_INT, .offset = offsetof(struct lb_catalog_src, maxconn), .min = 0,
	 .max = COUNT_MAX, .def = "0", .doc = "maxconn of every server"},
	{0},
};

static int parse_servers(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_backend_cfg *be = field;
	int cnt = yaml_list_count(n), dup_name, dup_cookie, prev_name = -1, prev_cookie = -1, rc = 0;
	struct name_ref *names, *cookies;

	if (n && n->kind == YAML_MAP) {
		/* servers: {service: chat}: from the agent's catalog. */
		be->catalog = XNEW(struct lb_catalog_src);
		return yaml_map_apply(y, n, catalog_src_fields, be->catalog, NULL);
	}
	if (yaml_expect_list(y, n, false) < 0)
		return -1;
	be->servers = XNEWV(struct lb_server_cfg, (size_t)(cnt > 0 ? cnt : 0));
	be->nservers = cnt;
	for (int i = 0; i < cnt; i++) {
		struct lb_server_cfg *srv = &be->servers[i];
		size_t mark = yaml_path_push_index(y, i);

		rc = yaml_map_apply(y, n->items[i], server_fields, srv, NULL);
		yaml_path_pop(y, mark);
		if (rc < 0)
			return -1;
		if (!srv->cookie)
			srv->cookie = xstrdup(srv->name);
	}

	/* Two servers behind one cookie value would send both servers'
	 * sticky clients to one of them. */
	names = XNEWV(struct name_ref, (size_t)(cnt > 0 ? cnt : 0));
	cookies = XNEWV(struct name_ref, (size_t)(cnt > 0 ? cnt : 0));
	for (int i = 0; i < cnt; i++) {
		names[i] = (struct name_ref){be->servers[i].name, i};
		cookies[i] = (struct name_ref){be->servers[i].cookie, i};
	}
	dup_name = first_repeat(names, cnt, &prev_name);
	dup_cookie = first_repeat(cookies, cnt, &prev_cookie);
	if (dup_name >= 0 && (dup_cookie < 0 || dup_name <= dup_cookie)) {
		yaml_path_push_index(y, dup_name);
		yaml_path_push_key(y, "name");
		rc = yaml_error(y, yaml_map_get(n->items[dup_name], "name"),
				"server name \"%s\" is already used by servers[%d]",
				be->servers[dup_name].name, prev_name);
	} else if (dup_cookie >= 0) {
		const char *key = yaml_map_find(n->items[dup_cookie], "cookie") ? "cookie" : "name";
		yaml_path_push_index(y, dup_cookie);
		yaml_path_push_key(y, key);
		rc = yaml_error(y, yaml_map_get(n->items[dup_cookie], key),
				"cookie value \"%s\" is already used by servers[%d]",
				be->servers[dup_cookie].cookie, prev_cookie);
	}
	free(names);
	free(cookies);
	return rc;
}

static const struct yaml_field backend_fields[] = {
	{.key = "balance", .type = YF_FUNC, .offset = 0, .fn = parse_balance, .def = "roundrobin",
	 .doc = "roundrobin, leastconn, source, random, hash uri, hash header NAME, hash cookie NAME"},
	{.key = "stickiness", .type = YF_FUNC, .offset = offsetof(struct lb_backend_cfg, sticky),
	 .fn = parse_sticky, .doc = "{cookie: NAME, ...} or {app_cookie: NAME, ttl: ...}"},
	{.key = "timeouts", .type = YF_MAP, .offset = offsetof(struct lb_backend_cfg, to),
	 .sub = timeout_fields, .doc = "connect, client, server, http-request, keep-alive, tunnel, queue"},
	{.key = "check", .type = YF_FUNC, .offset = offsetof(struct lb_backend_cfg, check),
	 .fn = parse_check, .doc = "active health checks; default none"},
	{.key = "retries", .type = YF_INT, .offset = offsetof(struct lb_backend_cfg, retries),
	 .min = 0, .max = 100, .def = "2", .doc = "extra attempts after a failed connect"},
	{.key = "redispatch", .type = YF_BOOL, .offset = offsetof(struct lb_backend_cfg, redispatch),
	 .def = "true", .doc = "retry on another server"},
	{.key = "queue_max", .type = YF_INT, .offset = offsetof(struct lb_backend_cfg, queue_max),
	 .min = 0, .max = COUNT_MAX, .def = "1024", .doc = "requests allowed to wait for a server slot"},
	{.key = "servers", .type = YF_FUNC, .offset = 0, .fn = parse_servers, .required = true,
	 .doc = "list of {name, addr, weight, maxconn, backup, cookie}, or {service, stack, tag, port} from the catalog"},
	{0},
};

static int parse_backends(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_config *c = field;

	if (yaml_expect_map(y, n, "a mapping of backend names to backends") < 0)
		return -1;
	c->bes = XNEWV(struct lb_backend_cfg, (size_t)n->npairs);
	c->nbes = n->npairs;
	for (int i = 0; i < c->nbes; i++) {
		struct lb_backend_cfg *be = &c->bes[i];
		const struct yaml_pair *p = &n->pairs[i];
		size_t mark;
		int rc;

		if (parse_name(y, p->key, &be->name) < 0)
			return -1;
		mark = yaml_path_push_key(y, be->name);
		rc = yaml_map_apply(y, p->value, backend_fields, be, NULL);
		yaml_path_pop(y, mark);
		if (rc < 0)
			return -1;
		/* Defaults that depend on other keys, known only now. */
		if (be->check.type != LB_CHECK_NONE && be->check.timeout == 0)
			be->check.timeout = be->check.interval < be->to.connect ? be->check.interval
										: be->to.connect;
	}
	return 0;
}

static const struct yaml_field catalog_fields[] = {
	{.key = "socket", .type = YF_STR, .offset = offsetof(struct lb_catalog_cfg, socket),
	 .doc = "the agent's API socket (DATA_DIR/berth.sock)"},
	{.key = "addr", .type = YF_STR, .offset = offsetof(struct lb_catalog_cfg, addr),
	 .doc = "or the agent's TCP API, HOST:PORT"},
	{.key = "token_file", .type = YF_STR, .offset = offsetof(struct lb_catalog_cfg, token_file),
	 .doc = "the bearer token for addr"},
	{.key = "stack", .type = YF_FUNC, .offset = offsetof(struct lb_catalog_cfg, stack), .fn = parse_name,
	 .doc = "the stack of servers: {service: ...} that name none"},
	{0},
};

static int parse_catalog(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct lb_catalog_cfg *c = field;

	if (yaml_map_apply(y, n, catalog_fields, c, NULL) < 0)
		return -1;
	if (!c->socket && !c->addr)
		return yaml_error(y, n, "expected socket: PATH (the agent's unix socket) or addr: HOST:PORT");
	if (c->addr && !c->token_file)
		return yaml_error(y, n, "addr needs token_file: the agent's TCP API requires a token");
	return 0;
}

static const struct yaml_field config_fields[] = {
	{.key = "catalog", .type = YF_FUNC, .offset = offsetof(struct lb_config, catalog), .fn = parse_catalog,
	 .doc = "{socket | addr + token_file, stack}: where servers: {service: ...} come from"},
	{.key = "threads", .type = YF_INT, .offset = offsetof(struct lb_config, threads),
	 .min = 1, .max = THREADS_MAX, .doc = "worker threads; default the online CPUs, at most 64"},
	{.key = "grace", .type = YF_DURATION, .offset = offsetof(struct lb_config, grace),
	 .min = 0, .max = 3600 * 1000, .def = "10s",
	 .doc = "how long SIGTERM waits for requests in flight"},
	{.key = "stats", .type = YF_FUNC, .offset = offsetof(struct lb_config, stats),
	 .fn = parse_stats, .doc = "{bind, auth}: the stats listener; default none"},
	{.key = "frontends", .type = YF_FUNC, .offset = 0, .fn = parse_frontends, .required = true,
	 .doc = "name -> frontend"},
	{.key = "backends", .type = YF_FUNC, .offset = 0, .fn = parse_backends, .required = true,
	 .doc = "name -> backend"},
	{.key = "x-*", .type = YF_IGNORE,
	 .doc = "ignored, as in compose files: a place for &anchors to reuse with * and <<"},
	{0},
};

/* ---- checks across mappings ---- */

int lb_config_backend_index(const struct lb_config *c, const char *name)
{
	for (int i = 0; i < c->nbes; i++)
		if (strcmp(c->bes[i].name, name) == 0)
			return i;
	return -1;
}

static int name_ref_cmp_str(const void *a, const void *b)
{
	return strcmp(((const struct name_ref *)a)->s, ((const struct name_ref *)b)->s);
}

/* Backend names sorted, for resolving references: a rules list shared by
 * aliases among many frontends makes many lookups. */
struct be_index {
	const struct lb_config *c;
	struct name_ref *by_name;
};

static int resolve(struct yaml_ctx *y, const struct be_index *bi, const struct yaml_node *at,
		   const char *name, int *idx)
{
	const struct lb_config *c = bi->c;
	struct name_ref key = {name, -1}, *hit;
	char known[256];
	size_t o = 0;

	hit = bsearch(&key, bi->by_name, (size_t)c->nbes, sizeof(key), name_ref_cmp_str);
	*idx = hit ? hit->idx : -1;
	if (hit)
		return 0;
	known[0] = '\0';
	for (int i = 0; i < c->nbes && o < sizeof(known); i++)
		o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s", i ? ", " : "", c->bes[i].name);
	return yaml_error(y, at, "unknown backend \"%s\" (backends: %s)", name, c->nbes ? known : "none");
}

/* Rules and default backends, with the YAML nodes they came from: the
 * frontends mapping and c->fes are in the same order, and so are each
 * rules list and fe->rules. */
static int check_frontend(struct yaml_ctx *y, const struct be_index *bi, struct lb_frontend_cfg *fe,
			  const struct yaml_pair *p)
{
	const struct yaml_node *rules = yaml_map_get(p->value, "rules");

	if (fe->mode == LB_MODE_TCP && fe->nrules > 0) {
		const struct yaml_node *first = rules->items[0];
		const struct yaml_pair *at = yaml_map_find(first, "host");
		if (!at)
			at = yaml_map_find(first, "path");
		yaml_path_push_key(y, "rules");
		return yaml_error(y, at ? at->key : rules,
				  "a tcp frontend cannot route by rules; use default_backend (or mode: http)");
	}
	for (int j = 0; j < fe->nrules; j++) {
		size_t mark = yaml_path_push_key(y, "rules");
		yaml_path_push_index(y, j);
		yaml_path_push_key(y, "backend");
		if (resolve(y, bi, yaml_map_get(rules->items[j], "backend"), fe->rules[j].backend,
			    &fe->rules[j].backend_idx) < 0)
			return -1;
		yaml_path_pop(y, mark);
	}
	if (fe->default_backend) {
		size_t mark = yaml_path_push_key(y, "default_backend");
		if (resolve(y, bi, yaml_map_get(p->value, "default_backend"), fe->default_backend,
			    &fe->default_idx) < 0)
			return -1;
		yaml_path_pop(y, mark);
	} else if (fe->mode == LB_MODE_TCP) {
		return yaml_error(y, p->key, "a tcp frontend needs default_backend");
	} else if (fe->nrules == 0) {
		return yaml_error(y, p->key, "needs default_backend or rules, or it has nowhere to send requests");
	}
	return 0;
}

static in_port_t addr_port(const struct lb_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

static bool addr_is_any(const struct lb_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
	return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/* Listeners use SO_REUSEPORT, so two binds of one address would not fail
 * at startup: they would silently share the traffic. Refuse them here. */
static bool binds_overlap(const struct lb_addr *a, const struct lb_addr *b)
{
	if (a->sa.ss_family != b->sa.ss_family || addr_port(a) == 0 || addr_port(a) != addr_port(b))
		return false;
	if (addr_is_any(a) || addr_is_any(b))
		return true;
	if (a->sa.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr,
			      &((const struct sockaddr_in6 *)&b->sa)->sin6_addr, sizeof(struct in6_addr)) == 0;
	return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)&b->sa)->sin_addr.s_addr;
}

struct bind_ref {
	const struct lb_addr *a;
	const struct yaml_node *n;
	char where[160]; /* key path, for the message */
};

static int check_binds(struct yaml_ctx *y, struct lb_config *c, const struct yaml_node *root)
{
	const struct yaml_node *fes = yaml_map_get(root, "frontends");
	struct bind_ref *refs;
	int nrefs = 0, total = c->stats.enabled ? 1 : 0, rc = 0;

	for (int i = 0; i < c->nfes; i++)
		total += c->fes[i].nbinds;
	refs = XNEWV(struct bind_ref, (size_t)total);
	for (int i = 0; i < c->nfes; i++) {
		const struct yaml_node *bn = yaml_map_get(fes->pairs[i].value, "bind");
		for (int k = 0; k < c->fes[i].nbinds; k++) {
			struct bind_ref *r = &refs[nrefs++];
			r->a = &c->fes[i].binds[k];
			r->n = yaml_list_item(bn, k);
			if (bn->kind == YAML_SEQ)
				snprintf(r->where, sizeof(r->where), "frontends.%s.bind[%d]", c->fes[i].name, k);
			else
				snprintf(r->where, sizeof(r->where), "frontends.%s.bind", c->fes[i].name);
		}
	}
	if (c->stats.enabled) {
		struct bind_ref *r = &refs[nrefs++];
		r->a = &c->stats.bind;
		r->n = yaml_map_get(yaml_map_get(root, "stats"), "bind");
		snprintf(r->where, sizeof(r->where), "stats.bind");
	}
	for (int i = 1; i < nrefs && rc == 0; i++) {
		for (int j = 0; j < i && rc == 0; j++) {
			if (binds_overlap(refs[i].a, refs[j].a)) {
				size_t mark = yaml_path_push_key(y, refs[i].where);
				rc = yaml_error(y, refs[i].n, "%s overlaps %s (%s) on the same port",
						refs[i].a->text, refs[j].where, refs[j].a->text);
				yaml_path_pop(y, mark);
			}
		}
	}
	free(refs);
	return rc;
}

/* ---- load and free ---- */

/* Relative certificate paths are relative to the config file's folder, as
 * nginx's are to its conf dir: the same file then works from any cwd, and a
 * reload does not depend on where the process was started. */
static void resolve_cert_paths(struct lb_config *c, const char *cfg_path)
{
	const char *slash = strrchr(cfg_path, '/');

	if (!slash)
		return;
	for (int i = 0; i < c->nfes; i++) {
		struct lb_tls_cfg *t = &c->fes[i].tls;
		for (int k = 0; k < t->ncerts; k++) {
			if (t->certs[k][0] == '/')
				continue;
			char *abs = xasprintf("%.*s/%s", (int)(slash - cfg_path), cfg_path, t->certs[k]);
			free(t->certs[k]);
			t->certs[k] = abs;
		}
	}
}

int lb_config_load(const char *path, struct lb_config **out, char **err)
{
	struct yaml_doc *doc;
	struct yaml_ctx y;
	struct lb_config *c;
	struct be_index bi = {0};
	long ncpu;

	*out = NULL;
	*err = NULL;
	if (yaml_load_file(path, &doc, err) < 0)
		return -1;
	c = XNEW(struct lb_config);
	c->path = xstrdup(path);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	c->threads = ncpu < 1 ? 1 : ncpu > THREADS_MAX ? THREADS_MAX : (int)ncpu;
	yaml_ctx_init(&y, path, c);

	if (!doc->root) {
		yaml_error(&y, NULL, "the file holds no YAML document; expected frontends and backends");
		goto fail;
	}
	if (yaml_map_apply(&y, doc->root, config_fields, c, NULL) < 0)
		goto fail;
	bi.c = c;
	bi.by_name = XNEWV(struct name_ref, (size_t)c->nbes);
	for (int i = 0; i < c->nbes; i++)
		bi.by_name[i] = (struct name_ref){c->bes[i].name, i};
	qsort(bi.by_name, (size_t)c->nbes, sizeof(*bi.by_name), name_ref_cmp);
	for (int i = 0; i < c->nfes; i++) {
		size_t mark = yaml_path_push_key(&y, "frontends");
		yaml_path_push_key(&y, c->fes[i].name);
		if (check_frontend(&y, &bi, &c->fes[i], &yaml_map_get(doc->root, "frontends")->pairs[i]) < 0)
			goto fail;
		yaml_path_pop(&y, mark);
	}
	if (check_binds(&y, c, doc->root) < 0)
		goto fail;
	for (int i = 0; i < c->nbes; i++) {
		struct lb_catalog_src *src = c->bes[i].catalog;
		if (!src)
			continue;
		const struct yaml_node *sn = yaml_map_get(yaml_map_get(yaml_map_get(doc->root, "backends"),
								       c->bes[i].name), "servers");
		size_t mark = yaml_path_push_key(&y, "backends");
		yaml_path_push_key(&y, c->bes[i].name);
		yaml_path_push_key(&y, "servers");
		if (!c->catalog.socket && !c->catalog.addr) {
			yaml_error(&y, sn, "servers from the catalog need a top-level catalog: {socket: PATH} "
					   "(berth runs the lb of a stack with it)");
			goto fail;
		}
		if (!src->stack && !c->catalog.stack) {
			yaml_error(&y, sn, "which stack? give servers.stack or catalog.stack");
			goto fail;
		}
		yaml_path_pop(&y, mark);
	}
	resolve_cert_paths(c, path);
	free(bi.by_name);
	yaml_doc_free(doc);
	*out = c;
	return 0;
fail:
	BUG_ON(!y.err);
	free(bi.by_name);
	*err = y.err;
	lb_config_free(c);
	yaml_doc_free(doc);
	return -1;
}

void lb_config_free(struct lb_config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nfes; i++) {
		struct lb_frontend_cfg *fe = &c->fes[i];
		free(fe->name);
		for (int k = 0; k < fe->nbinds; k++)
			free(fe->binds[k].text);
		free(fe->binds);
		for (int k = 0; k < fe->nrules; k++) {
			free(fe->rules[k].host);
			free(fe->rules[k].path);
			free(fe->rules[k].backend);
		}
		free(fe->rules);
		free(fe->default_backend);
		for (int k = 0; k < fe->tls.ncerts; k++)
			free(fe->tls.certs[k]);
		free(fe->tls.certs);
	}
	for (int i = 0; i < c->nbes; i++) {
		struct lb_backend_cfg *be = &c->bes[i];
		free(be->name);
		free(be->hash_key);
		free(be->sticky.cookie);
		free(be->sticky.domain);
		free(be->sticky.app_cookie);
		free(be->check.path);
		free(be->check.host);
		for (int k = 0; k < be->nservers; k++) {
			free(be->servers[k].name);
			free(be->servers[k].addr.text);
			free(be->servers[k].cookie);
		}
		free(be->servers);
		if (be->catalog) {
			free(be->catalog->service);
			free(be->catalog->stack);
			free(be->catalog->tag);
			free(be->catalog);
		}
	}
	free(c->catalog.socket);
	free(c->catalog.addr);
	free(c->catalog.token_file);
	free(c->catalog.stack);
	free(c->stats.bind.text);
	free(c->stats.user);
	free(c->stats.pass);
	free(c->fes);
	free(c->bes);
	free(c->path);
	free(c);
}
