/* x-berth.on_change and x-berth.pre_start (docs/hooks.md): one parser, used
 * by the compose loader to refuse a bad file and by the engine to build
 * its hooks, so that both agree on what is valid. */
#include "hooks/hooks-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "hooks/hooks.h"
#include "hooks/template.h"

struct cparse {
	const char *project_dir;
	char path[256];            /* key path inside x-berth: "on_change[1].wait" */
	size_t plen;
	char *err;                 /* first error */
	char *at;
	bool at_key;
};

static size_t push_key(struct cparse *P, const char *k)
{
	size_t m = P->plen;

	snprintf(P->path + m, sizeof(P->path) - m, "%s%s", m ? "." : "", k);
	P->plen = strlen(P->path);
	return m;
}

static size_t push_idx(struct cparse *P, int i)
{
	size_t m = P->plen;

	snprintf(P->path + m, sizeof(P->path) - m, "[%d]", i);
	P->plen = strlen(P->path);
	return m;
}

static void pop(struct cparse *P, size_t m)
{
	P->plen = m;
	P->path[m] = '\0';
}

static int fail(struct cparse *P, bool at_key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct cparse *P, bool at_key, const char *fmt, ...)
{
	va_list ap;

	if (P->err)
		return -1;
	va_start(ap, fmt);
	P->err = xvasprintf(fmt, ap);
	va_end(ap);
	/* One line, whatever the values quoted hold. */
	for (char *p = P->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	P->at = xstrdup(P->path);
	P->at_key = at_key;
	return -1;
}

static const char *describe(const json_t *v, char *buf, size_t cap)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		snprintf(buf, cap, "\"%.40s\"", json_string_value(v));
		return buf;
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "nothing";
	}
}

static int get_str(struct cparse *P, const json_t *v, const char *what, char **out)
{
	char d[64];

	if (!json_is_string(v) || json_string_length(v) == 0)
		return fail(P, false, "expected %s, got %s", what, describe(v, d, sizeof(d)));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(P, false, "expected %s without a NUL byte", what);
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

int hooks__duration_parse(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	uint64_t total = 0;

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (!*s)
		return -1;
	while (*s) {
		uint64_t v = 0;
		const char *p = s;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (v > HOOKS_MAX_DURATION)
				return -1;
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (p == s)
			return -1;
		size_t u = 0, best = 0, bestlen = 0;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t l = strlen(units[u].unit);
			if (strncmp(p, units[u].unit, l) == 0 && l > bestlen) {
				best = u;
				bestlen = l;
			}
		}
		/* "m" must not swallow the "m" of "ms". */
		if (!bestlen)
			return -1;
		if (v > HOOKS_MAX_DURATION / units[best].ms)
			return -1;
		total += v * units[best].ms;
		if (total > HOOKS_MAX_DURATION)
			return -1;
		s = p + bestlen;
	}
	*ms = total;
	return 0;
}

static int get_duration(struct cparse *P, const json_t *v, uint64_t *out)
{
	char d[64];

	if (!json_is_string(v) || hooks__duration_parse(json_string_value(v), out) < 0)
		return fail(P, false, "expected a duration like \"500ms\", \"2s\" or \"1m30s\" (at most 24h), got %s",
			    describe(v, d, sizeof(d)));
	return 0;
}

/* "MIN", "MIN:MAX" or "MIN..MAX"; MAX defaults to 4 x MIN, as in consul-template. */
static int get_wait(struct cparse *P, const json_t *v, uint64_t *min, uint64_t *max)
{
	char d[64];
	const char *s = json_string_value(v);
	static const char what[] = "expected MIN:MAX durations like \"100ms:2s\"";

	if (!s)
		return fail(P, false, "%s, got %s", what, describe(v, d, sizeof(d)));
	char *copy = xstrdup(s), *sep = strstr(copy, ".."), *rest = NULL;
	if (sep) {
		*sep = '\0';
		rest = sep + 2;
	} else if ((sep = strchr(copy, ':'))) {
		*sep = '\0';
		rest = sep + 1;
	}
	int rc = 0;
	if (hooks__duration_parse(copy, min) < 0 || (rest && hooks__duration_parse(rest, max) < 0))
		rc = fail(P, false, "%s, got %s", what, describe(v, d, sizeof(d)));
	else if (!rest)
		*max = *min * 4 > HOOKS_MAX_DURATION ? HOOKS_MAX_DURATION : *min * 4;
	else if (*min > *max)
		rc = fail(P, false, "MIN is longer than MAX in wait %s", describe(v, d, sizeof(d)));
	free(copy);
	return rc;
}

