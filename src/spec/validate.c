/* After the merge: profiles, replicas, environment, then what spans services (dependencies, host ports, volumes). */
#include "spec/spec-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "health/health.h"

/* ---- messages outside the walk ---- */

/* Sets the key path of a message to services.<svc>[.<key>[<index>]]. */
static void path_set(struct spec__loader *L, const char *svc, const char *key, const char *sub, int index)
{
	yaml_path_pop(&L->y, 0);
	yaml_path_push_key(&L->y, "services");
	yaml_path_push_key(&L->y, svc);
	if (key)
		yaml_path_push_key(&L->y, key);
	if (sub)
		yaml_path_push_key(&L->y, sub);
	if (index >= 0)
		yaml_path_push_index(&L->y, index);
}

static const char *pos(const struct yaml_node *n, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%d:%d", spec__file_of(n), n->line, n->col);
	return buf;
}

/* Index of item <it> in the service's merged list <key>, for the path. */
static int item_index(const struct spec__psvc *p, const char *key, const struct yaml_node *it)
{
	const struct yaml_node *seq = yaml_map_get(p->at, key);

	for (int i = 0; seq && seq->kind == YAML_SEQ && i < seq->nitems; i++)
		if (seq->items[i] == it)
			return i;
	return 0;
}

static struct spec__psvc *svc_find(struct spec__loader *L, const char *name)
{
	for (int i = 0; i < L->nsvcs; i++)
		if (strcmp(L->svcs[i].s.name, name) == 0)
			return &L->svcs[i];
	return NULL;
}

/* The node naming dependency <name> in <p>'s depends_on. */
static const struct yaml_node *dep_node(const struct spec__psvc *p, const char *name)
{
	const struct yaml_pair *pr = yaml_map_find(p->deps_at, name);

	return pr ? pr->key : p->deps_at ? p->deps_at : p->at;
}

/* ---- profiles ---- */

static bool profile_on(struct spec__loader *L, const char *name)
{
	const char *env = spec__lookup(L, "COMPOSE_PROFILES");

	for (int i = 0; i < L->o->nprofiles; i++)
		if (strcmp(L->o->profiles[i], "*") == 0 || strcmp(L->o->profiles[i], name) == 0)
			return true;
	/* COMPOSE_PROFILES=a,b */
	for (const char *p = env; p && *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		while (n && *p == ' ')
			p++, n--;
		while (n && p[n - 1] == ' ')
			n--;
		if ((n == 1 && *p == '*') || (n == strlen(name) && strncmp(p, name, n) == 0))
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

static void apply_profiles(struct spec__loader *L)
{
	for (int i = 0; i < L->nsvcs; i++) {
		struct spec__psvc *p = &L->svcs[i];
		p->enabled = p->s.nprofiles == 0;
		for (int k = 0; k < p->s.nprofiles && !p->enabled; k++)
			p->enabled = profile_on(L, p->s.profiles[k]);
	}
}

/* ---- one service ---- */

static int check_runnable(struct spec__loader *L, struct spec__psvc *p)
{
	struct spec_service *s = &p->s;

	if (s->image || s->build || s->ncommand)
		return 0;
	path_set(L, s->name, NULL, NULL, -1);
	return spec__err(L, p->key, "needs \"image\", \"build\" or \"command\" (what would berth run?)");
}

static int resolve_replicas(struct spec__loader *L, struct spec__psvc *p)
{
	struct spec_deploy *d = &p->s.deploy;
	char where[300];

	if (d->mode == SPEC_MODE_GLOBAL) {
		if (d->replicas >= 0) {
			path_set(L, p->s.name, "deploy", "replicas", -1);
			return spec__err(L, p->replicas_at, "a global service runs one instance per node; "
							    "replicas cannot be set with deploy.mode: global (%s)",
					 pos(p->mode_at, where, sizeof(where)));
		}
		if (p->scale >= 0) {
			path_set(L, p->s.name, "scale", NULL, -1);
			return spec__err(L, p->scale_at, "a global service runs one instance per node; "
							 "scale cannot be set with deploy.mode: global (%s)",
					 pos(p->mode_at, where, sizeof(where)));
		}
		if (p->rancher_scale >= 0) {
			path_set(L, p->s.name, "scale", NULL, -1);
			spec__warn(L, p->rancher_scale_at, "ignored: the service is global (deploy.mode at %s)",
				   pos(p->mode_at, where, sizeof(where)));
		}
		d->replicas = 0;
		return 0;
	}
	if (d->replicas >= 0 && p->scale >= 0 && d->replicas != p->scale) {
		path_set(L, p->s.name, "scale", NULL, -1);
		return spec__err(L, p->scale_at, "scale: %d conflicts with deploy.replicas: %d (%s); set only one",
				 p->scale, d->replicas, pos(p->replicas_at, where, sizeof(where)));
	}
	if (d->replicas < 0)
		d->replicas = p->scale >= 0 ? p->scale : 1;
	/* rancher-compose.yml's scale is the deployment's word over the compose file's */
	if (p->rancher_scale >= 0)
		d->replicas = p->rancher_scale;
	return 0;
}

/* "KEY=VALUE" strings by KEY: comparing whole strings would put "A-=1"
 * before "A=1" although "A" < "A-". */
static int env_key_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
	int c = strncmp(x, y, nx < ny ? nx : ny);

	return c ? c : (nx > ny) - (nx < ny);
}

static int volume_decl_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_volume_decl *)a)->key, ((const struct spec_volume_decl *)b)->key);
}

