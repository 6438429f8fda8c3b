/* The canonical JSON form of a stack (what the store keeps), both ways. */
#include "spec/spec-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

/*
 * One rule keeps the two directions exact inverses: spec_to_json() writes
 * every scalar field, and leaves out exactly what spec_from_json() reads
 * back as "absent" (NULL strings, empty lists, zero optional numbers). Key
 * order is fixed by the order of the calls below; jansson keeps insertion
 * order. Durations are compose strings ("1m30s"), sizes integers (bytes).
 */

/* ---- names of enum values, shared by both directions ---- */

static const struct yaml_enum protos[] = {{"tcp", SPEC_PROTO_TCP}, {"udp", SPEC_PROTO_UDP}, {NULL, 0}};
static const struct yaml_enum port_modes[] = {{"ingress", SPEC_PORT_INGRESS}, {"host", SPEC_PORT_HOST},
					      {NULL, 0}};
static const struct yaml_enum dep_conds[] = {{"service_started", SPEC_DEP_STARTED},
					     {"service_healthy", SPEC_DEP_HEALTHY},
					     {"service_completed_successfully", SPEC_DEP_COMPLETED},
					     {NULL, 0}};
static const struct yaml_enum vol_types[] = {{"bind", SPEC_VOL_BIND}, {"volume", SPEC_VOL_VOLUME},
					     {"tmpfs", SPEC_VOL_TMPFS}, {NULL, 0}};
static const struct yaml_enum modes[] = {{"replicated", SPEC_MODE_REPLICATED}, {"global", SPEC_MODE_GLOBAL},
					 {NULL, 0}};
static const struct yaml_enum endpoint_modes[] = {{"vip", SPEC_ENDPOINT_VIP}, {"dnsrr", SPEC_ENDPOINT_DNSRR},
						  {NULL, 0}};
static const struct yaml_enum rp_conds[] = {{"any", SPEC_RP_ANY}, {"on-failure", SPEC_RP_ON_FAILURE},
					    {"none", SPEC_RP_NONE}, {NULL, 0}};
static const struct yaml_enum actions[] = {{"pause", SPEC_FAIL_PAUSE}, {"continue", SPEC_FAIL_CONTINUE},
					   {"rollback", SPEC_FAIL_ROLLBACK}, {NULL, 0}};
static const struct yaml_enum orders[] = {{"stop-first", SPEC_ORDER_STOP_FIRST},
					  {"start-first", SPEC_ORDER_START_FIRST}, {NULL, 0}};
static const struct yaml_enum restarts[] = {{"no", SPEC_RESTART_NO}, {"always", SPEC_RESTART_ALWAYS},
					    {"on-failure", SPEC_RESTART_ON_FAILURE},
					    {"unless-stopped", SPEC_RESTART_UNLESS_STOPPED}, {NULL, 0}};
static const struct yaml_enum strategies[] = {{"recreate", SPEC_RANCHER_RECREATE},
					      {"none", SPEC_RANCHER_NONE},
					      {"recreateOnQuorum", SPEC_RANCHER_RECREATE_ON_QUORUM}, {NULL, 0}};

static const char *enum_name(const struct yaml_enum *names, int v)
{
	for (; names->name; names++)
		if (names->value == v)
			return names->name;
	BUG_ON(1); /* a value with no name is a bug in the tables above */
	return "";
}

/* ---- strings ---- */

