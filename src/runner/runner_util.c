/* Files and strings for the runner (see runner-int.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "runner/runner-int.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void runner__rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

json_t *runner__read_json_file(const char *path)
{
	return json_load_file(path, 0, NULL);
}

int runner__write_json_file(const char *path, json_t *j)
{
	char *tmp = xasprintf("%s.tmp", path);
	int rc = json_dump_file(j, tmp, JSON_COMPACT);

	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

void runner__strv_add(struct strv *s, char *str)
{
	if (s->n + 1 >= s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, sizeof(char *) * (size_t)s->cap);
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

void runner__strv_free(struct strv *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