static const char *envfile_lookup(void *ctx, const char *name)
{
	return spec__lookup(ctx, name);
}

static int build_environment(struct spec__loader *L, struct spec__psvc *p)
{
	struct spec__interp ip = {envfile_lookup, NULL, L};
	struct spec_service *s = &p->s;
	struct spec__env e = {0};
	int rc = -1;

	for (int i = 0; i < p->nenv_files; i++) {
		const struct spec__envfile *ef = &p->env_files[i];
		char *path = spec__path_resolve(L->st->project_dir, ef->path), *buf = NULL, *why = NULL;
		size_t len = 0;
		int line = 0;

		if (spec__read_small(path, SPEC_ENV_MAX, &buf, &len, &why) < 0) {
			if (!ef->required) {
				free(path);
				free(why);
				continue;
			}
			path_set(L, s->name, "env_file", NULL, item_index(p, "env_file", ef->at));
			spec__err(L, ef->at, "%s: %s (set required: false to allow that)", path, why);
			free(path);
			free(why);
			goto out;
		}
		if (spec__dotenv_parse(buf, len, &ip, &e, &line, &why) < 0) {
			if (!L->y.err)
				L->y.err = xasprintf("%s:%d:1: %s (env_file of services.%s)", path, line, why, s->name);
			free(why);
			free(buf);
			free(path);
			goto out;
		}
		free(buf);
		free(path);
	}
	/* environment: wins over env_file; a bare KEY takes the variable as
	 * interpolation sees it, and when unset sets nothing (an env_file
	 * value, if any, stays). */
	for (int i = 0; i < p->env.n; i++) {
		const char *v = p->env.vals[i] ? p->env.vals[i] : spec__lookup(L, p->env.keys[i]);
		if (v)
			spec__env_set(&e, p->env.keys[i], v);
	}
	s->environment = XNEWV(char *, (size_t)e.n + 1);
	for (int i = 0; i < e.n; i++)
		if (e.vals[i])
			s->environment[s->nenvironment++] = xasprintf("%s=%s", e.keys[i], e.vals[i]);
	spec__sort(s->environment, (size_t)s->nenvironment, sizeof(char *), env_key_cmp);
	rc = 0;
out:
	spec__env_free(&e);
	return rc;
}

/* ---- across services ---- */

static bool has_check(const struct spec__psvc *q)
{
	const struct spec_healthcheck *h = q->s.healthcheck;
	bool off = false;

	/* x-berth.check: false turns the others off; with a kind it is one */
	if (health_xcheck_kind(q->s.x_berth ? json_object_get(q->s.x_berth, "check") : NULL, &off) !=
	    HEALTH_KIND_NONE)
		return true;
	if (off)
		return false;
	if (q->s.health_check)
		return true;
	if (h && h->type != SPEC_HC_NONE && h->type != SPEC_HC_INHERIT)
		return true;
	/* INHERIT with an image: the image may have a HEALTHCHECK of its own */
	return (!h || h->type == SPEC_HC_INHERIT) && q->s.image;
}

