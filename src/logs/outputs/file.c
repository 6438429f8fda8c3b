/* The file output: JSON lines appended to <path>, which is rotated by size
 * (path -> path.1 -> ... -> path.<keep>, the oldest removed) the way
 * logrotate's rotate N does it. A batch is one write(): once it returned,
 * the events are the kernel's, which is what "delivered" means here. */
#include "logs/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/mem.h"

struct out_file {
	char *path;
	uint64_t max_size;
	int keep;
	int fd;
	uint64_t size;
};

static int check(const json_t *cfg, char **why, const char **at)
{
	const char *k;
	json_t *v;
	uint64_t sz;

	if (!json_object_get(cfg, "path")) {
		*why = xstrdup("a file output needs a path");
		*at = NULL;
		return -1;
	}
	json_object_foreach((json_t *)cfg, k, v) {
		*at = k;
		if (!strcmp(k, "path")) {
			if (!json_string_value(v) || !json_string_value(v)[0]) {
				*why = xstrdup("expected a path (relative: to the compose file's directory, or agent.yml's)");
				return -1;
			}
		} else if (!strcmp(k, "max_size")) {
			if (logs__json_size(v, &sz) < 0 || sz == 0) {
				*why = xstrdup("expected a size, like 100MiB");
				return -1;
			}
		} else if (!strcmp(k, "keep")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000) {
				*why = xstrdup("expected how many rotated files to keep (0-1000)");
				return -1;
			}
		} else {
			*why = xstrdup("unknown key (file takes path, max_size, keep)");
			return -1;
		}
	}
	return 0;
}

static void *create(const json_t *cfg)
{
	struct out_file *o = xcalloc(1, sizeof(*o));

	o->path = xstrdup(json_string_value(json_object_get(cfg, "path")));
	o->max_size = 100u << 20;
	logs__json_size(json_object_get(cfg, "max_size"), &o->max_size);
	o->keep = json_object_get(cfg, "keep") ? (int)json_integer_value(json_object_get(cfg, "keep")) : 5;
	o->fd = -1;
	return o;
}

static int open_file(struct out_file *o, char **err)
{
	struct stat st;

	fs_mkdir_parents(o->path, 0755);
	o->fd = open(o->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (o->fd < 0 || fstat(o->fd, &st) < 0) {
		*err = xasprintf("open %s: %s", o->path, strerror(errno));
		if (o->fd >= 0)
			close(o->fd);
		o->fd = -1;
		return -1;
	}
	o->size = (uint64_t)st.st_size;
	return 0;
}

static void rotate(struct out_file *o)
{
	close(o->fd);
	o->fd = -1;
	if (o->keep == 0) {
		unlink(o->path);
		return;
	}
	for (int i = o->keep - 1; i >= 1; i--) {
		char *from = xasprintf("%s.%d", o->path, i), *to = xasprintf("%s.%d", o->path, i + 1);
		rename(from, to);
		free(from);
		free(to);
	}
	char *to = xasprintf("%s.1", o->path);
	rename(o->path, to);
	free(to);
}

static int send_(void *priv, struct logs_batch *b, char **err)
{
	struct out_file *o = priv;
	const char *p = b->data;
	size_t n = b->len;

	if (o->fd < 0 && open_file(o, err) < 0)
		return -1;
	if (o->size > 0 && o->size + n > o->max_size) {
		rotate(o);
		if (open_file(o, err) < 0)
			return -1;
	}
	if (fs_write_all(o->fd, p, n) < 0) {
		*err = xasprintf("write %s: %s", o->path, strerror(errno));
		close(o->fd);
		o->fd = -1;
		/* What was written stays: the batch is sent again whole, a
		 * duplicate of at most that batch's first part. (The size is
		 * read again when the file is opened again.) */
		return -1;
	}
	o->size += n;
	return 0;
}

static void destroy(void *priv)
{
	struct out_file *o = priv;
	if (o->fd >= 0)
		close(o->fd);
	free(o->path);
	free(o);
}

const struct logs_output_ops logs_out_file = {
	.type = "file",
	.check = check,
	.create = create,
	.send = send_,
	.destroy = destroy,
};
