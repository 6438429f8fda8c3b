/* The load balancer of a stack: a service `image: berth/lb` whose
 * `x-berth.lb` (the lb.yml keys, with `servers: {service: NAME}`) or
 * rancher-compose `lb_config` becomes the configuration `berth lb` runs
 * with, its servers fed from the catalog (DESIGN.md 5).
 *
 * rancher-compose lb_config, translated:
 *   port_rules: [{source_port, target_port, service, protocol: http|tcp,
 *                 hostname, path, priority}]
 *     one frontend per source_port (bound on every address), one backend
 *     per (service, target_port), rules by hostname/path in priority order
 *     (lower first, as Rancher), a rule without hostname and path is the
 *     frontend's default;
 *   stickiness_policy: {cookie, mode: insert, indirect, nocache, postonly,
 *                       domain} on every http backend;
 *   config: HAProxy lines: "timeout client|server|connect|tunnel|
 *     http-request|http-keep-alive|queue DURATION", "balance ALGO [ARG]",
 *     "maxconn N", "option forwardfor" (always on) -- anything else is an
 *     error naming the line. */
#include "lb/stackcfg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "spec/spec.h"

bool lb_stack_is_lb(const struct spec_service *svc)
{
	const char *img = svc->image;

	return img && (strcmp(img, "berth/lb") == 0 || strncmp(img, "berth/lb:", 9) == 0);
}

static json_t *obj_path(json_t *root, const char *a, const char *b)
{
	json_t *x = json_object_get(root, a);

	if (!x) {
		x = json_object();
		json_object_set_new(root, a, x);
	}
	if (!b)
		return x;
	json_t *y = json_object_get(x, b);
	if (!y) {
		y = json_object();
		json_object_set_new(x, b, y);
	}
	return y;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* One HAProxy line of lb_config.config, applied to every frontend
 * (<fes>) or backend (<bes>). */
static int config_line(const char *line, json_t *fes, json_t *bes, char **err)
{
	char buf[512], *w[4] = {0};
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t && n < 4; t = strtok_r(NULL, " \t", &save))
		w[n++] = t;
	if (!n || w[0][0] == '#')
		return 0;
	const char *k;
	json_t *v;
	if (strcmp(w[0], "timeout") == 0 && n == 3) {
		static const struct {
			const char *haproxy, *ours;
			bool frontend;
		} map[] = {{"client", "client", true},	      {"http-request", "http-request", true},
			   {"http-keep-alive", "keep-alive", true}, {"server", "server", false},
			   {"connect", "connect", false},	      {"tunnel", "tunnel", false},
			   {"queue", "queue", false}};
		uint64_t ms;
		if (duration_parse(w[2], &ms) < 0) {
			*err = xasprintf("lb_config.config: \"%s\": bad duration %s", line, w[2]);
			return -1;
		}
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
			if (strcmp(map[i].haproxy, w[1]) != 0)
				continue;
			json_t *where = map[i].frontend ? fes : bes;
			json_object_foreach(where, k, v)
				json_object_set_new(obj_path(v, "timeouts", NULL), map[i].ours, json_string(w[2]));
			return 0;
		}
		*err = xasprintf("lb_config.config: \"%s\": unknown timeout (client, server, connect, tunnel, "
				 "http-request, http-keep-alive, queue)", line);
		return -1;
	}
	if (strcmp(w[0], "balance") == 0 && n >= 2) {
		char b[128];
		snprintf(b, sizeof(b), "%s%s%s%s%s", w[1], n > 2 ? " " : "", n > 2 ? w[2] : "", n > 3 ? " " : "",
			 n > 3 ? w[3] : "");
		json_object_foreach(bes, k, v)
			json_object_set_new(v, "balance", json_string(b));
		return 0;
	}
	if (strcmp(w[0], "maxconn") == 0 && n == 2) {
		char *end;
		long m = strtol(w[1], &end, 10);
		if (*end || m < 0) {
			*err = xasprintf("lb_config.config: \"%s\": expected a number", line);
			return -1;
		}
		json_object_foreach(fes, k, v)
			json_object_set_new(v, "maxconn", json_integer(m));
		return 0;
	}
	if (strcmp(w[0], "option") == 0 && n == 2 && strcmp(w[1], "forwardfor") == 0)
		return 0; /* berth always adds X-Forwarded-For */
	*err = xasprintf("lb_config.config: \"%s\": not supported (timeout, balance, maxconn, option forwardfor)", line);
	return -1;
}

