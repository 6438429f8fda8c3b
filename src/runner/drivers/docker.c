/* The docker driver: an instance is a container of the Docker engine,
 * driven through the Engine API (docker_api.c) on the agent's loop.
 *
 * A run goes: create (pulling or building the image when the engine has
 * none), start, then three transfers at once: the log stream (frames to
 * CRI records in the instance's log, as the shim writes them), a wait for
 * the exit, and an inspect for the pid. Once the container has stopped and
 * its output is drained, it is removed and the exit reported, so `berth
 * down` returns when the containers are gone. berth restarts by its own
 * policy: a restart is a new container.
 *
 * Containers are named per instance and agent (docker__container_name)
 * and labelled (berth.stack, berth.service, berth.index, berth.node,
 * berth.data-dir, berth.run). The run directory keeps docker.json (name,
 * id, pid, log path, stop settings): an agent that restarts finds its
 * containers again by that name, re-attaches to their logs after the last
 * record it wrote, and starts no duplicates. docs/docker.md is the user's
 * reference. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/log.h"
#include "core/mem.h"
#include "runner/drivers/docker.h"

#define DOCKER_CALL_TIMEOUT_MS 60000 /* create, start, inspect, kill, delete */
#define PROGRESS_LOG_EVERY_MS 1000   /* pull and build progress in the agent's log */

enum dk_phase {
	DK_CREATE = 0,   /* creating the container. Please keep at zero. */
	DK_IMAGE,        /* pulling or building the image */
	DK_START,        /* starting it */
	DK_RUNNING,      /* started (or adopted): logs, wait, inspect under way */
	DK_REMOVING,     /* it stopped: removing it */
	DK_DONE,         /* exited or failed was reported */
};

struct dk_run {
	struct driver_run run;
	struct docker__client *c;
	enum dk_phase phase;
	char *name;                  /* the container's name */
	char *id;                    /* its id, once created */
	char *image;
	char *log_path;
	json_t *create;              /* the create body */
	struct spec_build *build;    /* how to build the image (owned copy); NULL: pull it */
	char *project_dir;
	int stop_signal;
	uint64_t grace_ms;
	struct docker__req *rq;      /* the current step's request */
	struct docker__req *logs;    /* the log stream */
	struct docker__req *wait;
	struct docker__req *inspect;
	struct docker__req *kill;
	uv_timer_t kill_timer;       /* stop_grace_period, then SIGKILL */
	bool timer_on;
	int handles;                 /* open libuv handles */
	struct docker__demux dmx;
	struct docker__logw lw;
	struct docker__progress prog;
	uint64_t prog_logged_ms;
	bool logs_done, wait_done;
	bool drained;                /* the last read of the logs, once stopped, was made */
	bool not_muxed;              /* the log stream had no frames: said once */
	long exit_status;            /* from the wait; -1 unknown */
	bool stop_wanted;            /* stop asked: kill once it runs, or never start it */
	bool signalled;              /* berth sent it a signal */
	bool created_retry;          /* create was retried after removing a leftover */
	bool image_tried;            /* the image was pulled or built once for this run */
	bool released;
	char why[1024];              /* a failure being reported after the removal */
	bool failing;
};

static void step_create(struct dk_run *d);
static void step_start(struct dk_run *d);
static void step_remove(struct dk_run *d);

/* ---- life of the struct ---- */

static void maybe_free(struct dk_run *d)
{
	if (!d->released || d->handles > 0)
		return;
	docker__demux_free(&d->dmx);
	docker__progress_free(&d->prog);
	if (d->lw.fd >= 0)
		close(d->lw.fd);
	json_decref(d->create);
	if (d->build) {
		free(d->build->context);
		free(d->build->dockerfile);
		free(d->build->target);
		for (int i = 0; i < d->build->nargs; i++) {
			free(d->build->args[i].key);
			free(d->build->args[i].value);
		}
		free(d->build->args);
		free(d->build);
	}
	free(d->project_dir);
	free(d->name);
	free(d->id);
	free(d->image);
	free(d->log_path);
	free(d->run.run_dir);
	free(d);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct dk_run *d = h->data;

	d->handles--;
	maybe_free(d);
}

