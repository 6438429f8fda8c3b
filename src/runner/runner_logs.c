/* The runner's side of the log pipeline: each instance's inputs (its CRI
 * log, its service's x-berth.logs files with the instance's variables
 * expanded, relative paths from the project directory) and its stack's
 * outputs, given again whenever one of them changes. */
#include "runner/runner-int.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "logs/logs.h"

static const json_t *stack_outputs(const struct rstack *rs)
{
	return json_object_get(json_object_get(rs->spec->x_berth, "logs"), "outputs");
}

void runner__logs_sync(struct rinst *in, const struct rstack *rs, const struct spec_service *svc, int svc_idx)
{
	struct runner *r = in->r;

	if (!r->o.logs || !rs->spec)
		return;
	const json_t *outs = stack_outputs(rs);
	char *dump = outs ? json_dumps(outs, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	uint64_t h = rs->hashes[svc_idx] ^ (dump ? hash64(dump, strlen(dump)) : 0x9e3779b97f4a7c15ULL);
	free(dump);
	if (h == 0)
		h = 1;
	if (h == in->logs_hash)
		return;
	in->logs_hash = h;

	const json_t *xlogs = json_object_get(svc->x_berth, "logs");
	const json_t *files = json_object_get(xlogs, "files"), *f;
	size_t nf = json_array_size(files), i;
	char **paths = xcalloc(nf + 1, sizeof(*paths));
	json_array_foreach(files, i, f) {
		const char *p = json_is_string(f) ? json_string_value(f) : json_string_value(json_object_get(f, "path"));
		char *x = runner__expand(in, p ? p : "");
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
}

void runner__logs_forget(struct rinst *in)
{
	if (in->r->o.logs && in->logs_hash)
		logs_instance_remove(in->r->o.logs, in->stack, in->service, in->index);
	in->logs_hash = 0;
}