json_t *spec__json_str(const char *s)
{
	json_t *j = json_string(s);
	size_t n = strlen(s), o = 0;
	char *fixed;

	if (j)
		return j;
	/* Not UTF-8 (from the environment, say): each byte of a broken
	 * sequence becomes U+FFFD, valid sequences stay. */
	fixed = xmalloc(n * 3 + 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		json_t *t = NULL;
		if (len && i + len <= n) {
			char tmp[5] = {0};
			memcpy(tmp, s + i, len);
			t = json_string(tmp);
		}
		if (t) {
			memcpy(fixed + o, s + i, len);
			o += len;
			i += len;
			json_decref(t);
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	fixed[o] = '\0';
	j = json_string(fixed);
	free(fixed);
	BUG_ON(!j);
	return j;
}

/* ---- to JSON ---- */

static void put(json_t *o, const char *k, json_t *v)
{
	json_object_set_new(o, k, v);
}

static void put_str(json_t *o, const char *k, const char *v)
{
	if (v)
		put(o, k, spec__json_str(v));
}

static void put_strv(json_t *o, const char *k, char *const *v, int n)
{
	json_t *a;

	if (!n)
		return;
	a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, spec__json_str(v[i]));
	put(o, k, a);
}

static void put_dur(json_t *o, const char *k, uint64_t ms)
{
	char buf[64];

	spec__duration_format(ms, buf, sizeof(buf));
	put(o, k, json_string(buf));
}

static void put_kv(json_t *o, const char *k, const struct spec_kv *kv, int n)
{
	json_t *m;

	if (!n)
		return;
	m = json_object();
	for (int i = 0; i < n; i++)
		put(m, kv[i].key, spec__json_str(kv[i].value));
	put(o, k, m);
}

static json_t *port_json(const struct spec_port *p)
{
	json_t *j = json_object();

	put(j, "target", json_integer(p->target));
	if (p->published)
		put(j, "published", json_integer(p->published));
	if (p->published_end)
		put(j, "published_end", json_integer(p->published_end));
	put_str(j, "host_ip", p->host_ip);
	put(j, "protocol", json_string(enum_name(protos, p->protocol)));
	put(j, "mode", json_string(enum_name(port_modes, p->mode)));
	put_str(j, "name", p->name);
	put_str(j, "app_protocol", p->app_protocol);
	return j;
}

static json_t *volume_json(const struct spec_volume *v)
{
	json_t *j = json_object(), *sub = json_object();

	put(j, "type", json_string(enum_name(vol_types, v->type)));
	put_str(j, "source", v->source);
	put_str(j, "target", v->target);
	put(j, "read_only", json_boolean(v->read_only));
	switch (v->type) {
	case SPEC_VOL_BIND:
		put(sub, "create_host_path", json_boolean(v->create_host_path));
		put_str(sub, "propagation", v->propagation);
		put_str(sub, "selinux", v->selinux);
		put(j, "bind", sub);
		break;
	case SPEC_VOL_VOLUME:
		put(sub, "nocopy", json_boolean(v->nocopy));
		put_str(sub, "subpath", v->subpath);
		put(j, "volume", sub);
		break;
	case SPEC_VOL_TMPFS:
		if (v->tmpfs_size)
			put(sub, "size", json_integer((json_int_t)v->tmpfs_size));
		if (v->tmpfs_mode)
			put(sub, "mode", json_integer(v->tmpfs_mode));
		put(j, "tmpfs", sub);
		break;
	}
	return j;
}

static json_t *hc_json(const struct spec_healthcheck *h)
{
	json_t *j = json_object(), *t;

	if (h->type != SPEC_HC_INHERIT) {
		t = json_array();
		json_array_append_new(t, json_string(h->type == SPEC_HC_CMD     ? "CMD"
						     : h->type == SPEC_HC_SHELL ? "CMD-SHELL"
										: "NONE"));
		for (int i = 0; i < h->ntest; i++)
			json_array_append_new(t, spec__json_str(h->test[i]));
		put(j, "test", t);
	}
	put_dur(j, "interval", h->interval);
	put_dur(j, "timeout", h->timeout);
	put(j, "retries", json_integer(h->retries));
	put_dur(j, "start_period", h->start_period);
	put_dur(j, "start_interval", h->start_interval);
	return j;
}

static json_t *resources_json(const struct spec_resources *r)
{
	json_t *j = json_object();

	if (r->cpus)
		put(j, "cpus", json_real(r->cpus));
	if (r->memory)
		put(j, "memory", json_integer((json_int_t)r->memory));
	if (r->pids)
		put(j, "pids", json_integer(r->pids));
	return j;
}

static json_t *update_json(const struct spec_update *u)
{
	json_t *j = json_object();

	put(j, "parallelism", json_integer(u->parallelism));
	put_dur(j, "delay", u->delay);
	put(j, "failure_action", json_string(enum_name(actions, u->failure_action)));
	put_dur(j, "monitor", u->monitor);
	put(j, "max_failure_ratio", json_real(u->max_failure_ratio));
	put(j, "order", json_string(enum_name(orders, u->order)));
	return j;
}

static json_t *deploy_json(const struct spec_deploy *d)
{
	json_t *j = json_object(), *res, *pl;
	const struct spec_placement *p = &d->placement;

	put(j, "mode", json_string(enum_name(modes, d->mode)));
	if (d->mode == SPEC_MODE_REPLICATED)
		put(j, "replicas", json_integer(d->replicas));
	put(j, "endpoint_mode", json_string(enum_name(endpoint_modes, d->endpoint_mode)));
	put_kv(j, "labels", d->labels, d->nlabels);
	if (d->restart_policy.set) {
		json_t *rp = json_object();
		put(rp, "condition", json_string(enum_name(rp_conds, d->restart_policy.condition)));
		put_dur(rp, "delay", d->restart_policy.delay);
		put(rp, "max_attempts", json_integer(d->restart_policy.max_attempts));
		put_dur(rp, "window", d->restart_policy.window);
		put(j, "restart_policy", rp);
	}
	res = json_object();
	if (d->limits.cpus || d->limits.memory || d->limits.pids)
		put(res, "limits", resources_json(&d->limits));
	if (d->reservations.cpus || d->reservations.memory || d->reservations.pids)
		put(res, "reservations", resources_json(&d->reservations));
	if (json_object_size(res))
		put(j, "resources", res);
	else
		json_decref(res);
	put(j, "update_config", update_json(&d->update_config));
	put(j, "rollback_config", update_json(&d->rollback_config));
	pl = json_object();
	put_strv(pl, "constraints", p->constraints, p->nconstraints);
	if (p->npreferences) {
		json_t *a = json_array();
		for (int i = 0; i < p->npreferences; i++)
			json_array_append_new(a, json_pack("{s:o}", "spread", spec__json_str(p->preferences[i])));
		put(pl, "preferences", a);
	}
	if (p->max_replicas_per_node)
		put(pl, "max_replicas_per_node", json_integer(p->max_replicas_per_node));
	if (json_object_size(pl))
		put(j, "placement", pl);
	else
		json_decref(pl);
	return j;
}

static json_t *rancher_json(const struct spec_rancher_check *c)
{
	json_t *j = json_object();

	put(j, "port", json_integer(c->port));
	put_str(j, "request_line", c->request_line);
	put(j, "interval", json_integer((json_int_t)c->interval));
	put(j, "response_timeout", json_integer((json_int_t)c->response_timeout));
	put(j, "healthy_threshold", json_integer(c->healthy_threshold));
	put(j, "unhealthy_threshold", json_integer(c->unhealthy_threshold));
	put(j, "initializing_timeout", json_integer((json_int_t)c->initializing_timeout));
	put(j, "reinitializing_timeout", json_integer((json_int_t)c->reinitializing_timeout));
	put(j, "strategy", json_string(enum_name(strategies, c->strategy)));
	put(j, "recreate_on_quorum_size", json_integer(c->recreate_on_quorum_size));
	return j;
}

static json_t *service_json(const struct spec_service *s)
{
	json_t *j = json_object();
	const char *sig = spec_signal_name(s->stop_signal);

	put_str(j, "image", s->image);
	if (s->build) {
		json_t *b = json_object();
		put_str(b, "context", s->build->context);
		put_str(b, "dockerfile", s->build->dockerfile);
		put_str(b, "target", s->build->target);
		put_kv(b, "args", s->build->args, s->build->nargs);
		put(j, "build", b);
	}
	put_strv(j, "entrypoint", s->entrypoint, s->nentrypoint);
	put_strv(j, "command", s->command, s->ncommand);
	put_str(j, "working_dir", s->working_dir);
	put_str(j, "user", s->user);
	put_strv(j, "environment", s->environment, s->nenvironment);
	put_kv(j, "labels", s->labels, s->nlabels);
	if (s->nports) {
		json_t *a = json_array();
		for (int i = 0; i < s->nports; i++)
			json_array_append_new(a, port_json(&s->ports[i]));
		put(j, "ports", a);
	}
	if (s->nexpose) {
		json_t *a = json_array();
		for (int i = 0; i < s->nexpose; i++)
			json_array_append_new(a, json_pack("{s:i,s:s}", "port", s->expose[i].port, "protocol",
							   enum_name(protos, s->expose[i].protocol)));
		put(j, "expose", a);
	}
	if (s->ndepends_on) {
		json_t *m = json_object();
		for (int i = 0; i < s->ndepends_on; i++) {
			const struct spec_dep *d = &s->depends_on[i];
			put(m, d->service, json_pack("{s:s,s:b,s:b}", "condition", enum_name(dep_conds, d->condition),
						     "restart", d->restart, "required", d->required));
		}
		put(j, "depends_on", m);
	}
	if (s->healthcheck)
		put(j, "healthcheck", hc_json(s->healthcheck));
	if (s->restart == SPEC_RESTART_ON_FAILURE && s->restart_max) {
		char buf[48];
		snprintf(buf, sizeof(buf), "on-failure:%d", s->restart_max);
		put(j, "restart", json_string(buf));
	} else {
		put(j, "restart", json_string(enum_name(restarts, s->restart)));
	}
	put(j, "stop_signal", sig ? json_string(sig) : json_integer(s->stop_signal));
	put_dur(j, "stop_grace_period", s->stop_grace_period);
	if (s->init)
		put(j, "init", json_true());
	if (s->nvolumes) {
		json_t *a = json_array();
		for (int i = 0; i < s->nvolumes; i++)
			json_array_append_new(a, volume_json(&s->volumes[i]));
		put(j, "volumes", a);
	}
	put(j, "deploy", deploy_json(&s->deploy));
	put_strv(j, "profiles", s->profiles, s->nprofiles);
	if (s->health_check)
		put(j, "health_check", rancher_json(s->health_check));
	if (s->lb_config)
		put(j, "lb_config", json_deep_copy(s->lb_config));
	if (s->x_berth)
		put(j, "x-berth", json_deep_copy(s->x_berth));
	return j;
}

json_t *spec_to_json(const struct spec_stack *st)
{
	json_t *j = json_object(), *svcs = json_object();

	put_str(j, "name", st->name);
	put_str(j, "project_dir", st->project_dir);
	put_strv(j, "files", st->files, st->nfiles);
	for (int i = 0; i < st->nservices; i++)
		put(svcs, st->services[i].name, service_json(&st->services[i]));
	put(j, "services", svcs);
	if (st->x_berth)
		put(j, "x-berth", json_deep_copy(st->x_berth));
	if (st->nvolumes) {
		json_t *v = json_object();
		for (int i = 0; i < st->nvolumes; i++)
			put(v, st->volumes[i].key, json_pack("{s:o,s:b}", "name", spec__json_str(st->volumes[i].name),
							    "external", st->volumes[i].external));
		put(j, "volumes", v);
	}
	return j;
}

/* ---- from JSON ---- */

struct jr {
	char *err;          /* first error: "PATH: message" */
	size_t plen;
	char path[256];
};

static int jerr(struct jr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int jerr(struct jr *r, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (r->err)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	r->err = r->plen ? xasprintf("%s: %s", r->path, msg) : msg;
	if (r->plen)
		free(msg);
	return -1;
}

static size_t jpush(struct jr *r, const char *key)
{
	size_t mark = r->plen;
	int n = snprintf(r->path + r->plen, sizeof(r->path) - r->plen, "%s%s", r->plen ? "." : "", key);

	if (n > 0)
		r->plen = r->plen + (size_t)n < sizeof(r->path) ? r->plen + (size_t)n : sizeof(r->path) - 1;
	return mark;
}

static size_t jpush_i(struct jr *r, size_t i)
{
	size_t mark = r->plen;
	int n = snprintf(r->path + r->plen, sizeof(r->path) - r->plen, "[%zu]", i);

	if (n > 0)
		r->plen = r->plen + (size_t)n < sizeof(r->path) ? r->plen + (size_t)n : sizeof(r->path) - 1;
	return mark;
}

static void jpop(struct jr *r, size_t mark)
{
	r->plen = mark;
	r->path[mark] = '\0';
}

/* <o> must be an object holding only <keys> (NULL-terminated). */
static int j_obj(struct jr *r, const json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return jerr(r, "expected an object");
	json_object_foreach((json_t *)o, k, v) {
		int i = 0;
		while (keys[i] && strcmp(keys[i], k) != 0)
			i++;
		if (!keys[i]) {
			size_t m = jpush(r, k);
			jerr(r, "unknown key");
			jpop(r, m);
			return -1;
		}
	}
	return 0;
}

static int j_str(struct jr *r, const json_t *o, const char *k, char **out, bool required)
{
	json_t *v = json_object_get(o, k);
	size_t m;

	if (!v) {
		if (!required)
			return 0;
		m = jpush(r, k);
		jerr(r, "missing");
		jpop(r, m);
		return -1;
	}
	if (!json_is_string(v)) {
		m = jpush(r, k);
		jerr(r, "expected a string");
		jpop(r, m);
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int j_int(struct jr *r, const json_t *o, const char *k, long long min, long long max, long long *out)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		size_t m = jpush(r, k);
		jerr(r, "expected an integer %lld..%lld", min, max);
		jpop(r, m);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int j_i(struct jr *r, const json_t *o, const char *k, long long min, long long max, int *out)
{
	long long v = *out;
	int rc = j_int(r, o, k, min, max, &v);

	*out = (int)v;
	return rc;
}

static int j_u64(struct jr *r, const json_t *o, const char *k, uint64_t *out)
{
	long long v = (long long)*out;
	int rc = j_int(r, o, k, 0, INT64_MAX, &v);

	*out = (uint64_t)v;
	return rc;
}

static int j_bool(struct jr *r, const json_t *o, const char *k, bool *out)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		size_t m = jpush(r, k);
		jerr(r, "expected true or false");
		jpop(r, m);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int j_real(struct jr *r, const json_t *o, const char *k, double *out)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	if (!json_is_number(v)) {
		size_t m = jpush(r, k);
		jerr(r, "expected a number");
		jpop(r, m);
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

static int j_dur(struct jr *r, const json_t *o, const char *k, uint64_t *out)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	if (!json_is_string(v) || duration_parse_go(json_string_value(v), out) < 0) {
		size_t m = jpush(r, k);
		jerr(r, "expected a duration like \"1m30s\"");
		jpop(r, m);
		return -1;
	}
	return 0;
}

static int j_enum(struct jr *r, const json_t *o, const char *k, const struct yaml_enum *names, void *out)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	for (const struct yaml_enum *e = names; json_is_string(v) && e->name; e++) {
		if (strcmp(e->name, json_string_value(v)) == 0) {
			*(int *)out = e->value;
			return 0;
		}
	}
	size_t m = jpush(r, k);
	jerr(r, "expected one of the names of this field");
	jpop(r, m);
	return -1;
}

static int j_strv(struct jr *r, const json_t *o, const char *k, char ***out, int *n)
{
	json_t *v = json_object_get(o, k), *it;
	size_t i, m;

	if (!v)
		return 0;
	m = jpush(r, k);
	if (!json_is_array(v)) {
		jerr(r, "expected a list of strings");
		jpop(r, m);
		return -1;
	}
	*out = XNEWV(char *, json_array_size(v) + 1);
	json_array_foreach(v, i, it) {
		if (!json_is_string(it)) {
			jpush_i(r, i);
			jerr(r, "expected a string");
			jpop(r, m);
			return -1;
		}
		(*out)[(*n)++] = xstrdup(json_string_value(it));
	}
	jpop(r, m);
	return 0;
}

static int j_kv(struct jr *r, const json_t *o, const char *k, struct spec_kv **out, int *n)
{
	json_t *v = json_object_get(o, k), *val;
	const char *key;
	size_t m;

	if (!v)
		return 0;
	m = jpush(r, k);
	if (!json_is_object(v)) {
		jerr(r, "expected an object of strings");
		jpop(r, m);
		return -1;
	}
	*out = XNEWV(struct spec_kv, json_object_size(v) + 1);
	json_object_foreach(v, key, val) {
		if (!json_is_string(val)) {
			jpush(r, key);
			jerr(r, "expected a string");
			jpop(r, m);
			return -1;
		}
		(*out)[*n].key = xstrdup(key);
		(*out)[(*n)++].value = xstrdup(json_string_value(val));
	}
	jpop(r, m);
	return 0;
}

/* Runs <fn> on object <o>[<k>] with the path pushed; absent is fine. */
#define J_SUB(r, o, k, fn, ...)                                        \
	({                                                             \
		json_t *sub_ = json_object_get((o), (k));              \
		int rc_ = 0;                                           \
		if (sub_) {                                            \
			size_t m_ = jpush((r), (k));                   \
			rc_ = fn((r), sub_, __VA_ARGS__);              \
			jpop((r), m_);                                 \
		}                                                      \
		rc_;                                                   \
	})

static int port_from(struct jr *r, const json_t *o, struct spec_port *p)
{
	static const char *const keys[] = {"target", "published", "published_end", "host_ip", "protocol",
					   "mode", "name", "app_protocol", NULL};

	if (j_obj(r, o, keys) < 0 || j_i(r, o, "target", 1, 65535, &p->target) < 0 ||
	    j_i(r, o, "published", 0, 65535, &p->published) < 0 ||
	    j_i(r, o, "published_end", 0, 65535, &p->published_end) < 0 ||
	    j_str(r, o, "host_ip", &p->host_ip, false) < 0 || j_enum(r, o, "protocol", protos, &p->protocol) < 0 ||
	    j_enum(r, o, "mode", port_modes, &p->mode) < 0 || j_str(r, o, "name", &p->name, false) < 0 ||
	    j_str(r, o, "app_protocol", &p->app_protocol, false) < 0)
		return -1;
	if (!p->target)
		return jerr(r, "missing target");
	return 0;
}

static int vol_sub(struct jr *r, const json_t *o, struct spec_volume *v)
{
	static const char *const keys[] = {"create_host_path", "propagation", "selinux", "nocopy", "subpath",
					   "size", "mode", NULL};

	return j_obj(r, o, keys) < 0 || j_bool(r, o, "create_host_path", &v->create_host_path) < 0 ||
			       j_str(r, o, "propagation", &v->propagation, false) < 0 ||
			       j_str(r, o, "selinux", &v->selinux, false) < 0 ||
			       j_bool(r, o, "nocopy", &v->nocopy) < 0 || j_str(r, o, "subpath", &v->subpath, false) < 0 ||
			       j_u64(r, o, "size", &v->tmpfs_size) < 0 || j_i(r, o, "mode", 0, 07777, &v->tmpfs_mode) < 0
		       ? -1
		       : 0;
}

static int volume_from(struct jr *r, const json_t *o, struct spec_volume *v)
{
	static const char *const keys[] = {"type", "source", "target", "read_only", "bind", "volume", "tmpfs",
					   NULL};

	v->create_host_path = true;
	if (j_obj(r, o, keys) < 0 || j_enum(r, o, "type", vol_types, &v->type) < 0 ||
	    j_str(r, o, "source", &v->source, false) < 0 || j_str(r, o, "target", &v->target, true) < 0 ||
	    j_bool(r, o, "read_only", &v->read_only) < 0 || J_SUB(r, o, "bind", vol_sub, v) < 0 ||
	    J_SUB(r, o, "volume", vol_sub, v) < 0 || J_SUB(r, o, "tmpfs", vol_sub, v) < 0)
		return -1;
	return 0;
}

static int hc_from(struct jr *r, const json_t *o, struct spec_healthcheck **out)
{
	static const char *const keys[] = {"test", "interval", "timeout", "retries", "start_period",
					   "start_interval", NULL};
	struct spec_healthcheck *h = *out = XNEW(struct spec_healthcheck);
	char **test = NULL;
	int ntest = 0, rc = -1;

	h->interval = h->timeout = 30000;
	h->retries = 3;
	h->start_interval = 5000;
	if (j_obj(r, o, keys) < 0 || j_strv(r, o, "test", &test, &ntest) < 0 ||
	    j_dur(r, o, "interval", &h->interval) < 0 || j_dur(r, o, "timeout", &h->timeout) < 0 ||
	    j_i(r, o, "retries", 0, 1000000, &h->retries) < 0 || j_dur(r, o, "start_period", &h->start_period) < 0 ||
	    j_dur(r, o, "start_interval", &h->start_interval) < 0)
		goto out;
	if (ntest) {
		if (strcmp(test[0], "NONE") == 0 && ntest == 1)
			h->type = SPEC_HC_NONE;
		else if (strcmp(test[0], "CMD") == 0 && ntest >= 2)
			h->type = SPEC_HC_CMD;
		else if (strcmp(test[0], "CMD-SHELL") == 0 && ntest == 2)
			h->type = SPEC_HC_SHELL;
		else {
			jerr(r, "test: expected [\"CMD\", ...], [\"CMD-SHELL\", cmd] or [\"NONE\"]");
			goto out;
		}
		h->test = XNEWV(char *, (size_t)ntest);
		for (int i = 1; i < ntest; i++)
			h->test[h->ntest++] = xstrdup(test[i]);
	}
	rc = 0;
out:
	spec__argv_free(test, ntest);
	return rc;
}

static int res_from(struct jr *r, const json_t *o, struct spec_resources *res)
{
	static const char *const keys[] = {"cpus", "memory", "pids", NULL};

	return j_obj(r, o, keys) < 0 || j_real(r, o, "cpus", &res->cpus) < 0 ||
			       j_u64(r, o, "memory", &res->memory) < 0 || j_i(r, o, "pids", 0, 1000000, &res->pids) < 0
		       ? -1
		       : 0;
}

static int resources_from(struct jr *r, const json_t *o, struct spec_deploy *d)
{
	static const char *const keys[] = {"limits", "reservations", NULL};

	return j_obj(r, o, keys) < 0 || J_SUB(r, o, "limits", res_from, &d->limits) < 0 ||
			       J_SUB(r, o, "reservations", res_from, &d->reservations) < 0
		       ? -1
		       : 0;
}

static int update_from(struct jr *r, const json_t *o, struct spec_update *u)
{
	static const char *const keys[] = {"parallelism", "delay", "failure_action", "monitor",
					   "max_failure_ratio", "order", NULL};

	return j_obj(r, o, keys) < 0 || j_i(r, o, "parallelism", 0, 1000000, &u->parallelism) < 0 ||
			       j_dur(r, o, "delay", &u->delay) < 0 ||
			       j_enum(r, o, "failure_action", actions, &u->failure_action) < 0 ||
			       j_dur(r, o, "monitor", &u->monitor) < 0 ||
			       j_real(r, o, "max_failure_ratio", &u->max_failure_ratio) < 0 ||
			       j_enum(r, o, "order", orders, &u->order) < 0
		       ? -1
		       : 0;
}

static int rp_from(struct jr *r, const json_t *o, struct spec_restart_policy *rp)
{
	static const char *const keys[] = {"condition", "delay", "max_attempts", "window", NULL};

	rp->set = true;
	return j_obj(r, o, keys) < 0 || j_enum(r, o, "condition", rp_conds, &rp->condition) < 0 ||
			       j_dur(r, o, "delay", &rp->delay) < 0 ||
			       j_i(r, o, "max_attempts", 0, 1000000, &rp->max_attempts) < 0 ||
			       j_dur(r, o, "window", &rp->window) < 0
		       ? -1
		       : 0;
}

static int placement_from(struct jr *r, const json_t *o, struct spec_placement *p)
{
	static const char *const keys[] = {"constraints", "preferences", "max_replicas_per_node", NULL};
	json_t *prefs = json_object_get(o, "preferences"), *it;
	size_t i;

	if (j_obj(r, o, keys) < 0 || j_strv(r, o, "constraints", &p->constraints, &p->nconstraints) < 0 ||
	    j_i(r, o, "max_replicas_per_node", 0, SPEC_MAX_REPLICAS, &p->max_replicas_per_node) < 0)
		return -1;
	if (!prefs)
		return 0;
	if (!json_is_array(prefs))
		return jerr(r, "preferences: expected a list");
	p->preferences = XNEWV(char *, json_array_size(prefs) + 1);
	json_array_foreach(prefs, i, it) {
		json_t *sp = json_object_get(it, "spread");
		if (!json_is_string(sp) || json_object_size(it) != 1)
			return jerr(r, "preferences[%zu]: expected {\"spread\": LABEL}", i);
		p->preferences[p->npreferences++] = xstrdup(json_string_value(sp));
	}
	return 0;
}

static int deploy_from(struct jr *r, const json_t *o, struct spec_deploy *d)
{
	static const char *const keys[] = {"mode", "replicas", "endpoint_mode", "labels", "restart_policy",
					   "resources", "update_config", "rollback_config", "placement", NULL};

	return j_obj(r, o, keys) < 0 || j_enum(r, o, "mode", modes, &d->mode) < 0 ||
			       j_i(r, o, "replicas", 0, SPEC_MAX_REPLICAS, &d->replicas) < 0 ||
			       j_enum(r, o, "endpoint_mode", endpoint_modes, &d->endpoint_mode) < 0 ||
			       j_kv(r, o, "labels", &d->labels, &d->nlabels) < 0 ||
			       J_SUB(r, o, "restart_policy", rp_from, &d->restart_policy) < 0 ||
			       J_SUB(r, o, "resources", resources_from, d) < 0 ||
			       J_SUB(r, o, "update_config", update_from, &d->update_config) < 0 ||
			       J_SUB(r, o, "rollback_config", update_from, &d->rollback_config) < 0 ||
			       J_SUB(r, o, "placement", placement_from, &d->placement) < 0
		       ? -1
		       : 0;
}

static int rancher_from(struct jr *r, const json_t *o, struct spec_rancher_check **out)
{
	static const char *const keys[] = {"port", "request_line", "interval", "response_timeout",
					   "healthy_threshold", "unhealthy_threshold", "initializing_timeout",
					   "reinitializing_timeout", "strategy", "recreate_on_quorum_size", NULL};
	struct spec_rancher_check *c = *out = XNEW(struct spec_rancher_check);

	*c = (struct spec_rancher_check){.interval = 2000, .response_timeout = 2000, .healthy_threshold = 2,
					 .unhealthy_threshold = 3, .initializing_timeout = 60000,
					 .reinitializing_timeout = 60000, .recreate_on_quorum_size = 1};
	/* The port has no default (0 is not a port): required, as in the
	 * loader, or the JSON form would not read back (found by fuzzing). */
	if (json_is_object(o) && !json_object_get(o, "port")) {
		size_t m = jpush(r, "port");
		jerr(r, "missing");
		jpop(r, m);
		return -1;
	}
	return j_obj(r, o, keys) < 0 || j_i(r, o, "port", 1, 65535, &c->port) < 0 ||
			       j_str(r, o, "request_line", &c->request_line, false) < 0 ||
			       j_u64(r, o, "interval", &c->interval) < 0 ||
			       j_u64(r, o, "response_timeout", &c->response_timeout) < 0 ||
			       j_i(r, o, "healthy_threshold", 1, 1000, &c->healthy_threshold) < 0 ||
			       j_i(r, o, "unhealthy_threshold", 1, 1000, &c->unhealthy_threshold) < 0 ||
			       j_u64(r, o, "initializing_timeout", &c->initializing_timeout) < 0 ||
			       j_u64(r, o, "reinitializing_timeout", &c->reinitializing_timeout) < 0 ||
			       j_enum(r, o, "strategy", strategies, &c->strategy) < 0 ||
			       j_i(r, o, "recreate_on_quorum_size", 1, SPEC_MAX_REPLICAS,
				   &c->recreate_on_quorum_size) < 0
		       ? -1
		       : 0;
}

static int restart_from(struct jr *r, const json_t *o, struct spec_service *s)
{
	json_t *v = json_object_get(o, "restart");
	const char *t;

	if (!v)
		return 0;
	t = json_string_value(v);
	for (const struct yaml_enum *e = restarts; t && e->name; e++) {
		if (strcmp(t, e->name) == 0) {
			s->restart = e->value;
			return 0;
		}
	}
	if (t && strncmp(t, "on-failure:", 11) == 0 && t[11] >= '1' && t[11] <= '9') {
		char *end;
		long n = strtol(t + 11, &end, 10);
		if (!*end && n > 0 && n <= 1000000) {
			s->restart = SPEC_RESTART_ON_FAILURE;
			s->restart_max = (int)n;
			return 0;
		}
	}
	return jerr(r, "restart: expected no, always, on-failure[:N] or unless-stopped");
}

static int service_from(struct jr *r, const json_t *o, struct spec_service *s)
{
	static const char *const keys[] = {"image", "build", "entrypoint", "command", "working_dir", "user",
					   "environment", "labels", "ports", "expose", "depends_on", "healthcheck",
					   "restart", "stop_signal", "stop_grace_period", "init", "volumes", "deploy",
					   "profiles", "health_check", "lb_config", "x-berth", NULL};
	static const char *const build_keys[] = {"context", "dockerfile", "target", "args", NULL};
	json_t *v, *it;
	const char *k;
	size_t i, m;

	s->stop_signal = 15;
	s->stop_grace_period = 10000;
	s->deploy.replicas = 1;
	s->deploy.update_config = s->deploy.rollback_config =
		(struct spec_update){.parallelism = 1, .monitor = 5000};
	if (j_obj(r, o, keys) < 0 || j_str(r, o, "image", &s->image, false) < 0 ||
	    j_strv(r, o, "entrypoint", &s->entrypoint, &s->nentrypoint) < 0 ||
	    j_strv(r, o, "command", &s->command, &s->ncommand) < 0 ||
	    j_str(r, o, "working_dir", &s->working_dir, false) < 0 || j_str(r, o, "user", &s->user, false) < 0 ||
	    j_strv(r, o, "environment", &s->environment, &s->nenvironment) < 0 ||
	    j_kv(r, o, "labels", &s->labels, &s->nlabels) < 0 || restart_from(r, o, s) < 0 ||
	    j_dur(r, o, "stop_grace_period", &s->stop_grace_period) < 0 || j_bool(r, o, "init", &s->init) < 0 ||
	    j_strv(r, o, "profiles", &s->profiles, &s->nprofiles) < 0 ||
	    J_SUB(r, o, "deploy", deploy_from, &s->deploy) < 0)
		return -1;
	if ((v = json_object_get(o, "build"))) {
		m = jpush(r, "build");
		s->build = XNEW(struct spec_build);
		if (j_obj(r, v, build_keys) < 0 || j_str(r, v, "context", &s->build->context, true) < 0 ||
		    j_str(r, v, "dockerfile", &s->build->dockerfile, true) < 0 ||
		    j_str(r, v, "target", &s->build->target, false) < 0 ||
		    j_kv(r, v, "args", &s->build->args, &s->build->nargs) < 0)
			return -1;
		jpop(r, m);
	}
	if ((v = json_object_get(o, "stop_signal"))) {
		if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 64)
			s->stop_signal = (int)json_integer_value(v);
		else if (!json_is_string(v) || spec__signal_parse(json_string_value(v), &s->stop_signal) < 0)
			return jerr(r, "stop_signal: expected a signal name or number");
	}
	if ((v = json_object_get(o, "ports"))) {
		if (!json_is_array(v))
			return jerr(r, "ports: expected a list");
		s->ports = XNEWV(struct spec_port, json_array_size(v) + 1);
		m = jpush(r, "ports");
		json_array_foreach(v, i, it) {
			size_t m2 = jpush_i(r, i);
			if (port_from(r, it, &s->ports[s->nports++]) < 0)
				return -1;
			jpop(r, m2);
		}
		jpop(r, m);
	}
	if ((v = json_object_get(o, "expose"))) {
		if (!json_is_array(v))
			return jerr(r, "expose: expected a list");
		s->expose = XNEWV(struct spec_expose, json_array_size(v) + 1);
		json_array_foreach(v, i, it) {
			struct spec_expose *e = &s->expose[s->nexpose++];
			static const char *const ekeys[] = {"port", "protocol", NULL};
			m = jpush(r, "expose");
			jpush_i(r, i);
			if (j_obj(r, it, ekeys) < 0 || j_i(r, it, "port", 1, 65535, &e->port) < 0 ||
			    j_enum(r, it, "protocol", protos, &e->protocol) < 0)
				return -1;
			if (!e->port)
				return jerr(r, "missing port");
			jpop(r, m);
		}
	}
	if ((v = json_object_get(o, "depends_on"))) {
		static const char *const dkeys[] = {"condition", "restart", "required", NULL};
		if (!json_is_object(v))
			return jerr(r, "depends_on: expected an object");
		s->depends_on = XNEWV(struct spec_dep, json_object_size(v) + 1);
		json_object_foreach(v, k, it) {
			struct spec_dep *d = &s->depends_on[s->ndepends_on++];
			d->service = xstrdup(k);
			d->required = true;
			m = jpush(r, "depends_on");
			jpush(r, k);
			if (j_obj(r, it, dkeys) < 0 || j_enum(r, it, "condition", dep_conds, &d->condition) < 0 ||
			    j_bool(r, it, "restart", &d->restart) < 0 || j_bool(r, it, "required", &d->required) < 0)
				return -1;
			jpop(r, m);
		}
	}
	if ((v = json_object_get(o, "volumes"))) {
		if (!json_is_array(v))
			return jerr(r, "volumes: expected a list");
		s->volumes = XNEWV(struct spec_volume, json_array_size(v) + 1);
		m = jpush(r, "volumes");
		json_array_foreach(v, i, it) {
			size_t m2 = jpush_i(r, i);
			if (volume_from(r, it, &s->volumes[s->nvolumes++]) < 0)
				return -1;
			jpop(r, m2);
		}
		jpop(r, m);
	}
	if (J_SUB(r, o, "healthcheck", hc_from, &s->healthcheck) < 0 ||
	    J_SUB(r, o, "health_check", rancher_from, &s->health_check) < 0)
		return -1;
	if ((v = json_object_get(o, "lb_config"))) {
		if (!json_is_object(v))
			return jerr(r, "lb_config: expected an object");
		s->lb_config = json_deep_copy(v);
	}
	if ((v = json_object_get(o, "x-berth"))) {
		if (!json_is_object(v))
			return jerr(r, "x-berth: expected an object");
		s->x_berth = json_deep_copy(v);
	}
	if (s->deploy.mode == SPEC_MODE_GLOBAL)
		s->deploy.replicas = 0;
	return 0;
}

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_service *)a)->name, ((const struct spec_service *)b)->name);
}