static struct dk_run *run_new(uv_loop_t *loop, const struct driver_events *ev, void *arg, const char *run_dir)
{
	struct dk_run *d = XNEW(struct dk_run);

	d->run.ops = &driver_docker_ops;
	d->run.loop = loop;
	d->run.ev = ev;
	d->run.arg = arg;
	d->run.run_dir = xstrdup(run_dir);
	d->run.priv = d;
	d->c = docker__client_get(loop);
	d->exit_status = -1;
	d->lw.fd = -1;
	docker__demux_init(&d->dmx);
	docker__progress_init(&d->prog);
	uv_timer_init(loop, &d->kill_timer);
	d->kill_timer.data = d;
	d->handles = 1;
	return d;
}

/* docker.json: what an agent that restarts needs to find the container. */
static void save_state(struct dk_run *d)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:I}", "name", d->name, "image", d->image, "log", d->log_path,
			      "stop_signal", d->stop_signal, "stop_grace_ms", (json_int_t)d->grace_ms);
	if (d->id)
		json_object_set_new(j, "id", json_string(d->id));
	if (d->run.pid > 0)
		json_object_set_new(j, "pid", json_integer(d->run.pid));
	char *path = xasprintf("%s/docker.json", d->run.run_dir);
	char *tmp = xasprintf("%s.tmp", path);
	/* Written aside and renamed: a kill -9 never leaves half a file. */
	if (json_dump_file(j, tmp, JSON_COMPACT) == 0)
		rename(tmp, path);
	else
		log_warn("docker", "%s: cannot write %s: %s", d->name, tmp, strerror(errno));
	free(tmp);
	free(path);
	json_decref(j);
}

/* ---- reporting ---- */

static void report_exited(struct dk_run *d)
{
	int code, sig;

	if (d->phase == DK_DONE)
		return;
	d->phase = DK_DONE;
	if (d->failing) {
		d->run.ev->failed(&d->run, d->why, d->run.arg);
		return;
	}
	docker__exit_status(d->exit_status, d->signalled, &code, &sig);
	if (d->exit_status < 0) {
		code = -1;
		sig = d->signalled ? (d->stop_signal ? d->stop_signal : SIGTERM) : 0;
	}
	d->run.ev->exited(&d->run, code, sig, d->run.arg);
}

/* Nothing runs: report why, after removing what was created. */
static void fail(struct dk_run *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct dk_run *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	d->failing = true;
	if (d->id) {
		step_remove(d);
		return;
	}
	report_exited(d);
}

static const char *resp_why(const struct docker__resp *r)
{
	return r->error ? r->error : r->message[0] ? r->message : "no reason given";
}

/* ---- removing ---- */

static void on_removed(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->rq = NULL;
	if (r->error || (r->status >= 300 && r->status != 404))
		log_warn("docker", "%s: could not remove the container: %s", d->name, resp_why(r));
	report_exited(d);
}

static void step_remove(struct dk_run *d)
{
	char path[512];

	if (d->phase == DK_REMOVING || d->phase == DK_DONE)
		return;
	d->phase = DK_REMOVING;
	if (d->timer_on) {
		uv_timer_stop(&d->kill_timer);
		d->timer_on = false;
	}
	docker__cancel(d->kill);
	d->kill = NULL;
	docker__cancel(d->inspect);
	d->inspect = NULL;
	docker__cancel(d->rq);
	/* v=1: its anonymous volumes go with it, as with docker-compose down. */
	snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", d->id ? d->id : d->name);
	d->rq = docker__call(d->c, "DELETE", path, NULL, NULL, 0, DOCKER_CALL_TIMEOUT_MS, NULL, on_removed, d);
}

static void on_log_data(const char *p, size_t n, void *arg);
static void on_logs_done(const struct docker__resp *r, void *arg);

/* The run ends once the container stopped and all its output is in. A
 * follower can end a hair before the engine has stored the last lines of
 * a container that exits (its copier races the follower's end), so once
 * the wait has answered, the stored log is read once more from the last
 * frame written on: nothing is lost, nothing is written twice. */
