/* The compose document's keys: one table per mapping (supported keys as yaml_field rows, the others as spec__unsup rows). */
#include "spec/spec-int.h"

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "health/health.h"
#include "hooks/hooks.h"
#include "logs/logs.h"

/*
 * Every mapping of a compose file has two tables here: the keys berth acts
 * on (yaml_field rows: type, default, where the value goes, one line of
 * documentation) and the keys compose defines that berth does not act on
 * (spec__unsup rows). A key in neither is a typo, refused by yaml_map_apply
 * with a suggestion. docs/compose.md lists the same tables.
 *
 * The same code runs on each file alone (SPEC_PASS_FILE: the service goes
 * to L->scratch and is dropped; unsupported keys are warned about) and on
 * the merged tree (SPEC_PASS_MERGED: services go to L->svcs). Checks that
 * span keys wait for validate.c, since one file may hold half a service.
 */

/* ---- errors, warnings and typed getters that know the node's file ---- */

int spec__err(struct spec__loader *L, const struct yaml_node *n, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (L->y.err)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (n)
		L->y.file = spec__file_of(n);
	yaml_error(&L->y, n, "%s", msg);
	free(msg);
	return -1;
}

void spec__warn(struct spec__loader *L, const struct yaml_node *n, const char *fmt, ...)
{
	struct spec_stack *st = L->st;
	va_list ap;
	char *msg, *w;
	const char *file = n ? spec__file_of(n) : L->y.file;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (L->y.pathlen)
		w = xasprintf("%s:%d:%d: %s: %s", file, n ? n->line : 1, n ? n->col : 1, L->y.path, msg);
	else
		w = xasprintf("%s:%d:%d: %s", file, n ? n->line : 1, n ? n->col : 1, msg);
	free(msg);
	st->warnings = xrealloc(st->warnings, (size_t)(st->nwarnings + 1) * sizeof(*st->warnings));
	st->warnings[st->nwarnings++] = w;
}

int spec__get_str(struct spec__loader *L, const struct yaml_node *n, char **out)
{
	L->y.file = spec__file_of(n);
	return yaml_get_str(&L->y, n, out);
}

int spec__get_int(struct spec__loader *L, const struct yaml_node *n, long long min, long long max,
		  long long *out)
{
	L->y.file = spec__file_of(n);
	return yaml_get_int(&L->y, n, min, max, out);
}

int spec__get_bool(struct spec__loader *L, const struct yaml_node *n, bool *out)
{
	L->y.file = spec__file_of(n);
	return yaml_get_bool(&L->y, n, out);
}

bool spec__is_scalar(const struct yaml_node *n)
{
	return n->kind == YAML_SCALAR && !yaml_is_null(n);
}

int spec__expected(struct spec__loader *L, const struct yaml_node *n, const char *what)
{
	char got[64];

	return spec__err(L, n, "expected %s, got %s", what, yaml_describe(n, got, sizeof(got)));
}

int spec__get_duration(struct spec__loader *L, const struct yaml_node *n, uint64_t *out)
{
	static const char what[] = "a duration like \"1m30s\", \"10s\" or \"500ms\"";

	if (!spec__is_scalar(n) || duration_parse_go(n->text, out) < 0)
		return spec__expected(L, n, what);
	return 0;
}

/* A list of non-empty strings (or, with <one>, a single one) into a new
 * array; an empty list gives none. */
