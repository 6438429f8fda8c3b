/* Golden files: each tests/unit/spec/golden/<case>/ is loaded as its args file says and spec_to_json() must equal expected.json. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "spec/spec-int.h"
#include "spec/spec_test_dirs.h"

/*
 * A case folder holds the compose file(s), maybe .env, env files and
 * rancher-compose.yml, and:
 *   args           the command line of `berth config` minus the command
 *                  (-f, -p, --profile, --project-directory, --strict), plus
 *                  --env KEY=VALUE for the environment the load sees (the
 *                  process's own is ignored: cases must not depend on it);
 *   expected.json  spec_to_json(), indented by 2, the case's folder written $CASE;
 *   warnings       (optional) the warnings, one a line, $CASE likewise.
 * SPEC_GOLDEN_UPDATE=1 rewrites expected.json and warnings from the output:
 * review the diff before committing it.
 */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	buf[fread(buf, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return buf;
}

static void spew(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* <s> with every <from> replaced by <to>. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t n = strlen(from), o = 0;
	char *out = xmalloc(strlen(s) * (strlen(to) + 1) + 1);

	while (*s) {
		if (strncmp(s, from, n) == 0) {
			memcpy(out + o, to, strlen(to));
			o += strlen(to);
			s += n;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	return out;
}

static void trim_end(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* Runs one case; returns false (after reporting why) when it fails. */
static bool run_case(const char *name)
{
	char *cdir = xasprintf("%s/golden/%s", SPEC_TEST_DIR, name);
	char *argsp = xasprintf("%s/args", cdir), *expp = xasprintf("%s/expected.json", cdir);
	char *warnp = xasprintf("%s/warnings", cdir);
	char *args = slurp(argsp), *want = slurp(expp), *want_warn = slurp(warnp);
	char **argv = NULL, *err = NULL, *got = NULL, *got_warn = NULL, *text;
	const char *why;
	const char *files[16], *profiles[16], *env[32];
	struct spec_load_opts o = {.files = files, .profiles = profiles, .env = env, .no_process_env = true,
				   .project_dir = cdir};
	struct spec_stack *st = NULL;
	bool ok = false, update = getenv("SPEC_GOLDEN_UPDATE") != NULL;
	int argc = 0;
	json_t *j;
	size_t wl = 0;

	env[o.nenv++] = "HOME=/home/golden";
	if (!args || spec__shell_split(args, &argv, &argc, &why) < 0) {
		cr_expect_fail("%s: no args file, or it does not split", name);
		goto out;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--strict") == 0) {
			o.strict = true;
			continue;
		}
		if (!v) {
			cr_expect_fail("%s: %s needs a value", name, a);
			goto out;
		}
		i++;
		if (strcmp(a, "-f") == 0)
			files[o.nfiles++] = xasprintf("%s/%s", cdir, v);
		else if (strcmp(a, "-p") == 0)
			o.project_name = v;
		else if (strcmp(a, "--profile") == 0)
			profiles[o.nprofiles++] = v;
		else if (strcmp(a, "--project-directory") == 0)
			o.project_dir = xasprintf("%s/%s", cdir, v);
		else if (strcmp(a, "--env") == 0)
			env[o.nenv++] = v;
		else {
			cr_expect_fail("%s: unknown argument %s", name, a);
			goto out;
		}
	}
	if (spec_load(&o, &st, &err) < 0) {
		cr_expect_fail("%s: %s", name, err);
		goto out;
	}
	j = spec_to_json(st);
	text = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	got = replace_all(text, cdir, "$CASE");
	free(text);
	got_warn = xstrdup("");
	for (int i = 0; i < st->nwarnings; i++) {
		char *w = replace_all(st->warnings[i], cdir, "$CASE");
		got_warn = xrealloc(got_warn, strlen(got_warn) + strlen(w) + 2);
		strcat(strcat(got_warn, w), "\n");
		free(w);
		wl++;
	}
	if (update) {
		char *g = xasprintf("%s\n", got);
		spew(expp, g);
		free(g);
		if (wl)
			spew(warnp, got_warn);
		else
			remove(warnp);
		ok = true;
		goto out;
	}
	if (!want) {
		cr_expect_fail("%s: no expected.json (SPEC_GOLDEN_UPDATE=1 writes it)", name);
		goto out;
	}
	trim_end(want);
	trim_end(got);
	trim_end(got_warn);
	if (want_warn)
		trim_end(want_warn);
	ok = strcmp(want, got) == 0;
	cr_expect(ok, "%s: spec_to_json() differs from expected.json; got:\n%s", name, got);
	if (strcmp(want_warn ? want_warn : "", got_warn) != 0) {
		cr_expect_fail("%s: warnings differ; got:\n%s\nwanted:\n%s", name, got_warn, want_warn ? want_warn : "");
		ok = false;
	}
out:
	for (int i = 0; i < o.nfiles; i++)
		free((char *)files[i]);
	if (o.project_dir != cdir)
		free((char *)o.project_dir);
	spec_stack_free(st);
	spec__argv_free(argv, argc);
	free(err);
	free(got);
	free(got_warn);
	free(args);
	free(want);
	free(want_warn);
	free(argsp);
	free(expp);
	free(warnp);
	free(cdir);
	return ok;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(spec_golden, every_case, .timeout = 30)
{
	char *gdir = xasprintf("%s/golden", SPEC_TEST_DIR);
	DIR *d = opendir(gdir);
	struct dirent *e;
	char *names[256];
	int n = 0, failed = 0;

	cr_assert_not_null(d, "%s", gdir);
	while ((e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.')
			names[n++] = xstrdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), name_cmp);
	cr_expect_geq(n, 8, "only %d golden cases", n);
	for (int i = 0; i < n; i++) {
		if (!run_case(names[i]))
			failed++;
		free(names[i]);
	}
	cr_log_info("%d golden cases, %d failed", n, failed);
	free(gdir);
}
