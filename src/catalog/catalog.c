/* The in-memory catalog (see catalog.h). Sorted arrays and binary search:
 * a node sees hundreds of endpoints, not millions, and readers (DNS, the
 * API) want ordered answers anyway. */
#include "catalog/catalog.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct svc_rec {
	char *stack;
	char *service;
	uint64_t modify_index;       /* last change to any of its endpoints */
	bool declared;               /* named by its stack's spec */
};

struct catalog {
	struct catalog_endpoint *e;  /* sorted by stack, service, index */
	int n, cap;
	struct svc_rec *s;           /* sorted by stack, service */
	int ns, caps;
	uint64_t index;
};

static int key_cmp(const char *st1, const char *sv1, int i1, const char *st2, const char *sv2, int i2)
{
	int c = strcmp(st1, st2);

	if (!c)
		c = strcmp(sv1, sv2);
	if (!c)
		c = (i1 > i2) - (i1 < i2);
	return c;
}

static int ep_find(const struct catalog *c, const char *stack, const char *svc, int index, bool *found)
{
	int lo = 0, hi = c->n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		const struct catalog_endpoint *e = &c->e[mid];
		if (key_cmp(e->stack, e->service, e->index, stack, svc, index) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < c->n && key_cmp(c->e[lo].stack, c->e[lo].service, c->e[lo].index, stack, svc, index) == 0;
	return lo;
}

static int svc_find(const struct catalog *c, const char *stack, const char *svc, bool *found)
{
	int lo = 0, hi = c->ns;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (key_cmp(c->s[mid].stack, c->s[mid].service, 0, stack, svc, 0) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < c->ns && key_cmp(c->s[lo].stack, c->s[lo].service, 0, stack, svc, 0) == 0;
	return lo;
}

static struct svc_rec *svc_get(struct catalog *c, const char *stack, const char *svc)
{
	bool found;
	int i = svc_find(c, stack, svc, &found);

	if (found)
		return &c->s[i];
	if (c->ns == c->caps) {
		c->caps = c->caps ? c->caps * 2 : 16;
		c->s = xrealloc(c->s, sizeof(*c->s) * (size_t)c->caps);
	}
	memmove(&c->s[i + 1], &c->s[i], sizeof(*c->s) * (size_t)(c->ns - i));
	c->s[i] = (struct svc_rec){xstrdup(stack), xstrdup(svc), 0, false};
	c->ns++;
	return &c->s[i];
}

struct catalog *catalog_new(void)
{
	return XNEW(struct catalog);
}

void catalog_endpoint_clear(struct catalog_endpoint *ep)
{
	free(ep->stack);
	free(ep->service);
	free(ep->node);
	free(ep->addr);
	free(ep->health);
	for (int i = 0; i < ep->nports; i++)
		free(ep->ports[i].name);
	free(ep->ports);
	for (int i = 0; i < ep->ntags; i++)
		free(ep->tags[i]);
	free(ep->tags);
	memset(ep, 0, sizeof(*ep));
}

void catalog_free(struct catalog *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++)
		catalog_endpoint_clear(&c->e[i]);
	for (int i = 0; i < c->ns; i++) {
		free(c->s[i].stack);
		free(c->s[i].service);
	}
	free(c->e);
	free(c->s);
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ep_copy(struct catalog_endpoint *d, const struct catalog_endpoint *s)
{
	memset(d, 0, sizeof(*d));
	d->stack = xstrdup(s->stack);
	d->service = xstrdup(s->service);
	d->index = s->index;
	d->node = dup_or_null(s->node);
	d->addr = dup_or_null(s->addr);
	d->port = s->port;
	d->healthy = s->healthy;
	d->health = dup_or_null(s->health);
	if (s->nports) {
		d->ports = XNEWV(struct catalog_port, (size_t)s->nports);
		for (int i = 0; i < s->nports; i++) {
			d->ports[i] = s->ports[i];
			d->ports[i].name = dup_or_null(s->ports[i].name);
		}
		d->nports = s->nports;
	}
	if (s->ntags) {
		d->tags = XNEWV(char *, (size_t)s->ntags);
		for (int i = 0; i < s->ntags; i++)
			d->tags[d->ntags++] = xstrdup(s->tags[i]);
		qsort(d->tags, (size_t)d->ntags, sizeof(char *), str_cmp);
		/* Unique. */
		int w = 0;
		for (int i = 0; i < d->ntags; i++) {
			if (w && strcmp(d->tags[w - 1], d->tags[i]) == 0) {
				free(d->tags[i]);
				continue;
			}
			d->tags[w++] = d->tags[i];
		}
		d->ntags = w;
	}
}

static bool streq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool ep_equal(const struct catalog_endpoint *a, const struct catalog_endpoint *b)
{
	if (a->index != b->index || a->port != b->port || a->healthy != b->healthy || a->nports != b->nports ||
	    a->ntags != b->ntags || !streq(a->node, b->node) || !streq(a->addr, b->addr) ||
	    !streq(a->health, b->health))
		return false;
	for (int i = 0; i < a->nports; i++)
		if (a->ports[i].target != b->ports[i].target || a->ports[i].published != b->ports[i].published ||
		    a->ports[i].proto != b->ports[i].proto || !streq(a->ports[i].name, b->ports[i].name))
			return false;
	for (int i = 0; i < a->ntags; i++)
		if (strcmp(a->tags[i], b->tags[i]))
			return false;
	return true;
}

bool catalog_put(struct catalog *c, const struct catalog_endpoint *ep)
{
	struct catalog_endpoint tmp;
	bool found;
	int i = ep_find(c, ep->stack, ep->service, ep->index, &found);

	ep_copy(&tmp, ep);
	if (found) {
		if (ep_equal(&c->e[i], &tmp)) {
			catalog_endpoint_clear(&tmp);
			return false;
		}
		catalog_endpoint_clear(&c->e[i]);
	} else {
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 32;
			c->e = xrealloc(c->e, sizeof(*c->e) * (size_t)c->cap);
		}
		memmove(&c->e[i + 1], &c->e[i], sizeof(*c->e) * (size_t)(c->n - i));
		c->n++;
	}
	tmp.modify_index = ++c->index;
	c->e[i] = tmp;
	svc_get(c, ep->stack, ep->service)->modify_index = c->index;
	return true;
}

bool catalog_remove(struct catalog *c, const char *stack, const char *svc, int index)
{
	bool found;
	int i = ep_find(c, stack, svc, index, &found);

	if (!found)
		return false;
	catalog_endpoint_clear(&c->e[i]);
	memmove(&c->e[i], &c->e[i + 1], sizeof(*c->e) * (size_t)(c->n - i - 1));
	c->n--;
	svc_get(c, stack, svc)->modify_index = ++c->index;
	return true;
}

uint64_t catalog_index(const struct catalog *c)
{
	return c->index;
}

uint64_t catalog_service_index(const struct catalog *c, const char *stack, const char *svc)
{
	bool found;
	int i = svc_find(c, stack, svc, &found);

	return found ? c->s[i].modify_index : 0;
}

bool catalog_service_exists(const struct catalog *c, const char *stack, const char *svc)
{
	bool found;
	int i = svc_find(c, stack, svc, &found);

	if (found && c->s[i].declared)
		return true;
	int j = ep_find(c, stack, svc, 0, &found);
	return j < c->n && strcmp(c->e[j].stack, stack) == 0 && strcmp(c->e[j].service, svc) == 0;
}

bool catalog_stack_exists(const struct catalog *c, const char *stack)
{
	for (int i = 0; i < c->ns; i++)
		if (strcmp(c->s[i].stack, stack) == 0 && c->s[i].declared)
			return true;
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->e[i].stack, stack) == 0)
			return true;
	return false;
}

