/* The deploy key of a service: mode, replicas, policies, resources, placement. */
#include "spec/spec-int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static int f_cpus(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	char *end;
	double v = spec__is_scalar(n) ? strtod(n->text, &end) : -1;

	if (!spec__is_scalar(n) || *end || end == n->text || !(v >= 0 && v <= 4096))
		return spec__expected(spec__L(y), n, "a number of CPUs like 0.5 or 2");
	*(double *)field = v;
	return 0;
}

static int f_ratio(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	char *end;
	double v = spec__is_scalar(n) ? strtod(n->text, &end) : -1;

	if (!spec__is_scalar(n) || *end || end == n->text || !(v >= 0 && v <= 1))
		return spec__expected(spec__L(y), n, "a ratio 0..1 like 0.25");
	*(double *)field = v;
	return 0;
}

static int f_constraints(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec_placement *pl = field;

	return spec__get_strlist(spec__L(y), n, false, &pl->constraints, &pl->nconstraints);
}

/* ---- deploy ---- */

static const struct yaml_enum deploy_modes[] = {{"replicated", SPEC_MODE_REPLICATED},
						{"global", SPEC_MODE_GLOBAL}, {NULL, 0}};
static const struct yaml_enum endpoint_modes[] = {{"vip", SPEC_ENDPOINT_VIP}, {"dnsrr", SPEC_ENDPOINT_DNSRR},
						  {NULL, 0}};
static const struct yaml_enum rp_conditions[] = {{"any", SPEC_RP_ANY}, {"on-failure", SPEC_RP_ON_FAILURE},
						 {"none", SPEC_RP_NONE}, {NULL, 0}};
static const struct yaml_enum update_actions[] = {{"pause", SPEC_FAIL_PAUSE},
						  {"continue", SPEC_FAIL_CONTINUE},
						  {"rollback", SPEC_FAIL_ROLLBACK}, {NULL, 0}};
static const struct yaml_enum rollback_actions[] = {{"pause", SPEC_FAIL_PAUSE},
						    {"continue", SPEC_FAIL_CONTINUE}, {NULL, 0}};
static const struct yaml_enum orders[] = {{"stop-first", SPEC_ORDER_STOP_FIRST},
					  {"start-first", SPEC_ORDER_START_FIRST}, {NULL, 0}};

