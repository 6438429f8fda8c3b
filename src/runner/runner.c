/* The runner: this node's reconcile loop (see runner.h).
 *
 * Everything happens on the agent's loop. Inputs are three mirrors of the
 * store (this node's allocations, all stacks, all status records); a change
 * to any of them, a driver event or a due backoff schedules one reconcile
 * pass (coalesced through a zero timer), which walks every instance and
 * takes the one step its state calls for. Steps are idempotent, so a pass
 * too many is harmless and a missed one is caught by the next. */
#include "runner/runner.h"
#include "runner/runner-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/events.h"
#include "agent/mirror.h"
#include "core/fs.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "runner/driver.h"
#include "runner/ports.h"
#include "runner/restart.h"
#include "health/health.h"
#include "hooks/hooks.h"
#include "lb/stackcfg.h"
#include "spec/spec.h"

#define RUNS_KEPT 3 /* run directories kept per instance (the newest) */

static const char *const rstate_names[] = {"created", "waiting", "starting", "running", "stopping",
					   "restarting", "exited", "failed", "stopped"};
static void schedule(struct runner *r);

/* ---- small helpers ---- */







char *runner_log_path(const char *data_dir, const char *stack, const char *svc, int index)
{
	return xasprintf("%s/instances/%s/%s/%d/log", data_dir, stack, svc, index);
}

static char *status_key(const struct rinst *in)
{
	return xasprintf("/berth/status/%s/%s/%d", in->stack, in->service, in->index);
}

/* ---- stacks ---- */

/* A definition hash that ignores what may change without a restart: the
 * replica count (scaling) and the deploy policies. */
static uint64_t service_hash(const struct spec_stack *s, int i)
{
	json_t *j = spec_to_json(s);
	json_t *svcs = json_object_get(j, "services");
	json_t *svc = NULL;
	uint64_t h = 0;

	if (json_is_object(svcs))
		svc = json_object_get(svcs, s->services[i].name);
	else if (json_is_array(svcs))
		svc = json_array_get(svcs, (size_t)i);
	if (svc) {
		json_t *c = json_deep_copy(svc);
		json_t *dep = json_object_get(c, "deploy");
		if (dep) {
			json_object_del(dep, "replicas");
			json_object_del(dep, "update_config");
			json_object_del(dep, "rollback_config");
			json_object_del(dep, "placement");
		}
		char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
		h = hash64(text, strlen(text));
		free(text);
		json_decref(c);
	}
	json_decref(j);
	return h;
}

static void rstack_free(struct rstack *rs)
{
	spec_stack_free(rs->spec);
	json_decref(rs->record);
	free(rs->hashes);
	free(rs->name);
	free(rs);
}

/* Brings the stack cache in line with the stacks mirror. */
static void sync_stacks(struct runner *r)
{
	struct rstack **pp = &r->rstacks;
	const size_t plen = strlen("/berth/stacks/");

	/* Drop stacks that are gone or changed. */
	while (*pp) {
		struct rstack *rs = *pp;
		char *key = xasprintf("/berth/stacks/%s", rs->name);
		const struct mirror_entry *e = mirror_get(r->stacks, key);
		free(key);
		if (!e || e->mod_rev != rs->mod_rev) {
			*pp = rs->next;
			rstack_free(rs);
			continue;
		}
		pp = &rs->next;
	}
	for (int i = 0; i < r->stacks->n; i++) {
		const struct mirror_entry *e = &r->stacks->e[i];
		const char *name = e->key + plen;
		bool have = false;
		if (strchr(name, '/'))
			continue;
		for (struct rstack *rs = r->rstacks; rs; rs = rs->next)
			have |= strcmp(rs->name, name) == 0;
		if (have)
			continue;
		struct rstack *rs = XNEW(struct rstack);
		char *err = NULL;
		rs->name = xstrdup(name);
		rs->mod_rev = e->mod_rev;
		rs->record = json_incref(e->json);
		rs->state = json_object_get(rs->record, "state");
		json_t *spec = json_object_get(rs->record, "spec");
		if (!spec || spec_from_json(spec, &rs->spec, &err) < 0) {
			log_error("runner", "stack %s: unreadable record in the store: %s", name, err ? err : "no spec");
			free(err);
			rs->spec = NULL;
		} else {
			rs->hashes = XNEWV(uint64_t, (size_t)(rs->spec->nservices ? rs->spec->nservices : 1));
			for (int k = 0; k < rs->spec->nservices; k++)
				rs->hashes[k] = service_hash(rs->spec, k);
		}
		rs->next = r->rstacks;
		r->rstacks = rs;
	}
}

static struct rstack *find_stack(struct runner *r, const char *name)
{
	for (struct rstack *rs = r->rstacks; rs; rs = rs->next)
		if (strcmp(rs->name, name) == 0)
			return rs;
	return NULL;
}

static const struct spec_service *find_service(struct rstack *rs, const char *name, int *idx)
{
	if (!rs || !rs->spec)
		return NULL;
	for (int i = 0; i < rs->spec->nservices; i++)
		if (strcmp(rs->spec->services[i].name, name) == 0) {
			if (idx)
				*idx = i;
			return &rs->spec->services[i];
		}
	return NULL;
}

/* The per-service runtime state berth keeps beside the spec: stopped by
 * `berth stop`, and the restart generation bumped by `berth restart`. */
static json_t *svc_state(struct rstack *rs, const char *svc)
{
	return json_object_get(json_object_get(rs->state, "services"), svc);
}

static bool svc_stopped(struct rstack *rs, const char *svc)
{
	return json_is_true(json_object_get(svc_state(rs, svc), "stopped"));
}

static int64_t svc_restart_gen(struct rstack *rs, const char *svc)
{
	return (int64_t)json_integer_value(json_object_get(svc_state(rs, svc), "restart_gen"));
}

/* ---- status records ---- */