void catalog_declare(struct catalog *c, const char *stack, const char *const *svcs, int nsvcs)
{
	bool changed = false;

	for (int i = 0; i < c->ns; i++) {
		if (strcmp(c->s[i].stack, stack) != 0)
			continue;
		bool keep = false;
		for (int k = 0; k < nsvcs && !keep; k++)
			keep = strcmp(svcs[k], c->s[i].service) == 0;
		if (c->s[i].declared != keep) {
			c->s[i].declared = keep;
			c->s[i].modify_index = c->index + 1;
			changed = true;
		}
	}
	for (int k = 0; k < nsvcs; k++) {
		struct svc_rec *r = svc_get(c, stack, svcs[k]);
		if (!r->declared) {
			r->declared = true;
			r->modify_index = c->index + 1;
			changed = true;
		}
	}
	if (changed)
		c->index++;
}

int catalog_select(const struct catalog *c, const char *stack, const char *svc, const char *tag, int index,
		   bool healthy_only, const struct catalog_endpoint **out, int max)
{
	int n = 0;

	for (int i = 0; i < c->n; i++) {
		const struct catalog_endpoint *e = &c->e[i];
		if ((stack && strcmp(e->stack, stack)) || strcmp(e->service, svc))
			continue;
		if (index && e->index != index)
			continue;
		if (healthy_only && !e->healthy)
			continue;
		if (tag) {
			bool has = false;
			for (int t = 0; t < e->ntags && !has; t++)
				has = strcmp(e->tags[t], tag) == 0;
			if (!has)
				continue;
		}
		if (n < max)
			out[n] = e;
		n++;
	}
	return n;
}