static void maybe_ended(struct dk_run *d)
{
	char path[512];

	if (!d->wait_done || !d->logs_done || d->phase != DK_RUNNING)
		return;
	if (!d->drained && d->id && d->exit_status >= 0) {
		d->drained = true;
		d->logs_done = false;
		docker__demux_free(&d->dmx);
		docker__demux_init(&d->dmx);
		d->lw.since = d->lw.last;
		snprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&stderr=1&timestamps=1&since=%lld.%09ld", d->id,
			 (long long)d->lw.last.tv_sec, d->lw.last.tv_nsec);
		d->logs = docker__call(d->c, "GET", path, NULL, NULL, 0, DOCKER_CALL_TIMEOUT_MS, on_log_data,
				       on_logs_done, d);
		return;
	}
	docker__logw_finish(&d->lw);
	step_remove(d);
}

/* ---- running: logs, wait, inspect ---- */

static void on_log_data(const char *p, size_t n, void *arg)
{
	struct dk_run *d = arg;

	if (docker__demux_feed(&d->dmx, p, n, docker__logw_frame, &d->lw) < 0 && !d->not_muxed) {
		/* Reported once: later bytes are ignored by the demuxer. */
		d->not_muxed = true;
		log_warn("docker", "%s: the log stream is not multiplexed (a TTY?); its output is not recorded",
			 d->name);
	}
}

static void on_logs_done(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->logs = NULL;
	if (r->error || r->status >= 300)
		log_warn("docker", "%s: the log stream ended: %s", d->name, resp_why(r));
	d->logs_done = true;
	maybe_ended(d);
}

static void on_wait(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->wait = NULL;
	d->wait_done = true;
	if (!r->error && r->status == 200) {
		json_t *j = json_loadb(r->body, r->len, 0, NULL);
		json_t *code = json_object_get(j, "StatusCode");
		if (json_is_integer(code))
			d->exit_status = (long)json_integer_value(code);
		json_decref(j);
	} else {
		log_warn("docker", "%s: waiting for the container failed: %s", d->name, resp_why(r));
		/* The engine went away or lost it: nothing more will come. */
		docker__cancel(d->logs);
		d->logs = NULL;
		d->logs_done = true;
	}
	maybe_ended(d);
}

static void on_inspect(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->inspect = NULL;
	if (!r->error && r->status == 200) {
		json_t *j = json_loadb(r->body, r->len, 0, NULL);
		json_int_t pid = json_integer_value(json_object_get(json_object_get(j, "State"), "Pid"));
		if (pid > 0)
			d->run.pid = (pid_t)pid;
		json_decref(j);
	}
	save_state(d);
	if (!d->run.adopted)
		d->run.ev->started(&d->run, d->run.pid, d->run.arg);
}

static void send_kill(struct dk_run *d, int sig);

static void on_kill_timer(uv_timer_t *t)
{
	struct dk_run *d = t->data;

	d->timer_on = false;
	log_info("docker", "%s: still running %llums after its stop signal: SIGKILL", d->name,
		 (unsigned long long)d->grace_ms);
	send_kill(d, SIGKILL);
}

static void on_killed(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->kill = NULL;
	/* 409: it is not running any more, which is what was wanted. */
	if (r->error || (r->status >= 300 && r->status != 409 && r->status != 404))
		log_warn("docker", "%s: sending a signal failed: %s", d->name, resp_why(r));
}

static void send_kill(struct dk_run *d, int sig)
{
	char path[512];
	const char *name = spec_signal_name(sig);

	docker__cancel(d->kill);
	if (name)
		snprintf(path, sizeof(path), "/containers/%s/kill?signal=%s", d->id, name);
	else
		snprintf(path, sizeof(path), "/containers/%s/kill?signal=%d", d->id, sig);
	d->signalled = true;
	d->kill = docker__call(d->c, "POST", path, NULL, NULL, 0, DOCKER_CALL_TIMEOUT_MS, NULL, on_killed, d);
}

