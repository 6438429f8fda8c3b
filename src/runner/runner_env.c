/* An instance's host ports, runtime variables and environment (see
 * runner-int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/buf.h"
#include "catalog/catalog.h"
#include "core/mem.h"
#include "runner/runner-int.h"

/* Variables of the agent's own environment an instance inherits when its
 * service does not set them: enough for a host program to find its tools. */
static const char *const inherited_env[] = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR"};

void runner__release_ports(struct rinst *in)
{
	for (int i = 0; i < in->nports; i++)
		ports_release(&in->r->ports, in->ports[i].host);
	free(in->ports);
	in->ports = NULL;
	in->nports = 0;
}

bool runner__save_ports(struct rinst *in)
{
	char *path = xasprintf("%s/ports.json", in->dir);
	json_t *a = json_array();

	for (int i = 0; i < in->nports; i++)
		json_array_append_new(a, json_pack("{s:i, s:i, s:b, s:s}", "target", in->ports[i].target, "host",
						   in->ports[i].host, "fixed", in->ports[i].fixed, "protocol",
						   in->ports[i].proto == SPEC_PROTO_UDP ? "udp" : "tcp"));
	int rc = runner__write_json_file(path, a);
	json_decref(a);
	free(path);
	return rc == 0;
}

void runner__load_ports(struct rinst *in)
{
	char *path = xasprintf("%s/ports.json", in->dir);
	json_t *a = runner__read_json_file(path);
	size_t i;
	json_t *v;

	free(path);
	if (!json_is_array(a)) {
		json_decref(a);
		return;
	}
	in->ports = XNEWV(struct rport, json_array_size(a) + 1);
	json_array_foreach(a, i, v) {
		struct rport *p = &in->ports[in->nports++];
		p->target = (int)json_integer_value(json_object_get(v, "target"));
		p->host = (int)json_integer_value(json_object_get(v, "host"));
		p->fixed = json_is_true(json_object_get(v, "fixed"));
		p->proto = strcmp(json_string_value(json_object_get(v, "protocol")) ?: "tcp", "udp") == 0
				   ? SPEC_PROTO_UDP
				   : SPEC_PROTO_TCP;
		ports_mark(&in->r->ports, p->host);
	}
	json_decref(a);
}

/* Gives the instance its host ports: one per declared port (the fixed one
 * when published, else one from the range), or a single PORT when the
 * service declares none. Kept for the instance's life, so a restart keeps
 * its address. Returns NULL, or why not. */
const char *runner__assign_ports(struct rinst *in, const struct spec_service *svc, char *why, size_t cap)
{
	struct ports *pp = &in->r->ports;
	/* A process with no ports still gets a PORT to listen on; a
	 * container listens where its image says, and publishes only what
	 * the service declares. */
	int n = svc->nports ? svc->nports : in->container ? 0 : 1;

	/* Kept while the ports asked for are the same ones: same target,
	 * protocol, and a fixed port still the one published (a port from
	 * the range stays the instance's across restarts). */
	bool same = in->nports == n;
	for (int i = 0; same && i < n; i++) {
		const struct spec_port *sp = svc->nports ? &svc->ports[i] : NULL;
		const struct rport *p = &in->ports[i];
		same = p->target == (sp ? sp->target : 0) && p->proto == (sp ? sp->protocol : SPEC_PROTO_TCP);
		if (same && sp && sp->published && !sp->published_end)
			same = p->fixed && p->host == sp->published;
		else if (same && sp && sp->published)
			same = p->fixed && p->host >= sp->published && p->host <= sp->published_end;
		else if (same)
			same = !p->fixed;
	}
	if (same)
		return NULL;
	runner__release_ports(in);
	in->ports = XNEWV(struct rport, (size_t)n);
	for (int i = 0; i < n; i++) {
		const struct spec_port *sp = svc->nports ? &svc->ports[i] : NULL;
		struct rport *p = &in->ports[in->nports];
		p->target = sp ? sp->target : 0;
		p->proto = sp ? sp->protocol : SPEC_PROTO_TCP;
		if (sp && sp->published && !sp->published_end) {
			if (!ports_take_fixed(pp, sp->published)) {
				snprintf(why, cap, "host port %d is already in use on node %s%s", sp->published,
					 in->r->node, ports_in_use_here(pp, sp->published) ? " by another instance" : "");
				runner__release_ports(in);
				return why;
			}
			p->host = sp->published;
			p->fixed = true;
		} else if (sp && sp->published) {
			int got = -1;
			for (int port = sp->published; port <= sp->published_end && got < 0; port++)
				if (ports_take_fixed(pp, port))
					got = port;
			if (got < 0) {
				snprintf(why, cap, "no free host port in %d-%d on node %s", sp->published,
					 sp->published_end, in->r->node);
				runner__release_ports(in);
				return why;
			}
			p->host = got;
			p->fixed = true;
		} else {
			p->host = ports_take_any(pp);
			if (p->host < 0) {
				snprintf(why, cap, "the port range %d-%d of node %s is exhausted", pp->min, pp->max,
					 in->r->node);
				runner__release_ports(in);
				return why;
			}
		}
		in->nports++;
	}
	runner__save_ports(in);
	return NULL;
}

