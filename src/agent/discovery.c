/* Mirrors /berth/catalog into the agent's struct catalog (see discovery.h). */
#include "agent/discovery.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/mirror.h"
#include "catalog/catalog.h"
#include "core/log.h"
#include "core/mem.h"

#define MAX_LISTENERS 8

struct changed {
	char *stack, *svc;
};

struct discovery {
	struct mirror *m;
	struct {
		discovery_fn *fn;
		void *arg;
	} l[MAX_LISTENERS];
	int nl;
	struct changed *ch;
	int nch, capch;
};

static struct discovery *disc_of(struct agent *a)
{
	return a->discovery;
}

static void note_change(struct discovery *d, const char *stack, const char *svc)
{
	for (int i = 0; i < d->nch; i++)
		if (strcmp(d->ch[i].stack, stack) == 0 && strcmp(d->ch[i].svc, svc) == 0)
			return;
	if (d->nch == d->capch) {
		d->capch = d->capch ? d->capch * 2 : 16;
		d->ch = xrealloc(d->ch, sizeof(*d->ch) * (size_t)d->capch);
	}
	d->ch[d->nch++] = (struct changed){xstrdup(stack), xstrdup(svc)};
}

static void flush_changes(struct discovery *d)
{
	for (int i = 0; i < d->nch; i++) {
		for (int k = 0; k < d->nl; k++)
			d->l[k].fn(d->ch[i].stack, d->ch[i].svc, d->l[k].arg);
		free(d->ch[i].stack);
		free(d->ch[i].svc);
	}
	d->nch = 0;
}

/* The catalog mirror changed: bring the struct in line with it. */
static void on_catalog(struct mirror *m, void *arg)
{
	struct agent *a = arg;
	struct discovery *d = disc_of(a);
	const size_t pl = strlen("/berth/catalog/");

	for (int i = 0; i < m->n; i++) {
		struct catalog_endpoint ep;
		if (strchr(m->e[i].key + pl, '/') == NULL || catalog_endpoint_from_json(m->e[i].json, &ep) < 0)
			continue;
		if (catalog_put(a->catalog, &ep))
			note_change(d, ep.stack, ep.service);
		catalog_endpoint_clear(&ep);
	}
	/* Endpoints whose key is gone. */
	int n;
	const struct catalog_endpoint *eps = catalog_endpoints(a->catalog, &n);
	struct {
		char *stack, *svc;
		int idx;
	} *gone = XNEWV(__typeof__(*gone), (size_t)n + 1);
	int ngone = 0;
	for (int i = 0; i < n; i++) {
		char *key = xasprintf("/berth/catalog/%s/%s/%d", eps[i].stack, eps[i].service, eps[i].index);
		if (!mirror_get(m, key)) {
			gone[ngone].stack = xstrdup(eps[i].stack);
			gone[ngone].svc = xstrdup(eps[i].service);
			gone[ngone].idx = eps[i].index;
			ngone++;
		}
		free(key);
	}
	for (int i = 0; i < ngone; i++) {
		if (catalog_remove(a->catalog, gone[i].stack, gone[i].svc, gone[i].idx))
			note_change(d, gone[i].stack, gone[i].svc);
		free(gone[i].stack);
		free(gone[i].svc);
	}
	free(gone);
	flush_changes(d);
}

/* Stacks changed: declare their services, so that a service without any
 * instance still exists for DNS (NODATA, not NXDOMAIN). */
static void on_stacks(struct mirror *m, void *arg)
{
	struct agent *a = arg;
	const size_t pl = strlen("/berth/stacks/");

	const char **stacks = XNEWV(const char *, (size_t)m->n + 1);
	int nstacks = 0;

	for (int i = 0; i < m->n; i++) {
		const char *stack = m->e[i].key + pl;
		if (!strchr(stack, '/'))
			stacks[nstacks++] = stack;
	}
	catalog_keep_stacks(a->catalog, stacks, nstacks);
	free(stacks);
	for (int i = 0; i < m->n; i++) {
		const char *stack = m->e[i].key + pl;
		json_t *svcs = json_object_get(json_object_get(m->e[i].json, "spec"), "services");
		const char **names = XNEWV(const char *, json_object_size(svcs) + 1);
		int nn = 0;
		const char *k;
		json_t *v;
		if (strchr(stack, '/')) {
			free(names);
			continue;
		}
		json_object_foreach(svcs, k, v)
			names[nn++] = k;
		catalog_declare(a->catalog, stack, names, nn);
		for (int j = 0; j < nn; j++)
			note_change(disc_of(a), stack, names[j]);
		free(names);
	}
	flush_changes(disc_of(a));
}

void discovery_start(struct agent *a)
{
	struct discovery *d = XNEW(struct discovery);

	a->discovery = d;
	a->catalog = catalog_new();
	d->m = mirror_new(a->st, "/berth/catalog/", on_catalog, a);
	a->stacks->on_change = on_stacks;
	a->stacks->arg = a;
}

void discovery_listen(struct agent *a, discovery_fn *fn, void *arg)
{
	struct discovery *d = disc_of(a);

	BUG_ON(d->nl == MAX_LISTENERS);
	d->l[d->nl].fn = fn;
	d->l[d->nl].arg = arg;
	d->nl++;
}

void discovery_stop(struct agent *a)
{
	struct discovery *d = disc_of(a);

	if (!d)
		return;
	mirror_free(d->m);
	for (int i = 0; i < d->nch; i++) {
		free(d->ch[i].stack);
		free(d->ch[i].svc);
	}
	free(d->ch);
	free(d);
	a->discovery = NULL;
}
