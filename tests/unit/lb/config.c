/* Tests for src/lb/config.c, src/core/yaml.c and src/core/addr.c: lb.yml in, struct lb_config or "FILE:LINE:COL: ..." out. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/mem.h"
#include "core/yaml.h"
#include "lb/config.h"

/* DESIGN.md section 5, verbatim: the contract. */
static const char design_example[] =
	"threads: 2                       # default: number of cores\n"
	"stats:\n"
	"  bind: 127.0.0.1:9000           # /stats (HTML), /stats.json, /metrics (Prometheus)\n"
	"  auth: admin:secret             # basic auth, optional\n"
	"frontends:\n"
	"  web:\n"
	"    bind: [0.0.0.0:8080]\n"
	"    mode: http                   # http | tcp\n"
	"    timeouts: {client: 30s, http-request: 10s, keep-alive: 5s}\n"
	"    rules:                       # first match wins\n"
	"      - {host: api.example.com, path: /v1/, backend: api}\n"
	"    default_backend: app\n"
	"  secure:\n"
	"    bind: [0.0.0.0:8443]\n"
	"    tls: {certs: [a.pem, b.pem]} # chosen by SNI; each pem holds cert + key\n"
	"    default_backend: app\n"
	"backends:\n"
	"  app:\n"
	"    balance: roundrobin          # leastconn | source | random | hash uri | hash header <h> | hash cookie <c>\n"
	"    stickiness: {cookie: SRV, mode: insert, indirect: true, nocache: true}   # or {app_cookie: connect.sid}\n"
	"    timeouts: {connect: 2s, server: 30s, tunnel: 3600s, queue: 5s}\n"
	"    check: {http: /healthz, interval: 1s, rise: 2, fall: 3}   # or {tcp: true, ...}\n"
	"    retries: 2\n"
	"    servers:\n"
	"      - {name: a, addr: 127.0.0.1:3001}\n"
	"      - {name: b, addr: 127.0.0.1:3002, weight: 2, maxconn: 100}\n"
	"      - {name: c, addr: 127.0.0.1:3003, backup: true}\n"
	"  api:\n"
	"    servers: [{name: api1, addr: 127.0.0.1:4001}]\n";

/* The smallest useful config. */
static const char minimal[] =
	"frontends:\n"
	"  web: {bind: \":8080\", default_backend: app}\n"
	"backends:\n"
	"  app:\n"
	"    servers: [{name: a, addr: 127.0.0.1:3001}]\n";

static char *tmp_path;

static void cleanup(void)
{
	if (tmp_path) {
		unlink(tmp_path);
		free(tmp_path);
		tmp_path = NULL;
	}
}

TestSuite(lb_config, .fini = cleanup, .timeout = 10);
TestSuite(yaml, .fini = cleanup, .timeout = 10);
TestSuite(addr, .timeout = 10);

static const char *write_tmp(const char *text)
{
	char tmpl[] = "/tmp/berth-lbcfg-XXXXXX";
	int fd = mkstemp(tmpl);
	size_t len = strlen(text);

	cr_assert(fd >= 0);
	cr_assert(write(fd, text, len) == (ssize_t)len);
	close(fd);
	cleanup();
	tmp_path = xstrdup(tmpl);
	return tmp_path;
}