static void begin_stop(struct dk_run *d)
{
	send_kill(d, d->stop_signal ? d->stop_signal : SIGTERM);
	if (d->grace_ms) {
		uv_timer_start(&d->kill_timer, on_kill_timer, d->grace_ms, 0);
		d->timer_on = true;
	} else {
		send_kill(d, SIGKILL);
	}
}

/* Follows a started (or adopted) container: output from <since> on. */
static void follow(struct dk_run *d, const struct timespec *since)
{
	char path[512];

	d->phase = DK_RUNNING;
	if (d->lw.fd < 0) {
		d->lw.fd = open(d->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (d->lw.fd < 0)
			log_warn("docker", "%s: cannot open %s: %s; its output is not recorded", d->name, d->log_path,
				 strerror(errno));
	}
	int fd = d->lw.fd;
	docker__logw_init(&d->lw, fd, since);
	if (since && since->tv_sec)
		snprintf(path, sizeof(path), "/containers/%s/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=%lld.%09ld",
			 d->id, (long long)since->tv_sec, since->tv_nsec);
	else
		snprintf(path, sizeof(path), "/containers/%s/logs?follow=1&stdout=1&stderr=1&timestamps=1", d->id);
	d->logs = docker__call(d->c, "GET", path, NULL, NULL, 0, 0, on_log_data, on_logs_done, d);
	snprintf(path, sizeof(path), "/containers/%s/wait", d->id);
	d->wait = docker__call(d->c, "POST", path, NULL, NULL, 0, 0, NULL, on_wait, d);
	snprintf(path, sizeof(path), "/containers/%s/json", d->id);
	d->inspect = docker__call(d->c, "GET", path, NULL, NULL, 0, DOCKER_CALL_TIMEOUT_MS, NULL, on_inspect, d);
	if (d->stop_wanted)
		begin_stop(d);
}

/* ---- starting ---- */

static void on_started(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->rq = NULL;
	if (r->error || (r->status != 204 && r->status != 304)) {
		fail(d, "cannot start container %s (image %s): %s", d->name, d->image, resp_why(r));
		return;
	}
	follow(d, NULL);
}

static void step_start(struct dk_run *d)
{
	char path[512];

	if (d->stop_wanted) {
		/* Stopped before it ran: it never will. */
		d->signalled = true;
		step_remove(d);
		return;
	}
	d->phase = DK_START;
	save_state(d);
	snprintf(path, sizeof(path), "/containers/%s/start", d->id);
	d->rq = docker__call(d->c, "POST", path, NULL, NULL, 0, DOCKER_CALL_TIMEOUT_MS, NULL, on_started, d);
}

/* ---- the image: pull or build ---- */

static void on_progress_text(void *ctx, const char *text)
{
	struct dk_run *d = ctx;
	uint64_t now = uv_now(d->run.loop);

	if (now - d->prog_logged_ms < PROGRESS_LOG_EVERY_MS && d->prog.lines > 1)
		return;
	d->prog_logged_ms = now;
	log_info("docker", "%s %s: %s", d->build ? "building" : "pulling", d->image, text);
}

static void on_progress_data(const char *p, size_t n, void *arg)
{
	struct dk_run *d = arg;

	docker__progress_feed(&d->prog, p, n, on_progress_text, d);
}

static void on_image(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->rq = NULL;
	docker__progress_finish(&d->prog, on_progress_text, d);
	const char *err = r->error ? r->error : r->status >= 300 ? resp_why(r) : d->prog.error;
	if (err) {
		if (d->build)
			fail(d, "cannot build image %s from %s: %s", d->image, d->build->context, err);
		else
			fail(d, "image %s is not on the Docker engine at %s and could not be pulled: %s", d->image,
			     docker__client_host(d->c), err);
		return;
	}
	log_info("docker", "%s %s: done", d->build ? "built" : "pulled", d->image);
	step_create(d);
}

static void step_build(struct dk_run *d)
{
	struct buf tar = {0}, q = {0};
	char *err = NULL;
	const struct spec_build *b = d->build;

	if (strstr(b->context, "://")) {
		fail(d, "cannot build image %s: a build context URL (%s) is not supported; use a directory", d->image,
		     b->context);
		return;
	}
	/* The context is read on the loop: build contexts are source trees,
	 * and a build happens once per missing image. */
	if (docker__tar_dir(b->context, &tar, &err) < 0) {
		fail(d, "cannot build image %s: %s", d->image, err);
		free(err);
		buf_free(&tar);
		return;
	}
	char *t = docker__urlenc(d->image), *df = docker__urlenc(b->dockerfile ? b->dockerfile : "Dockerfile");
	buf_appendf(&q, "/build?rm=1&forcerm=1&t=%s&dockerfile=%s", t, df);
	free(t);
	free(df);
	if (b->target) {
		char *tg = docker__urlenc(b->target);
		buf_appendf(&q, "&target=%s", tg);
		free(tg);
	}
	if (b->nargs) {
		json_t *args = json_object();
		for (int i = 0; i < b->nargs; i++)
			json_object_set_new(args, b->args[i].key, json_string(b->args[i].value));
		char *text = json_dumps(args, JSON_COMPACT);
		char *enc = docker__urlenc(text);
		buf_appendf(&q, "&buildargs=%s", enc);
		free(enc);
		free(text);
		json_decref(args);
	}
	buf_append(&q, "", 1);
	log_info("docker", "building %s from %s (%zu bytes of context)", d->image, b->context, tar.data);
	d->phase = DK_IMAGE;
	d->rq = docker__call(d->c, "POST", buf_ptr(&q), "application/x-tar", buf_ptr(&tar), tar.data, 0,
			     on_progress_data, on_image, d);
	buf_free(&q);
	buf_free(&tar);
}

static void step_pull(struct dk_run *d)
{
	char *repo, *tag, path[1024];

	docker__split_ref(d->image, &repo, &tag);
	char *r = docker__urlenc(repo), *t = tag ? docker__urlenc(tag) : NULL;
	if (t)
		snprintf(path, sizeof(path), "/images/create?fromImage=%s&tag=%s", r, t);
	else
		snprintf(path, sizeof(path), "/images/create?fromImage=%s", r);
	free(r);
	free(t);
	free(repo);
	free(tag);
	log_info("docker", "image %s is not on the engine: pulling it", d->image);
	d->phase = DK_IMAGE;
	d->rq = docker__call(d->c, "POST", path, NULL, NULL, 0, 0, on_progress_data, on_image, d);
}

/* ---- creating ---- */

static void on_leftover_removed(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;

	d->rq = NULL;
	if (r->error || (r->status >= 300 && r->status != 404)) {
		fail(d, "a container named %s is in the way and cannot be removed: %s", d->name, resp_why(r));
		return;
	}
	step_create(d);
}

static void on_created(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;
	char path[512];

	d->rq = NULL;
	if (!r->error && r->status == 201) {
		json_t *j = json_loadb(r->body, r->len, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "Id"));
		if (id)
			d->id = xstrdup(id);
		json_decref(j);
		if (!d->id) {
			fail(d, "the engine created %s but gave no id", d->name);
			return;
		}
		step_start(d);
		return;
	}
	if (!r->error && r->status == 404 && !d->image_tried) {
		/* No such image: get it, then create again. */
		d->image_tried = true;
		if (d->build)
			step_build(d);
		else
			step_pull(d);
		return;
	}
	if (!r->error && r->status == 409 && !d->created_retry) {
		/* A container of an earlier run that was never removed (the
		 * agent died before it could): ours by its name. */
		d->created_retry = true;
		snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", d->name);
		d->rq = docker__call(d->c, "DELETE", path, NULL, NULL, 0, DOCKER_CALL_TIMEOUT_MS, NULL,
				     on_leftover_removed, d);
		return;
	}
	fail(d, "cannot create container %s (image %s): %s", d->name, d->image, resp_why(r));
}