static void set_state(struct rinst *in, enum rstate st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void emit(struct rinst *in, const char *type, json_t *extra)
{
	json_t *ev = extra ? extra : json_object();

	json_object_set_new(ev, "stack", json_string(in->stack));
	json_object_set_new(ev, "service", json_string(in->service));
	json_object_set_new(ev, "index", json_integer(in->index));
	json_object_set_new(ev, "node", json_string(in->r->node));
	json_object_set_new(ev, "state", json_string(rstate_names[in->state]));
	if (in->message[0])
		json_object_set_new(ev, "message", json_string(in->message));
	events_emit(in->r->o.events, type, ev);
}

static const char *state_name(const struct rinst *in)
{
	if (in->state == RS_RESTARTING && restart_crashlooping(&in->hist))
		return "crashloop";
	return rstate_names[in->state];
}

void runner__emit(struct rinst *in, const char *type, json_t *extra)
{
	emit(in, type, extra);
}

void runner__schedule(struct runner *r)
{
	schedule(r);
}

static void set_state(struct rinst *in, enum rstate st, const char *fmt, ...)
{
	va_list ap;
	bool changed = in->state != st;

	in->state = st;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(in->message, sizeof(in->message), fmt, ap);
		va_end(ap);
	} else {
		in->message[0] = 0;
	}
	if (changed)
		time_now_rfc3339(in->since, sizeof(in->since));
	in->status_dirty = true;
	schedule(in->r);
}

static json_t *status_json(const struct rinst *in)
{
	json_t *ports = json_array();
	int first = 0;

	for (int i = 0; i < in->nports; i++) {
		const struct rport *p = &in->ports[i];
		if (!first)
			first = p->host;
		json_array_append_new(ports, json_pack("{s:i, s:i, s:s}", "target", p->target, "published", p->host,
						       "protocol", p->proto == SPEC_PROTO_UDP ? "udp" : "tcp"));
	}
	json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:o, s:i, s:i, s:s}", "stack", in->stack,
			      "service", in->service, "index", in->index, "instance", "", "node", in->r->node, "addr",
			      in->r->addr, "state", state_name(in), "ports", ports, "port", first, "restarts",
			      in->hist.restarts, "since", in->since);
	char inst[300];
	snprintf(inst, sizeof(inst), "%s.%d", in->service, in->index);
	json_object_set_new(j, "instance", json_string(inst));
	json_object_set_new(j, "pid", in->pid > 0 && (in->state == RS_RUNNING || in->state == RS_STOPPING)
					      ? json_integer(in->pid)
					      : json_null());
	json_object_set_new(j, "exit_code", in->exit_code >= 0 ? json_integer(in->exit_code) : json_null());
	json_object_set_new(j, "signal", in->signal > 0 ? json_integer(in->signal) : json_null());
	json_object_set_new(j, "message", json_string(in->message));
	json_object_set_new(j, "health", json_string(runner__health_name(in->health)));
	if (in->health_msg[0])
		json_object_set_new(j, "health_output", json_string(in->health_msg));
	json_object_set_new(j, "generation", json_integer(in->generation));
	if (in->urls)
		json_object_set(j, "urls", in->urls);
	json_object_set_new(j, "driver", json_string(in->drv ? in->drv->name : "process"));
	return j;
}

/* After runner_free: the last handle closed and the last write answered. */
static void maybe_finish(struct runner *r)
{
	if (!r->closing || r->handles > 0 || r->writes > 0)
		return;
	void (*done)(void *) = r->done;
	void *a = r->done_arg;
	free(r);
	if (done)
		done(a);
}

void runner__on_write(const struct store_result *res, void *arg)
{
	struct runner *r = arg;

	r->writes--;
	if (res->err && !r->closing)
		log_warn("runner", "writing a status record: %s", res->errmsg ? res->errmsg : store_strerror(res->err));
	maybe_finish(r);
}

static void flush_status(struct runner *r)
{
	if (!r->lease)
		return;
	for (struct rinst *in = r->insts; in; in = in->next) {
		if (!in->status_dirty)
			continue;
		char *key = status_key(in);
		json_t *j = status_json(in);
		char *text = json_dumps(j, JSON_COMPACT);
		if (store_put(r->o.st, key, text, strlen(text), r->lease, runner__on_write, r) == 0) {
			r->writes++;
			in->status_dirty = false;
			in->status_written = true;
		}
		free(text);
		json_decref(j);
		free(key);
		struct rstack *rs = find_stack(r, in->stack);
		runner__publish(r, in, find_service(rs, in->service, NULL));
	}
}

/* ---- instances ---- */

static struct rinst *find_inst(struct runner *r, const char *stack, const char *svc, int index)
{
	for (struct rinst *in = r->insts; in; in = in->next)
		if (in->index == index && strcmp(in->service, svc) == 0 && strcmp(in->stack, stack) == 0)
			return in;
	return NULL;
}

static struct rinst *inst_new(struct runner *r, const char *stack, const char *svc, int index)
{
	struct rinst *in = XNEW(struct rinst);

	in->r = r;
	in->stack = xstrdup(stack);
	in->service = xstrdup(svc);
	in->index = index;
	in->dir = xasprintf("%s/instances/%s/%s/%d", r->data_dir, stack, svc, index);
	in->exit_code = -1;
	time_now_rfc3339(in->since, sizeof(in->since));
	in->status_dirty = true;
	in->next = r->insts;
	r->insts = in;
	return in;
}


static void on_status_deleted(const struct store_result *res, void *arg)
{
	runner__on_write(res, arg);
}

/* The instance is no longer allocated and has stopped: forget it. */
/* The memory of an instance; its process, ports and records are the
 * caller's to have dealt with. */
static void inst_free(struct rinst *in)
{
	for (int i = 0; i < in->ntags; i++)
		free(in->tags[i]);
	free(in->tags);
	free(in->cat_value);
	json_decref(in->urls);
	free(in->stack);
	free(in->service);
	free(in->dir);
	free(in);
}

