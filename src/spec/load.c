/* spec_load(): finds the files, reads .env, then copies, checks, merges and builds (see spec-int.h for the passes). */
#include "spec/spec-int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

/* Default file names, in compose's order of preference. */
static const char *const default_files[] = {"compose.yaml", "compose.yml", "docker-compose.yaml",
					    "docker-compose.yml"};
static const char *const rancher_files[] = {"rancher-compose.yml", "rancher-compose.yaml"};

/* ---- the loader's environment ---- */

const char *spec__lookup(struct spec__loader *L, const char *name)
{
	int i = spec__env_find(&L->env, name);
	const char *v;

	if (i >= 0)
		return L->env.vals[i];
	if (!L->o->no_process_env && (v = getenv(name)))
		return v;
	i = spec__env_find(&L->dotenv, name);
	return i >= 0 ? L->dotenv.vals[i] : NULL;
}

const char *spec__keep(struct spec__loader *L, const char *s)
{
	L->names = xrealloc(L->names, (size_t)(L->nnames + 1) * sizeof(*L->names));
	L->names[L->nnames] = xstrdup(s);
	return L->names[L->nnames++];
}

int spec__read_small(const char *path, size_t max, char **bufp, size_t *lenp, char **why)
{
	/* O_NONBLOCK: a FIFO must not hang the load, and a file like
	 * /proc/kmsg must not block the read; regular files ignore it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;

	*why = NULL;
	if (fd < 0) {
		*why = xasprintf("cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = xasprintf("not a regular file");
		close(fd);
		return -1;
	}
	buf = xmalloc(max + 1);
	for (;;) {
		ssize_t r = read(fd, buf + len, max + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = xasprintf("cannot read: %s", strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			*why = xasprintf("larger than %zu bytes", max);
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

/* ---- loader lifetime ---- */

static void loader_init(struct spec__loader *L, const struct spec_load_opts *o)
{
	memset(L, 0, sizeof(*L));
	L->o = o;
	L->st = XNEW(struct spec_stack);
	yaml_ctx_init(&L->y, "", L);
	for (int i = 0; i < o->nenv; i++) {
		const char *eq = strchr(o->env[i], '=');
		char *k = eq ? xstrndup(o->env[i], (size_t)(eq - o->env[i])) : xstrdup(o->env[i]);
		spec__env_set(&L->env, k, eq ? eq + 1 : "");
		free(k);
	}
}

static void loader_free(struct spec__loader *L)
{
	spec__nodes_free(L);
	spec__argv_free(L->names, L->nnames);
	spec__argv_free(L->warned, L->nwarned);
	spec__env_free(&L->env);
	spec__env_free(&L->dotenv);
	for (int i = 0; i < L->nsvcs; i++)
		spec__psvc_clear(&L->svcs[i]);
	free(L->svcs);
	spec__psvc_clear(&L->scratch);
	free(L->name_from_file);
	spec_stack_free(L->st);
	free(L->y.err);
}

static void warn_plain(struct spec__loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn_plain(struct spec__loader *L, const char *fmt, ...)
{
	struct spec_stack *st = L->st;
	va_list ap;
	char *w;

	va_start(ap, fmt);
	w = xvasprintf(fmt, ap);
	va_end(ap);
	st->warnings = xrealloc(st->warnings, (size_t)(st->nwarnings + 1) * sizeof(*st->warnings));
	st->warnings[st->nwarnings++] = w;
}

static int fail_plain(struct spec__loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail_plain(struct spec__loader *L, const char *fmt, ...)
{
	va_list ap;

	if (L->y.err)
		return -1;
	va_start(ap, fmt);
	L->y.err = xvasprintf(fmt, ap);
	va_end(ap);
	return -1;
}

/* Messages stay on one line whatever the file held (keys in paths are not
 * escaped by core/yaml). */
static void one_line(char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* ---- paths and names ---- */

static char *cwd_abs(void)
{
	char buf[PATH_MAX];

	return xstrdup(getcwd(buf, sizeof(buf)) ? buf : "/");
}

static char *abs_path(const char *p)
{
	char *cwd = cwd_abs(), *r = spec__path_resolve(cwd, p);

	free(cwd);
	return r;
}

static char *dir_of(const char *path)
{
	char *copy = abs_path(path), *d = xstrdup(dirname(copy));

	free(copy);
	return d;
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Compose's rule for -p and friends: lowercase letters, digits, '-' and '_',
 * starting with a letter or digit. */
static bool is_project_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* A directory's name made into a project name, as compose does: lowercased,
 * other characters dropped, leading '-' and '_' trimmed. */
static char *name_from_dir(const char *dir)
{
	const char *base = strrchr(dir, '/');
	char *out = xstrdup(base ? base + 1 : dir);
	size_t o = 0;

	for (const char *p = base ? base + 1 : dir; *p; p++) {
		char c = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
			if (o || (c != '-' && c != '_'))
				out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

#define PROJECT_NAME_RULE "lowercase letters, digits, '-' and '_', starting with a letter or digit"

static int resolve_name(struct spec__loader *L)
{
	struct spec_stack *st = L->st;
	const char *env = spec__lookup(L, "COMPOSE_PROJECT_NAME");

	if (L->o->project_name) {
		if (!is_project_name(L->o->project_name))
			return fail_plain(L, "-p: invalid project name \"%s\": use " PROJECT_NAME_RULE,
					  L->o->project_name);
		st->name = xstrdup(L->o->project_name);
	} else if (env && *env) {
		if (!is_project_name(env))
			return fail_plain(L, "COMPOSE_PROJECT_NAME: invalid project name \"%s\": use "
					  PROJECT_NAME_RULE, env);
		st->name = xstrdup(env);
	} else if (L->name_from_file) {
		if (!is_project_name(L->name_from_file)) {
			yaml_path_pop(&L->y, 0);
			yaml_path_push_key(&L->y, "name");
			return spec__err(L, L->name_at, "invalid project name \"%s\": use " PROJECT_NAME_RULE,
					 L->name_from_file);
		}
		st->name = xstrdup(L->name_from_file);
	} else {
		st->name = name_from_dir(st->project_dir);
		if (!*st->name)
			return fail_plain(L, "%s: cannot make a project name of this directory's name; use -p NAME",
					  st->project_dir);
	}
	return 0;
}

/* ---- .env ---- */

static const char *outer_lookup(void *ctx, const char *name)
{
	struct spec__loader *L = ctx;
	int i = spec__env_find(&L->env, name);
	const char *v;

	/* .env's own keys are looked up by the dotenv parser itself */
	if (i >= 0)
		return L->env.vals[i];
	if (!L->o->no_process_env && (v = getenv(name)))
		return v;
	return NULL;
}

static int read_dotenv(struct spec__loader *L)
{
	struct spec__interp ip = {outer_lookup, NULL, L};
	char *path = xasprintf("%s/.env", L->st->project_dir), *buf = NULL, *why = NULL;
	size_t len = 0;
	int line = 0, rc = 0;

	if (!file_exists(path)) {
		free(path);
		return 0;
	}
	if (spec__read_small(path, SPEC_ENV_MAX, &buf, &len, &why) < 0)
		rc = fail_plain(L, "%s: %s", path, why);
	else if (spec__dotenv_parse(buf, len, &ip, &L->dotenv, &line, &why) < 0)
		rc = fail_plain(L, "%s:%d:1: %s", path, line, why);
	free(why);
	free(buf);
	free(path);
	return rc;
}

/* ---- the passes ---- */

static void add_file(struct spec_stack *st, const char *abs)
{
	st->files = xrealloc(st->files, (size_t)(st->nfiles + 2) * sizeof(*st->files));
	st->files[st->nfiles++] = xstrdup(abs);
	st->files[st->nfiles] = NULL;
}

/* One compose document: copied with interpolation, checked on its own,
 * normalized, merged onto *merged. Takes <d>. */
static int add_doc(struct spec__loader *L, struct yaml_doc *d, const char *name, struct yaml_node **merged)
{
	struct yaml_node *root = spec__copy_doc(L, d, name);

	yaml_doc_free(d);
	if (!root)
		return -1;
	L->pass = SPEC_PASS_FILE;
	if (spec__parse_project(L, root) < 0)
		return -1;
	spec__normalize(L, root);
	*merged = spec__merge(L, *merged, root);
	return 0;
}

static int add_rancher(struct spec__loader *L, const char *dir)
{
	struct yaml_doc *d = NULL;
	struct yaml_node *root;
	char *path = NULL, *shown;

	for (size_t i = 0; i < sizeof(rancher_files) / sizeof(rancher_files[0]) && !path; i++) {
		char *p = xasprintf("%s/%s", dir, rancher_files[i]);
		if (file_exists(p))
			path = p;
		else
			free(p);
	}
	if (!path)
		return 0;
	shown = path;
	if (yaml_load_file(shown, &d, &L->y.err) < 0) {
		free(path);
		return -1;
	}
	root = spec__copy_doc(L, d, shown);
	yaml_doc_free(d);
	add_file(L->st, path);
	free(path);
	if (!root)
		return -1;
	L->pass = SPEC_PASS_RANCHER;
	return spec__parse_rancher(L, root);
}

static int build(struct spec__loader *L, struct yaml_node *merged, const char *rancher_dir)
{
	L->pass = SPEC_PASS_MERGED;
	yaml_path_pop(&L->y, 0);
	if (spec__parse_project(L, merged) < 0)
		return -1;
	if (resolve_name(L) < 0)
		return -1;
	if (rancher_dir && add_rancher(L, rancher_dir) < 0)
		return -1;
	return spec__finish(L);
}

static int done(struct spec__loader *L, int rc, struct spec_stack **out, char **err)
{
	if (rc == 0) {
		for (int i = 0; i < L->st->nwarnings; i++)
			one_line(L->st->warnings[i]);
		*out = L->st;
		L->st = NULL;
	} else {
		BUG_ON(!L->y.err);
		one_line(L->y.err);
		*err = L->y.err;
		L->y.err = NULL;
	}
	loader_free(L);
	return rc;
}

/* Picks the default files in st->project_dir into *names (display names). */
static int discover(struct spec__loader *L, bool dir_given, char ***names, int *n)
{
	const char *dir = L->st->project_dir, *found = NULL;
	char also[256] = "";
	size_t o = 0;

	for (size_t i = 0; i < sizeof(default_files) / sizeof(default_files[0]); i++) {
		char *p = xasprintf("%s/%s", dir, default_files[i]);
		if (file_exists(p)) {
			if (!found)
				found = default_files[i];
			else if (o < sizeof(also))
				o += (size_t)snprintf(also + o, sizeof(also) - o, "%s%s", o ? ", " : "",
						      default_files[i]);
		}
		free(p);
	}
	if (!found)
		return fail_plain(L, "%s: no compose file here (looked for compose.yaml, compose.yml, "
				     "docker-compose.yaml, docker-compose.yml); use -f FILE", dir);
	if (o)
		warn_plain(L, "%s: found %s and also %s; using %s", dir, found, also, found);
	*names = XNEWV(char *, 3);
	(*names)[(*n)++] = dir_given ? xasprintf("%s/%s", L->o->project_dir, found) : xstrdup(found);
	/* its override: compose.yaml -> compose.override.yaml or .yml */
	size_t stem = strcspn(found, ".");
	for (int ext = 0; ext < 2; ext++) {
		char *base = xasprintf("%.*s.override.%s", (int)stem, found, ext ? "yml" : "yaml");
		char *p = xasprintf("%s/%s", dir, base);
		bool there = file_exists(p);
		free(p);
		if (there) {
			(*names)[(*n)++] = dir_given ? xasprintf("%s/%s", L->o->project_dir, base) : xstrdup(base);
			free(base);
			break;
		}
		free(base);
	}
	return 0;
}

int spec_load(const struct spec_load_opts *o, struct spec_stack **out, char **err)
{
	struct spec__loader L;
	struct yaml_node *merged = NULL;
	char **names = NULL, *rancher_dir = NULL;
	int nnames = 0, rc = -1;

	*out = NULL;
	*err = NULL;
	loader_init(&L, o);
	if (o->project_dir)
		L.st->project_dir = abs_path(o->project_dir);
	else if (o->nfiles)
		L.st->project_dir = dir_of(o->files[0]);
	else
		L.st->project_dir = cwd_abs();
	if (o->nfiles) {
		names = XNEWV(char *, (size_t)o->nfiles + 1);
		for (int i = 0; i < o->nfiles; i++)
			names[nnames++] = xstrdup(o->files[i]);
	} else if (discover(&L, o->project_dir != NULL, &names, &nnames) < 0) {
		goto out;
	}
	if (read_dotenv(&L) < 0)
		goto out;
	for (int i = 0; i < nnames; i++) {
		struct yaml_doc *d;
		char *abs = abs_path(names[i]);
		add_file(L.st, abs);
		if (i == 0)
			rancher_dir = dir_of(abs);
		free(abs);
		if (yaml_load_file(names[i], &d, &L.y.err) < 0 || add_doc(&L, d, names[i], &merged) < 0)
			goto out;
	}
	rc = build(&L, merged, rancher_dir);
out:
	spec__argv_free(names, nnames);
	free(rancher_dir);
	return done(&L, rc, out, err);
}

int spec_load_buffer(const char *name, const char *buf, size_t len, const struct spec_load_opts *o,
		     struct spec_stack **out, char **err)
{
	struct spec__loader L;
	struct yaml_node *merged = NULL;
	struct yaml_doc *d;
	int rc = -1;

	*out = NULL;
	*err = NULL;
	loader_init(&L, o);
	L.st->project_dir = o->project_dir ? abs_path(o->project_dir) : dir_of(name);
	if (read_dotenv(&L) < 0)
		goto out;
	{
		char *abs = abs_path(name);
		add_file(L.st, abs);
		free(abs);
	}
	if (yaml_load_buffer(name, buf, len, &d, &L.y.err) < 0 || add_doc(&L, d, name, &merged) < 0)
		goto out;
	rc = build(&L, merged, NULL);
out:
	return done(&L, rc, out, err);
}
