/* The stdout output: events on the agent's standard output, as JSON lines
 * (format: json) or one readable line each (format: human, the default):
 * "2026-12-01T11:34:19.123Z shop web.1 stdout | message". */
#include "logs/output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/mem.h"

struct out_stdout {
	bool json;
	int fd;
};

static int check(const json_t *cfg, char **why, const char **at)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)cfg, k, v) {
		*at = k;
		if (strcmp(k, "format") != 0) {
			*why = xstrdup("unknown key (stdout takes format: human|json)");
			return -1;
		}
		if (!json_string_value(v) || (strcmp(json_string_value(v), "human") && strcmp(json_string_value(v), "json"))) {
			*why = xstrdup("expected human or json");
			return -1;
		}
	}
	return 0;
}

static void *create(const json_t *cfg)
{
	struct out_stdout *o = xcalloc(1, sizeof(*o));
	const char *f = json_string_value(json_object_get(cfg, "format"));

	o->json = f && strcmp(f, "json") == 0;
	o->fd = STDOUT_FILENO;
	return o;
}

static int write_all(int fd, const char *p, size_t n, char **err)
{
	if (fs_write_all(fd, p, n) == 0)
		return 0;
	*err = xasprintf("write to standard output: %s", strerror(errno));
	return -1;
}

static const char *str(json_t *e, const char *k)
{
	const char *s = json_string_value(json_object_get(e, k));
	return s ? s : "-";
}

static int send_(void *priv, struct logs_batch *b, char **err)
{
	struct out_stdout *o = priv;

	if (o->json)
		return write_all(o->fd, b->data, b->len, err);
	struct buf out = {0};
	const char *p = b->data, *line;
	size_t n;
	while (logs_batch_next(&p, b->data + b->len, &line, &n)) {
		json_t *e = json_loadb(line, n, JSON_ALLOW_NUL, NULL);
		if (e) {
			const char *stream = json_string_value(json_object_get(e, "stream"));
			const json_t *m = json_object_get(e, "message");
			buf_appendf(&out, "%s %s %s %s | ", str(e, "@timestamp"), str(e, "stack"), str(e, "instance"),
				    stream ? stream : str(e, "path"));
			if (json_is_string(m)) /* may hold a NUL: by length */
				buf_append(&out, json_string_value(m), json_string_length(m));
			buf_append(&out, "\n", 1);
			json_decref(e);
		} else {
			b->dropped++;
		}
	}
	int rc = write_all(o->fd, buf_ptr(&out), out.data, err);
	buf_free(&out);
	return rc;
}

static void destroy(void *priv)
{
	free(priv);
}

const struct logs_output_ops logs_out_stdout = {
	.type = "stdout",
	.check = check,
	.create = create,
	.send = send_,
	.destroy = destroy,
};
