/* Health checks of this node's running instances (health/health.h), and
 * what their results do: the catalog record's healthy flag and tags,
 * `depends_on: service_healthy`, and restarts of unhealthy instances (as
 * Swarm restarts unhealthy tasks; x-berth.check.restart_on_unhealthy).
 *
 * A service behind a berth load balancer with no check of its own gets a
 * TCP check on its first port: an instance becomes routable once it
 * accepts connections, not the moment its process exists, so a scale-up
 * sends no request to an instance still starting. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "health/health.h"
#include "runner/driver.h"
#include "runner/runner-int.h"

#define IMPLICIT_INTERVAL_MS 500  /* the implicit TCP check's pace */
#define IMPLICIT_TIMEOUT_MS 1000

static enum rhealth map_state(enum health_state s)
{
	switch (s) {
	case HEALTH_STARTING:
		return RH_STARTING;
	case HEALTH_HEALTHY:
		return RH_HEALTHY;
	case HEALTH_UNHEALTHY:
		return RH_UNHEALTHY;
	default:
		return RH_NONE;
	}
}

static void set_tags(struct rinst *in, const char *const *tags, int n)
{
	for (int i = 0; i < in->ntags; i++)
		free(in->tags[i]);
	free(in->tags);
	in->tags = n ? XNEWV(char *, (size_t)n) : NULL;
	in->ntags = n;
	for (int i = 0; i < n; i++)
		in->tags[i] = xstrdup(tags[i]);
}

static bool same_tags(const struct rinst *in, const char *const *tags, int n)
{
	if (in->ntags != n)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(in->tags[i], tags[i]))
			return false;
	return true;
}

static void on_health(struct health_check *c, enum health_state state, const char *const *tags, int ntags,
		      const char *message, void *arg)
{
	struct rinst *in = arg;
	enum rhealth h = map_state(state);
	bool changed = h != in->health || !same_tags(in, tags, ntags);

	snprintf(in->health_msg, sizeof(in->health_msg), "%s", message ? message : "");
	if (!changed)
		return;
	if (h != in->health) {
		log_info("runner", "%s/%s.%d is %s%s%s", in->stack, in->service, in->index, health_state_name(state),
			 message && *message ? ": " : "", message ? message : "");
		json_t *ev = json_pack("{s:s}", "health", health_state_name(state));
		if (message && *message)
			json_object_set_new(ev, "output", json_string(message));
		runner__emit(in, "instance.health", ev);
	}
	in->health = h;
	set_tags(in, tags, ntags);
	in->status_dirty = true;
	if (h == RH_UNHEALTHY && health_check_config(c)->restart_on_unhealthy)
		in->restart_unhealthy = true; /* the reconcile pass restarts it */
	runner__schedule(in->r);
}

/* Builds the check config of <svc>, or the implicit one; false when the
 * instance gets no check at all. */
static bool config_for(const struct spec_stack *st, const struct spec_service *svc, struct health_config *cfg)
{
	char *err = NULL;

	if (health_config_from_service(svc, cfg, &err) < 0) {
		log_warn("runner", "services.%s: health check not usable: %s", svc->name, err);
		free(err);
		return false;
	}
	if (cfg->kind != HEALTH_KIND_NONE)
		return true;
	bool off = false;
	health_xcheck_kind(json_object_get(svc->x_berth, "check"), &off);
	if (off || !runner__routed_to(st, svc->name))
		return false;
	health_config_free(cfg);
	*cfg = (struct health_config){
		.kind = HEALTH_KIND_TCP,
		.interval = IMPLICIT_INTERVAL_MS,
		.timeout = IMPLICIT_TIMEOUT_MS,
		.start_interval = IMPLICIT_INTERVAL_MS,
		.rise = 1,
		.fall = 3,
	};
	return true;
}

void runner__health_start(struct rinst *in, const struct spec_stack *st, const struct spec_service *svc,
			  char *const *env, const char *cwd)
{
	struct health_config cfg;
	struct health_port *ports;
	char name[300];

	runner__health_stop(in);
	in->restart_unhealthy = false;
	if (!config_for(st, svc, &cfg)) {
		in->health = RH_NONE;
		return;
	}
	char *name_c = NULL, **exec_env = NULL;
	if (in->container && cfg.kind == HEALTH_KIND_EXEC) {
		/* A container's check runs in the container: berth itself runs
		 * it there through the engine (berth docker-exec), from the
		 * data dir, as the agent's user. */
		name_c = driver_docker_container_name(in->stack, in->service, in->index, in->r->node, in->r->data_dir);
		char **argv = XNEWV(char *, (size_t)cfg.argc + 5);
		argv[0] = xstrdup(in->r->berth);
		argv[1] = xstrdup("docker-exec");
		argv[2] = xstrdup(name_c);
		argv[3] = xstrdup("--");
		for (int i = 0; i < cfg.argc; i++)
			argv[4 + i] = cfg.argv[i];
		free(cfg.argv);
		cfg.argv = argv;
		cfg.argc += 4;
		cwd = in->r->data_dir;
		/* berth docker-exec needs the engine's address; the command in
		 * the container gets the container's own environment. */
		exec_env = XNEWV(char *, 3);
		exec_env[0] = xasprintf("DOCKER_HOST=%s", driver_docker_host());
		exec_env[1] = xasprintf("PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
		env = exec_env;
	}
	ports = XNEWV(struct health_port, (size_t)(in->nports ? in->nports : 1));
	for (int i = 0; i < in->nports; i++)
		ports[i] = (struct health_port){in->ports[i].target, in->ports[i].host};
	snprintf(name, sizeof(name), "%s.%d", in->service, in->index);
	struct health_target t = {
		.name = name,
		.addr = in->r->addr,
		.ports = ports,
		.nports = in->nports,
		.env = env,
		.cwd = cwd,
		.user = name_c ? NULL : svc->user,
		.restarted = in->hist.restarts > 0,
	};
	in->check = health_check_start(in->r->o.loop, &cfg, &t, on_health, in);
	in->health = in->check ? RH_STARTING : RH_NONE;
	free(ports);
	free(name_c);
	if (exec_env) {
		free(exec_env[0]);
		free(exec_env[1]);
		free(exec_env);
	}
	health_config_free(&cfg);
}

void runner__health_stop(struct rinst *in)
{
	if (!in->check)
		return;
	health_check_stop(in->check);
	in->check = NULL;
	in->health = RH_NONE;
	in->health_msg[0] = 0;
}

int runner_ttl(struct runner *r, const char *stack, const char *svc, int index, bool pass, const char *note)
{
	for (struct rinst *in = r->insts; in; in = in->next) {
		if (in->index != index || strcmp(in->service, svc) || strcmp(in->stack, stack))
			continue;
		if (!in->check)
			return -EINVAL;
		int rc = pass ? health_ttl_pass(in->check, note) : health_ttl_fail(in->check, note);
		return rc < 0 ? -EINVAL : 0;
	}
	return -ENOENT;
}