/* The value of a runtime variable (PORT, PORT_<target>) or NULL. */
static const char *runtime_var(const struct rinst *in, const char *name, size_t len, char *buf, size_t cap)
{
	/* ${PORT:-8080} and ${PORT-8080}: the loader keeps them whole for us;
	 * the default applies when the instance has no such port. */
	const char *dash = memchr(name, '-', len);
	if (dash && dash > name && (dash[-1] == ':' || (dash - name) >= 4)) {
		size_t nl = (size_t)(dash - name) - (dash[-1] == ':');
		const char *v = runtime_var(in, name, nl, buf, cap);
		if (v)
			return v;
		size_t dl = len - (size_t)(dash + 1 - name);
		if (dl >= cap)
			dl = cap - 1;
		memcpy(buf, dash + 1, dl);
		buf[dl] = 0;
		return buf;
	}
	if (len == 4 && memcmp(name, "PORT", 4) == 0 && in->nports) {
		/* In a container, PORT is where the program listens: the
		 * container port, which the engine publishes on the host one. */
		snprintf(buf, cap, "%d", in->container && in->ports[0].target ? in->ports[0].target : in->ports[0].host);
		return buf;
	}
	if (len > 5 && memcmp(name, "PORT_", 5) == 0) {
		for (int i = 0; i < in->nports; i++) {
			char t[16];
			int tl = snprintf(t, sizeof(t), "%d", in->ports[i].target);
			if ((size_t)tl == len - 5 && memcmp(name + 5, t, (size_t)tl) == 0) {
				snprintf(buf, cap, "%d", in->ports[i].host);
				return buf;
			}
		}
	}
	return NULL;
}

/* Replaces ${PORT}, $PORT and ${PORT_<n>} in <s>; anything else is kept
 * as written (the loader already interpolated the rest). */
/* ${endpoints:SVC[:TAG]}: every healthy endpoint of SVC in the instance's
 * stack as "addr:port,addr:port" (by index); ${endpoint:SVC[:TAG]}: the
 * first of them. Nothing healthy: the empty string. Resolved once, when the
 * instance starts: live changes reach running instances through on_change
 * hooks. Returns false when <name> is not of that form. */
static bool endpoints_var(const struct rinst *in, const char *name, size_t len, struct buf *out)
{
	bool all;
	size_t skip;
	char svc[128], tag[128];

	if (len > 10 && memcmp(name, "endpoints:", 10) == 0) {
		all = true;
		skip = 10;
	} else if (len > 9 && memcmp(name, "endpoint:", 9) == 0) {
		all = false;
		skip = 9;
	} else {
		return false;
	}
	const char *rest = name + skip, *colon = memchr(rest, ':', len - skip);
	size_t sl = colon ? (size_t)(colon - rest) : len - skip;
	size_t tl = colon ? len - skip - sl - 1 : 0;
	if (!sl || sl >= sizeof(svc) || tl >= sizeof(tag))
		return false;
	memcpy(svc, rest, sl);
	svc[sl] = 0;
	if (colon)
		memcpy(tag, colon + 1, tl);
	tag[tl] = 0;
	struct catalog *cat = in->r->o.catalog;
	if (!cat)
		return true;
	int n = catalog_select(cat, in->stack, svc, tl ? tag : NULL, 0, true, NULL, 0);
	const struct catalog_endpoint **eps = XNEWV(const struct catalog_endpoint *, (size_t)n + 1);
	catalog_select(cat, in->stack, svc, tl ? tag : NULL, 0, true, eps, n);
	for (int i = 0; i < n && (all || i < 1); i++) {
		char one[300];
		bool v6 = strchr(eps[i]->addr ? eps[i]->addr : "", ':') != NULL;
		snprintf(one, sizeof(one), "%s%s%s%s:%d", i ? "," : "", v6 ? "[" : "", eps[i]->addr ? eps[i]->addr : "",
			 v6 ? "]" : "", eps[i]->port);
		buf_appends(out, one);
	}
	free(eps);
	return true;
}

