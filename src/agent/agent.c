/* berth agent: the node daemon (see agent.h).
 *
 * Start-up is a chain on the loop: lock the data dir, open the store, get
 * the node's lease (the previous one if it is still alive, so a restarted
 * agent keeps its status records and its leadership), register the node,
 * then start the scheduler loop, the runner and the API. The lease is
 * renewed every third of its TTL; if it was lost (the agent stalled), a new
 * one is granted and everything bound to it is written again. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/discovery.h"
#include "agent/events.h"
#include "agent/leader.h"
#include "agent/mirror.h"
#include "api/client.h"
#include "api/routes.h"
#include "catalog/catalog.h"
#include "dns/dns.h"
#include "hooks/hooks.h"
#include "logs/logs.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/server.h"
#include "runner/runner.h"
#include "store/store.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

static void lease_acquired(struct agent *a, int64_t lease);

char *agent_stack_key(const char *stack)
{
	return xasprintf("/berth/stacks/%s", stack);
}

static void now_rfc3339(char *buf, size_t cap)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the data dir ---- */

/* One agent per data dir: an flock on DATA/agent.pid, held for life. */
static int lock_data_dir(const char *dir)
{
	char *path = xasprintf("%s/agent.pid", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "berth agent: %s: %s\n", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = {0};
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		(void)n;
		fprintf(stderr, "berth agent: an agent already runs on %s (pid %ld)\n", dir, strtol(buf, NULL, 10));
		close(fd);
		free(path);
		return -1;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("agent", "cannot write %s", path);
	free(path);
	return fd;
}

static int64_t read_saved_lease(const char *dir)
{
	char *path = xasprintf("%s/node.lease", dir);
	FILE *f = fopen(path, "r");
	long long v = 0;

	free(path);
	if (!f)
		return 0;
	if (fscanf(f, "%lld", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void save_lease(const char *dir, int64_t lease)
{
	char *path = xasprintf("%s/node.lease", dir);
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");

	if (f) {
		fprintf(f, "%lld\n", (long long)lease);
		if (fclose(f) == 0)
			rename(tmp, path);
	}
	free(tmp);
	free(path);
}

/* ---- the node's lease and record ---- */

static void on_node_put(const struct store_result *r, void *arg)
{
	struct agent *a = arg;

	if (r->err)
		log_error("agent", "registering node %s: %s", a->cfg->node, r->errmsg ? r->errmsg : store_strerror(r->err));
}

static void put_node(struct agent *a)
{
	char *key = xasprintf("/berth/nodes/%s", a->cfg->node);
	json_t *labels = json_object();

	for (int i = 0; i < a->cfg->nlabels; i++) {
		char *kv = xstrdup(a->cfg->labels[i]);
		char *eq = strchr(kv, '=');
		*eq = 0;
		json_object_set_new(labels, kv, json_string(eq + 1));
		free(kv);
	}
	json_t *j = json_pack("{s:s, s:s, s:o, s:s, s:s, s:i, s:i}", "name", a->cfg->node, "addr", a->cfg->addr,
			      "labels", labels, "version", BERTH_VERSION, "started_at", a->started_at, "port_min",
			      a->cfg->port_min, "port_max", a->cfg->port_max);
	char *text = json_dumps(j, JSON_COMPACT);
	store_put(a->st, key, text, strlen(text), a->lease, on_node_put, a);
	free(text);
	json_decref(j);
	free(key);
}

static void on_granted(const struct store_result *r, void *arg)
{
	struct agent *a = arg;

	a->granting = false;
	if (a->stopping)
		return;
	if (r->err) {
		log_error("agent", "cannot get a lease from the store: %s; retrying",
			  r->errmsg ? r->errmsg : store_strerror(r->err));
		return; /* the keepalive timer tries again */
	}
	lease_acquired(a, r->lease);
}

static void grant(struct agent *a)
{
	int64_t ttl = (int64_t)(a->cfg->lease_ttl_ms / 1000);

	/* One grant at a time: a slow store must not collect leases. */
	if (a->granting)
		return;
	if (store_lease_grant(a->st, ttl > 0 ? ttl : 1, on_granted, a) == 0)
		a->granting = true;
}

static void on_keepalive(const struct store_result *r, void *arg)
{
	struct agent *a = arg;

	if (a->stopping)
		return;
	if (r->err == STORE_ERR_NO_LEASE) {
		log_warn("agent", "the node's lease %lld expired: registering again", (long long)a->lease);
		a->lease = 0;
		grant(a);
	} else if (r->err) {
		log_warn("agent", "renewing the node's lease: %s", r->errmsg ? r->errmsg : store_strerror(r->err));
	}
}

static void on_keepalive_timer(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->lease)
		store_lease_keepalive(a->st, a->lease, on_keepalive, a);
	else
		grant(a);
}

static void start_components(struct agent *a);

static void lease_acquired(struct agent *a, int64_t lease)
{
	bool first = a->runner == NULL;

	a->lease = lease;
	save_lease(a->cfg->data_dir, lease);
	put_node(a);
	if (first) {
		start_components(a);
	} else {
		runner_set_lease(a->runner, lease);
		agent_sched_set_lease(a->sched, lease);
	}
}

/* At start: the lease of the previous run if it is still alive. */
static void on_old_lease(const struct store_result *r, void *arg)
{
	struct agent *a = arg;
	int64_t old = read_saved_lease(a->cfg->data_dir);

	if (a->stopping)
		return;
	if (r->err == 0) {
		log_info("agent", "resuming with the lease of the previous run (%lld)", (long long)old);
		lease_acquired(a, old);
		return;
	}
	grant(a);
}

/* ---- start and stop ---- */

static const char *const hook_event_names[] = {"hook.rendered", "hook.unchanged", "hook.render_failed",
						 "hook.run_started", "hook.run_exited", "hook.pre_start_exited"};

/* The hook engine's events join the agent's event log. */
static void on_hook_event(const struct hooks_event *ev, void *arg)
{
	struct agent *a = arg;
	json_t *j = json_pack("{s:s, s:s, s:i}", "stack", ev->stack, "service", ev->service, "hook", ev->hook);

	if (ev->kind == HOOKS_EV_RUN_EXITED || ev->kind == HOOKS_EV_PRE_START_EXITED)
		json_object_set_new(j, "status", json_integer(ev->status));
	if (ev->kind == HOOKS_EV_PRE_START_EXITED)
		json_object_set_new(j, "index", json_integer(ev->index));
	if (ev->dest)
		json_object_set_new(j, "dest", json_string(ev->dest));
	if (ev->msg)
		json_object_set_new(j, "message", json_string(ev->msg));
	events_emit(a->events, hook_event_names[ev->kind], j);
}

static void on_catalog_change_for_hooks(const char *stack, const char *svc, void *arg)
{
	struct agent *a = arg;

	if (a->hooks)
		hooks_catalog_changed(a->hooks, stack, svc);
}

static void start_components(struct agent *a)
{
	struct runner_opts ro = {
		.loop = a->loop,
		.st = a->st,
		.events = a->events,
		.node = a->cfg->node,
		.addr = a->cfg->addr,
		.data_dir = a->cfg->data_dir,
		.shim = a->cfg->shim,
		.port_min = a->cfg->port_min,
		.port_max = a->cfg->port_max,
		.catalog = a->catalog,
		.berth = a->self,
	};

	struct hooks_opts ho = {.catalog = a->catalog, .data_dir = a->cfg->data_dir, .event = on_hook_event, .arg = a};
	a->hooks = hooks_new(a->loop, &ho);
	ro.hooks = a->hooks;
	char *lerr = NULL;
	/* A file output's relative path is agent.yml's directory's. */
	char *cdir = xstrdup(a->cfg->config_file ? a->cfg->config_file : a->cfg->data_dir);
	if (a->cfg->config_file && strrchr(cdir, '/')) {
		*strrchr(cdir, '/') = '\0';
	} else if (a->cfg->config_file) {
		free(cdir);
		cdir = xstrdup(".");
	}
	json_t *outs = logs_outputs_resolve(json_object_get(a->cfg->logs, "outputs"), cdir);
	free(cdir);
	struct logs_opts lo = {.data_dir = a->cfg->data_dir, .host = a->cfg->node, .outputs = outs};
	a->logs = logs_new(&lo, &lerr);
	json_decref(outs);
	if (!a->logs) {
		log_error("agent", "the log pipeline cannot start: %s (no log is shipped)", lerr);
		free(lerr);
	}
	ro.logs = a->logs;
	discovery_listen(a, on_catalog_change_for_hooks, a);
	a->sched = agent_sched_new(a->loop, a->st, a->cfg->node);
	agent_sched_set_lease(a->sched, a->lease);
	a->runner = runner_new(&ro);
	runner_start(a->runner, a->lease);
	log_info("agent", "node %s ready (data dir %s, store %s)", a->cfg->node, a->cfg->data_dir, a->cfg->store);
}

static void on_api_closed(void *arg)
{
	(void)arg;
}

static void on_store_closed(struct store *st)
{
	(void)st;
}

static void on_sched_freed(void *arg)
{
	struct agent *a = arg;

	a->sched = NULL;
}

static void on_runner_freed(void *arg)
{
	struct agent *a = arg;

	a->runner = NULL;
}

static void stop(struct agent *a, const char *why)
{
	if (a->stopping)
		return;
	a->stopping = true;
	log_info("agent", "%s: stopping (instances keep running; a restarted agent adopts them)", why);
	uv_timer_stop(&a->keepalive);
	uv_close((uv_handle_t *)&a->keepalive, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->sigint, NULL);
	if (a->api)
		http_server_close(a->api, on_api_closed, a);
	if (a->dns)
		dns_server_close(a->dns, NULL, NULL);
	a->dns = NULL;
	api_routes_stop(a);
	if (a->runner)
		runner_free(a->runner, on_runner_freed, a);
	/* After the runner: its pending pre_starts end cancelled here. */
	if (a->hooks)
		hooks_free(a->hooks, NULL, NULL);
	a->hooks = NULL;
	if (a->sched)
		agent_sched_free(a->sched, on_sched_freed, a);
	discovery_stop(a);
	mirror_free(a->stacks);
	mirror_free(a->status);
	mirror_free(a->nodes);
	store_close(a->st, on_store_closed);
}

static void on_signal(uv_signal_t *h, int sig)
{
	stop(h->data, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static char *read_token(const char *path, char **err)
{
	const char *why;
	char *tok = api_read_token(path, &why);

	if (!tok) {
		*err = xasprintf("--token-file %s: %s", path, why);
		return NULL;
	}
	if (strlen(tok) < 16) {
		*err = xasprintf("--token-file %s: the token must be at least 16 characters", path);
		free(tok);
		return NULL;
	}
	return tok;
}

int agent_run(struct agent_config *cfg)
{
	struct agent ag = {0}, *a = &ag;
	uv_loop_t loop;
	char *err = NULL;
	char ts[40];
	enum log_level lvl = LOG_LVL_INFO;
	enum log_format fmt = LOG_FMT_TEXT;

	log_level_parse(cfg->log_level, &lvl);
	log_format_parse(cfg->log_format, &fmt);
	log_setup(lvl, fmt);
	signal(SIGPIPE, SIG_IGN);
	/* Parents readable, the data dir itself private. */
	fs_mkdir_parents(cfg->data_dir, 0755);
	if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "berth agent: cannot create the data dir %s: %s\n", cfg->data_dir, strerror(errno));
		return 1;
	}
	int lockfd = lock_data_dir(cfg->data_dir);
	if (lockfd < 0)
		return 1;
	a->cfg = cfg;
	char exe[4096];
	ssize_t en = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[en > 0 ? en : 0] = 0;
	a->self = xstrdup(en > 0 ? exe : "berth");
	now_rfc3339(ts, sizeof(ts));
	a->started_at = xstrdup(ts);
	if (cfg->api_addr[0]) {
		a->token = read_token(cfg->token_file, &err);
		if (!a->token) {
			fprintf(stderr, "berth agent: %s\n", err);
			free(err);
			return 1;
		}
	}
	uv_loop_init(&loop);
	a->loop = &loop;
	if (store_open(&loop, cfg->store, &a->st, &err) < 0) {
		fprintf(stderr, "berth agent: %s\n", err);
		free(err);
		return 1;
	}
	a->events = events_new();
	a->stacks = mirror_new(a->st, "/berth/stacks/", NULL, NULL);
	a->status = mirror_new(a->st, "/berth/status/", NULL, NULL);
	a->nodes = mirror_new(a->st, "/berth/nodes/", NULL, NULL);
	discovery_start(a);

	if (cfg->dns_addr[0]) {
		struct dns_opts dopt;
		dns_opts_init(&dopt);
		dopt.domain = cfg->dns_domain;
		a->dns = dns_server_new(&loop, &dopt, a->catalog, &err);
		if (!a->dns || dns_server_listen(a->dns, cfg->dns_addr, &err) < 0) {
			fprintf(stderr, "berth agent: DNS on %s: %s (--dns-addr \"\" turns it off)\n", cfg->dns_addr, err);
			free(err);
			return 1;
		}
		log_info("agent", "DNS on %s (udp, tcp), zone %s", cfg->dns_addr, cfg->dns_domain);
	}
	/* The API last among the start-up steps that can fail, so nothing
	 * answers before the agent can serve. */
	struct http_server_opts so = {.authorize = api_routes_authorize};
	a->api = http_server_new(&loop, &so, api_routes_handle, a);
	char *sock = xasprintf("%s/berth.sock", cfg->data_dir);
	int rc = http_server_listen_unix(a->api, sock, 0600, &err);
	if (rc == 0 && cfg->api_addr[0])
		rc = http_server_listen_tcp(a->api, cfg->api_addr, &err);
	if (rc < 0) {
		fprintf(stderr, "berth agent: %s\n", err);
		free(err);
		free(sock);
		return 1;
	}
	log_info("agent", "API on unix:%s%s%s", sock, cfg->api_addr[0] ? " and tcp:" : "", cfg->api_addr);
	free(sock);
	api_routes_start(a);

	uv_signal_init(&loop, &a->sigterm);
	uv_signal_init(&loop, &a->sigint);
	a->sigterm.data = a->sigint.data = a;
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_timer_init(&loop, &a->keepalive);
	a->keepalive.data = a;
	uint64_t every = cfg->lease_ttl_ms / 3;
	uv_timer_start(&a->keepalive, on_keepalive_timer, every, every);

	int64_t old = read_saved_lease(cfg->data_dir);
	if (old > 0)
		store_lease_keepalive(a->st, old, on_old_lease, a);
	else
		grant(a);

	uv_run(&loop, UV_RUN_DEFAULT);
	int closed = uv_loop_close(&loop);
	if (closed != 0)
		log_debug("agent", "loop closed with handles still open");
	/* Last: the runner, which tells it of instances, is gone. */
	logs_free(a->logs);
	a->logs = NULL;
	events_free(a->events);
	catalog_free(a->catalog);
	free(a->token);
	free(a->self);
	free(a->started_at);
	close(lockfd);
	log_info("agent", "stopped");
	return a->exit_code;
}