static void step_create(struct dk_run *d)
{
	char path[512];

	if (d->stop_wanted) {
		d->signalled = true;
		report_exited(d);
		return;
	}
	d->phase = DK_CREATE;
	char *body = json_dumps(d->create, JSON_COMPACT);
	snprintf(path, sizeof(path), "/containers/create?name=%s", d->name);
	d->rq = docker__call(d->c, "POST", path, "application/json", body, strlen(body), DOCKER_CALL_TIMEOUT_MS, NULL,
			     on_created, d);
	free(body);
}

static struct spec_build *build_copy(const struct spec_build *b, const char *project_dir)
{
	struct spec_build *c = XNEW(struct spec_build);

	c->context = b->context[0] == '/' || strstr(b->context, "://") ? xstrdup(b->context)
									: xasprintf("%s/%s", project_dir, b->context);
	c->dockerfile = b->dockerfile ? xstrdup(b->dockerfile) : NULL;
	c->target = b->target ? xstrdup(b->target) : NULL;
	c->args = XNEWV(struct spec_kv, (size_t)b->nargs + 1);
	c->nargs = b->nargs;
	for (int i = 0; i < b->nargs; i++) {
		c->args[i].key = xstrdup(b->args[i].key);
		c->args[i].value = xstrdup(b->args[i].value);
	}
	return c;
}

