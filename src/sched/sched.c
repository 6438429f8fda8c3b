/* Placement (see sched.h). Sizes are small (tens of nodes, hundreds of
 * instances), so plain arrays and linear scans keep this obvious. */
#include "sched/sched.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* ---- constraints ---- */

struct cons {
	char field[128];    /* "node.hostname", "node.labels.zone", ... */
	bool eq;            /* == or != */
	char value[256];
};

static const char *cons_parse(const char *s, struct cons *c)
{
	const char *op = strstr(s, "==");
	const char *ne = strstr(s, "!=");
	const char *at = op;
	size_t fl, vl;

	if (ne && (!op || ne < op)) {
		at = ne;
		c->eq = false;
	} else if (op) {
		c->eq = true;
	} else {
		return "expected \"FIELD == VALUE\" or \"FIELD != VALUE\"";
	}
	const char *f = s, *fe = at;
	while (f < fe && isspace((unsigned char)*f))
		f++;
	while (fe > f && isspace((unsigned char)fe[-1]))
		fe--;
	const char *v = at + 2, *ve = s + strlen(s);
	while (v < ve && isspace((unsigned char)*v))
		v++;
	while (ve > v && isspace((unsigned char)ve[-1]))
		ve--;
	fl = (size_t)(fe - f);
	vl = (size_t)(ve - v);
	if (!fl || !vl)
		return "a constraint needs a field and a value";
	if (fl >= sizeof(c->field) || vl >= sizeof(c->value))
		return "constraint too long";
	memcpy(c->field, f, fl);
	c->field[fl] = 0;
	memcpy(c->value, v, vl);
	c->value[vl] = 0;
	if (strcmp(c->field, "node.hostname") && strcmp(c->field, "node.id") && strcmp(c->field, "node.role") &&
	    strncmp(c->field, "node.labels.", 12) != 0)
		return "unknown field: expected node.hostname, node.id, node.role or node.labels.KEY";
	if (strncmp(c->field, "node.labels.", 12) == 0 && !c->field[12])
		return "node.labels. needs a label name";
	return NULL;
}

const char *sched_constraint_check(const char *s)
{
	struct cons c;

	return cons_parse(s, &c);
}

static const char *node_label(const struct sched_node *n, const char *key)
{
	for (int i = 0; i < n->nlabels; i++)
		if (strcmp(n->labels[i].key, key) == 0)
			return n->labels[i].value;
	return NULL;
}

static bool cons_holds(const struct cons *c, const struct sched_node *n)
{
	const char *have;
	bool match;

	if (strcmp(c->field, "node.hostname") == 0 || strcmp(c->field, "node.id") == 0)
		have = n->name;
	else if (strcmp(c->field, "node.role") == 0)
		/* Every berth node runs the scheduler and instances alike. */
		return c->eq == (strcmp(c->value, "manager") == 0 || strcmp(c->value, "worker") == 0);
	else
		have = node_label(n, c->field + 12);
	match = have && strcmp(have, c->value) == 0;
	return c->eq ? match : !match;
}

static bool eligible(const struct sched_service *s, const struct sched_node *n)
{
	if (!n->up)
		return false;
	for (int i = 0; i < s->nconstraints; i++) {
		struct cons c;
		if (cons_parse(s->constraints[i], &c) || !cons_holds(&c, n))
			return false;
	}
	return true;
}

/* ---- placement ---- */

struct place {
	const struct sched_node *nodes;
	int nnodes;
	int *load;          /* [nnodes] instances placed so far, all services */
	struct sched_result *out;
	int cap_allocs, cap_pending;
};

static int node_index(const struct place *p, const char *name)
{
	for (int i = 0; i < p->nnodes; i++)
		if (strcmp(p->nodes[i].name, name) == 0)
			return i;
	return -1;
}

static void add_alloc(struct place *p, int node, const struct sched_service *s, int index)
{
	struct sched_result *r = p->out;

	if (r->nallocs == p->cap_allocs) {
		p->cap_allocs = p->cap_allocs ? p->cap_allocs * 2 : 16;
		r->allocs = xrealloc(r->allocs, sizeof(*r->allocs) * (size_t)p->cap_allocs);
	}
	r->allocs[r->nallocs++] = (struct sched_alloc){p->nodes[node].name, s->stack, s->name, index};
	p->load[node]++;
}

static void add_pending(struct place *p, const struct sched_service *s, int index, const char *why)
{
	struct sched_result *r = p->out;

	if (r->npending == p->cap_pending) {
		p->cap_pending = p->cap_pending ? p->cap_pending * 2 : 8;
		r->pending = xrealloc(r->pending, sizeof(*r->pending) * (size_t)p->cap_pending);
	}
	r->pending[r->npending++] = (struct sched_pending){s->stack, s->name, index, why};
}