static int from_lb_config(json_t *lbc, json_t *out, char **err)
{
	json_t *rules = json_object_get(lbc, "port_rules");
	json_t *fes = obj_path(out, "frontends", NULL), *bes = obj_path(out, "backends", NULL);
	size_t i;
	json_t *r;

	if (!json_array_size(rules)) {
		*err = xstrdup("lb_config: port_rules: expected at least one rule");
		return -1;
	}
	/* Priority order: lower first; equal keep file order (stable). */
	size_t n = json_array_size(rules);
	json_t **sorted = XNEWV(json_t *, n);
	for (i = 0; i < n; i++)
		sorted[i] = json_array_get(rules, i);
	for (i = 1; i < n; i++)
		for (size_t j = i; j > 0; j--) {
			json_int_t a = json_integer_value(json_object_get(sorted[j - 1], "priority"));
			json_int_t b = json_integer_value(json_object_get(sorted[j], "priority"));
			if (a <= b)
				break;
			json_t *t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		r = sorted[i];
		json_int_t sp = json_integer_value(json_object_get(r, "source_port"));
		json_int_t tp = json_integer_value(json_object_get(r, "target_port"));
		const char *svc = json_string_value(json_object_get(r, "service"));
		const char *proto = json_string_value(json_object_get(r, "protocol"));
		const char *host = json_string_value(json_object_get(r, "hostname"));
		const char *path = json_string_value(json_object_get(r, "path"));
		if (sp < 1 || sp > 65535 || !svc || !*svc) {
			*err = xasprintf("lb_config.port_rules[%zu]: needs source_port (1..65535) and service", i);
			free(sorted);
			return -1;
		}
		bool tcp = proto && strcmp(proto, "tcp") == 0;
		if (proto && !tcp && strcmp(proto, "http") != 0 && strcmp(proto, "https") != 0) {
			*err = xasprintf("lb_config.port_rules[%zu].protocol: expected http or tcp, got \"%s\"", i, proto);
			free(sorted);
			return -1;
		}
		char fname[32], bname[300];
		snprintf(fname, sizeof(fname), "port_%lld", (long long)sp);
		if (tp > 0)
			snprintf(bname, sizeof(bname), "%s_%lld", svc, (long long)tp);
		else
			snprintf(bname, sizeof(bname), "%s", svc);
		json_t *fe = json_object_get(fes, fname);
		if (!fe) {
			char bind[32];
			snprintf(bind, sizeof(bind), "0.0.0.0:%lld", (long long)sp);
			fe = json_pack("{s:[s], s:s}", "bind", bind, "mode", tcp ? "tcp" : "http");
			json_object_set_new(fes, fname, fe);
		}
		if (!json_object_get(bes, bname)) {
			json_t *servers = json_pack("{s:s}", "service", svc);
			if (tp > 0)
				json_object_set_new(servers, "port", json_integer(tp));
			json_object_set_new(bes, bname, json_pack("{s:o}", "servers", servers));
		}
		if ((host && *host) || (path && *path)) {
			if (tcp) {
				*err = xasprintf("lb_config.port_rules[%zu]: hostname and path need protocol http", i);
				free(sorted);
				return -1;
			}
			json_t *rule = json_pack("{s:s}", "backend", bname);
			if (host && *host)
				json_object_set_new(rule, "host", json_string(host));
			if (path && *path)
				json_object_set_new(rule, "path", json_string(path));
			json_t *rl = json_object_get(fe, "rules");
			if (!rl) {
				rl = json_array();
				json_object_set_new(fe, "rules", rl);
			}
			json_array_append_new(rl, rule);
		} else if (!json_object_get(fe, "default_backend")) {
			json_object_set_new(fe, "default_backend", json_string(bname));
		}
	}
	free(sorted);
	/* Stickiness on every http backend. */
	json_t *sp = json_object_get(lbc, "stickiness_policy");
	if (sp) {
		const char *cookie = json_string_value(json_object_get(sp, "cookie"));
		const char *mode = json_string_value(json_object_get(sp, "mode"));
		if (!cookie || (mode && strcmp(mode, "insert") != 0)) {
			*err = xstrdup("lb_config.stickiness_policy: needs cookie; mode insert (the only one berth has)");
			return -1;
		}
		json_t *st = json_pack("{s:s, s:s}", "cookie", cookie, "mode", "insert");
		const char *flags[] = {"indirect", "nocache", "postonly"};
		for (size_t k = 0; k < 3; k++)
			if (json_is_true(json_object_get(sp, flags[k])))
				json_object_set_new(st, flags[k], json_true());
		const char *dom = json_string_value(json_object_get(sp, "domain"));
		if (dom && *dom)
			json_object_set_new(st, "domain", json_string(dom));
		const char *k;
		json_t *be;
		json_object_foreach(bes, k, be)
			json_object_set(be, "stickiness", st);
		json_decref(st);
	}
	/* HAProxy lines. */
	json_t *cfg = json_object_get(lbc, "config");
	char *text = json_is_string(cfg) ? xstrdup(json_string_value(cfg)) : NULL;
	if (json_is_array(cfg)) {
		struct {
			char *p;
			size_t n;
		} acc = {xstrdup(""), 0};
		json_t *l;
		json_array_foreach(cfg, i, l) {
			const char *t = json_string_value(l);
			char *next = xasprintf("%s%s\n", acc.p, t ? t : "");
			free(acc.p);
			acc.p = next;
		}
		text = acc.p;
	}
	for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (config_line(trim(line), fes, bes, err) < 0) {
			free(text);
			return -1;
		}
	}
	free(text);
	return 0;
}