static int dk_start(uv_loop_t *loop, const struct driver_spec *spec, const struct driver_events *ev, void *arg,
		    const char *shim, struct driver_run **out, char **err)
{
	if (!spec->svc || !spec->image) {
		*err = xstrdup("the docker driver runs a service's image: this one has no image or build");
		return -EINVAL;
	}
	/* The engine would create a missing bind source itself: a service
	 * that said not to gets an error instead, as docker-compose gives. */
	for (int i = 0; i < spec->svc->nvolumes; i++) {
		const struct spec_volume *v = &spec->svc->volumes[i];
		if (v->type == SPEC_VOL_BIND && !v->create_host_path && access(v->source, F_OK) < 0) {
			*err = xasprintf("the bind mount source %s does not exist (create_host_path: false)", v->source);
			return -ENOENT;
		}
	}
	struct dk_run *d = run_new(loop, ev, arg, spec->run_dir);
	d->name = docker__container_name(spec->stack, spec->service, spec->index, spec->node, spec->data_dir);
	d->image = xstrdup(spec->image);
	d->log_path = xstrdup(spec->log_path);
	d->stop_signal = spec->stop_signal ? spec->stop_signal : SIGTERM;
	d->grace_ms = spec->stop_grace_ms;
	d->project_dir = xstrdup(spec->project_dir ? spec->project_dir : "/");
	if (spec->svc->build)
		d->build = build_copy(spec->svc->build, d->project_dir);
	struct docker__create cr = {
		.image = spec->image,
		.entrypoint = spec->entrypoint,
		.command = spec->command,
		.env = spec->env,
		.ports = spec->ports,
		.nports = spec->nports,
		.svc = spec->svc,
		.volumes = spec->volumes,
		.nvolumes = spec->nvolumes,
		.stack = spec->stack,
		.service = spec->service,
		.index = spec->index,
		.node = spec->node,
		.data_dir = spec->data_dir,
		.run = spec->run,
	};
	d->create = docker__create_body(&cr);
	save_state(d);
	step_create(d);
	*out = &d->run;
	return 0;
}

static void dk_stop(struct driver_run *run)
{
	struct dk_run *d = run->priv;

	if (d->phase == DK_DONE || d->phase == DK_REMOVING || d->stop_wanted)
		return;
	d->stop_wanted = true;
	if (d->phase == DK_RUNNING)
		begin_stop(d);
	/* Earlier phases see stop_wanted at their next step. */
}

/* ---- adoption ---- */