static bool same_service(const struct sched_alloc *a, const struct sched_service *s)
{
	return strcmp(a->stack, s->stack) == 0 && strcmp(a->service, s->name) == 0;
}

static void place_replicated(struct place *p, const struct sched_service *s, const struct sched_alloc *cur,
			     int ncur)
{
	int *mine = XNEWV(int, (size_t)(p->nnodes ? p->nnodes : 1)); /* this service's instances per node */
	bool *kept = XNEWV(bool, (size_t)s->replicas + 1);
	bool *ok = XNEWV(bool, (size_t)(p->nnodes ? p->nnodes : 1));
	int nok = 0;

	for (int i = 0; i < p->nnodes; i++) {
		ok[i] = eligible(s, &p->nodes[i]);
		nok += ok[i];
	}
	/* Keep what runs where it may stay, in index order. */
	for (int idx = 1; idx <= s->replicas; idx++) {
		for (int j = 0; j < ncur; j++) {
			if (cur[j].index != idx || !same_service(&cur[j], s))
				continue;
			int n = node_index(p, cur[j].node);
			if (n < 0 || !ok[n] || (s->max_per_node && mine[n] >= s->max_per_node))
				break;
			add_alloc(p, n, s, idx);
			mine[n]++;
			kept[idx] = true;
			break;
		}
	}
	for (int idx = 1; idx <= s->replicas; idx++) {
		if (kept[idx])
			continue;
		int best = -1;
		for (int n = 0; n < p->nnodes; n++) {
			if (!ok[n] || (s->max_per_node && mine[n] >= s->max_per_node))
				continue;
			if (best < 0 || mine[n] < mine[best] || (mine[n] == mine[best] && p->load[n] < p->load[best]) ||
			    (mine[n] == mine[best] && p->load[n] == p->load[best] &&
			     strcmp(p->nodes[n].name, p->nodes[best].name) < 0))
				best = n;
		}
		if (best < 0) {
			add_pending(p, s, idx,
				    nok == 0 ? "no node satisfies the placement constraints"
					     : "every eligible node has max_replicas_per_node instances");
			continue;
		}
		add_alloc(p, best, s, idx);
		mine[best]++;
	}
	free(mine);
	free(kept);
	free(ok);
}

static void place_global(struct place *p, const struct sched_service *s, const struct sched_alloc *cur, int ncur)
{
	int *idx_of = XNEWV(int, (size_t)(p->nnodes ? p->nnodes : 1));
	int maxidx = 0;

	/* Existing instances keep their index on their node. */
	for (int j = 0; j < ncur; j++) {
		if (!same_service(&cur[j], s))
			continue;
		int n = node_index(p, cur[j].node);
		if (n >= 0 && eligible(s, &p->nodes[n]) && !idx_of[n])
			idx_of[n] = cur[j].index;
	}
	for (int n = 0; n < p->nnodes; n++)
		if (idx_of[n] > maxidx)
			maxidx = idx_of[n];
	for (int n = 0; n < p->nnodes; n++) {
		if (!eligible(s, &p->nodes[n]))
			continue;
		if (!idx_of[n]) {
			/* The smallest index no node uses. */
			for (int cand = 1;; cand++) {
				bool used = false;
				for (int m = 0; m < p->nnodes; m++)
					used |= idx_of[m] == cand;
				if (!used) {
					idx_of[n] = cand;
					break;
				}
			}
		}
		add_alloc(p, n, s, idx_of[n]);
	}
	free(idx_of);
}

static int alloc_cmp(const void *a, const void *b)
{
	const struct sched_alloc *x = a, *y = b;
	int c = strcmp(x->stack, y->stack);

	if (!c)
		c = strcmp(x->service, y->service);
	if (!c)
		c = x->index - y->index;
	return c;
}

void sched_place(const struct sched_node *nodes, int nnodes, const struct sched_service *svcs, int nsvcs,
		 const struct sched_alloc *cur, int ncur, struct sched_result *out)
{
	struct place p = {.nodes = nodes, .nnodes = nnodes, .out = out};

	memset(out, 0, sizeof(*out));
	p.load = XNEWV(int, (size_t)(nnodes ? nnodes : 1));
	/* Global services first: they claim every node, and the replicated
	 * spread then sees their load. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < nsvcs; i++) {
			if (svcs[i].global != (pass == 0))
				continue;
			if (svcs[i].global)
				place_global(&p, &svcs[i], cur, ncur);
			else
				place_replicated(&p, &svcs[i], cur, ncur);
		}
	}
	if (out->nallocs > 1)
		qsort(out->allocs, (size_t)out->nallocs, sizeof(*out->allocs), alloc_cmp);
	free(p.load);
}

void sched_result_free(struct sched_result *r)
{
	free(r->allocs);
	free(r->pending);
	memset(r, 0, sizeof(*r));
}
