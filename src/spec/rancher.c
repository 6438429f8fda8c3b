/* rancher-compose.yml beside the compose file: per service scale, health_check and lb_config. */
#include "spec/spec-int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/*
 * Rancher 1.x kept what compose had no words for in a second file. Both of
 * its layouts are read: version 2 (version:, services:) and version 1 (the
 * services at the top level). Its durations are milliseconds, written bare
 * (interval: 2000), which core/yaml's durations read as such.
 */

#define DAY_MS (86400ULL * 1000)

static const struct yaml_enum strategies[] = {
	{"recreate", SPEC_RANCHER_RECREATE},
	{"none", SPEC_RANCHER_NONE},
	{"recreateOnQuorum", SPEC_RANCHER_RECREATE_ON_QUORUM},
	{NULL, 0},
};

/* request_line: '' means a TCP check, as in rancher. */
static int f_request_line(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	char **out = field;

	free(*out);
	*out = NULL;
	if (n->kind != YAML_SCALAR) {
		char got[64];
		return spec__err(spec__L(y), n, "expected a request line like \"GET /healthz HTTP/1.0\", got %s",
				 yaml_describe(n, got, sizeof(got)));
	}
	if (n->len)
		*out = xstrdup(n->text);
	return 0;
}

static const struct yaml_field check_fields[] = {
	{.key = "port", .type = YF_INT, .offset = offsetof(struct spec_rancher_check, port), .min = 1,
	 .max = 65535, .required = true, .doc = "container port to check"},
	{.key = "request_line", .type = YF_FUNC, .offset = offsetof(struct spec_rancher_check, request_line),
	 .fn = f_request_line, .doc = "HTTP request line; absent or '': TCP connect"},
	{.key = "interval", .type = YF_DURATION, .offset = offsetof(struct spec_rancher_check, interval),
	 .min = 1, .max = DAY_MS, .def = "2000", .doc = "ms between checks"},
	{.key = "response_timeout", .type = YF_DURATION,
	 .offset = offsetof(struct spec_rancher_check, response_timeout), .min = 1, .max = DAY_MS,
	 .def = "2000", .doc = "ms to wait for an answer"},
	{.key = "healthy_threshold", .type = YF_INT,
	 .offset = offsetof(struct spec_rancher_check, healthy_threshold),
	 .min = 1, .max = 1000, .def = "2", .doc = "successes to turn healthy"},
	{.key = "unhealthy_threshold", .type = YF_INT,
	 .offset = offsetof(struct spec_rancher_check, unhealthy_threshold), .min = 1, .max = 1000, .def = "3",
	 .doc = "failures to turn unhealthy"},
	{.key = "initializing_timeout", .type = YF_DURATION,
	 .offset = offsetof(struct spec_rancher_check, initializing_timeout), .min = 1, .max = DAY_MS,
	 .def = "60000", .doc = "ms a new instance has to turn healthy"},
	{.key = "reinitializing_timeout", .type = YF_DURATION,
	 .offset = offsetof(struct spec_rancher_check, reinitializing_timeout), .min = 1, .max = DAY_MS,
	 .def = "60000", .doc = "ms a restarted instance has"},
	{.key = "strategy", .type = YF_ENUM, .offset = offsetof(struct spec_rancher_check, strategy),
	 .def = "recreate", .names = strategies, .doc = "what to do with an unhealthy instance"},
	{.key = "recreate_on_quorum_size", .type = YF_INT,
	 .offset = offsetof(struct spec_rancher_check, recreate_on_quorum_size), .min = 1,
	 .max = SPEC_MAX_REPLICAS, .def = "1", .doc = "healthy instances needed to recreate one"},
	{NULL},
};

struct rrow {
	int scale;
	const struct yaml_node *scale_at;
	struct spec_rancher_check *check;
	json_t *lb;
};

static int f_rscale(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct rrow *r = field;
	long long v;

	if (spec__get_int(spec__L(y), n, 0, SPEC_MAX_REPLICAS, &v) < 0)
		return -1;
	r->scale = (int)v;
	r->scale_at = n;
	return 0;
}

static int f_check(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct rrow *r = field;

	if (!r->check)
		r->check = XNEW(struct spec_rancher_check);
	return spec__apply(spec__L(y), n, check_fields, NULL, r->check);
}

static int f_lb(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct rrow *r = field;
	char got[64];

	if (n->kind != YAML_MAP)
		return spec__err(spec__L(y), n, "expected a mapping (port_rules, stickiness_policy, config, ...), "
						"got %s", yaml_describe(n, got, sizeof(got)));
	json_decref(r->lb);
	r->lb = spec__node_to_json(n);
	return 0;
}