static int check_deps(struct spec__loader *L, struct spec__psvc *p)
{
	struct spec_service *s = &p->s;

	for (int i = 0; i < s->ndepends_on; i++) {
		struct spec_dep *d = &s->depends_on[i];
		struct spec__psvc *q = svc_find(L, d->service);
		const struct yaml_node *at = dep_node(p, d->service);
		const char *bad = NULL;
		char profiles[256] = "";

		path_set(L, s->name, "depends_on", d->service, -1);
		if (q == p)
			return spec__err(L, at, "a service cannot depend on itself");
		if (!q)
			bad = "no such service in the stack";
		else if (!q->enabled) {
			size_t o = 0;
			for (int k = 0; k < q->s.nprofiles && o < sizeof(profiles); k++)
				o += (size_t)snprintf(profiles + o, sizeof(profiles) - o, "%s%s", k ? ", " : "",
						      q->s.profiles[k]);
			bad = "its profiles are not enabled";
		}
		if (bad && d->required) {
			if (q)
				return spec__err(L, at, "service \"%s\" is not in the stack: none of its profiles "
							"(%s) is enabled; enable one with --profile or "
							"COMPOSE_PROFILES",
						 d->service, profiles);
			return spec__err(L, at, "service \"%s\": %s", d->service, bad);
		}
		if (bad) {
			/* required: false: compose ignores it, berth says so */
			spec__warn(L, at, "service \"%s\": %s; ignored (required: false)", d->service, bad);
			free(d->service);
			memmove(d, d + 1, (size_t)(s->ndepends_on - i - 1) * sizeof(*d));
			s->ndepends_on--;
			i--;
			continue;
		}
		if (d->condition == SPEC_DEP_HEALTHY && !has_check(q))
			return spec__err(L, at, "condition service_healthy, but \"%s\" has no health check "
						"(healthcheck, x-berth.check or rancher-compose health_check), so it "
						"would never start",
					 d->service);
	}
	return 0;
}

/* Depth-first search for a cycle through depends_on; state 0 new, 1 on
 * the stack, 2 done. */
static int find_cycle(struct spec__loader *L, int u, int *state, int *stack, int depth)
{
	struct spec__psvc *p = &L->svcs[u];

	state[u] = 1;
	stack[depth] = u;
	for (int i = 0; i < p->s.ndepends_on; i++) {
		struct spec__psvc *q = svc_find(L, p->s.depends_on[i].service);
		int v = (int)(q - L->svcs);
		if (state[v] == 1) {
			char cyc[512];
			size_t o = 0;
			int from = depth;
			while (from > 0 && stack[from] != v)
				from--;
			for (int k = from; k <= depth && o < sizeof(cyc); k++)
				o += (size_t)snprintf(cyc + o, sizeof(cyc) - o, "%s -> ", L->svcs[stack[k]].s.name);
			if (o < sizeof(cyc))
				snprintf(cyc + o, sizeof(cyc) - o, "%s", q->s.name);
			path_set(L, p->s.name, "depends_on", q->s.name, -1);
			return spec__err(L, dep_node(p, q->s.name), "dependency cycle: %s", cyc);
		}
		if (state[v] == 0 && find_cycle(L, v, state, stack, depth + 1) < 0)
			return -1;
	}
	state[u] = 2;
	return 0;
}

static int check_cycles(struct spec__loader *L)
{
	int *state = XNEWV(int, (size_t)L->nsvcs + 1), *stack = XNEWV(int, (size_t)L->nsvcs + 1);
	int rc = 0;

	for (int i = 0; i < L->nsvcs && rc == 0; i++)
		if (L->svcs[i].enabled && state[i] == 0)
			rc = find_cycle(L, i, state, stack, 0);
	free(state);
	free(stack);
	return rc;
}

struct fixed_port {
	int port;
	enum spec_proto proto;
	const char *ip;
	int svc, idx;     /* L->svcs index, s.ports index */
};

static int fixed_cmp(const void *a, const void *b)
{
	const struct fixed_port *x = a, *y = b;

	if (x->proto != y->proto)
		return (int)x->proto - (int)y->proto;
	if (x->port != y->port)
		return x->port - y->port;
	if (x->svc != y->svc)
		return x->svc - y->svc;
	return x->idx - y->idx;
}

static bool is_any(const char *ip)
{
	return !ip || strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0;
}