static void inst_remove(struct rinst *in)
{
	struct runner *r = in->r;

	for (struct rinst **pp = &r->insts; *pp; pp = &(*pp)->next)
		if (*pp == in) {
			*pp = in->next;
			break;
		}
	if (in->status_written) {
		char *key = status_key(in);
		if (store_delete(r->o.st, key, false, on_status_deleted, r) == 0)
			r->writes++;
		free(key);
	}
	runner__unpublish(r, in);
	runner__logs_forget(in);
	emit(in, "instance.removed", NULL);
	runner__release_ports(in);
	runner__rm_rf(in->dir);
	inst_free(in);
}




/* ---- variables and the run spec ---- */










/* ---- driver events ---- */

static void on_started(struct driver_run *run, pid_t pid, void *arg)
{
	struct rinst *in = arg;

	in->pid = pid;
	if (in->state == RS_STARTING) {
		set_state(in, RS_RUNNING, NULL);
		emit(in, "instance.started", json_pack("{s:i, s:i}", "pid", pid, "port",
						       in->nports ? in->ports[0].host : 0));
	} else if (in->state == RS_STOPPING) {
		/* Stopped while starting: the driver sends the stop now. */
		in->status_dirty = true;
		schedule(in->r);
	}
}

static void run_ended(struct rinst *in)
{
	runner__health_stop(in);
	in->check_started = false;
	in->restart_unhealthy = false;
	driver_release(in->run);
	in->run = NULL;
	in->pid = 0;
}

static void on_exited(struct driver_run *run, int code, int sig, void *arg)
{
	struct rinst *in = arg;
	struct runner *r = in->r;
	uint64_t ran = uv_now(r->o.loop) - in->started_ms;

	in->exit_code = code;
	in->signal = sig;
	run_ended(in);
	char how[64];
	if (sig)
		snprintf(how, sizeof(how), "killed by signal %d", sig);
	else
		snprintf(how, sizeof(how), "exit code %d", code);
	if (in->state == RS_STOPPING) {
		switch (in->after) {
		case AFTER_STOP_RESTART:
			/* A restart asked for starts over; one for unhealthiness is
			 * a failure, and its history stays. */
			if (!in->unhealthy_restart)
				in->hist = (struct restart_history){0};
			in->unhealthy_restart = false;
			set_state(in, RS_NEW, NULL);
			break;
		case AFTER_STOP_REMOVE:
			set_state(in, RS_STOPPED, "stopped (%s)", how);
			break;
		default:
			set_state(in, RS_STOPPED, "stopped (%s)", how);
			break;
		}
		emit(in, "instance.stopped", json_pack("{s:i, s:i}", "exit_code", code, "signal", sig));
		return;
	}
	struct rstack *rs = find_stack(r, in->stack);
	const struct spec_service *svc = find_service(rs, in->service, NULL);
	struct restart_policy pol;
	uint64_t delay;
	if (svc)
		restart_policy_of(svc, &pol);
	else
		pol = (struct restart_policy){.when = RESTART_NEVER};
	emit(in, "instance.exited", json_pack("{s:i, s:i}", "exit_code", code, "signal", sig));
	if (restart_decide(&pol, &in->hist, code, sig, ran, &delay)) {
		in->due_ms = uv_now(r->o.loop) + delay;
		set_state(in, RS_RESTARTING, "%s; restarting in %llums", how, (unsigned long long)delay);
		emit(in, "instance.restarting", json_pack("{s:I}", "delay_ms", (json_int_t)delay));
		return;
	}
	set_state(in, RS_EXITED, "%s", how);
}

static void start_failed(struct rinst *in, const char *reason);

static void on_failed(struct driver_run *run, const char *reason, void *arg)
{
	struct rinst *in = arg;

	in->exit_code = -1;
	in->signal = 0;
	run_ended(in);
	if (in->state == RS_STOPPING) {
		set_state(in, in->after == AFTER_STOP_RESTART ? RS_NEW : RS_STOPPED, NULL);
		return;
	}
	start_failed(in, reason);
}

/* Nothing could be started (exec failed, a port was taken, no command):
 * the restart policy decides, as after a crash, so `restart: always`
 * retries with backoff and a fixed port freed later is picked up. */
static void start_failed(struct rinst *in, const char *reason)
{
	struct runner *r = in->r;
	struct rstack *rs = find_stack(r, in->stack);
	const struct spec_service *svc = find_service(rs, in->service, NULL);
	struct restart_policy pol;
	uint64_t delay;

	if (svc)
		restart_policy_of(svc, &pol);
	else
		pol = (struct restart_policy){.when = RESTART_NEVER};
	log_warn("runner", "%s/%s.%d: %s", in->stack, in->service, in->index, reason);
	if (restart_decide(&pol, &in->hist, 127, 0, 0, &delay)) {
		in->due_ms = uv_now(r->o.loop) + delay;
		set_state(in, RS_RESTARTING, "%s; retrying in %llums", reason, (unsigned long long)delay);
	} else {
		set_state(in, RS_FAILED, "%s", reason);
	}
	emit(in, "instance.failed", json_pack("{s:s}", "reason", reason));
}

static const struct driver_events run_events = {on_started, on_exited, on_failed};

/* ---- starting ---- */

static int next_run_seq(struct rinst *in)
{
	char *runs = xasprintf("%s/runs", in->dir);
	DIR *d = opendir(runs);
	int max = in->run_seq;
	struct dirent *de;

	if (d) {
		while ((de = readdir(d))) {
			int n = atoi(de->d_name);
			if (n > max)
				max = n;
		}
		closedir(d);
	}
	/* Old runs go: the newest few are enough to look into. */
	if (d && max >= RUNS_KEPT) {
		for (int n = max - RUNS_KEPT + 1; n > 0 && n > max - RUNS_KEPT - 8; n--) {
			char *old = xasprintf("%s/%d", runs, n);
			runner__rm_rf(old);
			free(old);
		}
	}
	free(runs);
	return max + 1;
}