int spec__get_strlist(struct spec__loader *L, const struct yaml_node *n, bool one, char ***out, int *count)
{
	int cnt;

	if (one && n->kind == YAML_SCALAR && !yaml_is_null(n))
		cnt = 1;
	else if (n->kind == YAML_SEQ || yaml_is_null(n))
		cnt = n->kind == YAML_SEQ ? n->nitems : 0;
	else
		return spec__expected(L, n, one ? "a list of strings or a string" : "a list of strings");
	spec__argv_free(*out, *count);
	*out = XNEWV(char *, (size_t)cnt + 1);
	*count = cnt;
	for (int i = 0; i < cnt; i++) {
		const struct yaml_node *it = n->kind == YAML_SEQ ? n->items[i] : n;
		size_t mark = n->kind == YAML_SEQ ? yaml_path_push_index(&L->y, i) : L->y.pathlen;
		int rc = spec__get_str(L, it, &(*out)[i]);
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- unsupported keys ---- */

int spec__unsup_key(struct spec__loader *L, const struct yaml_node *key, const struct spec__unsup *unsup)
{
	const struct spec__unsup *u = unsup;
	size_t mark;
	int rc = 1;

	while (u && u->key && strcmp(u->key, key->text) != 0)
		u++;
	if (!u || !u->key)
		return 0;
	mark = yaml_path_push_key(&L->y, key->text);
	if (u->kind == SPEC_REFUSED) {
		rc = spec__err(L, key, "not supported by berth%s%s", u->why ? ": " : "", u->why ? u->why : "");
	} else if (L->pass != SPEC_PASS_MERGED) {
		/* Reported once, at the file that has it; the merged pass is silent. */
		if (u->kind == SPEC_OBSOLETE)
			spec__warn(L, key, "obsolete, ignored%s%s", u->why ? ": " : "", u->why ? u->why : "");
		else if (L->o->strict)
			rc = spec__err(L, key, "not supported by berth%s%s (--strict)", u->why ? ": " : "",
				       u->why ? u->why : "");
		else
			spec__warn(L, key, "not supported by berth, ignored%s%s", u->why ? ": " : "",
				   u->why ? u->why : "");
	}
	yaml_path_pop(&L->y, mark);
	return rc;
}

int spec__apply(struct spec__loader *L, const struct yaml_node *map, const struct yaml_field *fields,
		const struct spec__unsup *unsup, void *obj)
{
	struct yaml_field rows[65];
	struct spec__node view;
	int nf = 0;

	L->y.file = spec__file_of(map);
	if (yaml_expect_map(&L->y, map, NULL) < 0)
		return -1;
	/*
	 * yaml_map_apply gets one pair at a time, so that errors come in file
	 * order whether a key is supported or not, and never sees the
	 * unsupported keys (it would take them for typos; and its tables are
	 * limited to 64 rows). Defaults are applied once here, and required
	 * keys checked at the end, so the copy of the table has neither.
	 */
	while (fields[nf].key)
		nf++;
	BUG_ON(nf >= (int)(sizeof(rows) / sizeof(rows[0])));
	yaml_fields_defaults(fields, obj);
	memcpy(rows, fields, (size_t)(nf + 1) * sizeof(*rows));
	for (int i = 0; i < nf; i++) {
		rows[i].def = NULL;
		rows[i].required = false;
	}
	view = *(const struct spec__node *)map;
	for (int i = 0; map->kind == YAML_MAP && i < map->npairs; i++) {
		int rc = spec__unsup_key(L, map->pairs[i].key, unsup);
		if (rc < 0)
			return -1;
		if (rc == 1)
			continue;
		view.n.kind = YAML_MAP;
		view.n.pairs = &map->pairs[i];
		view.n.npairs = 1;
		L->y.file = spec__file_of(map);
		if (yaml_map_apply(&L->y, &view.n, rows, obj, NULL) < 0)
			return -1;
	}
	for (int i = 0; i < nf; i++)
		if (fields[i].required && !yaml_map_find(map, fields[i].key))
			return spec__err(L, map, "missing required key \"%s\"", fields[i].key);
	return 0;
}

/* ---- small value callbacks (YF_FUNC) ---- */

int spec__f_duration(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__get_duration(spec__L(y), n, field);
}

int spec__f_bytes(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	if (!spec__is_scalar(n) || spec__bytes_parse(n->text, field) < 0)
		return spec__expected(spec__L(y), n, "a size in bytes like 512M, 1.5g or 1048576");
	return 0;
}

/* A non-empty string into a char * (the old value freed). */
int spec__f_str(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__get_str(spec__L(y), n, field);
}

/* ---- environment-like mappings: environment, labels, args ---- */

/* A mapping KEY: VALUE or a list "KEY=VALUE" into <e>. A bare KEY (list)
 * or a null value (mapping) gets a NULL value when <bare_null>, else "". */
static int parse_kv(struct spec__loader *L, const struct yaml_node *n, struct spec__env *e, bool bare_null)
{
	static const char what[] = "a mapping of KEY: VALUE or a list of \"KEY=VALUE\"";

	if (yaml_is_null(n))
		return 0;
	if (n->kind == YAML_MAP) {
		for (int i = 0; i < n->npairs; i++) {
			const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;
			size_t mark = yaml_path_push_key(&L->y, k->text);
			int rc = 0;
			if (!k->len || strchr(k->text, '='))
				rc = spec__err(L, k, "a key must be non-empty and hold no '='");
			else if (v->kind != YAML_SCALAR)
				rc = spec__expected(L, v, "a string, a number or a boolean");
			else
				spec__env_set(e, k->text, yaml_is_null(v) ? (bare_null ? NULL : "") : v->text);
			yaml_path_pop(&L->y, mark);
			if (rc < 0)
				return -1;
		}
		return 0;
	}
	if (n->kind != YAML_SEQ)
		return spec__expected(L, n, what);
	for (int i = 0; i < n->nitems; i++) {
		const struct yaml_node *it = n->items[i];
		size_t mark = yaml_path_push_index(&L->y, i);
		const char *eq = it->kind == YAML_SCALAR ? strchr(it->text, '=') : NULL;
		int rc = 0;
		if (!spec__is_scalar(it)) {
			rc = spec__expected(L, it, "\"KEY=VALUE\" or \"KEY\"");
		} else if (eq == it->text) {
			rc = spec__expected(L, it, "\"KEY=VALUE\" with a non-empty KEY");
		} else {
			char *key = eq ? xstrndup(it->text, (size_t)(eq - it->text)) : xstrdup(it->text);
			spec__env_set(e, key, eq ? eq + 1 : (bare_null ? NULL : ""));
			free(key);
		}
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int spec__kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_kv *)a)->key, ((const struct spec_kv *)b)->key);
}

/* <e> (no NULL values left) as a sorted spec_kv array, replacing *out. */
static void env_to_kv(const struct spec__env *e, struct spec_kv **out, int *n)
{
	for (int i = 0; i < *n; i++) {
		free((*out)[i].key);
		free((*out)[i].value);
	}
	free(*out);
	*out = XNEWV(struct spec_kv, (size_t)e->n + 1);
	*n = 0;
	for (int i = 0; i < e->n; i++) {
		if (!e->vals[i])
			continue;
		(*out)[*n].key = xstrdup(e->keys[i]);
		(*out)[*n].value = xstrdup(e->vals[i]);
		(*n)++;
	}
	spec__sort(*out, (size_t)*n, sizeof(**out), spec__kv_cmp);
}

/* A labels-like value into a sorted spec_kv array at <out>/<n>. */
int spec__parse_labels(struct spec__loader *L, const struct yaml_node *n, struct spec_kv **out, int *cnt)
{
	struct spec__env e = {0};
	int rc = parse_kv(L, n, &e, false);

	if (rc == 0)
		env_to_kv(&e, out, cnt);
	spec__env_free(&e);
	return rc;
}

/* ---- services: the callbacks; <field> is the struct spec__psvc ---- */


static int f_labels(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__parse_labels(spec__L(y), n, &PSVC(field)->s.labels, &PSVC(field)->s.nlabels);
}

static int f_environment(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return parse_kv(spec__L(y), n, &PSVC(field)->env, true);
}

/* command / entrypoint: a list of strings, or a string split like a shell. */
static int parse_argv(struct spec__loader *L, const struct yaml_node *n, char ***argv, int *argc)
{
	const char *why;

	if (n->kind == YAML_SCALAR && !yaml_is_null(n)) {
		spec__argv_free(*argv, *argc);
		*argv = NULL;
		*argc = 0;
		if (spec__shell_split(n->text, argv, argc, &why) < 0)
			return spec__err(L, n, "cannot split this command line: %s", why);
		return 0;
	}
	return spec__get_strlist(L, n, false, argv, argc);
}

static int f_command(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return parse_argv(spec__L(y), n, &PSVC(field)->s.command, &PSVC(field)->s.ncommand);
}

