/* Stacks once built: freeing, lookups, and the start order the runner follows. */
#include "spec/spec-int.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static void kv_free(struct spec_kv *kv, int n)
{
	for (int i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void spec__service_clear(struct spec_service *s)
{
	free(s->name);
	free(s->image);
	if (s->build) {
		free(s->build->context);
		free(s->build->dockerfile);
		free(s->build->target);
		kv_free(s->build->args, s->build->nargs);
		free(s->build);
	}
	spec__argv_free(s->entrypoint, s->nentrypoint);
	spec__argv_free(s->command, s->ncommand);
	spec__argv_free(s->environment, s->nenvironment);
	free(s->working_dir);
	free(s->user);
	for (int i = 0; i < s->nports; i++)
		spec__port_clear(&s->ports[i]);
	free(s->ports);
	free(s->expose);
	for (int i = 0; i < s->ndepends_on; i++)
		free(s->depends_on[i].service);
	free(s->depends_on);
	if (s->healthcheck) {
		spec__argv_free(s->healthcheck->test, s->healthcheck->ntest);
		free(s->healthcheck);
	}
	kv_free(s->labels, s->nlabels);
	for (int i = 0; i < s->nvolumes; i++)
		spec__volume_clear(&s->volumes[i]);
	free(s->volumes);
	kv_free(s->deploy.labels, s->deploy.nlabels);
	spec__argv_free(s->deploy.placement.constraints, s->deploy.placement.nconstraints);
	spec__argv_free(s->deploy.placement.preferences, s->deploy.placement.npreferences);
	spec__argv_free(s->profiles, s->nprofiles);
	json_decref(s->x_berth);
	if (s->health_check) {
		free(s->health_check->request_line);
		free(s->health_check);
	}
	json_decref(s->lb_config);
	memset(s, 0, sizeof(*s));
}

void spec_stack_free(struct spec_stack *s)
{
	if (!s)
		return;
	free(s->name);
	json_decref(s->x_berth);
	free(s->project_dir);
	spec__argv_free(s->files, s->nfiles);
	for (int i = 0; i < s->nservices; i++)
		spec__service_clear(&s->services[i]);
	free(s->services);
	for (int i = 0; i < s->nvolumes; i++) {
		free(s->volumes[i].key);
		free(s->volumes[i].name);
	}
	free(s->volumes);
	spec__argv_free(s->warnings, s->nwarnings);
	free(s);
}

const struct spec_service *spec_service_find(const struct spec_stack *s, const char *name)
{
	int lo = 0, hi = s->nservices - 1;

	/* services are sorted by name */
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(s->services[mid].name, name);
		if (c == 0)
			return &s->services[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

int spec_service_instances(const struct spec_service *svc, int nnodes)
{
	return svc->deploy.mode == SPEC_MODE_GLOBAL ? nnodes : svc->deploy.replicas;
}

int spec_start_order(const struct spec_stack *s, int *order)
{
	int n = s->nservices, done = 0;
	bool *placed = XNEWV(bool, (size_t)n + 1);

	/* Kahn's algorithm, picking the smallest name among the ready ones
	 * each round: O(n^2 * deps), fine for a stack's handful of services.
	 * Services are sorted by name, so "smallest" is the lowest index. */
	while (done < n) {
		int pick = -1;
		for (int i = 0; i < n && pick < 0; i++) {
			bool ready = !placed[i];
			for (int d = 0; ready && d < s->services[i].ndepends_on; d++) {
				const struct spec_service *dep = spec_service_find(s, s->services[i].depends_on[d].service);
				if (dep && !placed[dep - s->services])
					ready = false;
			}
			if (ready)
				pick = i;
		}
		if (pick < 0) {
			free(placed);
			return -1; /* a cycle */
		}
		placed[pick] = true;
		order[done++] = pick;
	}
	free(placed);
	return 0;
}