static bool has_hooks(const struct spec_service *svc)
{
	return json_object_get(svc->x_berth, "on_change") || json_object_get(svc->x_berth, "pre_start");
}

static void inst_start(struct rinst *in, struct rstack *rs, const struct spec_service *svc, int svc_idx);

/* The argument of a pending pre_start: the instance may be freed before
 * the engine calls back (runner_free), which then finds NULL here. */
struct pre_token {
	struct rinst *in;
};

/* pre_start ended (or the service's hooks rendered once): start for real,
 * or fail as a start does. */
static void on_pre_done(int status, void *arg)
{
	struct pre_token *tok = arg;
	struct rinst *in = tok->in;
	char why[128];

	free(tok);
	if (!in)
		return;
	in->pre = NULL;
	in->pre_tok = NULL;
	if (in->state != RS_STARTING || in->r->closing) {
		if (in->state == RS_STARTING)
			set_state(in, RS_NEW, NULL);
		return;
	}
	if (status == UV_ECANCELED) {
		/* Cancelled by a stop or a removal: the pass decides again. */
		set_state(in, RS_NEW, NULL);
		return;
	}
	if (status != 0) {
		if (status > 128 && status < 256)
			snprintf(why, sizeof(why), "pre_start killed by signal %d", status - 128);
		else if (status == UV_ETIMEDOUT)
			snprintf(why, sizeof(why), "pre_start timed out");
		else if (status < 0)
			snprintf(why, sizeof(why), "pre_start could not run: %s", uv_strerror(status));
		else
			snprintf(why, sizeof(why), "pre_start exited %d", status);
		start_failed(in, why);
		return;
	}
	struct rstack *rs = find_stack(in->r, in->stack);
	int idx;
	const struct spec_service *svc = find_service(rs, in->service, &idx);
	if (!svc) {
		set_state(in, RS_NEW, NULL);
		return;
	}
	in->pre_done = true;
	inst_start(in, rs, svc, idx);
}