static int vol_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_volume_decl *)a)->key, ((const struct spec_volume_decl *)b)->key);
}

/* Project names are lower case; service names may have capitals. */
static bool json_name_ok(const char *n, bool upper)
{
	size_t len = strlen(n);

	if (!len || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (upper && c >= 'A' && c <= 'Z');
		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}

int spec_from_json(const json_t *j, struct spec_stack **out, char **err)
{
	static const char *const keys[] = {"name", "project_dir", "files", "services", "volumes", "x-berth", NULL};
	struct spec_stack *st = XNEW(struct spec_stack);
	struct jr r = {0};
	json_t *svcs, *vols, *v;
	const char *k;

	*out = NULL;
	*err = NULL;
	if (j_obj(&r, j, keys) < 0 || j_str(&r, j, "name", &st->name, true) < 0 ||
	    j_str(&r, j, "project_dir", &st->project_dir, true) < 0 ||
	    j_strv(&r, j, "files", &st->files, &st->nfiles) < 0)
		goto fail;
	/* The names become paths, store keys and DNS labels: the JSON form
	 * comes from API clients, so the loader's rules are checked again. */
	if (!json_name_ok(st->name, false)) {
		size_t m = jpush(&r, "name");
		jerr(&r, "expected a project name: [a-z0-9][a-z0-9_-]*, at most 63 characters");
		jpop(&r, m);
		goto fail;
	}
	if ((v = json_object_get(j, "x-berth"))) {
		if (!json_is_object(v)) {
			jerr(&r, "x-berth: expected an object");
			goto fail;
		}
		st->x_berth = json_deep_copy(v);
	}
	svcs = json_object_get(j, "services");
	if (!json_is_object(svcs)) {
		jerr(&r, "services: expected an object");
		goto fail;
	}
	st->services = XNEWV(struct spec_service, json_object_size(svcs) + 1);
	json_object_foreach(svcs, k, v) {
		struct spec_service *s = &st->services[st->nservices++];
		size_t m = jpush(&r, "services");
		jpush(&r, k);
		s->name = xstrdup(k);
		if (!json_name_ok(k, true)) {
			jerr(&r, "expected a service name: [A-Za-z0-9][A-Za-z0-9_-]*, at most 63 characters");
			goto fail;
		}
		if (service_from(&r, v, s) < 0)
			goto fail;
		jpop(&r, m);
	}
	if ((vols = json_object_get(j, "volumes"))) {
		static const char *const vkeys[] = {"name", "external", NULL};
		if (!json_is_object(vols)) {
			jerr(&r, "volumes: expected an object");
			goto fail;
		}
		st->volumes = XNEWV(struct spec_volume_decl, json_object_size(vols) + 1);
		json_object_foreach(vols, k, v) {
			struct spec_volume_decl *d = &st->volumes[st->nvolumes++];
			size_t m = jpush(&r, "volumes");
			jpush(&r, k);
			d->key = xstrdup(k);
			if (j_obj(&r, v, vkeys) < 0 || j_str(&r, v, "name", &d->name, true) < 0 ||
			    j_bool(&r, v, "external", &d->external) < 0)
				goto fail;
			jpop(&r, m);
		}
	}
	/* sorted as a loaded stack is, whatever order the JSON had */
	spec__sort(st->services, (size_t)st->nservices, sizeof(*st->services), svc_cmp);
	spec__sort(st->volumes, (size_t)st->nvolumes, sizeof(*st->volumes), vol_cmp);
	*out = st;
	return 0;
fail:
	spec_stack_free(st);
	*err = r.err;
	return -1;
}