static bool is_label(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static void watch_add(struct hooks__onchange *oc, const char *stack, const char *svc)
{
	for (int i = 0; i < oc->nwatch; i++) {
		const struct hooks__watch *w = &oc->watch[i];
		if ((w->stack == stack || (w->stack && stack && strcmp(w->stack, stack) == 0)) &&
		    (w->service == svc || (w->service && svc && strcmp(w->service, svc) == 0)))
			return;
	}
	oc->watch = xrealloc(oc->watch, (size_t)(oc->nwatch + 1) * sizeof(*oc->watch));
	oc->watch[oc->nwatch++] = (struct hooks__watch){stack ? xstrdup(stack) : NULL, svc ? xstrdup(svc) : NULL};
}

static void dep_add(void *arg, const char *stack, const char *svc)
{
	watch_add(arg, stack, svc);
}

void hooks__onchange_set_template(struct hooks__onchange *oc, struct template *t)
{
	for (int i = oc->nwatch_given; i < oc->nwatch; i++) {
		free(oc->watch[i].stack);
		free(oc->watch[i].service);
	}
	oc->nwatch = oc->nwatch_given;
	template_free(oc->tmpl);
	oc->tmpl = t;
	if (t)
		template_deps(t, dep_add, oc);
}

static int parse_watch_item(struct cparse *P, const json_t *v, struct hooks__onchange *oc)
{
	char *s = NULL;

	if (get_str(P, v, "a service name, or STACK/SERVICE", &s) < 0)
		return -1;
	char *slash = strchr(s, '/');
	int rc = 0;
	if (slash ? !is_label(s, (size_t)(slash - s)) || !is_label(slash + 1, strlen(slash + 1)) : !is_label(s, strlen(s)))
		rc = fail(P, false, "expected a service name, or STACK/SERVICE (letters, digits, '-' and '_'), got \"%.60s\"",
			  s);
	else if (slash) {
		*slash = '\0';
		watch_add(oc, s, slash + 1);
	} else {
		watch_add(oc, NULL, s);
	}
	free(s);
	return rc;
}

static char *abs_path(const char *dir, const char *p)
{
	if (p[0] == '/' || !dir)
		return xstrdup(p);
	return xasprintf("%s/%s", dir, p);
}

static int parse_template(struct cparse *P, const json_t *v, struct hooks__onchange *oc)
{
	char d[64], *src = NULL, *dest = NULL;
	const char *k;
	json_t *x;
	int rc = -1;

	if (!json_is_object(v))
		return fail(P, false, "expected a mapping {src: FILE, dest: FILE}, got %s", describe(v, d, sizeof(d)));
	json_object_foreach((json_t *)v, k, x) {
		size_t m = push_key(P, k);
		int r = 0;
		if (strcmp(k, "src") == 0)
			r = get_str(P, x, "the template file's path", &src);
		else if (strcmp(k, "dest") == 0)
			r = get_str(P, x, "the path of the file to write", &dest);
		else
			r = fail(P, true, "unknown key \"%.40s\": expected src or dest", k);
		pop(P, m);
		if (r < 0)
			goto out;
	}
	if (!src || !dest) {
		fail(P, false, "template needs src (the template) and dest (the file it renders to)");
		goto out;
	}
	oc->src = abs_path(P->project_dir, src);
	oc->dest = abs_path(P->project_dir, dest);
	struct template *t = NULL;
	char *terr = NULL;
	if (template_parse_file(oc->src, &t, &terr) < 0) {
		size_t m = push_key(P, "src");
		fail(P, false, "%s", terr);
		pop(P, m);
		free(terr);
		goto out;
	}
	oc->nwatch_given = oc->nwatch;
	hooks__onchange_set_template(oc, t);
	rc = 0;
out:
	free(src);
	free(dest);
	return rc;
}

static int parse_onchange(struct cparse *P, const json_t *o, struct hooks__onchange *oc)
{
	char d[64];
	const char *k;
	json_t *v;
	const json_t *tmpl = NULL;

	oc->wait_min = HOOKS_DEFAULT_WAIT_MIN;
	oc->wait_max = HOOKS_DEFAULT_WAIT_MAX;
	oc->timeout = HOOKS_DEFAULT_TIMEOUT;
	if (!json_is_object(o))
		return fail(P, false, "expected a mapping (watch, template, run, wait, timeout), got %s",
			    describe(o, d, sizeof(d)));
	json_object_foreach((json_t *)o, k, v) {
		size_t m = push_key(P, k);
		int r = 0;
		if (strcmp(k, "watch") == 0) {
			if (json_is_array(v)) {
				size_t i;
				json_t *it;
				if (json_array_size(v) == 0)
					r = fail(P, false, "expected at least one service to watch");
				json_array_foreach(v, i, it) {
					size_t mi = push_idx(P, (int)i);
					r = r < 0 ? r : parse_watch_item(P, it, oc);
					pop(P, mi);
				}
			} else {
				r = parse_watch_item(P, v, oc);
			}
		} else if (strcmp(k, "template") == 0) {
			tmpl = v; /* after watch:, so that given entries come first */
		} else if (strcmp(k, "run") == 0) {
			r = get_str(P, v, "a command line (run with /bin/sh -c)", &oc->run);
		} else if (strcmp(k, "wait") == 0) {
			r = get_wait(P, v, &oc->wait_min, &oc->wait_max);
		} else if (strcmp(k, "timeout") == 0) {
			r = get_duration(P, v, &oc->timeout);
			if (r == 0 && oc->timeout == 0)
				r = fail(P, false, "expected a timeout longer than 0");
		} else {
			r = fail(P, true, "unknown key \"%.40s\": expected watch, template, run, wait or timeout", k);
		}
		pop(P, m);
		if (r < 0)
			return -1;
	}
	oc->nwatch_given = oc->nwatch;
	if (tmpl) {
		size_t m = push_key(P, "template");
		int r = parse_template(P, tmpl, oc);
		pop(P, m);
		if (r < 0)
			return -1;
	}
	if (!oc->run && !oc->src)
		return fail(P, false, "on_change needs run (a command), template (a file to render) or both");
	if (!oc->src && !oc->nwatch)
		return fail(P, false, "on_change without a template needs watch: the services whose changes run it");
	return 0;
}

static int parse_pre_start(struct cparse *P, const json_t *v, struct hooks__conf *c)
{
	char d[64];
	const char *k;
	json_t *x;

	c->pre_timeout = HOOKS_DEFAULT_TIMEOUT;
	if (json_is_string(v))
		return get_str(P, v, "a command line (run with /bin/sh -c)", &c->pre_start);
	if (!json_is_object(v))
		return fail(P, false, "expected a command line, or a mapping {run: CMD, timeout: DURATION}, got %s",
			    describe(v, d, sizeof(d)));
	json_object_foreach((json_t *)v, k, x) {
		size_t m = push_key(P, k);
		int r;
		if (strcmp(k, "run") == 0)
			r = get_str(P, x, "a command line (run with /bin/sh -c)", &c->pre_start);
		else if (strcmp(k, "timeout") == 0) {
			r = get_duration(P, x, &c->pre_timeout);
			if (r == 0 && c->pre_timeout == 0)
				r = fail(P, false, "expected a timeout longer than 0");
		} else
			r = fail(P, true, "unknown key \"%.40s\": expected run or timeout", k);
		pop(P, m);
		if (r < 0)
			return -1;
	}
	if (!c->pre_start)
		return fail(P, false, "pre_start needs run: the command");
	return 0;
}

static void onchange_clear(struct hooks__onchange *oc)
{
	for (int i = 0; i < oc->nwatch; i++) {
		free(oc->watch[i].stack);
		free(oc->watch[i].service);
	}
	free(oc->watch);
	free(oc->src);
	free(oc->dest);
	template_free(oc->tmpl);
	free(oc->run);
	memset(oc, 0, sizeof(*oc));
}

void hooks__onchange_clear(struct hooks__onchange *oc)
{
	onchange_clear(oc);
}

void hooks__conf_clear(struct hooks__conf *c)
{
	for (int i = 0; i < c->noc; i++)
		onchange_clear(&c->oc[i]);
	free(c->oc);
	json_decref(c->on_change);
	free(c->pre_start);
	memset(c, 0, sizeof(*c));
}

int hooks__conf_parse(const json_t *x_berth, const char *project_dir, struct hooks__conf *c, char **err, char **at,
		      bool *at_key)
{
	struct cparse P = {.project_dir = project_dir};
	const json_t *oc = json_object_get(x_berth, "on_change"), *pre = json_object_get(x_berth, "pre_start");
	char d[64];
	int rc = 0;

	if (oc && !json_is_null(oc)) {
		size_t m = push_key(&P, "on_change");
		bool list = json_is_array(oc);
		size_t n = list ? json_array_size(oc) : 1;
		if (list && n == 0)
			rc = fail(&P, false, "expected a mapping or a list of them, got an empty list");
		else if (n > HOOKS_MAX_ON_CHANGE)
			rc = fail(&P, false, "more than %d on_change entries", HOOKS_MAX_ON_CHANGE);
		else if (!list && !json_is_object(oc))
			rc = fail(&P, false, "expected a mapping (watch, template, run, wait, timeout) or a list of them, got %s",
				  describe(oc, d, sizeof(d)));
		if (rc == 0) {
			c->oc = XNEWV(struct hooks__onchange, n);
			c->on_change = json_incref((json_t *)oc);
		}
		for (size_t i = 0; rc == 0 && i < n; i++) {
			size_t mi = list ? push_idx(&P, (int)i) : P.plen;
			c->noc++;
			rc = parse_onchange(&P, list ? json_array_get(oc, i) : oc, &c->oc[i]);
			pop(&P, mi);
		}
		pop(&P, m);
	}
	if (rc == 0 && pre && !json_is_null(pre)) {
		size_t m = push_key(&P, "pre_start");
		rc = parse_pre_start(&P, pre, c);
		pop(&P, m);
	}
	if (rc < 0) {
		hooks__conf_clear(c);
		*err = P.err;
		*at = P.at;
		*at_key = P.at_key;
	}
	return rc;
}

int hooks_check_x_berth(const json_t *x_berth, const char *project_dir, char **err, char **at, bool *at_key)
{
	struct hooks__conf c = {0};

	if (hooks__conf_parse(x_berth, project_dir, &c, err, at, at_key) < 0)
		return -1;
	hooks__conf_clear(&c);
	return 0;
}