static void inst_start(struct rinst *in, struct rstack *rs, const struct spec_service *svc, int svc_idx)
{
	struct runner *r = in->r;
	struct strv argv = {0}, env = {0};
	char why[256], *err = NULL;

	if (fs_mkdir_p(in->dir, 0750) < 0) {
		snprintf(why, sizeof(why), "cannot create %s: %s", in->dir, strerror(errno));
		start_failed(in, why);
		return;
	}
	if (runner__assign_ports(in, svc, why, sizeof(why))) {
		start_failed(in, why);
		return;
	}
	if (r->o.hooks && has_hooks(svc) && !in->pre_done) {
		/* First pre_start (and the first render of the service's
		 * on_change templates, which the instance may read). The run
		 * is for this definition: a redeploy meanwhile cancels it. */
		struct strv penv = {0};
		in->run_hash = rs->hashes[svc_idx];
		in->run_restart_gen = svc_restart_gen(rs, in->service);
		runner__build_env(in, svc, &penv);
		set_state(in, RS_STARTING, "running pre_start");
		struct pre_token *tok = XNEW(struct pre_token);
		tok->in = in;
		in->pre_tok = tok;
		hooks_pre_start(r->o.hooks, in->stack, in->service, in->index, penv.v, on_pre_done, tok, &in->pre);
		runner__strv_free(&penv);
		return;
	}
	in->pre_done = false;
	const struct driver_ops *drv = driver_find(driver_for_service(svc));
	bool container = drv != &driver_process_ops;
	if (container != in->container) {
		/* Ports mean other things to a container: assign them anew. */
		runner__release_ports(in);
		in->container = container;
		if (runner__assign_ports(in, svc, why, sizeof(why))) {
			start_failed(in, why);
			return;
		}
	}
	in->drv = drv;
	if (lb_stack_is_lb(svc)) {
		/* berth's own load balancer: `berth lb` on the configuration its
		 * x-berth.lb or lb_config describes, servers from this agent's
		 * catalog. No image is needed. */
		char *lerr = NULL, *sock = xasprintf("%s/berth.sock", r->data_dir);
		json_t *cfg = lb_stack_config(svc, in->stack, sock, &lerr);
		free(sock);
		if (!cfg) {
			set_state(in, RS_FAILED, "%s", lerr);
			emit(in, "instance.failed", json_pack("{s:s}", "reason", lerr));
			free(lerr);
			return;
		}
		char *path = xasprintf("%s/lb.yml", in->dir);
		/* JSON is YAML: lb_config_load reads it as it is. */
		if (runner__write_json_file(path, cfg) < 0) {
			snprintf(why, sizeof(why), "cannot write %s", path);
			free(path);
			json_decref(cfg);
			start_failed(in, why);
			return;
		}
		json_decref(in->urls);
		in->urls = lb_stack_urls(cfg, r->addr);
		json_decref(cfg);
		runner__strv_add(&argv, xstrdup(r->berth));
		runner__strv_add(&argv, xstrdup("lb"));
		runner__strv_add(&argv, xstrdup("-c"));
		runner__strv_add(&argv, path);
	}
	struct strv ep = {0}, cmd = {0};
	if (container) {
		/* The image's entrypoint and command stay unless the service
		 * gives its own, each on its own. */
		for (int i = 0; i < svc->nentrypoint; i++)
			runner__strv_add(&ep, runner__expand(in, svc->entrypoint[i]));
		for (int i = 0; i < svc->ncommand; i++)
			runner__strv_add(&cmd, runner__expand(in, svc->command[i]));
		if (svc->nentrypoint && !ep.n)
			runner__strv_add(&ep, xstrdup("")); /* entrypoint: [] resets the image's */
	} else {
		for (int i = 0; !argv.n && i < svc->nentrypoint; i++)
			runner__strv_add(&argv, runner__expand(in, svc->entrypoint[i]));
		for (int i = 0; i < svc->ncommand && !lb_stack_is_lb(svc); i++)
			runner__strv_add(&argv, runner__expand(in, svc->command[i]));
		if (!argv.n) {
			/* Not worth retrying: nothing will change until a redeploy. */
			set_state(in, RS_FAILED, "%s",
				  svc->image || svc->build ? "x-berth.driver is process, and the service has no command "
							     "to run as a process"
							   : "the service has no command to run");
			emit(in, "instance.failed", json_pack("{s:s}", "reason", in->message));
			runner__strv_free(&argv);
			return;
		}
	}
	runner__build_env(in, svc, &env);
	runner__ensure_bind_paths(svc);

	in->run_seq = next_run_seq(in);
	char *run_dir = xasprintf("%s/runs/%d", in->dir, in->run_seq);
	char *log_path = runner_log_path(r->data_dir, in->stack, in->service, in->index);
	char *cwd = NULL;
	if (svc->working_dir && svc->working_dir[0] == '/')
		cwd = xstrdup(svc->working_dir);
	else if (svc->working_dir)
		cwd = xasprintf("%s/%s", rs->spec->project_dir, svc->working_dir);
	else
		cwd = xstrdup(rs->spec->project_dir);
	fs_mkdir_p(run_dir, 0750);
	json_t *meta = json_pack("{s:I, s:I, s:s}", "hash", (json_int_t)rs->hashes[svc_idx], "restart_gen",
				 (json_int_t)svc_restart_gen(rs, in->service), "driver", drv->name);
	char *meta_path = xasprintf("%s/meta.json", run_dir);
	runner__write_json_file(meta_path, meta);
	json_decref(meta);
	free(meta_path);

	struct driver_port *dports = XNEWV(struct driver_port, (size_t)in->nports + 1);
	for (int i = 0; i < in->nports; i++) {
		const struct spec_port *sp = i < svc->nports ? &svc->ports[i] : NULL;
		dports[i] = (struct driver_port){
			.target = in->ports[i].target ? in->ports[i].target : in->ports[i].host,
			.host = in->ports[i].host,
			.udp = in->ports[i].proto == SPEC_PROTO_UDP,
			.host_ip = sp ? sp->host_ip : NULL,
		};
	}
	char *image = svc->image || svc->build ? (svc->image && svc->image[0] ? xstrdup(svc->image)
									      : xasprintf("%s_%s", in->stack, svc->name))
					       : NULL;
	struct driver_spec ds = {
		.argv = argv.v,
		.env = env.v,
		.cwd = cwd,
		.user = svc->user,
		.stop_signal = svc->stop_signal,
		.stop_grace_ms = svc->stop_grace_period,
		.log_path = log_path,
		.run_dir = run_dir,
		.svc = svc,
		.image = image,
		.project_dir = rs->spec->project_dir,
		.entrypoint = ep.n ? ep.v : NULL,
		.command = cmd.n ? cmd.v : NULL,
		.ports = dports,
		.nports = in->nports,
		.volumes = rs->spec->volumes,
		.nvolumes = rs->spec->nvolumes,
		.stack = in->stack,
		.service = in->service,
		.index = in->index,
		.node = r->node,
		.data_dir = r->data_dir,
		.run = in->run_seq,
	};
	in->run_hash = rs->hashes[svc_idx];
	in->run_restart_gen = svc_restart_gen(rs, in->service);
	in->started_ms = uv_now(r->o.loop);
	int rc = driver_start(drv, r->o.loop, &ds, &run_events, in, r->shim, &in->run, &err);
	if (rc < 0) {
		in->run = NULL;
		snprintf(why, sizeof(why), "%s", err ? err : "cannot start");
		free(err);
		start_failed(in, why);
	} else {
		set_state(in, RS_STARTING, NULL);
		emit(in, "instance.starting", NULL);
	}
	free(image);
	free(dports);
	free(cwd);
	free(log_path);
	free(run_dir);
	runner__strv_free(&argv);
	runner__strv_free(&ep);
	runner__strv_free(&cmd);
	runner__strv_free(&env);
}

static void inst_stop(struct rinst *in, enum after_stop after)
{
	if (in->state == RS_STOPPING) {
		/* Already on its way; a removal wins over a restart. */
		if (after == AFTER_STOP_REMOVE)
			in->after = after;
		return;
	}
	in->after = after;
	runner__health_stop(in);
	/* deregister -> drain -> signal: the catalog record goes first (the
	 * state change unpublishes it), the stop signal only after the drain,
	 * so a load balancer stops sending before the instance stops serving. */
	struct rstack *rs = find_stack(in->r, in->stack);
	const struct spec_service *svc = find_service(rs, in->service, NULL);
	uint64_t drain = in->state == RS_RUNNING && rs && rs->spec && svc ? runner__drain_ms(rs->spec, svc) : 0;
	if (drain)
		set_state(in, RS_STOPPING, "draining for %llums before the stop signal", (unsigned long long)drain);
	else
		set_state(in, RS_STOPPING, NULL);
	if (drain) {
		in->drain_until = uv_now(in->r->o.loop) + drain;
		return;
	}
	in->drain_until = 0;
	driver_stop(in->run);
}

/* ---- depends_on ---- */

/* Whether every dependency of <svc> is where its condition wants it.
 * Health checks come with the discovery milestone: service_healthy waits
 * for the dependency to be running, and for its health to be "healthy"
 * once a check reports one. */