static int f_entrypoint(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return parse_argv(spec__L(y), n, &PSVC(field)->s.entrypoint, &PSVC(field)->s.nentrypoint);
}

static int f_restart(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	static const struct yaml_enum names[] = {
		{"no", SPEC_RESTART_NO}, {"always", SPEC_RESTART_ALWAYS},
		{"on-failure", SPEC_RESTART_ON_FAILURE}, {"unless-stopped", SPEC_RESTART_UNLESS_STOPPED},
		{NULL, 0},
	};
	struct spec_service *s = &PSVC(field)->s;
	const char *t = n->text;

	if (spec__is_scalar(n)) {
		for (int i = 0; names[i].name; i++) {
			if (strcmp(t, names[i].name) == 0) {
				s->restart = names[i].value;
				s->restart_max = 0;
				return 0;
			}
		}
		if (strncmp(t, "on-failure:", 11) == 0 && t[11] >= '0' && t[11] <= '9') {
			char *end;
			long v = strtol(t + 11, &end, 10);
			if (!*end && v >= 0 && v <= SPEC_COUNT_MAX) {
				s->restart = SPEC_RESTART_ON_FAILURE;
				s->restart_max = (int)v;
				return 0;
			}
		}
	}
	return spec__expected(spec__L(y), n, "\"no\", \"always\", \"on-failure[:N]\" or \"unless-stopped\"");
}

static int f_stop_signal(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	if (!spec__is_scalar(n) || spec__signal_parse(n->text, &PSVC(field)->s.stop_signal) < 0)
		return spec__expected(spec__L(y), n, "a signal like SIGTERM, SIGINT, SIGQUIT or its number");
	return 0;
}

static int f_scale(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	long long v;

	if (spec__get_int(L, n, 0, SPEC_MAX_REPLICAS, &v) < 0)
		return -1;
	PSVC(field)->scale = (int)v;
	PSVC(field)->scale_at = n;
	return 0;
}

static int f_profiles(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_service *s = &PSVC(field)->s;

	if (spec__get_strlist(L, n, false, &s->profiles, &s->nprofiles) < 0)
		return -1;
	for (int i = 0; i < s->nprofiles; i++) {
		if (!spec__is_compose_name(s->profiles[i])) {
			size_t mark = yaml_path_push_index(&L->y, i);
			spec__expected(L, n->items[i], "a profile name of letters, digits, '_', '.' or '-'");
			yaml_path_pop(&L->y, mark);
			return -1;
		}
	}
	return 0;
}

/* x-berth.check belongs to the health checks: their own rules judge it
 * (on the JSON form built from these very nodes), and the key or item they
 * blame is found again here for the position. */
static int check_x_berth_check(struct spec__loader *L, const struct yaml_node *xb, const json_t *j)
{
	const struct yaml_pair *pc = yaml_map_find(xb, "check");
	const struct yaml_node *at;
	const char *key;
	bool at_key;
	char *why;
	int index, rc;

	if (!pc || health_xcheck_validate(json_object_get(j, "check"), &key, &index, &at_key, &why) == 0)
		return 0;
	at = pc->value;
	size_t mark = yaml_path_push_key(&L->y, "check");
	const struct yaml_pair *pk = key ? yaml_map_find(at, key) : NULL;
	if (pk) {
		yaml_path_push_key(&L->y, key);
		at = at_key ? pk->key : pk->value;
		if (index >= 0 && pk->value->kind == YAML_SEQ && index < pk->value->nitems) {
			yaml_path_push_index(&L->y, index);
			at = pk->value->items[index];
		}
	}
	rc = spec__err(L, at, "%s", why);
	yaml_path_pop(&L->y, mark);
	free(why);
	return rc;
}

/* x-berth.on_change and pre_start belong to the hook engine, whose own
 * parser judges them once the files are merged (an override file may
 * complete an entry); the key path it blames is walked here for the
 * position. A template's own errors keep its FILE:LINE:COL. */
static int check_x_berth_hooks(struct spec__loader *L, const struct yaml_node *xb, const json_t *j)
{
	const struct yaml_node *n = xb;
	char *why = NULL, *at = NULL, *p;
	bool at_key = false;
	size_t mark = L->y.pathlen;
	int rc;

	if (L->pass != SPEC_PASS_MERGED || hooks_check_x_berth(j, L->st->project_dir, &why, &at, &at_key) == 0)
		return 0;
	for (p = at; *p;) {
		if (*p == '.')
			p++;
		if (*p == '[') {
			int i = atoi(p + 1);
			p += strcspn(p, "]");
			p += *p == ']';
			if (n->kind != YAML_SEQ || i < 0 || i >= n->nitems)
				break;
			yaml_path_push_index(&L->y, i);
			n = n->items[i];
			continue;
		}
		char *k = xstrndup(p, strcspn(p, ".["));
		const struct yaml_pair *pk = yaml_map_find(n, k);
		p += strlen(k);
		if (pk)
			yaml_path_push_key(&L->y, k);
		free(k);
		if (!pk)
			break;
		n = at_key && !*p ? pk->key : pk->value;
	}
	rc = spec__err(L, n, "%s", why);
	yaml_path_pop(&L->y, mark);
	free(why);
	free(at);
	return rc;
}

/* x-berth.logs (a service's inputs) and the top-level x-berth.logs (a
 * stack's outputs) belong to the log pipeline, whose checks name the key
 * path found again here for the position. */
static int check_x_berth_logs(struct spec__loader *L, const struct yaml_node *xb, const json_t *j, bool top)
{
	const struct yaml_pair *pl = yaml_map_find(xb, "logs");
	char *why = NULL, *at = NULL;
	bool at_key = false;
	int rc = 0;

	if (!pl)
		return 0;
	const json_t *v = json_object_get(j, "logs");
	if ((top ? logs_check_stack(v, &why, &at, &at_key) : logs_check_service(v, &why, &at, &at_key)) < 0) {
		size_t mark = yaml_path_push_key(&L->y, "logs");
		const struct yaml_node *n = yaml_walk_path(&L->y, pl->value, at, at_key);
		rc = spec__err(L, n, "%s", why);
		yaml_path_pop(&L->y, mark);
	}
	free(why);
	free(at);
	return rc;
}