json_t *lb_stack_config(const struct spec_service *svc, const char *stack, const char *socket, char **err)
{
	json_t *out;

	if (json_is_object(json_object_get(svc->x_berth, "lb"))) {
		out = json_deep_copy(json_object_get(svc->x_berth, "lb"));
	} else if (json_is_object(svc->lb_config)) {
		out = json_object();
		if (from_lb_config(svc->lb_config, out, err) < 0) {
			json_decref(out);
			return NULL;
		}
	} else {
		*err = xasprintf("services.%s: image berth/lb needs x-berth.lb (lb.yml keys) or a rancher-compose "
				 "lb_config", svc->name);
		return NULL;
	}
	/* Where the servers come from: this agent's catalog, this stack. */
	json_object_set_new(out, "catalog", json_pack("{s:s, s:s}", "socket", socket, "stack", stack));
	if (!json_object_get(out, "threads"))
		json_object_set_new(out, "threads", json_integer(1));
	return out;
}

json_t *lb_stack_urls(const json_t *cfg, const char *addr)
{
	json_t *urls = json_array();
	const char *k;
	json_t *fe;

	json_object_foreach(json_object_get(cfg, "frontends"), k, fe) {
		json_t *binds = json_object_get(fe, "bind");
		const char *mode = json_string_value(json_object_get(fe, "mode"));
		bool tls = json_object_get(fe, "tls") != NULL;
		size_t i;
		json_t *b;
		json_t *one = json_is_string(binds) ? json_pack("[O]", binds) : json_incref(binds);
		json_array_foreach(one, i, b) {
			const char *t = json_string_value(b);
			const char *colon = t ? strrchr(t, ':') : NULL;
			if (!colon)
				continue;
			char host[128];
			size_t hl = (size_t)(colon - t);
			snprintf(host, sizeof(host), "%.*s", (int)(hl < sizeof(host) ? hl : sizeof(host) - 1), t);
			/* 0.0.0.0 and :: mean every address: show the node's. */
			const char *h = (!*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0) ? addr : host;
			char url[256];
			snprintf(url, sizeof(url), "%s://%s:%s", mode && strcmp(mode, "tcp") == 0 ? "tcp" : tls ? "https" : "http",
				 h, colon + 1);
			json_array_append_new(urls, json_string(url));
		}
		json_decref(one);
	}
	return urls;
}