static bool deps_ready(struct runner *r, struct rinst *in, const struct spec_service *svc, char *why, size_t cap)
{
	for (int d = 0; d < svc->ndepends_on; d++) {
		const struct spec_dep *dep = &svc->depends_on[d];
		char *prefix = xasprintf("/berth/status/%s/%s/", in->stack, dep->service);
		int i = mirror_lower_bound(r->status, prefix);
		int total = 0, ok = 0;
		for (; i < r->status->n && strncmp(r->status->e[i].key, prefix, strlen(prefix)) == 0; i++) {
			json_t *st = r->status->e[i].json;
			const char *state = json_string_value(json_object_get(st, "state"));
			const char *health = json_string_value(json_object_get(st, "health"));
			total++;
			if (!state)
				continue;
			switch (dep->condition) {
			case SPEC_DEP_STARTED:
				ok += strcmp(state, "running") == 0;
				break;
			case SPEC_DEP_HEALTHY:
				ok += strcmp(state, "running") == 0 && health &&
				      (strcmp(health, "healthy") == 0 || strcmp(health, "none") == 0);
				break;
			case SPEC_DEP_COMPLETED:
				ok += strcmp(state, "exited") == 0 &&
				      json_integer_value(json_object_get(st, "exit_code")) == 0 &&
				      json_is_integer(json_object_get(st, "exit_code"));
				break;
			}
		}
		free(prefix);
		/* Instances of a dependency allocated but not reported yet count
		 * as not ready; a dependency with none at all is only awaited
		 * when required and actually scheduled somewhere. */
		struct rstack *rs = find_stack(r, in->stack);
		const struct spec_service *ds = find_service(rs, dep->service, NULL);
		int want = ds ? (ds->deploy.mode == SPEC_MODE_GLOBAL ? total : ds->deploy.replicas) : 0;
		/* berth scale overrides the file's count. */
		json_t *over = json_object_get(svc_state(rs, dep->service), "replicas");
		if (ds && ds->deploy.mode != SPEC_MODE_GLOBAL && json_is_integer(over))
			want = (int)json_integer_value(over);
		if (svc_stopped(rs, dep->service))
			want = 0;
		if ((want > 0 && (ok < want || total < want)) || (total > 0 && ok < total && dep->condition == SPEC_DEP_COMPLETED)) {
			if (!dep->required && !ds)
				continue;
			snprintf(why, cap, "waiting for %s (%s: %d/%d)", dep->service,
				 dep->condition == SPEC_DEP_COMPLETED ? "completed" : dep->condition == SPEC_DEP_HEALTHY ? "healthy" : "running",
				 ok, want > total ? want : total);
			return false;
		}
	}
	return true;
}

/* ---- the reconcile pass ---- */

/* A draining instance: signal it once its drain is over. */
static void drain_step(struct rinst *in, uint64_t now, uint64_t *next_due)
{
	if (now >= in->drain_until) {
		in->drain_until = 0;
		in->message[0] = 0;
		in->status_dirty = true;
		driver_stop(in->run);
		return;
	}
	if (!*next_due || in->drain_until < *next_due)
		*next_due = in->drain_until;
}

static void reconcile_inst(struct runner *r, struct rinst *in, uint64_t now, uint64_t *next_due)
{
	struct rstack *rs = find_stack(r, in->stack);
	int svc_idx = -1;
	const struct spec_service *svc = find_service(rs, in->service, &svc_idx);
	char why[256];

	/* What ps shows before a first run: the driver that will run it. */
	if (svc && !in->run)
		in->drv = driver_find(driver_for_service(svc));
	if (!in->wanted || !svc) {
		if (in->pre) {
			hooks_pre_cancel(in->pre);
			return;
		}
		if (in->run) {
			inst_stop(in, AFTER_STOP_REMOVE);
			if (in->drain_until)
				drain_step(in, now, next_due);
			return;
		}
		if (in->state != RS_STARTING && in->state != RS_STOPPING)
			inst_remove(in);
		return;
	}
	/* The status says which deploy the instance has caught up with, so
	 * `berth up -d` can wait for the new one, not see the old states. */
	int64_t gen = (int64_t)json_integer_value(json_object_get(rs->record, "generation"));
	if (gen != in->generation) {
		in->generation = gen;
		in->status_dirty = true;
	}
	runner__logs_sync(in, rs, svc, svc_idx);
	if (in->pre && (svc_stopped(rs, in->service) ||
			in->run_hash != rs->hashes[svc_idx] || in->run_restart_gen != svc_restart_gen(rs, in->service))) {
		hooks_pre_cancel(in->pre); /* on_pre_done(UV_ECANCELED) follows */
		return;
	}
	if (in->state == RS_STOPPING || in->state == RS_STARTING) {
		if (in->state == RS_STOPPING && in->after == AFTER_STOP_REMOVE)
			in->after = AFTER_STOP_IDLE; /* allocated again meanwhile */
		if (in->state == RS_STOPPING && in->drain_until)
			drain_step(in, now, next_due);
		return;
	}
	if (in->away_exit) {
		/* Its run ended while no agent watched: the restart policy
		 * decides now, as if we had seen the exit. */
		struct restart_policy pol;
		uint64_t delay;
		in->away_exit = false;
		restart_policy_of(svc, &pol);
		if (restart_decide(&pol, &in->hist, in->exit_code, in->signal, 0, &delay)) {
			in->due_ms = now;
			set_state(in, RS_RESTARTING, "ended while the agent was down; restarting");
		} else {
			set_state(in, RS_EXITED, "ended while the agent was down (exit code %d)", in->exit_code);
		}
	}
	bool stopped = svc_stopped(rs, in->service);
	if (stopped) {
		if (in->run) {
			inst_stop(in, AFTER_STOP_IDLE);
			if (in->drain_until)
				drain_step(in, now, next_due);
		} else if (in->state != RS_STOPPED)
			set_state(in, RS_STOPPED, NULL);
		return;
	}
	bool changed = in->run_hash != rs->hashes[svc_idx] || in->run_restart_gen != svc_restart_gen(rs, in->service);
	if (in->run) {
		if (changed || in->restart_unhealthy) {
			if (!changed) {
				/* Unhealthy: replaced, as a failure (it counts). */
				in->hist.restarts++;
				in->unhealthy_restart = true;
				log_warn("runner", "%s/%s.%d is unhealthy: restarting it", in->stack, in->service, in->index);
			}
			in->restart_unhealthy = false;
			inst_stop(in, AFTER_STOP_RESTART);
			if (in->drain_until)
				drain_step(in, now, next_due);
			return;
		}
		if (in->state == RS_RUNNING && !in->check_started) {
			/* Started here or adopted: its check starts now (with the
			 * run's environment, rebuilt the same way). */
			struct strv env = {0};
			char *cwd = svc->working_dir && svc->working_dir[0] == '/' ? xstrdup(svc->working_dir)
				    : svc->working_dir ? xasprintf("%s/%s", rs->spec->project_dir, svc->working_dir)
						       : xstrdup(rs->spec->project_dir);
			runner__build_env(in, svc, &env);
			in->check_started = true;
			runner__health_start(in, rs->spec, svc, env.v, cwd);
			in->status_dirty = true;
			runner__strv_free(&env);
			free(cwd);
		}
		return;
	}
	switch (in->state) {
	case RS_RESTARTING:
		if (now < in->due_ms) {
			if (!*next_due || in->due_ms < *next_due)
				*next_due = in->due_ms;
			return;
		}
		break;
	case RS_EXITED:
	case RS_FAILED:
		/* Down for good, unless the service was redeployed or restarted. */
		if (!changed)
			return;
		in->hist = (struct restart_history){0};
		break;
	case RS_STOPPED:
		/* berth start: a fresh start. */
		in->hist = (struct restart_history){0};
		break;
	default:
		break;
	}
	if (!deps_ready(r, in, svc, why, sizeof(why))) {
		if (in->state != RS_WAITING || strcmp(in->message, why) != 0)
			set_state(in, RS_WAITING, "%s", why);
		return;
	}
	inst_start(in, rs, svc, svc_idx);
}