/* x-berth.driver picks the runtime driver (runner/driver.c): only the
 * names of the drivers that exist, so a typo is an error at load, not an
 * instance that never starts. */
static int check_x_berth_driver(struct spec__loader *L, const struct yaml_node *xb, const json_t *j)
{
	const struct yaml_pair *pd = yaml_map_find(xb, "driver");
	const char *v = json_string_value(json_object_get(j, "driver"));
	int rc;

	if (!pd || (v && (strcmp(v, "process") == 0 || strcmp(v, "docker") == 0)))
		return 0;
	size_t mark = yaml_path_push_key(&L->y, "driver");
	rc = spec__err(L, pd->value, "expected \"process\" or \"docker\"");
	yaml_path_pop(&L->y, mark);
	return rc;
}

static int f_x_berth(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_service *s = &PSVC(field)->s;

	if (n->kind != YAML_MAP && !yaml_is_null(n))
		return spec__expected(L, n, "a mapping (berth's own keys: driver, check, lb, logs, on_change, pre_start)");
	json_decref(s->x_berth);
	s->x_berth = n->kind == YAML_MAP ? spec__node_to_json(n) : NULL;
	if (s->x_berth && check_x_berth_driver(L, n, s->x_berth) < 0)
		return -1;
	if (s->x_berth && (check_x_berth_check(L, n, s->x_berth) < 0 || check_x_berth_logs(L, n, s->x_berth, false) < 0))
		return -1;
	return s->x_berth ? check_x_berth_hooks(L, n, s->x_berth) : 0;
}

/* ---- build ---- */

static int f_build_args(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_build *b = field;
	struct spec__env e = {0};
	int rc = parse_kv(L, n, &e, true);

	if (rc == 0) {
		/* a bare arg takes its value from the environment, as compose does */
		for (int i = 0; i < e.n; i++)
			if (!e.vals[i] && spec__lookup(L, e.keys[i]))
				spec__env_set(&e, e.keys[i], spec__lookup(L, e.keys[i]));
		env_to_kv(&e, &b->args, &b->nargs);
	}
	spec__env_free(&e);
	return rc;
}