/* <s> with the first <from> replaced by <to>; the test's bug if absent. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);

	cr_assert(at, "test bug: \"%s\" not in the text", from);
	return xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

/* 1-based line and column of the first <needle> in <text>. */
static void pos_of(const char *text, const char *needle, int *line, int *col)
{
	const char *at = strstr(text, needle);

	cr_assert(at, "test bug: \"%s\" not in the text", needle);
	*line = 1;
	*col = 1;
	for (const char *p = text; p < at; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static struct lb_config *load_ok(const char *text)
{
	struct lb_config *c = NULL;
	char *err = NULL;
	int rc = lb_config_load(write_tmp(text), &c, &err);

	cr_assert_eq(rc, 0, "unexpected error: %s", err ? err : "(none)");
	cr_assert_null(err);
	cr_assert_not_null(c);
	return c;
}

/* Loads <text>, expects failure at <line>:<col> with every one of the
 * NULL-terminated strings in the message. */
static void expect_err_at(const char *text, int line, int col, ...)
{
	struct lb_config *c = (struct lb_config *)1;
	char *err = NULL, *prefix;
	const char *path = write_tmp(text);
	va_list ap;

	cr_assert_eq(lb_config_load(path, &c, &err), -1, "loaded, but an error was expected");
	cr_assert_null(c);
	cr_assert_not_null(err);
	prefix = xasprintf("%s:%d:%d: ", path, line, col);
	cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "expected \"%s...\", got \"%s\"", prefix, err);
	va_start(ap, col);
	for (const char *s; (s = va_arg(ap, const char *));)
		cr_assert(strstr(err, s), "\"%s\" missing from \"%s\"", s, err);
	va_end(ap);
	free(prefix);
	free(err);
}

/* Same, at the first occurrence of <needle> in <text>. */
#define expect_err(text, needle, ...)                                 \
	do {                                                          \
		int l_, c_;                                           \
		pos_of((text), (needle), &l_, &c_);                   \
		expect_err_at((text), l_, c_, __VA_ARGS__, NULL);     \
	} while (0)

static struct sockaddr_in *sin_of(struct lb_addr *a)
{
	cr_assert_eq(a->sa.ss_family, AF_INET);
	return (struct sockaddr_in *)&a->sa;
}

/* ---- valid configs ---- */

Test(lb_config, design_example)
{
	struct lb_config *c = load_ok(design_example);

	cr_assert_str_eq(c->path, tmp_path);
	cr_assert_eq(c->threads, 2);
	cr_assert_eq(c->grace, 10000);

	cr_assert(c->stats.enabled);
	cr_assert_str_eq(c->stats.bind.text, "127.0.0.1:9000");
	cr_assert_eq(ntohs(sin_of(&c->stats.bind)->sin_port), 9000);
	cr_assert_eq(sin_of(&c->stats.bind)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_str_eq(c->stats.user, "admin");
	cr_assert_str_eq(c->stats.pass, "secret");

	cr_assert_eq(c->nfes, 2);
	struct lb_frontend_cfg *web = &c->fes[0], *sec = &c->fes[1];
	cr_assert_str_eq(web->name, "web");
	cr_assert_eq(web->nbinds, 1);
	cr_assert_str_eq(web->binds[0].text, "0.0.0.0:8080");
	cr_assert_eq(ntohs(sin_of(&web->binds[0])->sin_port), 8080);
	cr_assert_eq(web->mode, LB_MODE_HTTP);
	cr_assert_eq(web->to.client, 30000);
	cr_assert_eq(web->to.http_request, 10000);
	cr_assert_eq(web->to.keep_alive, 5000);
	cr_assert_eq(web->to.connect, 5000);  /* not written: default */
	cr_assert_eq(web->to.tunnel, 3600000);
	cr_assert_eq(web->nrules, 1);
	cr_assert_str_eq(web->rules[0].host, "api.example.com");
	cr_assert_str_eq(web->rules[0].path, "/v1/");
	cr_assert_str_eq(web->rules[0].backend, "api");
	cr_assert_eq(web->rules[0].backend_idx, 1);
	cr_assert_str_eq(web->default_backend, "app");
	cr_assert_eq(web->default_idx, 0);
	cr_assert_eq(web->tls.ncerts, 0);
	cr_assert_eq(web->maxconn, 0);

	cr_assert_str_eq(sec->name, "secure");
	cr_assert_eq(ntohs(sin_of(&sec->binds[0])->sin_port), 8443);
	cr_assert_eq(sec->tls.ncerts, 2);
	/* Relative certificate paths resolve against the config file's folder. */
	char *dir = xstrndup(c->path, (size_t)(strrchr(c->path, '/') - c->path));
	char *want_a = xasprintf("%s/a.pem", dir), *want_b = xasprintf("%s/b.pem", dir);
	cr_assert_str_eq(sec->tls.certs[0], want_a);
	cr_assert_str_eq(sec->tls.certs[1], want_b);
	free(dir);
	free(want_a);
	free(want_b);
	cr_assert_eq(sec->nrules, 0);
	cr_assert_eq(sec->default_idx, 0);

	cr_assert_eq(c->nbes, 2);
	struct lb_backend_cfg *app = &c->bes[0], *api = &c->bes[1];
	cr_assert_str_eq(app->name, "app");
	cr_assert_eq(app->algo, LB_ALGO_ROUNDROBIN);
	cr_assert_null(app->hash_key);
	cr_assert_eq(app->sticky.mode, LB_STICKY_INSERT);
	cr_assert_str_eq(app->sticky.cookie, "SRV");
	cr_assert(app->sticky.indirect);
	cr_assert(app->sticky.nocache);
	cr_assert(!app->sticky.postonly);
	cr_assert_null(app->sticky.domain);
	cr_assert_eq(app->to.connect, 2000);
	cr_assert_eq(app->to.server, 30000);
	cr_assert_eq(app->to.tunnel, 3600000);
	cr_assert_eq(app->to.queue, 5000);
	cr_assert_eq(app->to.client, 30000);
	cr_assert_eq(app->check.type, LB_CHECK_HTTP);
	cr_assert_str_eq(app->check.path, "/healthz");
	cr_assert_eq(app->check.interval, 1000);
	cr_assert_eq(app->check.timeout, 1000); /* min(interval 1s, connect 2s) */
	cr_assert_eq(app->check.rise, 2);
	cr_assert_eq(app->check.fall, 3);
	cr_assert_eq(app->check.expect_status, 0);
	cr_assert_eq(app->retries, 2);
	cr_assert(app->redispatch);
	cr_assert_eq(app->queue_max, 1024);
	cr_assert_eq(app->nservers, 3);
	cr_assert_str_eq(app->servers[0].name, "a");
	cr_assert_str_eq(app->servers[0].addr.text, "127.0.0.1:3001");
	cr_assert_eq(ntohs(sin_of(&app->servers[0].addr)->sin_port), 3001);
	cr_assert_eq(app->servers[0].weight, 1);
	cr_assert_str_eq(app->servers[0].cookie, "a");
	cr_assert_eq(app->servers[1].weight, 2);
	cr_assert_eq(app->servers[1].maxconn, 100);
	cr_assert(!app->servers[1].backup);
	cr_assert(app->servers[2].backup);

	cr_assert_str_eq(api->name, "api");
	cr_assert_eq(api->nservers, 1);
	cr_assert_str_eq(api->servers[0].name, "api1");
	cr_assert_eq(api->sticky.mode, LB_STICKY_NONE);
	cr_assert_eq(api->check.type, LB_CHECK_NONE);

	cr_assert_eq(lb_config_backend_index(c, "api"), 1);
	cr_assert_eq(lb_config_backend_index(c, "nope"), -1);
	lb_config_free(c);
}

Test(lb_config, defaults)
{
	struct lb_config *c = load_ok(minimal);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	const struct lb_timeouts want = {5000, 30000, 30000, 10000, 5000, 3600000, 5000};

	cr_assert_eq(c->threads, ncpu < 1 ? 1 : ncpu > 64 ? 64 : ncpu);
	cr_assert_eq(c->grace, 10000);
	cr_assert(!c->stats.enabled);
	cr_assert_eq(c->fes[0].mode, LB_MODE_HTTP);
	cr_assert_eq(c->fes[0].nbinds, 1); /* a lone scalar is a one-item list */
	cr_assert_eq(c->fes[0].default_idx, 0);
	cr_assert(memcmp(&c->fes[0].to, &want, sizeof(want)) == 0);
	cr_assert(memcmp(&c->bes[0].to, &want, sizeof(want)) == 0);
	cr_assert_eq(c->bes[0].retries, 2);
	cr_assert(c->bes[0].redispatch);
	cr_assert_eq(c->bes[0].queue_max, 1024);
	cr_assert_eq(c->bes[0].servers[0].weight, 1);
	cr_assert_eq(c->bes[0].servers[0].maxconn, 0);
	cr_assert(!c->bes[0].servers[0].backup);
	cr_assert_str_eq(c->bes[0].servers[0].cookie, "a");
	lb_config_free(c);
}

Test(lb_config, tcp_ipv6_and_scalars)
{
	static const char text[] =
		"threads: 3\n"
		"grace: 2500\n"
		"frontends:\n"
		"  db:\n"
		"    bind: [\"[::1]:5432\", \"*:5433\"]\n"
		"    mode: tcp\n"
		"    maxconn: 500\n"
		"    timeouts: {client: 1h, tunnel: 2h}\n"
		"    default_backend: pg\n"
		"backends:\n"
		"  pg:\n"
		"    balance: leastconn\n"
		"    redispatch: no\n"
		"    retries: 0\n"
		"    queue_max: 0\n"
		"    check: {interval: 500ms}\n"
		"    servers:\n"
		"      - {name: p1, addr: \"[fd00::1]:5432\", weight: 0, cookie: one}\n"
		"      - {name: p2, addr: localhost:5432, backup: on}\n";
	struct lb_config *c = load_ok(text);
	struct lb_frontend_cfg *fe = &c->fes[0];
	struct lb_backend_cfg *be = &c->bes[0];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&fe->binds[0].sa;
	char buf[64];

	cr_assert_eq(c->threads, 3);
	cr_assert_eq(c->grace, 2500);
	cr_assert_eq(fe->mode, LB_MODE_TCP);
	cr_assert_eq(fe->nbinds, 2);
	cr_assert_eq(s6->sin6_family, AF_INET6);
	cr_assert_eq(ntohs(s6->sin6_port), 5432);
	cr_assert_eq(sin_of(&fe->binds[1])->sin_addr.s_addr, htonl(INADDR_ANY));
	cr_assert_eq(fe->maxconn, 500);
	cr_assert_eq(fe->to.client, 3600000);
	cr_assert_eq(fe->to.tunnel, 7200000);
	cr_assert_eq(be->algo, LB_ALGO_LEASTCONN);
	cr_assert(!be->redispatch);
	cr_assert_eq(be->retries, 0);
	cr_assert_eq(be->queue_max, 0);
	/* check without a kind: a connect check with the defaults */
	cr_assert_eq(be->check.type, LB_CHECK_TCP);
	cr_assert_eq(be->check.interval, 500);
	cr_assert_eq(be->check.timeout, 500);
	cr_assert_eq(be->check.rise, 2);
	cr_assert_eq(be->check.fall, 3);
	cr_assert_eq(be->servers[0].weight, 0);
	cr_assert_str_eq(be->servers[0].cookie, "one");
	addr_format((struct sockaddr *)&be->servers[0].addr.sa, buf, sizeof(buf));
	cr_assert_str_eq(buf, "[fd00::1]:5432");
	addr_format((struct sockaddr *)&be->servers[1].addr.sa, buf, sizeof(buf));
	cr_assert_str_eq(buf, "127.0.0.1:5432");
	cr_assert(be->servers[1].backup);
	lb_config_free(c);
}

Test(lb_config, balance_forms)
{
	static const struct {
		const char *text;
		enum lb_algo algo;
		const char *key;
	} cases[] = {
		{"roundrobin", LB_ALGO_ROUNDROBIN, NULL},
		{"leastconn", LB_ALGO_LEASTCONN, NULL},
		{"source", LB_ALGO_SOURCE, NULL},
		{"random", LB_ALGO_RANDOM, NULL},
		{"hash uri", LB_ALGO_HASH_URI, NULL},
		{"hash header X-User", LB_ALGO_HASH_HEADER, "X-User"},
		{"\"hash  cookie   sid\"", LB_ALGO_HASH_COOKIE, "sid"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = xasprintf("  app:\n    balance: %s\n", cases[i].text);
		char *text = replace(minimal, "  app:\n", line);
		struct lb_config *c = load_ok(text);
		cr_assert_eq(c->bes[0].algo, cases[i].algo, "%s", cases[i].text);
		if (cases[i].key)
			cr_assert_str_eq(c->bes[0].hash_key, cases[i].key);
		else
			cr_assert_null(c->bes[0].hash_key);
		lb_config_free(c);
		free(text);
		free(line);
	}
}

Test(lb_config, app_cookie_and_check_options)
{
	char *text = replace(minimal, "  app:\n",
			     "  app:\n"
			     "    stickiness: {app_cookie: connect.sid, ttl: 30m}\n"
			     "    timeouts: {connect: 1500ms}\n"
			     "    check: {http: /up, expect: 204, host: app.local, interval: 3s, rise: 1, fall: 5}\n");
	struct lb_config *c = load_ok(text);
	struct lb_backend_cfg *be = &c->bes[0];

	cr_assert_eq(be->sticky.mode, LB_STICKY_APP);
	cr_assert_str_eq(be->sticky.app_cookie, "connect.sid");
	cr_assert_null(be->sticky.cookie);
	cr_assert_eq(be->sticky.app_ttl, 1800000);
	cr_assert_eq(be->check.type, LB_CHECK_HTTP);
	cr_assert_eq(be->check.expect_status, 204);
	cr_assert_str_eq(be->check.host, "app.local");
	cr_assert_eq(be->check.timeout, 1500); /* min(interval 3s, connect 1.5s) */
	cr_assert_eq(be->check.rise, 1);
	cr_assert_eq(be->check.fall, 5);
	lb_config_free(c);
	free(text);

	/* default ttl; cookie options with their defaults */
	text = replace(minimal, "  app:\n", "  app:\n    stickiness: {app_cookie: sid}\n");
	c = load_ok(text);
	cr_assert_eq(c->bes[0].sticky.app_ttl, 3600000);
	lb_config_free(c);
	free(text);
	text = replace(minimal, "  app:\n",
		       "  app:\n    stickiness: {cookie: SRV, postonly: yes, domain: .example.com}\n");
	c = load_ok(text);
	cr_assert_eq(c->bes[0].sticky.mode, LB_STICKY_INSERT);
	cr_assert(c->bes[0].sticky.postonly);
	cr_assert(!c->bes[0].sticky.indirect);
	cr_assert_str_eq(c->bes[0].sticky.domain, ".example.com");
	cr_assert_eq(c->bes[0].sticky.app_ttl, 0);
	lb_config_free(c);
	free(text);
}

Test(lb_config, anchors_and_merge_keys)
{
	static const char text[] =
		"x-server: &srv {weight: 7, maxconn: 9}\n"
		"x-backend: &be\n"
		"  retries: 5\n"
		"  servers: [{<<: *srv, name: s1, addr: 10.0.0.1:80}, {<<: *srv, name: s2, addr: 10.0.0.2:80, weight: 1}]\n"
		"frontends:\n"
		"  web: {bind: \":80\", rules: [{path: /b, backend: b}], default_backend: a}\n"
		"backends:\n"
		"  a: *be\n"
		"  b:\n"
		"    <<: *be\n"
		"    retries: 1\n";
	struct lb_config *c = load_ok(text);

	cr_assert_eq(c->nbes, 2);
	cr_assert_eq(c->bes[0].retries, 5);
	cr_assert_eq(c->bes[1].retries, 1); /* explicit keys win over merged ones */
	cr_assert_eq(c->bes[1].nservers, 2);
	cr_assert_eq(c->bes[0].servers[0].weight, 7);
	cr_assert_eq(c->bes[0].servers[0].maxconn, 9);
	cr_assert_eq(c->bes[0].servers[1].weight, 1);
	cr_assert_eq(c->bes[0].servers[1].maxconn, 9);
	cr_assert_eq(c->fes[0].rules[0].backend_idx, 1);
	cr_assert_null(c->fes[0].rules[0].host);
	lb_config_free(c);
}

/* ---- errors: each at the offending node, naming the key path ---- */

Test(lb_config, err_unknown_key_typo)
{
	char *text = replace(design_example, "    balance: roundrobin ", "    ballance: roundrobin");

	expect_err_at(text, 19, 5, "backends.app: ", "unknown key \"ballance\"", "did you mean \"balance\"",
		      "valid keys: balance, stickiness,", NULL);
	free(text);
}

Test(lb_config, err_bad_weight)
{
	char *text = replace(design_example, "weight: 2,", "weight: heavy,");

	expect_err_at(text, 26, 49, "backends.app.servers[1].weight: expected an integer 0..256, got \"heavy\"",
		      NULL);
	free(text);
	text = replace(design_example, "weight: 2,", "weight: 257,");
	expect_err(text, "257", "servers[1].weight", "0..256", "\"257\"");
	free(text);
}

Test(lb_config, err_bad_duration)
{
	char *text = replace(design_example, "tunnel: 3600s", "tunnel: 1 hour");

	expect_err(text, "1 hour", "backends.app.timeouts.tunnel: expected a duration", "\"1 hour\"");
	free(text);
	text = replace(design_example, "keep-alive: 5s", "keep-alive: 0");
	expect_err(text, "0}", "frontends.web.timeouts.keep-alive", "1ms..24d");
	free(text);
}

Test(lb_config, err_unknown_backend_in_rule)
{
	char *text = replace(design_example, "backend: api}", "backend: apx}");

	expect_err_at(text, 11, 54, "frontends.web.rules[0].backend: unknown backend \"apx\" (backends: app, api)",
		      NULL);
	free(text);
	text = replace(design_example, "default_backend: app\n  secure", "default_backend: ap\n  secure");
	expect_err(text, "ap\n", "frontends.web.default_backend", "unknown backend \"ap\"");
	free(text);
}

Test(lb_config, err_missing_server_name)
{
	char *text = replace(design_example, "{name: b, addr", "{addr");

	expect_err(text, "{addr: 127.0.0.1:3002", "backends.app.servers[1]: missing required key \"name\"");
	free(text);
}

Test(lb_config, err_duplicate_server)
{
	char *text = replace(design_example, "{name: c,", "{name: a,");

	expect_err_at(text, 27, 16, "backends.app.servers[2].name: server name \"a\" is already used by servers[0]",
		      NULL);
	free(text);
	/* an explicit cookie clashing with another server's default one */
	text = replace(design_example, "{name: c,", "{name: c, cookie: b,");
	expect_err(text, "b, addr: 127.0.0.1:3003", "servers[2].cookie", "cookie value \"b\"");
	free(text);
}

Test(lb_config, err_bad_addr)
{
	static const struct {
		const char *addr, *why;
	} cases[] = {
		{"127.0.0.1", "missing :PORT"},
		{"127.0.0.1:99999", "port 0..65535"},
		{"db.local:5432", "names are not resolved"},
		{"\"::1:80\"", "needs brackets"},
		{"127.0.0.1:0", "needs a port 1..65535"},
		{"\"*:3002\"", "cannot be a wildcard"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = replace(design_example, "127.0.0.1:3002", cases[i].addr);
		int line, col;
		pos_of(text, "{name: b, addr: ", &line, &col);
		expect_err_at(text, line, col + (int)strlen("{name: b, addr: "),
			      "backends.app.servers[1].addr: ", cases[i].why, NULL);
		free(text);
	}
	/* and in a bind list */
	char *text = replace(design_example, "[0.0.0.0:8443]", "[0.0.0.0:8443, \"1.2.3:80\"]");
	expect_err(text, "\"1.2.3:80\"", "frontends.secure.bind[1]: ", "numeric IP address");
	free(text);
}

Test(lb_config, err_bad_balance)
{
	char *text = replace(design_example, "balance: roundrobin", "balance: round-robin");

	expect_err(text, "round-robin", "backends.app.balance: expected roundrobin, leastconn",
		   "got \"round-robin\"");
	free(text);
	text = replace(design_example, "balance: roundrobin", "balance: hash header");
	expect_err(text, "hash header ", "\"hash header\" needs one header name");
	free(text);
	text = replace(design_example, "balance: roundrobin", "balance: hash cookie a b");
	expect_err(text, "hash cookie a b", "\"hash cookie\" needs one cookie name");
	free(text);
}

Test(lb_config, err_yaml_syntax_unclosed_bracket)
{
	/* libfyaml notices at the end of the input; the error points at the
	 * bracket that was never closed. */
	char *text = replace(design_example, "bind: [0.0.0.0:8443]", "bind: [0.0.0.0:8443");

	/* here libfyaml stops two lines further, at "default_backend" */
	expect_err_at(text, 16, 5, "wrongly indented flow sequence", "inside the '[' opened at line 14, column 11",
		      NULL);
	free(text);
	expect_err_at("frontends:\n  web:\n    bind: [\":80\"\n", 3, 11, "flow sequence without a closing bracket",
		      NULL);
	/* bad indentation: libfyaml's own message and position */
	expect_err_at("frontends:\n  web: {}\n   bad: 1\n", 3, 4, "invalid indentation", NULL);
}

Test(lb_config, err_stickiness)
{
	char *text = replace(design_example, "mode: insert", "mode: rewrite");

	expect_err_at(text, 20, 37, "backends.app.stickiness.mode: cookie mode \"rewrite\" is not supported, use insert",
		      NULL);
	free(text);
	text = replace(design_example, "mode: insert", "mode: prefix");
	expect_err(text, "prefix", "\"prefix\" is not supported, use insert");
	free(text);
	text = replace(design_example, "{cookie: SRV,", "{app_cookie: sid, cookie: SRV,");
	expect_err(text, "app_cookie", "backends.app.stickiness: ", "exclude each other");
	free(text);
	text = replace(design_example, "{cookie: SRV, mode: insert,", "{app_cookie: sid,");
	expect_err(text, "indirect", "\"indirect\" only applies with cookie:");
	free(text);
	text = replace(design_example, "{cookie: SRV, mode: insert, indirect: true, nocache: true}", "{}");
	expect_err(text, "{}", "stickiness needs cookie: NAME");
	free(text);
}

Test(lb_config, err_check)
{
	char *text = replace(design_example, "{http: /healthz,", "{http: /healthz, tcp: true,");

	expect_err(text, "tcp: true,", "backends.app.check: ", "exclude each other");
	free(text);
	text = replace(design_example, "{http: /healthz,", "{http: healthz,");
	expect_err(text, "healthz,", "backends.app.check.http: expected a path starting with '/'");
	free(text);
	text = replace(design_example, "{http: /healthz,", "{expect: 200,");
	expect_err(text, "expect", "\"expect\" only applies to http checks");
	free(text);
}

Test(lb_config, err_duplicate_key)
{
	char *text = replace(design_example, "    retries: 2\n", "    retries: 2\n    retries: 3\n");

	expect_err(text, "retries: 3", "duplicate key \"retries\"");
	free(text);
}

Test(lb_config, err_frontend_routing)
{
	char *text = replace(design_example, "    mode: http ", "    mode: tcp  ");

	expect_err(text, "host: api", "frontends.web.rules: a tcp frontend cannot route by rules");
	free(text);
	text = replace(design_example, "    tls: {certs: [a.pem, b.pem]} # chosen by SNI; each pem holds cert + key\n"
				       "    default_backend: app\n",
		       "    mode: tcp\n");
	expect_err(text, "secure:", "frontends.secure: a tcp frontend needs default_backend");
	free(text);
	text = replace(design_example, "    tls: {certs: [a.pem, b.pem]} # chosen by SNI; each pem holds cert + key\n"
				       "    default_backend: app\n", "");
	expect_err(text, "secure:", "frontends.secure: needs default_backend or rules");
	free(text);
	text = replace(design_example, "mode: http ", "mode: https");
	expect_err(text, "https", "frontends.web.mode: expected one of http, tcp, got \"https\"");
	free(text);
}

Test(lb_config, err_structure)
{
	expect_err_at("", 1, 1, "holds no YAML document", NULL);
	expect_err_at("# only a comment\n", 1, 1, "holds no YAML document", NULL);
	expect_err_at("- a\n- b\n", 1, 1, "expected a mapping, got a list", NULL);
	expect_err_at("frontends: {}\nbackends: {}\n", 1, 12, "frontends: expected at least one frontend", NULL);
	expect_err_at("backends: {}\n", 1, 1, "missing required key \"frontends\"", NULL);
	expect_err_at("frontends: [web]\nbackends: {}\n", 1, 12,
		      "frontends: expected a mapping of frontend names to frontends, got a list", NULL);
	expect_err_at("frontends:\n  web: 5\nbackends: {}\n", 2, 8,
		      "frontends.web: expected a mapping, got \"5\"", NULL);
}

Test(lb_config, err_misc)
{
	char *text;

	text = replace(design_example, "threads: 2 ", "threads: 65");
	expect_err_at(text, 1, 10, "threads: expected an integer 1..64, got \"65\"", NULL);
	free(text);
	text = replace(design_example, "auth: admin:secret", "auth: adminsecret");
	expect_err(text, "adminsecret", "stats.auth: expected user:password");
	free(text);
	text = replace(design_example, "auth: admin:secret", "auth: adminsecret");
	{
		struct lb_config *c;
		char *err;
		cr_assert_eq(lb_config_load(write_tmp(text), &c, &err), -1);
		cr_assert_null(strstr(err, "adminsecret"), "a secret leaked into \"%s\"", err);
		free(err);
	}
	free(text);
	text = replace(design_example, "[0.0.0.0:8443]", "[\"127.0.0.1:8080\"]");
	expect_err(text, "\"127.0.0.1:8080\"", "frontends.secure.bind[0]: ",
		   "overlaps frontends.web.bind[0] (0.0.0.0:8080)");
	free(text);
	text = replace(design_example, "127.0.0.1:9000", "\"*:8443\"");
	expect_err(text, "\"*:8443\"", "stats.bind: ", "overlaps frontends.secure.bind[0]");
	free(text);
	text = replace(design_example, "certs: [a.pem, b.pem]", "certs: []");
	expect_err(text, "[]", "frontends.secure.tls.certs: expected at least one string");
	free(text);
	text = replace(design_example, "  web:\n", "  we b:\n");
	expect_err(text, "we b", "expected a name of letters");
	free(text);
	text = replace(design_example, "host: api.example.com", "host: \"api.example.com:80\"");
	expect_err(text, "\"api.example.com:80\"", "rules[0].host: ", "without a port");
	free(text);
	text = replace(design_example, "indirect: true", "indirect: maybe");
	expect_err(text, "maybe", "stickiness.indirect: expected true or false");
	free(text);
	text = xasprintf("%sbackends: {}\n", design_example);
	expect_err(text, "backends: {}", "duplicate key \"backends\"");
	free(text);
	text = xasprintf("%s---\nthreads: 1\n", design_example);
	expect_err(text, "---", "one YAML document");
	free(text);
}

Test(lb_config, err_too_many_binds)
{
	size_t cap = 1 << 16, o = 0;
	char *text = xmalloc(cap);

	o += (size_t)snprintf(text + o, cap - o, "frontends:\n  web:\n    default_backend: app\n    bind: [");
	for (int i = 0; i < 1025; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s\":0\"", i ? ", " : "");
	snprintf(text + o, cap - o, "]\nbackends: {app: {servers: []}}\n");
	expect_err_at(text, 4, 11, "frontends.web.bind: more than 1024 addresses", NULL);
	free(text);
}

Test(lb_config, err_missing_file)
{
	struct lb_config *c = NULL;
	char *err = NULL;

	cr_assert_eq(lb_config_load("/nonexistent/lb.yml", &c, &err), -1);
	cr_assert_null(c);
	cr_assert_str_eq(err, "/nonexistent/lb.yml: cannot open: No such file or directory");
	free(err);
}

/* ---- the YAML layer on its own ---- */

static struct yaml_doc *doc_of(const char *text)
{
	struct yaml_doc *d = NULL;
	char *err = NULL;

	cr_assert_eq(yaml_load_buffer("t.yml", text, strlen(text), &d, &err), 0, "%s", err);
	return d;
}

static char *doc_err(const char *text, size_t len)
{
	struct yaml_doc *d = NULL;
	char *err = NULL;

	cr_assert_eq(yaml_load_buffer("t.yml", text, len, &d, &err), -1);
	cr_assert_null(d);
	return err;
}

Test(yaml, positions_and_kinds)
{
	struct yaml_doc *d = doc_of("a:\n  - x\n  - {b: 'q'}\nc:\n");
	const struct yaml_node *a = yaml_map_get(d->root, "a"), *c = yaml_map_get(d->root, "c");

	cr_assert_eq(d->root->kind, YAML_MAP);
	cr_assert_eq(d->root->line, 1);
	cr_assert_eq(d->root->col, 1);
	cr_assert_eq(a->kind, YAML_SEQ);
	cr_assert_eq(a->line, 2);
	cr_assert_eq(a->col, 3);
	cr_assert_eq(a->items[1]->kind, YAML_MAP);
	cr_assert_eq(a->items[1]->col, 5);
	cr_assert_eq(a->items[1]->pairs[0].value->col, 9); /* the quote */
	cr_assert(!a->items[1]->pairs[0].value->plain);
	cr_assert(yaml_is_null(c));
	cr_assert_eq(c->line, 4); /* a missing value sits at its key */
	cr_assert_eq(yaml_list_count(c), 0);
	cr_assert_eq(yaml_list_count(a->items[0]), 1);
	cr_assert_eq(yaml_list_item(a->items[0], 0), a->items[0]);
	yaml_doc_free(d);
}

Test(yaml, typed_values)
{
	struct yaml_doc *d = doc_of("b1: yes\nb2: Off\nb3: TRUE\nb4: 1\nd1: 250ms\nd2: 3000\n"
				    "i1: -5\ni2: 0x10\ni3: 99999999999999999999\ns1: ''\nl1: one\nl2: [a, b]\n");
	struct yaml_ctx y;
	bool b;
	uint64_t ms;
	long long i;
	char *s = NULL, **list = NULL;
	int n = 0;

	yaml_ctx_init(&y, "t.yml", NULL);
	cr_assert_eq(yaml_get_bool(&y, yaml_map_get(d->root, "b1"), &b), 0);
	cr_assert(b);
	cr_assert_eq(yaml_get_bool(&y, yaml_map_get(d->root, "b2"), &b), 0);
	cr_assert(!b);
	cr_assert_eq(yaml_get_bool(&y, yaml_map_get(d->root, "b3"), &b), 0);
	cr_assert(b);
	cr_assert_eq(yaml_get_duration(&y, yaml_map_get(d->root, "d1"), 0, 1000000, &ms), 0);
	cr_assert_eq(ms, 250);
	cr_assert_eq(yaml_get_duration(&y, yaml_map_get(d->root, "d2"), 0, 1000000, &ms), 0);
	cr_assert_eq(ms, 3000);
	cr_assert_eq(yaml_get_int(&y, yaml_map_get(d->root, "i1"), -10, 10, &i), 0);
	cr_assert_eq(i, -5);
	cr_assert_eq(yaml_get_strlist(&y, yaml_map_get(d->root, "l1"), &list, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(list[0], "one");
	cr_assert_eq(yaml_get_strlist(&y, yaml_map_get(d->root, "l2"), &list, &n), 0); /* replaces */
	cr_assert_eq(n, 2);
	cr_assert_str_eq(list[1], "b");
	for (int k = 0; k < n; k++)
		free(list[k]);
	free(list);
	cr_assert_null(y.err);

	cr_assert_eq(yaml_get_bool(&y, yaml_map_get(d->root, "b4"), &b), -1);
	cr_assert_str_eq(y.err, "t.yml:4:5: expected true or false (or yes/no, on/off), got \"1\"");
	free(y.err);
	y.err = NULL;
	cr_assert_eq(yaml_get_int(&y, yaml_map_get(d->root, "i2"), 0, 100, &i), -1);
	free(y.err);
	y.err = NULL;
	cr_assert_eq(yaml_get_int(&y, yaml_map_get(d->root, "i3"), 0, 100, &i), -1);
	free(y.err);
	y.err = NULL;
	cr_assert_eq(yaml_get_str(&y, yaml_map_get(d->root, "s1"), &s), -1);
	cr_assert(strstr(y.err, "non-empty"));
	free(y.err);
	yaml_doc_free(d);
}

Test(yaml, first_error_wins_and_paths)
{
	struct yaml_ctx y;
	size_t m1, m2;

	yaml_ctx_init(&y, "f", NULL);
	m1 = yaml_path_push_key(&y, "a");
	m2 = yaml_path_push_index(&y, 3);
	yaml_path_push_key(&y, "b");
	cr_assert_str_eq(y.path, "a[3].b");
	yaml_path_pop(&y, m2);
	cr_assert_str_eq(y.path, "a");
	yaml_error(&y, NULL, "one");
	yaml_error(&y, NULL, "two");
	cr_assert_str_eq(y.err, "f:1:1: a: one");
	yaml_path_pop(&y, m1);
	cr_assert_str_eq(y.path, "");
	free(y.err);
}

Test(yaml, refused_documents)
{
#define CASE(text, want) {text, sizeof(text) - 1, want} /* sizeof: texts with NUL bytes */
	static const struct {
		const char *text;
		size_t len;
		const char *want;
	} cases[] = {
		CASE("a: 1\na: 2\n", "t.yml:2:1: duplicate key \"a\""),
		CASE("a: *x\n", "t.yml:1:4: alias *x needs an anchor &x"),
		CASE("a: &x [*x]\n", "t.yml:1:8: alias *x needs an anchor &x"),
		CASE("? [a]\n: 1\n", "t.yml:1:3: mapping keys must be plain strings"),
		CASE("a: \"x\\0\"\n", "t.yml:1:4: strings may not contain a NUL byte"),
		CASE("a: 1\n---\nb: 2\n", "t.yml:2:1: a config file holds one YAML document"),
		CASE("a: {<<: 1}\n", "t.yml:1:5: merge key \"<<\" needs a mapping"),
		CASE("x: &x [1]\na: {<<: [*x]}\n", "t.yml:2:5: merge key \"<<\" needs a mapping or a list of mappings, item 0"),
		CASE("a: [1, 2\n", "t.yml:1:4: flow sequence without a closing bracket"),
		/* libfyaml 0.7.12 hangs on this one (upstream #101) */
		CASE("a: 1\n% \xdb\x9d\xc5\xf5\n", "t.yml:2:4: invalid UTF-8 (byte 0xC5)"),
		CASE("a: \xc3\xa9\xff\n", "t.yml:1:5: invalid UTF-8 (byte 0xFF)"),
		CASE("a: \xc0\xae\n", "t.yml:1:4: invalid UTF-8"),          /* overlong */
		CASE("a: \xed\xa0\x80\n", "t.yml:1:4: invalid UTF-8"),     /* surrogate */
		CASE("\xff\xfe" "a\x00:\x00", "t.yml:1:1: invalid UTF-8"),     /* UTF-16 */
		CASE("a: b\x01\n", "t.yml:1:5: control character U+0001"),
		CASE("a: b\x00\n", "t.yml:1:5: control character U+0000"),
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = doc_err(cases[i].text, cases[i].len);
		cr_assert(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0,
			  "case %zu: want \"%s...\", got \"%s\"", i, cases[i].want, err);
		free(err);
	}
#undef CASE
}

Test(yaml, alias_bomb)
{
	char *text = xstrdup("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	char *err;

	for (int i = 1; i < 9; i++) {
		char *t = xasprintf("%sa%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
				    text, i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
		free(text);
		text = t;
	}
	err = doc_err(text, strlen(text));
	cr_assert(strstr(err, "expands to more than"), "%s", err);
	free(err);
	free(text);
}

Test(yaml, single_quoted_escapes)
{
	/* libfyaml 0.7.12 alone reads the first as "x'''" (and leaks) */
	struct yaml_doc *d = doc_of("a: 'x''''y'\nb: ''''''\nc: 'it''s'\nd: 'multi\n  line'\ne: ''\n");

	cr_assert_str_eq(yaml_map_get(d->root, "a")->text, "x''y");
	cr_assert_eq(yaml_map_get(d->root, "a")->len, 4);
	cr_assert_str_eq(yaml_map_get(d->root, "b")->text, "''");
	cr_assert_str_eq(yaml_map_get(d->root, "c")->text, "it's");
	cr_assert_str_eq(yaml_map_get(d->root, "d")->text, "multi line");
	cr_assert_str_eq(yaml_map_get(d->root, "e")->text, "");
	cr_assert(!yaml_is_null(yaml_map_get(d->root, "e")));
	yaml_doc_free(d);
}

Test(yaml, merge_budget)
{
	/* siblings each merging a big mapping: refused before memory runs out */
	size_t cap = 64 << 20, o = 0;
	char *text = xmalloc(cap), *err;

	o += (size_t)snprintf(text + o, cap - o, "big: &big {");
	for (int i = 0; i < 2000; i++)
		o += (size_t)snprintf(text + o, cap - o, "%sk%d: 1", i ? ", " : "", i);
	o += (size_t)snprintf(text + o, cap - o, "}\nlist:\n");
	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(text + o, cap - o, "  - {<<: *big}\n");
	err = doc_err(text, o);
	cr_assert(strstr(err, "merge keys copy more than"), "%s", err);
	free(err);
	free(text);
}

Test(yaml, merge_precedence)
{
	struct yaml_doc *d = doc_of("x: &x {a: 1, b: 1}\ny: &y {b: 2, c: 2}\nz: {<<: [*x, *y], c: 3}\n");
	const struct yaml_node *z = yaml_map_get(d->root, "z");

	cr_assert_eq(z->npairs, 3);
	cr_assert_str_eq(yaml_map_get(z, "a")->text, "1");
	cr_assert_str_eq(yaml_map_get(z, "b")->text, "1"); /* earlier source wins */
	cr_assert_str_eq(yaml_map_get(z, "c")->text, "3"); /* explicit key wins */
	yaml_doc_free(d);
}

/* ---- addresses ---- */

Test(addr, parse_and_format)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"[::1]:8080", "[::1]:8080"},
		{"[2001:db8::1]:443", "[2001:db8::1]:443"},
		{"*:8080", "0.0.0.0:8080"},
		{":8080", "0.0.0.0:8080"},
		{"0.0.0.0:80", "0.0.0.0:80"},
		{"localhost:80", "127.0.0.1:80"},
		{"10.1.2.3:0", "10.1.2.3:0"},
		{"[::]:65535", "[::]:65535"},
	};
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80",
		"127.0.0.1: 80", "127.0.0.1:80x", "127.1:80", "0x7f.0.0.1:80", "host:80", "::1:80",
		"[::1]80", "[::1", "[zz::1]:80", "[127.0.0.1]:80", "1.2.3.4.5:80", "localhost:",
		"127.0.0.1:000000080",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sockaddr_storage sa;
		socklen_t len = 0;
		const char *why = NULL;
		char buf[64];

		cr_assert_eq(addr_parse(ok[i].in, &sa, &len, &why), 0, "%s: %s", ok[i].in, why);
		cr_assert_eq(len, sa.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							   : sizeof(struct sockaddr_in6));
		addr_format((struct sockaddr *)&sa, buf, sizeof(buf));
		cr_assert_str_eq(buf, ok[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_storage sa;
		socklen_t len;
		const char *why = NULL;

		cr_assert_eq(addr_parse(bad[i], &sa, &len, &why), -1, "\"%s\" was accepted", bad[i]);
		cr_assert_not_null(why);
	}
}

Test(addr, format_ip_and_truncation)
{
	struct sockaddr_storage sa;
	socklen_t len;
	const char *why;
	char buf[8];

	cr_assert_eq(addr_parse("[fe80::1]:80", &sa, &len, &why), 0);
	addr_format_ip((struct sockaddr *)&sa, buf, sizeof(buf));
	cr_assert_str_eq(buf, "fe80::1");
	addr_format((struct sockaddr *)&sa, buf, sizeof(buf));
	cr_assert_eq(strlen(buf), sizeof(buf) - 1); /* cut, still terminated */
}