/* The hook engine runs a service's on_change hooks on the nodes where the
 * service has instances: here, those with one allocated to this node. */
static void sync_hooks(struct runner *r)
{
	struct strv want = {0};

	if (!r->o.hooks)
		return;
	for (struct rinst *in = r->insts; in; in = in->next) {
		struct rstack *rs = find_stack(r, in->stack);
		const struct spec_service *svc = find_service(rs, in->service, NULL);
		if (!in->wanted || !svc || !has_hooks(svc))
			continue;
		char *key = xasprintf("%s/%s", in->stack, in->service);
		bool dup = false;
		for (int i = 0; i < want.n && !dup; i++)
			dup = strcmp(want.v[i], key) == 0;
		if (dup) {
			free(key);
			continue;
		}
		runner__strv_add(&want, key);
		bool known = false;
		for (int i = 0; i < r->hooked.n && !known; i++)
			known = strcmp(r->hooked.v[i], key) == 0;
		/* New here, or its stack changed: (re)configure; an unchanged
		 * config keeps its hooks running. */
		if (!known || !rs->hooks_synced) {
			struct strv env = {0};
			char *err = NULL;
			runner__service_env(svc, &env);
			if (hooks_set_service(r->o.hooks, in->stack, svc, rs->spec->project_dir, env.v, &err) < 0) {
				log_error("runner", "services.%s: on_change: %s", svc->name, err);
				free(err);
			}
			runner__strv_free(&env);
		}
	}
	for (struct rstack *rs = r->rstacks; rs; rs = rs->next)
		rs->hooks_synced = true;
	for (int i = 0; i < r->hooked.n; i++) {
		bool keep = false;
		for (int k = 0; k < want.n && !keep; k++)
			keep = strcmp(want.v[k], r->hooked.v[i]) == 0;
		if (!keep) {
			char *slash = strchr(r->hooked.v[i], '/');
			*slash = 0;
			hooks_remove_service(r->o.hooks, r->hooked.v[i], slash + 1);
			*slash = '/';
		}
	}
	runner__strv_free(&r->hooked);
	r->hooked = want;
}

static void on_due(uv_timer_t *t)
{
	schedule(t->data);
}

static void pass(struct runner *r)
{
	uint64_t now = uv_now(r->o.loop), next_due = 0;
	const char *prefix = r->allocs->prefix;
	size_t plen = strlen(prefix);

	if (!r->allocs->ready || !r->stacks->ready || !r->status->ready)
		return;
	r->in_pass = true;
	sync_stacks(r);
	for (struct rinst *in = r->insts; in; in = in->next)
		in->wanted = false;
	/* Allocation keys: <prefix><stack>/<svc>/<idx>. */
	for (int i = 0; i < r->allocs->n; i++) {
		const char *rest = r->allocs->e[i].key + plen;
		char stack[256], svc[256];
		int idx;
		if (sscanf(rest, "%255[^/]/%255[^/]/%d", stack, svc, &idx) != 3 || idx < 1)
			continue;
		struct rinst *in = find_inst(r, stack, svc, idx);
		if (!in)
			in = inst_new(r, stack, svc, idx);
		in->wanted = true;
	}
	sync_hooks(r);
	/* inst_remove unlinks: walk with a saved next. */
	for (struct rinst *in = r->insts, *next; in; in = next) {
		next = in->next;
		reconcile_inst(r, in, now, &next_due);
	}
	r->in_pass = false;
	flush_status(r);
	if (next_due)
		uv_timer_start(&r->due, on_due, next_due > now ? next_due - now : 0, 0);
}

static void on_kick(uv_timer_t *t)
{
	struct runner *r = t->data;

	if (!r->closing)
		pass(r);
}

static void schedule(struct runner *r)
{
	if (r->closing || !r->started || r->in_pass)
		return;
	if (!uv_is_active((uv_handle_t *)&r->kick))
		uv_timer_start(&r->kick, on_kick, 0, 0);
}

