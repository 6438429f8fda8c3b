/* The catalog records of this node's instances (DESIGN.md 6): written by
 * the runner, which knows each instance's state, address, ports and
 * health, under /berth/catalog/<stack>/<svc>/<idx>, bound to the node's
 * lease like the status records (a dead node's endpoints vanish with it).
 *
 * An instance is listed while it runs and is not being stopped; "healthy"
 * says whether it may take traffic (no check, or its check passes). DNS,
 * blocking queries, templates and load balancers select healthy ones, so
 * an unhealthy instance leaves every routing decision at once while its
 * record still shows why. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "runner/runner-int.h"

const char *runner__health_name(enum rhealth h)
{
	static const char *const names[] = {"none", "starting", "healthy", "unhealthy"};

	return names[h];
}

static char *catalog_key(const struct rinst *in)
{
	return xasprintf("/berth/catalog/%s/%s/%d", in->stack, in->service, in->index);
}

/* The port name of a target port, from the service's long syntax. */
static const char *port_name(const struct spec_service *svc, int target)
{
	for (int i = 0; svc && i < svc->nports; i++)
		if (svc->ports[i].target == target && svc->ports[i].name)
			return svc->ports[i].name;
	return NULL;
}

static json_t *record(const struct runner *r, const struct rinst *in, const struct spec_service *svc)
{
	json_t *ports = json_array(), *tags = json_array();
	int first = 0;

	for (int i = 0; i < in->nports; i++) {
		const struct rport *p = &in->ports[i];
		json_t *o = json_pack("{s:i, s:i, s:s}", "target", p->target, "published", p->host, "protocol",
				      p->proto == SPEC_PROTO_UDP ? "udp" : "tcp");
		const char *name = port_name(svc, p->target);
		if (name)
			json_object_set_new(o, "name", json_string(name));
		json_array_append_new(ports, o);
		if (!first)
			first = p->host;
	}
	for (int i = 0; i < in->ntags; i++)
		json_array_append_new(tags, json_string(in->tags[i]));
	/* User tags: x-berth.tags, strings. */
	json_t *ut = svc ? json_object_get(svc->x_berth, "tags") : NULL;
	size_t k;
	json_t *v;
	json_array_foreach(ut, k, v)
		if (json_is_string(v))
			json_array_append(tags, v);
	bool healthy = in->health == RH_NONE || in->health == RH_HEALTHY;
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:o, s:o, s:b, s:s}", "stack", in->stack, "service",
			 in->service, "index", in->index, "node", r->node, "addr", r->addr, "port", first, "ports", ports,
			 "tags", tags, "healthy", healthy, "health", runner__health_name(in->health));
}

void runner__unpublish(struct runner *r, struct rinst *in)
{
	if (!in->cat_value)
		return;
	char *key = catalog_key(in);
	if (store_delete(r->o.st, key, false, runner__on_write, r) == 0) {
		r->writes++;
		free(in->cat_value);
		in->cat_value = NULL;
	}
	free(key);
}

void runner__publish(struct runner *r, struct rinst *in, const struct spec_service *svc)
{
	if (!r->lease)
		return;
	if (in->state != RS_RUNNING || !svc) {
		runner__unpublish(r, in);
		return;
	}
	json_t *j = record(r, in, svc);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	/* Unchanged: no write (every write wakes every watcher). */
	if (in->cat_value && strcmp(in->cat_value, text) == 0) {
		free(text);
		return;
	}
	char *key = catalog_key(in);
	if (store_put(r->o.st, key, text, strlen(text), r->lease, runner__on_write, r) == 0) {
		r->writes++;
		free(in->cat_value);
		in->cat_value = text;
		text = NULL;
	}
	free(key);
	free(text);
}

/* Whether a load balancer of the stack routes to <svc>: an x-berth.lb
 * whose backends name it as their servers' service, or a rancher-compose
 * lb_config port rule naming it. */
bool runner__routed_to(const struct spec_stack *st, const char *svc)
{
	for (int i = 0; i < st->nservices; i++) {
		const struct spec_service *s = &st->services[i];
		json_t *lb = json_object_get(s->x_berth, "lb");
		json_t *bes = json_object_get(lb, "backends");
		const char *k;
		json_t *be;
		json_object_foreach(bes, k, be) {
			const char *target = json_string_value(json_object_get(json_object_get(be, "servers"), "service"));
			if (target && strcmp(target, svc) == 0)
				return true;
		}
		const char *one = json_string_value(json_object_get(json_object_get(lb, "servers"), "service"));
		if (one && strcmp(one, svc) == 0)
			return true;
		size_t x;
		json_t *rule;
		json_array_foreach(json_object_get(s->lb_config, "port_rules"), x, rule) {
			const char *target = json_string_value(json_object_get(rule, "service"));
			if (target && strcmp(target, svc) == 0)
				return true;
		}
	}
	return false;
}

uint64_t runner__drain_ms(const struct spec_stack *st, const struct spec_service *svc)
{
	json_t *d = json_object_get(svc->x_berth, "drain");

	/* x-berth.drain: milliseconds (a number) or a duration string the
	 * loader checked. */
	if (json_is_integer(d))
		return (uint64_t)json_integer_value(d);
	uint64_t ms;
	if (json_is_string(d) && duration_parse(json_string_value(d), &ms) == 0)
		return ms;
	return runner__routed_to(st, svc->name) ? svc->stop_grace_period : 0;
}
