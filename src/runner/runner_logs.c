/* The runner's side of the log pipeline: each instance's inputs (its CRI
 * log, its service's x-berth.logs files with the instance's variables
 * expanded, relative paths from the project directory) and its stack's
 * outputs, given again whenever one of them changes. */
#include "runner/runner-int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/str.h"
#include "logs/logs.h"

/* The stack's outputs, relative paths from the project directory. A new
 * reference, or NULL. */
static json_t *stack_outputs(const struct rstack *rs)
{
	return logs_outputs_resolve(json_object_get(json_object_get(rs->spec->x_berth, "logs"), "outputs"),
				    rs->spec->project_dir);
}

/* ${BERTH_STACK}, ${BERTH_SERVICE}, ${BERTH_INDEX}, ${BERTH_INSTANCE} in a
 * log file path (written $${...} in a compose file, past its own
 * interpolation), after ${PORT} and the like (runner__expand). */
static char *expand_path(const struct rinst *in, const char *p)
{
	char *x = runner__expand(in, p), idx[16], inst[200];
	struct buf b = {0};
	const struct {
		const char *name, *val;
	} vars[] = {{"${BERTH_STACK}", in->stack}, {"${BERTH_SERVICE}", in->service},
		    {"${BERTH_INDEX}", idx},       {"${BERTH_INSTANCE}", inst}};

	snprintf(idx, sizeof(idx), "%d", in->index);
	snprintf(inst, sizeof(inst), "%s.%d", in->service, in->index);
	for (const char *s = x; *s;) {
		size_t i = 0, n = sizeof(vars) / sizeof(vars[0]);
		while (i < n && strncmp(s, vars[i].name, strlen(vars[i].name)) != 0)
			i++;
		if (i < n) {
			buf_appends(&b, vars[i].val);
			s += strlen(vars[i].name);
		} else {
			buf_append(&b, s++, 1);
		}
	}
	buf_append(&b, "", 1);
	free(x);
	x = xstrdup(buf_ptr(&b));
	buf_free(&b);
	return x;
}

void runner__logs_sync(struct rinst *in, const struct rstack *rs, const struct spec_service *svc, int svc_idx)
{
	struct runner *r = in->r;

	if (!r->o.logs || !rs->spec)
		return;
	json_t *outs = stack_outputs(rs);
	char *dump = outs ? json_dumps(outs, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	uint64_t h = rs->hashes[svc_idx] ^ (dump ? hash64(dump, strlen(dump)) : 0x9e3779b97f4a7c15ULL);
	free(dump);
	if (h == 0)
		h = 1;
	if (h == in->logs_hash) {
		json_decref(outs);
		return;
	}
	in->logs_hash = h;

	const json_t *xlogs = json_object_get(svc->x_berth, "logs");
	const json_t *files = json_object_get(xlogs, "files"), *f;
	size_t nf = json_array_size(files), i;
	char **paths = xcalloc(nf + 1, sizeof(*paths));
	json_array_foreach(files, i, f) {
		const char *p = json_is_string(f) ? json_string_value(f) : json_string_value(json_object_get(f, "path"));
		char *x = expand_path(in, p ? p : "");
		if (x[0] != '/') {
			char *abs = xasprintf("%s/%s", rs->spec->project_dir, x);
			free(x);
			x = abs;
		}
		paths[i] = x;
	}
	char *cri = runner_log_path(r->data_dir, in->stack, in->service, in->index);
	struct logs_instance li = {
		.stack = in->stack,
		.service = in->service,
		.index = in->index,
		.cri_path = cri,
		.xlogs = xlogs,
		.files = (const char *const *)paths,
		.nfiles = (int)nf,
		.stack_outputs = outs,
	};
	logs_instance_add(r->o.logs, &li);
	for (i = 0; i < nf; i++)
		free(paths[i]);
	free(paths);
	free(cri);
	json_decref(outs);
}

void runner__logs_forget(struct rinst *in)
{
	if (in->r->o.logs && in->logs_hash)
		logs_instance_remove(in->r->o.logs, in->stack, in->service, in->index);
	in->logs_hash = 0;
}