char *runner__expand(const struct rinst *in, const char *s)
{
	struct buf b = {0};
	char val[32];

	for (const char *p = s; *p;) {
		if (*p == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			if (end && endpoints_var(in, p + 2, (size_t)(end - p - 2), &b)) {
				p = end + 1;
				continue;
			}
			const char *v = end ? runtime_var(in, p + 2, (size_t)(end - p - 2), val, sizeof(val)) : NULL;
			if (v) {
				buf_appends(&b, v);
				p = end + 1;
				continue;
			}
		} else if (*p == '$' && (p[1] == 'P')) {
			size_t n = 1;
			while (p[n] == '_' || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9'))
				n++;
			const char *v = runtime_var(in, p + 1, n - 1, val, sizeof(val));
			if (v) {
				buf_appends(&b, v);
				p += n;
				continue;
			}
		}
		buf_append(&b, p, 1);
		p++;
	}
	buf_append(&b, "", 1);
	char *out = xstrdup(buf_ptr(&b));
	buf_free(&b);
	return out;
}

static bool env_has(const struct strv *env, const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
			return true;
	return false;
}

/* What the service did not set itself: the agent's own value of each
 * inherited variable, and a default PATH. */
static void add_host_env(struct strv *env)
{
	for (size_t i = 0; i < sizeof(inherited_env) / sizeof(inherited_env[0]); i++) {
		const char *v = getenv(inherited_env[i]);
		if (v && !env_has(env, inherited_env[i]))
			runner__strv_add(env, xasprintf("%s=%s", inherited_env[i], v));
	}
	if (!env_has(env, "PATH"))
		runner__strv_add(env, xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
}

void runner__build_env(const struct rinst *in, const struct spec_service *svc, struct strv *env)
{
	char buf[64];

	for (int i = 0; i < svc->nenvironment; i++)
		runner__strv_add(env, runner__expand(in, svc->environment[i]));
	if (in->nports && !env_has(env, "PORT"))
		runner__strv_add(env, xasprintf("PORT=%d", in->container && in->ports[0].target ? in->ports[0].target
												 : in->ports[0].host));
	for (int i = 0; i < in->nports; i++) {
		if (!in->ports[i].target)
			continue;
		snprintf(buf, sizeof(buf), "PORT_%d", in->ports[i].target);
		if (!env_has(env, buf))
			runner__strv_add(env, xasprintf("%s=%d", buf, in->ports[i].host));
	}
	runner__strv_add(env, xasprintf("BERTH_STACK=%s", in->stack));
	runner__strv_add(env, xasprintf("BERTH_SERVICE=%s", in->service));
	runner__strv_add(env, xasprintf("BERTH_INDEX=%d", in->index));
	runner__strv_add(env, xasprintf("BERTH_INSTANCE=%s.%d", in->service, in->index));
	runner__strv_add(env, xasprintf("BERTH_NODE=%s", in->r->node));
	runner__strv_add(env, xasprintf("BERTH_ADDR=%s", in->r->addr));
	if (!in->container)
		add_host_env(env);
}

/* Host paths of bind mounts: the process driver does not mount anything
 * (the program sees the host's file system), but makes sure they exist. */
void runner__ensure_bind_paths(const struct spec_service *svc)
{
	for (int i = 0; i < svc->nvolumes; i++) {
		const struct spec_volume *v = &svc->volumes[i];
		if (v->type == SPEC_VOL_BIND && v->source && v->create_host_path && access(v->source, F_OK) < 0)
			fs_mkdir_p(v->source, 0755);
	}
}

void runner__service_env(const struct spec_service *svc, struct strv *env)
{
	for (int i = 0; i < svc->nenvironment; i++)
		runner__strv_add(env, xstrdup(svc->environment[i]));
	add_host_env(env);
}