static void on_adopt_inspect(const struct docker__resp *r, void *arg)
{
	struct dk_run *d = arg;
	struct timespec since = {0};

	d->rq = NULL;
	if (r->error || r->status == 404 || r->status >= 300) {
		if (r->status != 404)
			log_warn("docker", "%s: cannot look at the container again: %s", d->name, resp_why(r));
		/* Gone while no agent watched (or the engine is): it ended. */
		report_exited(d);
		return;
	}
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *id = json_string_value(json_object_get(j, "Id"));
	json_t *st = json_object_get(j, "State");
	json_int_t pid = json_integer_value(json_object_get(st, "Pid"));
	free(d->id);
	d->id = xstrdup(id ? id : d->name);
	if (pid > 0)
		d->run.pid = (pid_t)pid;
	log_info("docker", "%s: %s again (container %.12s)", d->name,
		 json_is_true(json_object_get(st, "Running")) ? "following it" : "it ended meanwhile; collecting it",
		 d->id);
	json_decref(j);
	/* What the last agent wrote is not written twice. */
	docker__log_last_time(d->log_path, &since);
	follow(d, &since);
}

static int dk_adopt(uv_loop_t *loop, const char *run_dir, const struct driver_events *ev, void *arg,
		    struct driver_run **out, int *code, int *sig)
{
	char *path = xasprintf("%s/docker.json", run_dir);
	json_t *j = json_load_file(path, 0, NULL);
	char q[512];

	free(path);
	*code = -1;
	*sig = 0;
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *logp = json_string_value(json_object_get(j, "log"));
	if (!name || !logp) {
		json_decref(j);
		return -1;
	}
	struct dk_run *d = run_new(loop, ev, arg, run_dir);
	d->name = xstrdup(name);
	d->image = xstrdup(json_string_value(json_object_get(j, "image")) ?: "");
	d->log_path = xstrdup(logp);
	d->stop_signal = (int)json_integer_value(json_object_get(j, "stop_signal"));
	d->grace_ms = (uint64_t)json_integer_value(json_object_get(j, "stop_grace_ms"));
	d->run.pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	d->run.adopted = true;
	json_decref(j);
	/* Alive as far as we know; the inspect says for sure, and an end
	 * found there is reported as an exit, as if we had seen it. */
	d->phase = DK_START;
	snprintf(q, sizeof(q), "/containers/%s/json", d->name);
	d->rq = docker__call(d->c, "GET", q, NULL, NULL, 0, DOCKER_CALL_TIMEOUT_MS, NULL, on_adopt_inspect, d);
	*out = &d->run;
	return 1;
}

static void dk_release(struct driver_run *run)
{
	struct dk_run *d = run->priv;

	d->released = true;
	/* A live container goes on: only our watch on it ends, and the next
	 * agent adopts it. */
	docker__cancel(d->rq);
	docker__cancel(d->logs);
	docker__cancel(d->wait);
	docker__cancel(d->inspect);
	docker__cancel(d->kill);
	d->rq = d->logs = d->wait = d->inspect = d->kill = NULL;
	uv_close((uv_handle_t *)&d->kill_timer, on_timer_closed);
}

const struct driver_ops driver_docker_ops = {
	.name = "docker",
	.start = dk_start,
	.stop = dk_stop,
	.adopt = dk_adopt,
	.release = dk_release,
};

/* ---- the engine, for `berth up` ---- */

struct probe {
	driver_probe_fn *done;
	void *arg;
};

static void on_ping(const struct docker__resp *r, void *arg)
{
	struct probe *p = arg;
	char why[1200];

	if (r->error)
		snprintf(why, sizeof(why), "%s", r->error);
	else if (r->status != 200)
		snprintf(why, sizeof(why), "the Docker engine at %s answers %ld: %s", driver_docker_host(), r->status,
			 resp_why(r));
	p->done(r->error || r->status != 200 ? why : NULL, p->arg);
	free(p);
}

void driver_docker_probe(uv_loop_t *loop, driver_probe_fn *done, void *arg)
{
	struct probe *p = XNEW(struct probe);

	p->done = done;
	p->arg = arg;
	docker__call(docker__client_get(loop), "GET", "/_ping", NULL, NULL, 0, 10000, NULL, on_ping, p);
}

const char *driver_docker_host(void)
{
	const char *h = getenv("DOCKER_HOST");

	return h && h[0] ? h : DOCKER_DEFAULT_HOST;
}

void driver_docker_shutdown(void)
{
	docker__client_close();
}