static const struct yaml_field rp_fields[] = {
	{.key = "condition", .type = YF_ENUM, .offset = offsetof(struct spec_restart_policy, condition),
	 .def = "any", .names = rp_conditions, .doc = "when to restart: none, on-failure, any"},
	{.key = "delay", .type = YF_FUNC, .offset = offsetof(struct spec_restart_policy, delay), .def = "0s",
	 .fn = spec__f_duration, .doc = "wait between attempts"},
	{.key = "max_attempts", .type = YF_INT, .offset = offsetof(struct spec_restart_policy, max_attempts),
	 .min = 0, .max = SPEC_COUNT_MAX, .def = "0", .doc = "give up after this many; 0: never"},
	{.key = "window", .type = YF_FUNC, .offset = offsetof(struct spec_restart_policy, window), .def = "0s",
	 .fn = spec__f_duration, .doc = "how long a restart must stay up to count as a success"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

#define UPDATE_FIELDS(actions, action_doc)                                                                 \
	{.key = "parallelism", .type = YF_INT, .offset = offsetof(struct spec_update, parallelism), .min = 0, \
	 .max = SPEC_COUNT_MAX, .def = "1", .doc = "instances at a time; 0: all"},                            \
	{.key = "delay", .type = YF_FUNC, .offset = offsetof(struct spec_update, delay), .def = "0s",         \
	 .fn = spec__f_duration, .doc = "wait between groups"},                                                     \
	{.key = "failure_action", .type = YF_ENUM, .offset = offsetof(struct spec_update, failure_action),    \
	 .def = "pause", .names = actions, .doc = action_doc},                                                \
	{.key = "monitor", .type = YF_FUNC, .offset = offsetof(struct spec_update, monitor), .def = "5s",     \
	 .fn = spec__f_duration, .doc = "watch each updated instance this long for a failure"},                     \
	{.key = "max_failure_ratio", .type = YF_FUNC, .offset = offsetof(struct spec_update, max_failure_ratio), \
	 .def = "0", .fn = f_ratio, .doc = "failures tolerated, 0..1"},                                       \
	{.key = "order", .type = YF_ENUM, .offset = offsetof(struct spec_update, order), .def = "stop-first", \
	 .names = orders, .doc = "stop-first or start-first"},                                                \
	{.key = "x-*", .type = YF_IGNORE},                                                                    \
	{NULL}

static const struct yaml_field update_fields[] = {
	UPDATE_FIELDS(update_actions, "pause, continue or rollback"),
};
static const struct yaml_field rollback_fields[] = {
	UPDATE_FIELDS(rollback_actions, "pause or continue"),
};

static const struct yaml_field limits_fields[] = {
	{.key = "cpus", .type = YF_FUNC, .offset = offsetof(struct spec_resources, cpus), .fn = f_cpus,
	 .doc = "cores, e.g. 0.5"},
	{.key = "memory", .type = YF_FUNC, .offset = offsetof(struct spec_resources, memory), .fn = spec__f_bytes,
	 .doc = "bytes, e.g. 512M"},
	{.key = "pids", .type = YF_INT, .offset = offsetof(struct spec_resources, pids), .min = 0,
	 .max = SPEC_COUNT_MAX, .doc = "processes"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct yaml_field reservations_fields[] = {
	{.key = "cpus", .type = YF_FUNC, .offset = offsetof(struct spec_resources, cpus), .fn = f_cpus,
	 .doc = "cores, e.g. 0.5"},
	{.key = "memory", .type = YF_FUNC, .offset = offsetof(struct spec_resources, memory), .fn = spec__f_bytes,
	 .doc = "bytes, e.g. 512M"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct spec__unsup reservations_unsup[] = {
	{"generic_resources", SPEC_UNSUPPORTED, NULL},
	{"devices", SPEC_UNSUPPORTED, NULL},
	{NULL, 0, NULL},
};

static int f_limits(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, limits_fields, NULL, field);
}

static int f_reservations(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, reservations_fields, reservations_unsup, field);
}

static const struct yaml_field resources_fields[] = {
	{.key = "limits", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, limits), .fn = f_limits,
	 .doc = "upper bounds (cgroups, docker)"},
	{.key = "reservations", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, reservations),
	 .fn = f_reservations, .doc = "what placement must find free on a node"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static int f_spread(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_placement *pl = field;

	spec__argv_free(pl->preferences, pl->npreferences);
	pl->preferences = NULL;
	pl->npreferences = 0;
	if (yaml_is_null(n))
		return 0;
	if (n->kind != YAML_SEQ)
		return spec__expected(L, n, "a list of {spread: LABEL}");
	pl->preferences = XNEWV(char *, (size_t)n->nitems + 1);
	for (int i = 0; i < n->nitems; i++) {
		const struct yaml_node *it = n->items[i], *sp = yaml_map_get(it, "spread");
		size_t mark = yaml_path_push_index(&L->y, i);
		int rc;
		if (it->kind != YAML_MAP || it->npairs != 1 || !sp)
			rc = spec__expected(L, it, "{spread: LABEL}, e.g. {spread: node.labels.zone}");
		else
			rc = spec__get_str(L, sp, &pl->preferences[pl->npreferences]);
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
		pl->npreferences++;
	}
	return 0;
}

static const struct yaml_field placement_fields[] = {
	{.key = "constraints", .type = YF_FUNC, .offset = 0, .fn = f_constraints,
	 .doc = "node conditions, e.g. node.labels.zone == a"},
	{.key = "preferences", .type = YF_FUNC, .offset = 0, .fn = f_spread,
	 .doc = "spread instances over a node label's values"},
	{.key = "max_replicas_per_node", .type = YF_INT,
	 .offset = offsetof(struct spec_placement, max_replicas_per_node), .min = 0, .max = SPEC_MAX_REPLICAS,
	 .def = "0", .doc = "0: no limit"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static int f_rp(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec_restart_policy *rp = field;

	rp->set = true;
	return spec__apply(spec__L(y), n, rp_fields, NULL, rp);
}

static int f_update(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, update_fields, NULL, field);
}

static int f_rollback(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, rollback_fields, NULL, field);
}

static int f_resources(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, resources_fields, NULL, field);
}

static int f_placement(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, placement_fields, NULL, field);
}

static int f_deploy_labels(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec_deploy *d = field;

	return spec__parse_labels(spec__L(y), n, &d->labels, &d->nlabels);
}

static int f_replicas(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	long long v;

	if (spec__get_int(L, n, 0, SPEC_MAX_REPLICAS, &v) < 0)
		return -1;
	*(int *)field = (int)v;
	L->cur->replicas_at = n;
	return 0;
}

static int f_mode(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	int v;

	L->y.file = spec__file_of(n);
	if (yaml_get_enum(&L->y, n, deploy_modes, &v) < 0)
		return -1;
	*(enum spec_deploy_mode *)field = v;
	L->cur->mode_at = n;
	return 0;
}

static const struct yaml_field deploy_fields[] = {
	{.key = "mode", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, mode), .def = "replicated",
	 .fn = f_mode, .doc = "replicated (replicas instances) or global (one per node)"},
	{.key = "replicas", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, replicas), .def = "1",
	 .fn = f_replicas, .doc = "instances of a replicated service"},
	{.key = "endpoint_mode", .type = YF_ENUM, .offset = offsetof(struct spec_deploy, endpoint_mode),
	 .def = "vip", .names = endpoint_modes, .doc = "vip or dnsrr, recorded"},
	{.key = "labels", .type = YF_FUNC, .offset = 0, .fn = f_deploy_labels, .doc = "service labels"},
	{.key = "restart_policy", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, restart_policy),
	 .fn = f_rp, .doc = "overrides restart: when given"},
	{.key = "resources", .type = YF_FUNC, .offset = 0, .fn = f_resources, .doc = "limits and reservations"},
	{.key = "update_config", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, update_config),
	 .fn = f_update, .doc = "rolling updates"},
	{.key = "rollback_config", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, rollback_config),
	 .fn = f_rollback, .doc = "rollbacks"},
	{.key = "placement", .type = YF_FUNC, .offset = offsetof(struct spec_deploy, placement),
	 .fn = f_placement, .doc = "constraints and preferences"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

int spec__f_deploy(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, deploy_fields, NULL, &PSVC(field)->s.deploy);
}

void spec__deploy_defaults(struct spec_deploy *d)
{
	yaml_fields_defaults(deploy_fields, d);
	d->replicas = -1; /* "not given" until validate.c resolves it */
	d->mode = SPEC_MODE_REPLICATED;
	yaml_fields_defaults(rp_fields, &d->restart_policy);
	yaml_fields_defaults(update_fields, &d->update_config);
	yaml_fields_defaults(rollback_fields, &d->rollback_config);
	/* YF_FUNC defaults are documentation only */
	d->update_config.monitor = d->rollback_config.monitor = 5000;
	yaml_fields_defaults(placement_fields, &d->placement);
}