static void on_mirror(struct mirror *m, void *arg)
{
	schedule(arg);
}

/* ---- adoption ---- */

/* Finds the runs earlier agents left under DATA/instances and takes over
 * the live ones; the others become instances whose last run ended. */
static void adopt_all(struct runner *r)
{
	char *root = xasprintf("%s/instances", r->data_dir);
	DIR *ds = opendir(root);
	struct dirent *a, *b, *c;

	if (!ds) {
		free(root);
		return;
	}
	while ((a = readdir(ds))) {
		if (a->d_name[0] == '.')
			continue;
		char *sdir = xasprintf("%s/%s", root, a->d_name);
		DIR *dv = opendir(sdir);
		while (dv && (b = readdir(dv))) {
			if (b->d_name[0] == '.')
				continue;
			char *vdir = xasprintf("%s/%s", sdir, b->d_name);
			DIR *di = opendir(vdir);
			while (di && (c = readdir(di))) {
				int idx = atoi(c->d_name);
				if (idx < 1)
					continue;
				struct rinst *in = inst_new(r, a->d_name, b->d_name, idx);
				runner__load_ports(in);
				int seq = next_run_seq(in) - 1;
				in->run_seq = seq;
				if (seq < 1) {
					/* Never ran: nothing to adopt. */
					continue;
				}
				char *run_dir = xasprintf("%s/runs/%d", in->dir, seq);
				char *meta_path = xasprintf("%s/meta.json", run_dir);
				json_t *meta = runner__read_json_file(meta_path);
				in->run_hash = (uint64_t)json_integer_value(json_object_get(meta, "hash"));
				in->run_restart_gen = json_integer_value(json_object_get(meta, "restart_gen"));
				/* Runs from before drivers were recorded are the process driver's. */
				in->drv = driver_find(json_string_value(json_object_get(meta, "driver")));
				if (!in->drv)
					in->drv = &driver_process_ops;
				in->container = in->drv != &driver_process_ops;
				json_decref(meta);
				free(meta_path);
				int code, sig;
				int rc = driver_adopt(in->drv, r->o.loop, run_dir, &run_events, in, &in->run, &code, &sig);
				if (rc == 1) {
					in->pid = in->run->pid;
					in->started_ms = uv_now(r->o.loop);
					set_state(in, RS_RUNNING, NULL);
					log_info("runner", "adopted %s/%s.%d (%s, pid %d)", in->stack, in->service, in->index,
						 in->drv->name, (int)in->pid);
					emit(in, "instance.adopted", json_pack("{s:i}", "pid", in->pid));
				} else {
					/* It ended while no agent watched: the restart
					 * policy decides, as if we had seen it. */
					in->run = NULL;
					in->exit_code = code;
					in->signal = sig;
					in->away_exit = true;
					in->state = RS_EXITED;
				}
				free(run_dir);
			}
			if (di)
				closedir(di);
			free(vdir);
		}
		if (dv)
			closedir(dv);
		free(sdir);
	}
	closedir(ds);
	free(root);
}

/* ---- lifetime ---- */

struct runner *runner_new(const struct runner_opts *o)
{
	struct runner *r = XNEW(struct runner);

	r->o = *o;
	r->node = xstrdup(o->node);
	r->addr = xstrdup(o->addr);
	r->data_dir = xstrdup(o->data_dir);
	r->shim = xstrdup(o->shim);
	r->berth = xstrdup(o->berth ? o->berth : "berth");
	ports_init(&r->ports, o->port_min, o->port_max);
	uv_timer_init(o->loop, &r->kick);
	uv_timer_init(o->loop, &r->due);
	r->kick.data = r->due.data = r;
	r->handles = 2;
	return r;
}

void runner_start(struct runner *r, int64_t lease)
{
	char *prefix = xasprintf("/berth/alloc/%s/", r->node);

	r->lease = lease;
	adopt_all(r);
	r->allocs = mirror_new(r->o.st, prefix, on_mirror, r);
	r->stacks = mirror_new(r->o.st, "/berth/stacks/", on_mirror, r);
	r->status = mirror_new(r->o.st, "/berth/status/", on_mirror, r);
	free(prefix);
	r->started = true;
	schedule(r);
}

void runner_set_lease(struct runner *r, int64_t lease)
{
	r->lease = lease;
	/* Records bound to the old lease went with it: write them all again. */
	for (struct rinst *in = r->insts; in; in = in->next) {
		in->status_dirty = true;
		free(in->cat_value);
		in->cat_value = NULL;
	}
	schedule(r);
}

static void on_runner_handle_closed(uv_handle_t *h)
{
	struct runner *r = h->data;

	r->handles--;
	maybe_finish(r);
}

void runner_free(struct runner *r, void (*done)(void *arg), void *arg)
{
	r->closing = true;
	r->done = done;
	r->done_arg = arg;
	mirror_free(r->allocs);
	mirror_free(r->stacks);
	mirror_free(r->status);
	/* The instances keep running under their shims; only our watch on
	 * them ends. */
	while (r->insts) {
		struct rinst *in = r->insts;
		r->insts = in->next;
		runner__health_stop(in);
		if (in->pre) {
			in->pre_tok->in = NULL; /* its callback comes later */
			hooks_pre_cancel(in->pre);
		}
		if (in->run)
			driver_release(in->run);
		runner__release_ports(in);
		inst_free(in);
	}
	/* No run needs the engine's connections any more. */
	driver_docker_shutdown();
	while (r->rstacks) {
		struct rstack *rs = r->rstacks;
		r->rstacks = rs->next;
		rstack_free(rs);
	}
	free(r->node);
	free(r->addr);
	free(r->data_dir);
	free(r->shim);
	free(r->berth);
	runner__strv_free(&r->hooked);
	uv_close((uv_handle_t *)&r->kick, on_runner_handle_closed);
	uv_close((uv_handle_t *)&r->due, on_runner_handle_closed);
}