json_t *catalog_endpoint_json(const struct catalog_endpoint *ep)
{
	json_t *ports = json_array(), *tags = json_array();

	for (int i = 0; i < ep->nports; i++) {
		json_t *p = json_pack("{s:i, s:i, s:s}", "target", ep->ports[i].target, "published", ep->ports[i].published,
				      "protocol", ep->ports[i].proto == CATALOG_UDP ? "udp" : "tcp");
		if (ep->ports[i].name)
			json_object_set_new(p, "name", json_string(ep->ports[i].name));
		json_array_append_new(ports, p);
	}
	for (int i = 0; i < ep->ntags; i++)
		json_array_append_new(tags, json_string(ep->tags[i]));
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:o, s:o, s:b, s:s, s:I}", "stack", ep->stack, "service",
			 ep->service, "index", ep->index, "node", ep->node ? ep->node : "", "addr", ep->addr ? ep->addr : "",
			 "port", ep->port, "ports", ports, "tags", tags, "healthy", ep->healthy, "health",
			 ep->health ? ep->health : "none", "modify_index", (json_int_t)ep->modify_index);
}

int catalog_endpoint_from_json(const json_t *j, struct catalog_endpoint *ep)
{
	const char *stack = json_string_value(json_object_get(j, "stack"));
	const char *svc = json_string_value(json_object_get(j, "service"));
	json_t *idx = json_object_get(j, "index");
	size_t i;
	json_t *v;

	memset(ep, 0, sizeof(*ep));
	if (!stack || !svc || !json_is_integer(idx) || json_integer_value(idx) < 1)
		return -1;
	ep->stack = xstrdup(stack);
	ep->service = xstrdup(svc);
	ep->index = (int)json_integer_value(idx);
	ep->node = dup_or_null(json_string_value(json_object_get(j, "node")));
	ep->addr = dup_or_null(json_string_value(json_object_get(j, "addr")));
	ep->port = (int)json_integer_value(json_object_get(j, "port"));
	ep->healthy = json_is_true(json_object_get(j, "healthy"));
	ep->health = dup_or_null(json_string_value(json_object_get(j, "health")));
	json_t *ports = json_object_get(j, "ports");
	if (json_array_size(ports)) {
		ep->ports = XNEWV(struct catalog_port, json_array_size(ports));
		json_array_foreach(ports, i, v) {
			struct catalog_port *p = &ep->ports[ep->nports++];
			p->target = (int)json_integer_value(json_object_get(v, "target"));
			p->published = (int)json_integer_value(json_object_get(v, "published"));
			p->proto = strcmp(json_string_value(json_object_get(v, "protocol")) ?: "tcp", "udp") == 0
					   ? CATALOG_UDP
					   : CATALOG_TCP;
			p->name = dup_or_null(json_string_value(json_object_get(v, "name")));
		}
	}
	json_t *tags = json_object_get(j, "tags");
	if (json_array_size(tags)) {
		ep->tags = XNEWV(char *, json_array_size(tags));
		json_array_foreach(tags, i, v)
			if (json_is_string(v))
				ep->tags[ep->ntags++] = xstrdup(json_string_value(v));
	}
	return 0;
}

json_t *catalog_services_json(const struct catalog *c)
{
	json_t *arr = json_array();

	for (int i = 0; i < c->ns; i++) {
		const struct svc_rec *r = &c->s[i];
		int total = 0, healthy = 0;
		json_t *tags = json_array();
		for (int k = 0; k < c->n; k++) {
			const struct catalog_endpoint *e = &c->e[k];
			if (strcmp(e->stack, r->stack) || strcmp(e->service, r->service))
				continue;
			total++;
			healthy += e->healthy;
			for (int t = 0; t < e->ntags; t++) {
				bool have = false;
				size_t x;
				json_t *v;
				json_array_foreach(tags, x, v)
					have |= strcmp(json_string_value(v), e->tags[t]) == 0;
				if (!have)
					json_array_append_new(tags, json_string(e->tags[t]));
			}
		}
		if (!total && !r->declared) {
			json_decref(tags);
			continue;
		}
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:i, s:o, s:I}", "stack", r->stack, "service",
						     r->service, "endpoints", total, "healthy", healthy, "tags", tags,
						     "modify_index", (json_int_t)r->modify_index));
	}
	return arr;
}

void catalog_keep_stacks(struct catalog *c, const char *const *stacks, int nstacks)
{
	bool changed = false;

	for (int i = 0; i < c->ns; i++) {
		bool keep = false;
		for (int k = 0; k < nstacks && !keep; k++)
			keep = strcmp(stacks[k], c->s[i].stack) == 0;
		if (!keep && c->s[i].declared) {
			c->s[i].declared = false;
			c->s[i].modify_index = c->index + 1;
			changed = true;
		}
	}
	if (changed)
		c->index++;
}

const struct catalog_endpoint *catalog_endpoints(const struct catalog *c, int *n)
{
	*n = c->n;
	return c->e;
}
