/* Bad inputs: each .yml file of tests/unit/spec/bad/ starts with "# error: LINE:COL: TEXT" and must fail there with TEXT in the message. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "spec/spec.h"
#include "spec/spec_test_dirs.h"

/* Each file is loaded alone, with an empty environment (HOME=/home/bad
 * only), its folder as the project directory and no profile enabled. */
static bool run_case(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name), *err = NULL, *want_pos = NULL;
	const char *files[] = {path}, *env[] = {"HOME=/home/bad"};
	struct spec_load_opts o = {.files = files, .nfiles = 1, .env = env, .nenv = 1, .no_process_env = true,
				   .project_dir = dir};
	struct spec_stack *st = NULL;
	char line[512], *msg;
	FILE *f = fopen(path, "r");
	int l, c, used = 0;
	bool ok = false;

	if (!f || !fgets(line, sizeof(line), f) || sscanf(line, "# error: %d:%d: %n", &l, &c, &used) != 2 ||
	    !used) {
		cr_expect_fail("%s: the first line must be \"# error: LINE:COL: message\"", name);
		goto out;
	}
	msg = line + used;
	msg[strcspn(msg, "\r\n")] = '\0';
	if (spec_load(&o, &st, &err) == 0) {
		cr_expect_fail("%s: loaded, expected %d:%d: %s", name, l, c, msg);
		goto out;
	}
	want_pos = xasprintf("%s:%d:%d: ", path, l, c);
	ok = strncmp(err, want_pos, strlen(want_pos)) == 0 && strstr(err, msg);
	cr_expect(ok, "%s: wanted %d:%d: ...%s..., got: %s", name, l, c, msg, err);
out:
	if (f)
		fclose(f);
	spec_stack_free(st);
	free(err);
	free(want_pos);
	free(path);
	return ok;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(spec_bad, every_case, .timeout = 30)
{
	char *dir = xasprintf("%s/bad", SPEC_TEST_DIR);
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[512];
	int n = 0, failed = 0;

	cr_assert_not_null(d, "%s", dir);
	while ((e = readdir(d)) && n < 512) {
		size_t len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".yml") == 0)
			names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), name_cmp);
	cr_expect_geq(n, 20, "only %d bad cases", n);
	for (int i = 0; i < n; i++) {
		if (!run_case(dir, names[i]))
			failed++;
		free(names[i]);
	}
	cr_log_info("%d bad inputs, %d failed", n, failed);
	free(dir);
}