static const struct yaml_field build_fields[] = {
	{.key = "context", .type = YF_STR, .offset = offsetof(struct spec_build, context), .def = ".",
	 .doc = "directory (relative to the project directory) or URL of the build context"},
	{.key = "dockerfile", .type = YF_STR, .offset = offsetof(struct spec_build, dockerfile),
	 .def = "Dockerfile", .doc = "Dockerfile, relative to the context"},
	{.key = "target", .type = YF_STR, .offset = offsetof(struct spec_build, target),
	 .doc = "build stage"},
	{.key = "args", .type = YF_FUNC, .offset = 0, .fn = f_build_args,
	 .doc = "build arguments (mapping or KEY=VALUE list; a bare KEY takes the shell's)"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct spec__unsup build_unsup[] = {
	{"dockerfile_inline", SPEC_UNSUPPORTED, NULL}, {"entitlements", SPEC_UNSUPPORTED, NULL},
	{"ssh", SPEC_UNSUPPORTED, NULL}, {"labels", SPEC_UNSUPPORTED, NULL},
	{"cache_from", SPEC_UNSUPPORTED, NULL}, {"cache_to", SPEC_UNSUPPORTED, NULL},
	{"no_cache", SPEC_UNSUPPORTED, NULL}, {"additional_contexts", SPEC_UNSUPPORTED, NULL},
	{"network", SPEC_UNSUPPORTED, NULL}, {"provenance", SPEC_UNSUPPORTED, NULL},
	{"sbom", SPEC_UNSUPPORTED, NULL}, {"pull", SPEC_UNSUPPORTED, NULL},
	{"shm_size", SPEC_UNSUPPORTED, NULL}, {"extra_hosts", SPEC_UNSUPPORTED, NULL},
	{"isolation", SPEC_UNSUPPORTED, NULL}, {"privileged", SPEC_UNSUPPORTED, NULL},
	{"secrets", SPEC_UNSUPPORTED, NULL}, {"tags", SPEC_UNSUPPORTED, NULL},
	{"ulimits", SPEC_UNSUPPORTED, NULL}, {"platforms", SPEC_UNSUPPORTED, NULL},
	{NULL, 0, NULL},
};

static bool is_url(const char *s)
{
	return strstr(s, "://") || strncmp(s, "git@", 4) == 0 || strncmp(s, "github.com/", 11) == 0;
}

static int f_build(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_service *s = &PSVC(field)->s;
	struct spec_build *b;
	char *ctx;
	int rc;

	if (yaml_is_null(n))
		return 0;
	if (!(b = s->build))
		b = s->build = XNEW(struct spec_build);
	if (n->kind == YAML_SCALAR) {
		rc = spec__get_str(L, n, &b->context);
	} else {
		rc = spec__apply(L, n, build_fields, build_unsup, b);
	}
	if (rc < 0)
		return -1;
	/* YF_STR defaults are documentation only: fill them in here */
	if (!b->context)
		b->context = xstrdup(".");
	if (!b->dockerfile)
		b->dockerfile = xstrdup("Dockerfile");
	if (!is_url(b->context)) {
		ctx = spec__path_resolve(L->st->project_dir, b->context);
		free(b->context);
		b->context = ctx;
	}
	return 0;
}

/* ---- depends_on ---- */

static const struct yaml_enum dep_conditions[] = {
	{"service_started", SPEC_DEP_STARTED},
	{"service_healthy", SPEC_DEP_HEALTHY},
	{"service_completed_successfully", SPEC_DEP_COMPLETED},
	{NULL, 0},
};

static const struct yaml_field dep_fields[] = {
	{.key = "condition", .type = YF_ENUM, .offset = offsetof(struct spec_dep, condition),
	 .def = "service_started", .names = dep_conditions, .doc = "what to wait for"},
	{.key = "restart", .type = YF_BOOL, .offset = offsetof(struct spec_dep, restart), .def = "false",
	 .doc = "restart this service when the dependency restarts"},
	{.key = "required", .type = YF_BOOL, .offset = offsetof(struct spec_dep, required), .def = "true",
	 .doc = "false: start even if the dependency is missing or fails"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static struct spec_dep *dep_add(struct spec_service *s, const char *name)
{
	struct spec_dep *d;

	s->depends_on = xrealloc(s->depends_on, (size_t)(s->ndepends_on + 1) * sizeof(*s->depends_on));
	d = &s->depends_on[s->ndepends_on++];
	memset(d, 0, sizeof(*d));
	yaml_fields_defaults(dep_fields, d);
	d->service = xstrdup(name);
	return d;
}

static int f_depends_on(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec__psvc *p = PSVC(field);
	struct spec_service *s = &p->s;

	p->deps_at = n;
	for (int i = 0; i < s->ndepends_on; i++)
		free(s->depends_on[i].service);
	s->ndepends_on = 0;
	if (yaml_is_null(n))
		return 0;
	if (n->kind == YAML_SEQ) {
		for (int i = 0; i < n->nitems; i++) {
			size_t mark = yaml_path_push_index(&L->y, i);
			char *name = NULL;
			int rc = spec__get_str(L, n->items[i], &name);
			for (int j = 0; rc == 0 && j < s->ndepends_on; j++)
				if (strcmp(s->depends_on[j].service, name) == 0)
					rc = spec__err(L, n->items[i], "\"%s\" is listed twice", name);
			if (rc == 0)
				dep_add(s, name);
			free(name);
			yaml_path_pop(&L->y, mark);
			if (rc < 0)
				return -1;
		}
		return 0;
	}
	if (n->kind != YAML_MAP)
		return spec__expected(L, n, "a list of service names or a mapping of service names to "
				      "{condition, restart, required}");
	for (int i = 0; i < n->npairs; i++) {
		size_t mark = yaml_path_push_key(&L->y, n->pairs[i].key->text);
		struct spec_dep *d = dep_add(s, n->pairs[i].key->text);
		int rc = spec__apply(L, n->pairs[i].value, dep_fields, NULL, d);
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- env_file ---- */

struct envfile_row {
	char *path;
	bool required;
};

static const struct yaml_field envfile_fields[] = {
	{.key = "path", .type = YF_STR, .offset = offsetof(struct envfile_row, path), .required = true,
	 .doc = "the file, relative to the project directory"},
	{.key = "required", .type = YF_BOOL, .offset = offsetof(struct envfile_row, required), .def = "true",
	 .doc = "false: a missing file is skipped"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct spec__unsup envfile_unsup[] = {
	{"format", SPEC_UNSUPPORTED, "files are read as dotenv"},
	{NULL, 0, NULL},
};

static int f_env_file(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec__psvc *p = PSVC(field);
	int cnt = n->kind == YAML_SEQ ? n->nitems : spec__is_scalar(n) ? 1 : 0;

	if (n->kind == YAML_MAP)
		return spec__expected(L, n, "a file name or a list of them");
	for (int i = 0; i < p->nenv_files; i++)
		free(p->env_files[i].path);
	free(p->env_files);
	p->env_files = XNEWV(struct spec__envfile, (size_t)cnt + 1);
	p->nenv_files = 0;
	for (int i = 0; i < cnt; i++) {
		const struct yaml_node *it = n->kind == YAML_SEQ ? n->items[i] : n;
		size_t mark = n->kind == YAML_SEQ ? yaml_path_push_index(&L->y, i) : L->y.pathlen;
		struct envfile_row row = {NULL, true};
		int rc;
		if (it->kind == YAML_MAP)
			rc = spec__apply(L, it, envfile_fields, envfile_unsup, &row);
		else
			rc = spec__get_str(L, it, &row.path);
		yaml_path_pop(&L->y, mark);
		if (rc < 0) {
			free(row.path);
			return -1;
		}
		p->env_files[p->nenv_files++] = (struct spec__envfile){row.path, row.required, it};
	}
	return 0;
}

/* ---- healthcheck ---- */

struct hc_row {
	struct spec_healthcheck h;
	bool disable;
};

static int f_hc_test(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	static const char what[] = "a command line, or a list starting with \"CMD\", \"CMD-SHELL\" or \"NONE\"";
	struct spec__loader *L = spec__L(y);
	struct spec_healthcheck *h = &((struct hc_row *)field)->h;
	char **argv = NULL;
	int argc = 0;

	if (spec__is_scalar(n)) {
		if (!n->len)
			return spec__expected(L, n, what);
		/* the string form is CMD-SHELL */
		spec__argv_free(h->test, h->ntest);
		h->test = XNEWV(char *, 2);
		h->test[0] = xstrdup(n->text);
		h->ntest = 1;
		h->type = SPEC_HC_SHELL;
		return 0;
	}
	if (n->kind != YAML_SEQ || n->nitems == 0)
		return spec__expected(L, n, what);
	if (spec__get_strlist(L, n, false, &argv, &argc) < 0) {
		spec__argv_free(argv, argc);
		return -1;
	}
	spec__argv_free(h->test, h->ntest);
	h->test = NULL;
	h->ntest = 0;
	if (strcmp(argv[0], "NONE") == 0 && argc == 1) {
		h->type = SPEC_HC_NONE;
	} else if (strcmp(argv[0], "CMD") == 0 && argc >= 2) {
		h->type = SPEC_HC_CMD;
		h->test = XNEWV(char *, (size_t)argc);
		for (int i = 1; i < argc; i++)
			h->test[i - 1] = xstrdup(argv[i]);
		h->ntest = argc - 1;
	} else if (strcmp(argv[0], "CMD-SHELL") == 0 && argc == 2) {
		h->type = SPEC_HC_SHELL;
		h->test = XNEWV(char *, 2);
		h->test[0] = xstrdup(argv[1]);
		h->ntest = 1;
	} else {
		spec__argv_free(argv, argc);
		return spec__expected(L, n, "[\"CMD\", program, args...], [\"CMD-SHELL\", \"command line\"] or [\"NONE\"]");
	}
	spec__argv_free(argv, argc);
	return 0;
}

static const struct yaml_field hc_fields[] = {
	{.key = "test", .type = YF_FUNC, .offset = 0, .fn = f_hc_test,
	 .doc = "CMD / CMD-SHELL / NONE list, or a shell command line"},
	{.key = "interval", .type = YF_FUNC, .offset = offsetof(struct hc_row, h.interval), .def = "30s",
	 .fn = spec__f_duration, .doc = "time between checks"},
	{.key = "timeout", .type = YF_FUNC, .offset = offsetof(struct hc_row, h.timeout), .def = "30s",
	 .fn = spec__f_duration, .doc = "time one check may take"},
	{.key = "retries", .type = YF_INT, .offset = offsetof(struct hc_row, h.retries), .min = 0,
	 .max = SPEC_COUNT_MAX, .def = "3", .doc = "consecutive failures to turn unhealthy"},
	{.key = "start_period", .type = YF_FUNC, .offset = offsetof(struct hc_row, h.start_period), .def = "0s",
	 .fn = spec__f_duration, .doc = "failures in this time after a start do not count"},
	{.key = "start_interval", .type = YF_FUNC, .offset = offsetof(struct hc_row, h.start_interval),
	 .def = "5s", .fn = spec__f_duration, .doc = "time between checks during start_period"},
	{.key = "disable", .type = YF_BOOL, .offset = offsetof(struct hc_row, disable), .def = "false",
	 .doc = "true: no health check (same as test: [NONE])"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static int f_healthcheck(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_service *s = &PSVC(field)->s;
	struct hc_row r = {{0}, false};
	int rc;

	r.h.interval = 30000;
	r.h.timeout = 30000;
	r.h.start_interval = 5000;
	rc = spec__apply(L, n, hc_fields, NULL, &r);
	if (rc == 0 && r.disable) {
		spec__argv_free(r.h.test, r.h.ntest);
		r.h.test = NULL;
		r.h.ntest = 0;
		r.h.type = SPEC_HC_NONE;
	}
	if (s->healthcheck) {
		spec__argv_free(s->healthcheck->test, s->healthcheck->ntest);
		free(s->healthcheck);
		s->healthcheck = NULL;
	}
	if (rc < 0) {
		spec__argv_free(r.h.test, r.h.ntest);
		return -1;
	}
	s->healthcheck = XNEW(struct spec_healthcheck);
	*s->healthcheck = r.h;
	return 0;
}

/* ---- the service ---- */

static const struct yaml_field service_fields[] = {
	{.key = "image", .type = YF_STR, .offset = offsetof(struct spec__psvc, s.image),
	 .doc = "image to run (docker driver)"},
	{.key = "build", .type = YF_FUNC, .fn = f_build,
	 .doc = "how to build the image: context, dockerfile, args, target"},
	{.key = "command", .type = YF_FUNC, .fn = f_command, .doc = "argv, or a command line split like a shell"},
	{.key = "entrypoint", .type = YF_FUNC, .fn = f_entrypoint, .doc = "argv before command"},
	{.key = "environment", .type = YF_FUNC, .fn = f_environment,
	 .doc = "variables: mapping or KEY=VALUE list; a bare KEY takes the shell's"},
	{.key = "env_file", .type = YF_FUNC, .fn = f_env_file, .doc = "dotenv files, environment wins over them"},
	{.key = "working_dir", .type = YF_STR, .offset = offsetof(struct spec__psvc, s.working_dir),
	 .doc = "working directory, as written"},
	{.key = "user", .type = YF_STR, .offset = offsetof(struct spec__psvc, s.user),
	 .doc = "user[:group] to run as"},
	{.key = "ports", .type = YF_FUNC, .fn = spec__f_ports, .doc = "published ports, short or long syntax"},
	{.key = "expose", .type = YF_FUNC, .fn = spec__f_expose, .doc = "ports for other services"},
	{.key = "depends_on", .type = YF_FUNC, .fn = f_depends_on, .doc = "start order and conditions"},
	{.key = "healthcheck", .type = YF_FUNC, .fn = f_healthcheck, .doc = "the instance's own check"},
	{.key = "restart", .type = YF_FUNC, .fn = f_restart, .def = "no",
	 .doc = "no, always, on-failure[:N], unless-stopped"},
	{.key = "stop_signal", .type = YF_FUNC, .fn = f_stop_signal, .def = "SIGTERM", .doc = "signal to stop with"},
	{.key = "stop_grace_period", .type = YF_FUNC, .offset = offsetof(struct spec__psvc, s.stop_grace_period),
	 .def = "10s", .fn = spec__f_duration, .doc = "wait after stop_signal before SIGKILL"},
	{.key = "init", .type = YF_BOOL, .offset = offsetof(struct spec__psvc, s.init), .def = "false",
	 .doc = "docker driver: an init process as PID 1 (signals, zombies)"},
	{.key = "labels", .type = YF_FUNC, .fn = f_labels, .doc = "labels: mapping or KEY=VALUE list"},
	{.key = "volumes", .type = YF_FUNC, .fn = spec__f_volumes, .doc = "mounts, short or long syntax"},
	{.key = "deploy", .type = YF_FUNC, .fn = spec__f_deploy,
	 .doc = "replicas, mode, resources, policies, placement"},
	{.key = "scale", .type = YF_FUNC, .fn = f_scale, .doc = "instances (same as deploy.replicas)"},
	{.key = "profiles", .type = YF_FUNC, .fn = f_profiles, .doc = "only in the stack when one is enabled"},
	{.key = "x-berth", .type = YF_FUNC, .fn = f_x_berth, .doc = "berth's own keys, kept as JSON"},
	{.key = "x-*", .type = YF_IGNORE, .doc = "extensions, ignored"},
	{NULL},
};

#define HOSTNET "berth runs instances on the host's network"
#define USE_LIMITS "use deploy.resources.limits"

static const struct spec__unsup service_unsup[] = {
	{"extends", SPEC_REFUSED, "write the service out in full, or merge files with -f"},
	{"annotations", SPEC_UNSUPPORTED, NULL},
	{"attach", SPEC_UNSUPPORTED, NULL},
	{"blkio_config", SPEC_UNSUPPORTED, NULL},
	{"cap_add", SPEC_UNSUPPORTED, NULL},
	{"cap_drop", SPEC_UNSUPPORTED, NULL},
	{"cgroup", SPEC_UNSUPPORTED, NULL},
	{"cgroup_parent", SPEC_UNSUPPORTED, NULL},
	{"configs", SPEC_UNSUPPORTED, NULL},
	{"container_name", SPEC_UNSUPPORTED, "berth names instances <stack>-<service>-<n>"},
	{"cpu_count", SPEC_UNSUPPORTED, USE_LIMITS},
	{"cpu_percent", SPEC_UNSUPPORTED, USE_LIMITS},
	{"cpu_shares", SPEC_UNSUPPORTED, NULL},
	{"cpu_quota", SPEC_UNSUPPORTED, USE_LIMITS},
	{"cpu_period", SPEC_UNSUPPORTED, NULL},
	{"cpu_rt_period", SPEC_UNSUPPORTED, NULL},
	{"cpu_rt_runtime", SPEC_UNSUPPORTED, NULL},
	{"cpus", SPEC_UNSUPPORTED, USE_LIMITS},
	{"cpuset", SPEC_UNSUPPORTED, NULL},
	{"credential_spec", SPEC_UNSUPPORTED, NULL},
	{"develop", SPEC_UNSUPPORTED, NULL},
	{"device_cgroup_rules", SPEC_UNSUPPORTED, NULL},
	{"devices", SPEC_UNSUPPORTED, NULL},
	{"dns", SPEC_UNSUPPORTED, HOSTNET},
	{"dns_opt", SPEC_UNSUPPORTED, HOSTNET},
	{"dns_search", SPEC_UNSUPPORTED, HOSTNET},
	{"domainname", SPEC_UNSUPPORTED, HOSTNET},
	{"external_links", SPEC_UNSUPPORTED, "find services through berth's DNS or ${endpoints:...}"},
	{"extra_hosts", SPEC_UNSUPPORTED, HOSTNET},
	{"gpus", SPEC_UNSUPPORTED, NULL},
	{"group_add", SPEC_UNSUPPORTED, NULL},
	{"hostname", SPEC_UNSUPPORTED, HOSTNET},
	{"ipc", SPEC_UNSUPPORTED, NULL},
	{"isolation", SPEC_UNSUPPORTED, NULL},
	{"label_file", SPEC_UNSUPPORTED, NULL},
	{"links", SPEC_UNSUPPORTED, "find services through berth's DNS or ${endpoints:...}"},
	{"logging", SPEC_UNSUPPORTED, "berth ships every instance's output itself"},
	{"mac_address", SPEC_UNSUPPORTED, HOSTNET},
	{"mem_limit", SPEC_UNSUPPORTED, USE_LIMITS},
	{"mem_reservation", SPEC_UNSUPPORTED, "use deploy.resources.reservations"},
	{"mem_swappiness", SPEC_UNSUPPORTED, NULL},
	{"memswap_limit", SPEC_UNSUPPORTED, NULL},
	{"models", SPEC_UNSUPPORTED, NULL},
	{"network_mode", SPEC_UNSUPPORTED, HOSTNET},
	{"networks", SPEC_UNSUPPORTED, HOSTNET},
	{"oom_kill_disable", SPEC_UNSUPPORTED, NULL},
	{"oom_score_adj", SPEC_UNSUPPORTED, NULL},
	{"pid", SPEC_UNSUPPORTED, NULL},
	{"pids_limit", SPEC_UNSUPPORTED, USE_LIMITS},
	{"platform", SPEC_UNSUPPORTED, NULL},
	{"post_start", SPEC_UNSUPPORTED, NULL},
	{"pre_stop", SPEC_UNSUPPORTED, NULL},
	{"privileged", SPEC_UNSUPPORTED, NULL},
	{"provider", SPEC_UNSUPPORTED, NULL},
	{"pull_policy", SPEC_UNSUPPORTED, NULL},
	{"pull_refresh_after", SPEC_UNSUPPORTED, NULL},
	{"read_only", SPEC_UNSUPPORTED, NULL},
	{"runtime", SPEC_UNSUPPORTED, NULL},
	{"secrets", SPEC_UNSUPPORTED, NULL},
	{"security_opt", SPEC_UNSUPPORTED, NULL},
	{"shm_size", SPEC_UNSUPPORTED, NULL},
	{"stdin_open", SPEC_UNSUPPORTED, NULL},
	{"storage_opt", SPEC_UNSUPPORTED, NULL},
	{"sysctls", SPEC_UNSUPPORTED, NULL},
	{"tmpfs", SPEC_UNSUPPORTED, "use a volumes entry of type tmpfs"},
	{"tty", SPEC_UNSUPPORTED, NULL},
	{"ulimits", SPEC_UNSUPPORTED, NULL},
	{"use_api_socket", SPEC_UNSUPPORTED, NULL},
	{"userns_mode", SPEC_UNSUPPORTED, NULL},
	{"uts", SPEC_UNSUPPORTED, NULL},
	{"volumes_from", SPEC_UNSUPPORTED, NULL},
	{NULL, 0, NULL},
};

void spec__psvc_clear(struct spec__psvc *p)
{
	spec__service_clear(&p->s);
	spec__env_free(&p->env);
	for (int i = 0; i < p->nenv_files; i++)
		free(p->env_files[i].path);
	free(p->env_files);
	free(p->port_at);
	free(p->vol_at);
	memset(p, 0, sizeof(*p));
}

static void psvc_init(struct spec__psvc *p)
{
	memset(p, 0, sizeof(*p));
	p->scale = -1;
	p->rancher_scale = -1;
	p->s.stop_signal = SIGTERM;
	p->s.stop_grace_period = 10000;
	spec__deploy_defaults(&p->s.deploy);
}

/* A service name is a DNS label (DESIGN.md 6: <svc>.<stack>.berth) and a
 * store key segment: no dots, at most 63 characters. */
static bool is_service_name(const char *s)
{
	return spec__is_label(s) &&
	       ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'));
}

static int f_services(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);

	if (n->kind != YAML_MAP && !yaml_is_null(n))
		return spec__expected(L, n, "a mapping of service names to services");
	for (int i = 0; n->kind == YAML_MAP && i < n->npairs; i++) {
		const struct yaml_node *k = n->pairs[i].key, *v = n->pairs[i].value;
		size_t mark = yaml_path_push_key(&L->y, k->text);
		struct spec__psvc *p;
		int rc;

		if (!is_service_name(k->text)) {
			rc = spec__err(L, k, "a service name is letters, digits, '-' and '_', starting with a "
					     "letter or digit, at most 63 long (it is a DNS label)");
			yaml_path_pop(&L->y, mark);
			return rc;
		}
		if (L->pass == SPEC_PASS_MERGED) {
			L->svcs = xrealloc(L->svcs, (size_t)(L->nsvcs + 1) * sizeof(*L->svcs));
			p = &L->svcs[L->nsvcs++];
		} else {
			p = &L->scratch;
		}
		psvc_init(p);
		p->s.name = xstrdup(k->text);
		p->at = yaml_is_null(v) ? k : v;
		p->key = k;
		L->cur = p;
		rc = spec__apply(L, v, service_fields, service_unsup, p);
		L->cur = NULL;
		if (L->pass != SPEC_PASS_MERGED)
			spec__psvc_clear(p);
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- top level ---- */

struct topvol_row {
	char *name;
	bool external;
};

static int f_external(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct topvol_row *r = field;
	const struct yaml_node *name;

	if (n->kind != YAML_MAP)
		return spec__get_bool(L, n, &r->external);
	/* external: {name: x}, compose's older spelling of name: x + external: true */
	r->external = true;
	if ((name = yaml_map_get(n, "name"))) {
		size_t mark = yaml_path_push_key(&L->y, "name");
		int rc = spec__get_str(L, name, &r->name);
		yaml_path_pop(&L->y, mark);
		return rc;
	}
	return 0;
}

static const struct yaml_field topvol_fields[] = {
	{.key = "name", .type = YF_STR, .offset = offsetof(struct topvol_row, name),
	 .doc = "actual name; default <project>_<key>"},
	{.key = "external", .type = YF_FUNC, .offset = 0, .fn = f_external,
	 .doc = "created outside berth: never created or removed"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct spec__unsup topvol_unsup[] = {
	{"driver", SPEC_UNSUPPORTED, "volumes are directories under berth's data dir"},
	{"driver_opts", SPEC_UNSUPPORTED, NULL},
	{"labels", SPEC_UNSUPPORTED, NULL},
	{NULL, 0, NULL},
};

static int f_top_volumes(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_stack *st = L->st;

	if (n->kind != YAML_MAP && !yaml_is_null(n))
		return spec__expected(L, n, "a mapping of volume names to volumes");
	if (L->pass == SPEC_PASS_MERGED)
		L->vols_at = n;
	for (int i = 0; n->kind == YAML_MAP && i < n->npairs; i++) {
		const struct yaml_node *k = n->pairs[i].key;
		size_t mark = yaml_path_push_key(&L->y, k->text);
		struct topvol_row r = {NULL, false};
		int rc = 0;

		if (!spec__is_compose_name(k->text))
			rc = spec__err(L, k, "a volume name is letters, digits, '_', '.' and '-'");
		if (rc == 0)
			rc = spec__apply(L, n->pairs[i].value, topvol_fields, topvol_unsup, &r);
		yaml_path_pop(&L->y, mark);
		if (rc < 0) {
			free(r.name);
			return -1;
		}
		if (L->pass != SPEC_PASS_MERGED) {
			free(r.name);
			continue;
		}
		st->volumes = xrealloc(st->volumes, (size_t)(st->nvolumes + 1) * sizeof(*st->volumes));
		st->volumes[st->nvolumes++] = (struct spec_volume_decl){xstrdup(k->text), r.name, r.external};
	}
	return 0;
}

static int f_name(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);

	if (spec__get_str(L, n, &L->name_from_file) < 0)
		return -1;
	L->name_at = n;
	return 0;
}

static int f_top_x_berth(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);

	if (n->kind != YAML_MAP && !yaml_is_null(n))
		return spec__expected(L, n, "a mapping (berth's own stack keys: logs)");
	for (int i = 0; i < n->npairs; i++)
		if (strcmp(n->pairs[i].key->text, "logs") != 0) {
			size_t mark = yaml_path_push_key(&L->y, n->pairs[i].key->text);
			int rc = spec__err(L, n->pairs[i].key, "unknown key (a stack's x-berth has logs)");
			yaml_path_pop(&L->y, mark);
			return rc;
		}
	json_decref(L->st->x_berth);
	L->st->x_berth = n->kind == YAML_MAP ? spec__node_to_json(n) : NULL;
	return L->st->x_berth ? check_x_berth_logs(L, n, L->st->x_berth, true) : 0;
}

static const struct yaml_field top_fields[] = {
	{.key = "name", .type = YF_FUNC, .fn = f_name, .doc = "project name, unless -p or COMPOSE_PROJECT_NAME"},
	{.key = "services", .type = YF_FUNC, .fn = f_services, .doc = "the services"},
	{.key = "volumes", .type = YF_FUNC, .fn = f_top_volumes, .doc = "named volumes"},
	{.key = "x-berth", .type = YF_FUNC, .fn = f_top_x_berth, .doc = "berth's own stack keys (logs.outputs)"},
	{.key = "x-*", .type = YF_IGNORE, .doc = "extensions (a home for &anchors), ignored"},
	{NULL},
};

static const struct spec__unsup top_unsup[] = {
	{"version", SPEC_OBSOLETE, "the compose spec needs no version"},
	{"include", SPEC_REFUSED, "merge the files with -f instead"},
	{"networks", SPEC_UNSUPPORTED, HOSTNET},
	{"secrets", SPEC_UNSUPPORTED, NULL},
	{"configs", SPEC_UNSUPPORTED, NULL},
	{"models", SPEC_UNSUPPORTED, NULL},
	{NULL, 0, NULL},
};

int spec__parse_project(struct spec__loader *L, const struct yaml_node *root)
{
	if (root->kind != YAML_MAP && !yaml_is_null(root))
		return spec__expected(L, root, "a compose file (a mapping with services:)");
	return spec__apply(L, root, top_fields, top_unsup, L);
}