static const struct yaml_field rsvc_fields[] = {
	{.key = "scale", .type = YF_FUNC, .fn = f_rscale, .doc = "instances; overrides the compose file's"},
	{.key = "health_check", .type = YF_FUNC, .fn = f_check, .doc = "network health check"},
	{.key = "lb_config", .type = YF_FUNC, .fn = f_lb, .doc = "load balancer settings, kept as JSON"},
	{NULL},
};

static const struct spec__unsup rsvc_unsup[] = {
	{"upgrade_strategy", SPEC_UNSUPPORTED, "use deploy.update_config"},
	{"metadata", SPEC_UNSUPPORTED, NULL},
	{"retain_ip", SPEC_UNSUPPORTED, NULL},
	{"start_on_create", SPEC_UNSUPPORTED, NULL},
	{"drain_timeout_ms", SPEC_UNSUPPORTED, "use stop_grace_period"},
	{"load_balancer_config", SPEC_UNSUPPORTED, "use lb_config"},
	{"default_cert", SPEC_UNSUPPORTED, NULL},
	{"certs", SPEC_UNSUPPORTED, NULL},
	{"external_ips", SPEC_UNSUPPORTED, NULL},
	{"hostname", SPEC_UNSUPPORTED, NULL},
	{"disable_ipv6", SPEC_UNSUPPORTED, NULL},
	{"vcpu", SPEC_UNSUPPORTED, NULL},
	{"memory_mb", SPEC_UNSUPPORTED, NULL},
	{NULL, 0, NULL},
};

static int rservice(struct spec__loader *L, const struct yaml_node *key, const struct yaml_node *v)
{
	struct rrow r = {-1, NULL, NULL, NULL};
	struct spec__psvc *p = NULL;
	size_t mark = yaml_path_push_key(&L->y, key->text);
	int rc = spec__apply(L, v, rsvc_fields, rsvc_unsup, &r);

	for (int i = 0; rc == 0 && i < L->nsvcs && !p; i++)
		if (strcmp(L->svcs[i].s.name, key->text) == 0)
			p = &L->svcs[i];
	if (rc == 0 && !p) {
		spec__warn(L, key, "no such service in the compose files, ignored");
	} else if (rc == 0) {
		if (r.scale >= 0) {
			p->rancher_scale = r.scale;
			p->rancher_scale_at = r.scale_at;
		}
		if (r.check) {
			if (p->s.health_check) {
				free(p->s.health_check->request_line);
				free(p->s.health_check);
			}
			p->s.health_check = r.check;
			r.check = NULL;
		}
		if (r.lb) {
			json_decref(p->s.lb_config);
			p->s.lb_config = r.lb;
			r.lb = NULL;
		}
	}
	if (r.check)
		free(r.check->request_line);
	free(r.check);
	json_decref(r.lb);
	yaml_path_pop(&L->y, mark);
	return rc;
}

int spec__parse_rancher(struct spec__loader *L, const struct yaml_node *root)
{
	const struct yaml_node *svcs = root;
	char got[64];

	L->y.file = spec__file_of(root);
	if (yaml_is_null(root))
		return 0;
	if (root->kind != YAML_MAP)
		return spec__err(L, root, "expected a mapping of services, got %s",
				 yaml_describe(root, got, sizeof(got)));
	if (yaml_map_find(root, "services") || yaml_map_find(root, "version")) {
		/* version 2: only these two keys */
		for (int i = 0; i < root->npairs; i++) {
			const struct yaml_node *k = root->pairs[i].key;
			if (strcmp(k->text, "services") != 0 && strcmp(k->text, "version") != 0 &&
			    strncmp(k->text, "x-", 2) != 0)
				return spec__err(L, k, "unknown key \"%s\" (valid keys: version, services)", k->text);
		}
		svcs = yaml_map_get(root, "services");
		if (!svcs)
			return 0;
		yaml_path_push_key(&L->y, "services");
		if (svcs->kind != YAML_MAP && !yaml_is_null(svcs))
			return spec__err(L, svcs, "expected a mapping of services, got %s",
					 yaml_describe(svcs, got, sizeof(got)));
	}
	for (int i = 0; svcs->kind == YAML_MAP && i < svcs->npairs; i++) {
		const struct yaml_node *k = svcs->pairs[i].key;
		if (svcs == root && strncmp(k->text, "x-", 2) == 0)
			continue;
		if (rservice(L, k, svcs->pairs[i].value) < 0)
			return -1;
	}
	yaml_path_pop(&L->y, 0);
	return 0;
}
