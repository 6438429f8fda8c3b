/* Checking and reading the pipeline's configuration: outputs (agent.yml
 * logs.outputs, a stack's top-level x-berth.logs.outputs) and a service's
 * inputs (x-berth.logs). Checks name the culprit by key path, so the
 * compose loader and the agent config can point at its line and column. */
#include "logs/logs-int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

int logs__size_parse(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	while (*end == ' ')
		end++;
	if (*end) {
		switch (tolower((unsigned char)*end)) {
		case 'k': mul = 1ull << 10; break;
		case 'm': mul = 1ull << 20; break;
		case 'g': mul = 1ull << 30; break;
		case 't': mul = 1ull << 40; break;
		case 'b': mul = 1; break;
		default: return -1;
		}
		end++;
		if (mul > 1 && (strcasecmp(end, "ib") == 0 || strcasecmp(end, "b") == 0 || *end == '\0'))
			end += strlen(end);
		if (*end)
			return -1;
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* A size given as a YAML number or a string with a unit. */
int logs__json_size(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	return logs__size_parse(json_string_value(v), out);
}

struct why {
	char **why, **at;
	bool *at_key;
};

static int fail(struct why *w, bool key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct why *w, bool key, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	*w->why = msg;
	*w->at_key = key;
	return -1;
}

static void set_at(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_at(struct why *w, const char *fmt, ...)
{
	va_list ap;
	char *at;

	va_start(ap, fmt);
	at = xvasprintf(fmt, ap);
	va_end(ap);
	free(*w->at);
	*w->at = at;
}

/* Keys of <o> not in <known> (NULL-terminated): the first one is blamed. */
static const char *unknown_key(const json_t *o, const char *const *known)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		int i = 0;
		while (known[i] && strcmp(known[i], k) != 0)
			i++;
		if (!known[i])
			return k;
	}
	return NULL;
}

static bool good_name(const char *s)
{
	if (!s || !*s || strlen(s) > 63 || !(islower((unsigned char)*s) || isdigit((unsigned char)*s)))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static int check_output(const json_t *o, const char *base, struct why *w)
{
	const char *type = json_string_value(json_object_get(o, "type"));
	const struct logs_output_ops *ops;
	const json_t *q;
	uint64_t v;
	char *why = NULL;
	const char *at = NULL;

	set_at(w, "%s", base);
	if (!json_is_object(o))
		return fail(w, false, "expected a mapping (type: stdout|file|syslog|redis|elasticsearch, and its keys)");
	if (!type) {
		return fail(w, false, "an output needs a type: stdout, file, syslog, redis or elasticsearch");
	}
	if (!(ops = logs_output_find(type))) {
		set_at(w, "%s.type", base);
		return fail(w, false, "unknown output type \"%s\" (expected stdout, file, syslog, redis or elasticsearch)",
			    type);
	}
	if (json_object_get(o, "name") && !good_name(json_string_value(json_object_get(o, "name")))) {
		set_at(w, "%s.name", base);
		return fail(w, false, "expected a name of lower-case letters, digits, '-' and '_'");
	}
	if ((q = json_object_get(o, "queue"))) {
		static const char *const qkeys[] = {"memory", "disk", NULL};
		const char *k;
		set_at(w, "%s.queue", base);
		if (!json_is_object(q))
			return fail(w, false, "expected a mapping (memory, disk)");
		if ((k = unknown_key(q, qkeys))) {
			set_at(w, "%s.queue.%s", base, k);
			return fail(w, true, "unknown key (expected memory or disk)");
		}
		for (int i = 0; qkeys[i]; i++) {
			const json_t *sv = json_object_get(q, qkeys[i]);
			if (sv && (logs__json_size(sv, &v) < 0 || v == 0)) {
				set_at(w, "%s.queue.%s", base, qkeys[i]);
				return fail(w, false, "expected a size, like 64MiB or 1GiB");
			}
		}
	}
	/* The output's own keys only: the common ones are checked above. */
	json_t *own = json_deep_copy(o);
	json_object_del(own, "type");
	json_object_del(own, "name");
	json_object_del(own, "queue");
	int rc = ops->check(own, &why, &at);
	if (rc < 0) {
		if (at)
			set_at(w, "%s.%s", base, at);
		*w->why = why;
		/* An unknown key is blamed on the key, a bad value on the value. */
		*w->at_key = at && strncmp(why, "unknown key", 11) == 0;
	}
	json_decref(own);
	return rc;
}

int logs_check_outputs(const json_t *outputs, char **why, char **at, bool *at_key)
{
	struct why w = {why, at, at_key};
	size_t i;
	json_t *o;

	*why = NULL;
	*at = xstrdup("");
	*at_key = false;
	if (!json_is_array(outputs))
		return fail(&w, false, "expected a list of outputs");
	json_array_foreach(outputs, i, o) {
		char base[32];
		snprintf(base, sizeof(base), "[%zu]", i);
		if (check_output(o, base, &w) < 0)
			return -1;
		const char *name = json_string_value(json_object_get(o, "name"));
		if (!name)
			name = json_string_value(json_object_get(o, "type"));
		for (size_t k = 0; k < i; k++) {
			const json_t *p = json_array_get(outputs, k);
			const char *pn = json_string_value(json_object_get(p, "name"));
			if (!pn)
				pn = json_string_value(json_object_get(p, "type"));
			if (strcmp(pn, name) == 0) {
				set_at(&w, "[%zu]%s", i, json_object_get(o, "name") ? ".name" : "");
				return fail(&w, false,
					    "a second output named \"%s\" (outputs of one type need a name each)", name);
			}
		}
	}
	return 0;
}

static int check_input(const json_t *o, const char *base, bool files, struct why *w)
{
	static const char *const keys[] = {"path", "multiline", "json", "type", NULL};
	static const char *const skeys[] = {"files", "multiline", "json", "type", NULL};
	const json_t *v;
	const char *k;

	set_at(w, "%s", base);
	if (!json_is_object(o))
		return fail(w, false, files ? "expected a path (a glob) or a mapping (path, multiline, json, type)"
					    : "expected a mapping (files, multiline, json, type)");
	if ((k = unknown_key(o, files ? keys : skeys))) {
		set_at(w, "%s%s%s", base, *base ? "." : "", k);
		return fail(w, true, "unknown key (expected %s)",
			    files ? "path, multiline, json or type" : "files, multiline, json or type");
	}
	if (files && !json_string_value(json_object_get(o, "path"))) {
		if (json_object_get(o, "path"))
			set_at(w, "%s.path", base);
		return fail(w, false, "expected a path: a file name or a glob");
	}
	if (files && !*json_string_value(json_object_get(o, "path"))) {
		set_at(w, "%s.path", base);
		return fail(w, false, "expected a path: a file name or a glob");
	}
	if ((v = json_object_get(o, "multiline"))) {
		const json_t *p = json_object_get(v, "pattern");
		regex_t re;
		set_at(w, "%s%smultiline", base, *base ? "." : "");
		if (!json_is_object(v))
			return fail(w, false, "expected a mapping with a pattern (an extended regular expression that "
					      "matches the first line of an event)");
		if ((k = unknown_key(v, (const char *const[]){"pattern", NULL}))) {
			set_at(w, "%s%smultiline.%s", base, *base ? "." : "", k);
			return fail(w, true, "unknown key (expected pattern)");
		}
		if (!json_string_value(p))
			return fail(w, false, "expected a pattern");
		set_at(w, "%s%smultiline.pattern", base, *base ? "." : "");
		int rc = regcomp(&re, json_string_value(p), REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &re, msg, sizeof(msg));
			return fail(w, false, "not a valid extended regular expression: %s", msg);
		}
		regfree(&re);
	}
	if ((v = json_object_get(o, "json")) && !json_is_boolean(v) && !good_name(json_string_value(v))) {
		set_at(w, "%s%sjson", base, *base ? "." : "");
		return fail(w, false, "expected true, false, or a field name to put the parsed object under");
	}
	if ((v = json_object_get(o, "type")) && (!json_string_value(v) || !*json_string_value(v))) {
		set_at(w, "%s%stype", base, *base ? "." : "");
		return fail(w, false, "expected a string: the events' type");
	}
	return 0;
}

int logs_check_service(const json_t *xlogs, char **why, char **at, bool *at_key)
{
	struct why w = {why, at, at_key};
	const json_t *files, *f;
	size_t i;

	*why = NULL;
	*at = xstrdup("");
	*at_key = false;
	if (check_input(xlogs, "", false, &w) < 0)
		return -1;
	if (!(files = json_object_get(xlogs, "files")))
		return 0;
	if (!json_is_array(files)) {
		set_at(&w, "files");
		return fail(&w, false, "expected a list of paths (globs) or mappings (path, multiline, json, type)");
	}
	json_array_foreach(files, i, f) {
		char base[32];
		snprintf(base, sizeof(base), "files[%zu]", i);
		if (json_is_string(f)) {
			if (!*json_string_value(f)) {
				set_at(&w, "%s", base);
				return fail(&w, false, "expected a path: a file name or a glob");
			}
			continue;
		}
		if (check_input(f, base, true, &w) < 0)
			return -1;
	}
	return 0;
}

int logs_check_stack(const json_t *xlogs, char **why, char **at, bool *at_key)
{
	struct why w = {why, at, at_key};
	const char *k;

	*why = NULL;
	*at = xstrdup("");
	*at_key = false;
	if (!json_is_object(xlogs))
		return fail(&w, false, "expected a mapping (outputs)");
	if ((k = unknown_key(xlogs, (const char *const[]){"outputs", NULL}))) {
		set_at(&w, "%s", k);
		return fail(&w, true, "unknown key (a stack's x-berth.logs has outputs; a service's has files, multiline, "
				      "json, type)");
	}
	const json_t *o = json_object_get(xlogs, "outputs");
	if (!o)
		return 0;
	char *sub = NULL;
	if (logs_check_outputs(o, why, &sub, at_key) < 0) {
		free(*at);
		*at = xasprintf("outputs%s", sub);
		free(sub);
		return -1;
	}
	free(sub);
	return 0;
}

static void conf_read(const json_t *o, struct logs__input_conf *c)
{
	const json_t *v;

	memset(c, 0, sizeof(*c));
	if ((v = json_object_get(json_object_get(o, "multiline"), "pattern")) &&
	    regcomp(&c->ml, json_string_value(v), REG_EXTENDED | REG_NOSUB) == 0)
		c->has_ml = true;
	v = json_object_get(o, "json");
	if (json_is_true(v))
		c->json = 1;
	else if (json_string_value(v)) {
		c->json = 2;
		c->json_target = xstrdup(json_string_value(v));
	}
	c->type = xstrdup(json_string_value(json_object_get(o, "type")) ? json_string_value(json_object_get(o, "type"))
									: "berth");
}

void logs__conf_service(const json_t *xlogs, struct logs__input_conf *cri, struct logs__input_conf **files,
			int *nfiles)
{
	const json_t *fl = json_object_get(xlogs, "files"), *f;
	size_t i;

	conf_read(xlogs, cri);
	*nfiles = (int)json_array_size(fl);
	*files = xcalloc((size_t)*nfiles + 1, sizeof(**files));
	json_array_foreach(fl, i, f) {
		if (json_is_object(f)) {
			conf_read(f, &(*files)[i]);
		} else {
			/* A bare path takes the service's type and json (not its
			 * multiline, which is for stdout and stderr). */
			conf_read(xlogs, &(*files)[i]);
			if ((*files)[i].has_ml)
				regfree(&(*files)[i].ml);
			(*files)[i].has_ml = false;
		}
	}
}

void logs__conf_free(struct logs__input_conf *c)
{
	if (c->has_ml)
		regfree(&c->ml);
	free(c->json_target);
	free(c->type);
	memset(c, 0, sizeof(*c));
}

json_t *logs_outputs_resolve(const json_t *outputs, const char *dir)
{
	json_t *copy = outputs ? json_deep_copy(outputs) : NULL, *o;
	size_t i;

	json_array_foreach(copy, i, o) {
		const char *p = json_string_value(json_object_get(o, "path"));
		if (p && p[0] != '/')
			json_object_set_new(o, "path", json_sprintf("%s/%s", dir, p));
	}
	return copy;
}