static int check_ports(struct spec__loader *L)
{
	struct fixed_port *v = NULL;
	int n = 0, rc = 0, best = -1, best_prev = -1;
	char where[300];

	for (int i = 0; i < L->nsvcs; i++) {
		struct spec__psvc *p = &L->svcs[i];
		if (!p->enabled)
			continue;
		for (int k = 0; k < p->s.nports; k++) {
			const struct spec_port *pt = &p->s.ports[k];
			if (!pt->published || pt->published_end)
				continue;
			if (p->s.deploy.mode == SPEC_MODE_REPLICATED && p->s.deploy.replicas > 1) {
				path_set(L, p->s.name, "ports", NULL, item_index(p, "ports", p->port_at[k]));
				rc = spec__err(L, p->port_at[k],
					       "host port %d is fixed, but the service has %d replicas and berth "
					       "places them all on one node in this milestone, where only one "
					       "can bind it; leave the host port out (\"%d\") and berth picks one "
					       "per instance",
					       pt->published, p->s.deploy.replicas, pt->target);
				free(v);
				return rc;
			}
			v = xrealloc(v, (size_t)(n + 1) * sizeof(*v));
			v[n++] = (struct fixed_port){pt->published, pt->protocol, pt->host_ip, i, k};
		}
	}
	spec__sort(v, (size_t)n, sizeof(*v), fixed_cmp);
	/* Report the conflict whose later port comes first in file order. */
	for (int a = 0; a < n; a++) {
		for (int b = a + 1; b < n && v[b].proto == v[a].proto && v[b].port == v[a].port; b++) {
			if (!(is_any(v[a].ip) || is_any(v[b].ip) || strcmp(v[a].ip, v[b].ip) == 0))
				continue;
			if (best < 0 || fixed_cmp(&v[b], &v[best]) < 0) {
				best = b;
				best_prev = a;
			}
		}
	}
	if (best >= 0) {
		struct spec__psvc *p = &L->svcs[v[best].svc], *q = &L->svcs[v[best_prev].svc];
		const struct yaml_node *qat = q->port_at[v[best_prev].idx];
		char other[300];
		snprintf(other, sizeof(other), "services.%s.ports[%d]", q->s.name, item_index(q, "ports", qat));
		path_set(L, p->s.name, "ports", NULL, item_index(p, "ports", p->port_at[v[best].idx]));
		rc = spec__err(L, p->port_at[v[best].idx],
			       "host port %d/%s is already published by %s (%s); on a node only one "
			       "instance can bind it",
			       v[best].port, v[best].proto == SPEC_PROTO_UDP ? "udp" : "tcp", other,
			       pos(qat, where, sizeof(where)));
	}
	free(v);
	return rc;
}

static int check_volumes(struct spec__loader *L, struct spec__psvc *p)
{
	struct spec_stack *st = L->st;

	for (int i = 0; i < p->s.nvolumes; i++) {
		const struct spec_volume *v = &p->s.volumes[i];
		bool found = false;
		if (v->type != SPEC_VOL_VOLUME || !v->source)
			continue;
		for (int k = 0; k < st->nvolumes && !found; k++)
			found = strcmp(st->volumes[k].key, v->source) == 0;
		if (!found) {
			path_set(L, p->s.name, "volumes", NULL, item_index(p, "volumes", p->vol_at[i]));
			return spec__err(L, p->vol_at[i], "volume \"%s\" is not declared in the top-level volumes "
							  "(a host path starts with '/', '.' or '~')", v->source);
		}
	}
	return 0;
}

static int svc_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_service *)a)->name, ((const struct spec_service *)b)->name);
}

static int dep_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_dep *)a)->service, ((const struct spec_dep *)b)->service);
}

int spec__finish(struct spec__loader *L)
{
	struct spec_stack *st = L->st;

	apply_profiles(L);
	for (int i = 0; i < st->nvolumes; i++) {
		struct spec_volume_decl *d = &st->volumes[i];
		if (!d->name)
			d->name = d->external ? xstrdup(d->key) : xasprintf("%s_%s", st->name, d->key);
	}
	spec__sort(st->volumes, (size_t)st->nvolumes, sizeof(*st->volumes), volume_decl_cmp);
	for (int i = 0; i < L->nsvcs; i++) {
		struct spec__psvc *p = &L->svcs[i];
		if (!p->enabled)
			continue;
		if (check_runnable(L, p) < 0 || resolve_replicas(L, p) < 0 || build_environment(L, p) < 0 ||
		    check_volumes(L, p) < 0)
			return -1;
	}
	for (int i = 0; i < L->nsvcs; i++)
		if (L->svcs[i].enabled && check_deps(L, &L->svcs[i]) < 0)
			return -1;
	if (check_cycles(L) < 0 || check_ports(L) < 0)
		return -1;
	yaml_path_pop(&L->y, 0);

	st->services = XNEWV(struct spec_service, (size_t)L->nsvcs + 1);
	for (int i = 0; i < L->nsvcs; i++) {
		struct spec__psvc *p = &L->svcs[i];
		if (!p->enabled)
			continue;
		spec__sort(p->s.depends_on, (size_t)p->s.ndepends_on, sizeof(*p->s.depends_on), dep_cmp);
		st->services[st->nservices++] = p->s;
		memset(&p->s, 0, sizeof(p->s)); /* moved */
	}
	spec__sort(st->services, (size_t)st->nservices, sizeof(*st->services), svc_name_cmp);
	return 0;
}
