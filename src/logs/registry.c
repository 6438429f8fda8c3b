/* The registry: for every source, the position up to which every output
 * has its events (sent, or safe in its disk buffer), saved as
 * DATA/logs/registry.json by write-and-rename, so an agent killed at any
 * moment leaves either the old file or the new one. Not fsynced: like the
 * shim's state files it describes this boot's files, and an agent crash
 * (the case that matters) leaves the page cache intact. */
#include "logs/logs-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

static void pos_from(const json_t *v, struct logs__pos *p)
{
	const char *fp = json_string_value(json_object_get(v, "fp"));

	p->dev = (dev_t)json_integer_value(json_object_get(v, "dev"));
	p->ino = (ino_t)json_integer_value(json_object_get(v, "ino"));
	p->fplen = (uint32_t)json_integer_value(json_object_get(v, "fplen"));
	p->fp = fp ? strtoull(fp, NULL, 16) : 0;
	p->off = (off_t)json_integer_value(json_object_get(v, "offset"));
	if (p->fplen > LOGS_FP_LEN || p->off < 0)
		*p = (struct logs__pos){0};
}

int logs__registry_load(const char *path, struct logs__regent **out, int *n, struct logs__regent **done, int *ndone,
			uint64_t *seq)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je), *srcs, *dl;
	const char *key;
	json_t *v;
	size_t i;

	*out = *done = NULL;
	*n = *ndone = 0;
	*seq = 0;
	if (!j) {
		if (access(path, F_OK) == 0)
			log_warn("logs", "%s: %s (line %d): every file is read from its start", path, je.text, je.line);
		return access(path, F_OK) == 0 ? -1 : 0;
	}
	*seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	srcs = json_object_get(j, "sources");
	*out = xcalloc(json_object_size(srcs) + 1, sizeof(**out));
	json_object_foreach(srcs, key, v) {
		struct logs__regent *r = &(*out)[(*n)++];
		r->key = xstrdup(key);
		pos_from(v, &r->pos);
	}
	dl = json_object_get(j, "done");
	*done = xcalloc(LOGS_DONE_MAX + 1, sizeof(**done));
	json_array_foreach(dl, i, v) {
		if (*ndone == LOGS_DONE_MAX)
			break;
		struct logs__regent *r = &(*done)[(*ndone)++];
		r->key = xstrdup("done");
		pos_from(v, &r->pos);
	}
	json_decref(j);
	return 0;
}

static json_t *pos_json(const struct logs__pos *p)
{
	char fp[24];

	snprintf(fp, sizeof(fp), "%016" PRIx64, p->fp);
	return json_pack("{s:I,s:I,s:s,s:i,s:I}", "dev", (json_int_t)p->dev, "ino", (json_int_t)p->ino, "fp", fp,
			 "fplen", (int)p->fplen, "offset", (json_int_t)p->off);
}

static void put(json_t *srcs, const char *key, const struct logs__pos *p)
{
	json_object_set_new(srcs, key, pos_json(p));
}

int logs__registry_save(const char *path, const struct logs__src *srcs, const struct logs__regent *keep, int nkeep,
			const struct logs__regent *done, int ndone, uint64_t seq)
{
	json_t *j = json_object(), *o = json_object();
	char *tmp = xasprintf("%s.tmp", path);
	int rc;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "seq", json_integer((json_int_t)seq));
	for (int i = 0; i < nkeep; i++)
		if (keep[i].key)
			put(o, keep[i].key, &keep[i].pos);
	for (const struct logs__src *s = srcs; s; s = s->next)
		if (!s->gone) /* its instance and files are going: nothing to resume */
			put(o, s->key, &s->committed);
	json_object_set_new(j, "sources", o);
	json_t *dl = json_array();
	for (int i = 0; i < ndone; i++)
		json_array_append_new(dl, pos_json(&done[i].pos));
	json_object_set_new(j, "done", dl);
	rc = json_dump_file(j, tmp, JSON_COMPACT | JSON_SORT_KEYS);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		log_warn("logs", "cannot save %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	json_decref(j);
	free(tmp);
	return rc;
}

void logs__registry_free(struct logs__regent *r, int n)
{
	for (int i = 0; i < n; i++)
		free(r[i].key);
	free(r);
}
