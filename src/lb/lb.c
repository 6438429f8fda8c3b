/* berth lb: load the config, start the workers, then serve signals: SIGHUP
 * reloads (a bad config is refused, the old one keeps running), SIGTERM and
 * SIGINT drain in-flight requests and exit. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "lb/lb-int.h"
#include "lb/lb.h"

static void reload(struct lb_proc *p)
{
	struct lb_config *cfg = NULL;
	struct lb_world *nw, *old;
	char *err = NULL;

	log_info("lb", "SIGHUP: reloading %s", p->config_path);
	if (lb_config_load(p->config_path, &cfg, &err) < 0) {
		log_error("lb", "reload refused, keeping the running config: %s", err);
		free(err);
		atomic_fetch_add(&p->reload_failures, 1);
		return;
	}
	if (cfg->threads != p->nthreads)
		log_warn("lb", "threads changed to %d: takes effect at the next restart, not on reload",
			 cfg->threads);
	nw = lb__world_build(cfg, p->world, p->nthreads, &err);
	if (!nw) {
		log_error("lb", "reload refused, keeping the running config: %s", err);
		free(err);
		lb_config_free(cfg);
		atomic_fetch_add(&p->reload_failures, 1);
		return;
	}
	bool stats_changed = cfg->stats.enabled != p->world->cfg->stats.enabled ||
			     (cfg->stats.enabled &&
			      memcmp(&cfg->stats.bind.sa, &p->world->cfg->stats.bind.sa, cfg->stats.bind.salen) != 0);
	pthread_mutex_lock(&p->world_lock);
	old = p->world;
	p->world = nw;
	p->generation = nw->generation;
	pthread_mutex_unlock(&p->world_lock);
	lb__workers_kick(p);
	lb__checks_sync(p);
	lb__catalog_sync(p);
	if (stats_changed) {
		lb__stats_stop(p);
		lb__stats_start(p);
	}
	lb__world_unref(old);
	atomic_fetch_add(&p->reloads, 1);
	log_info("lb", "reloaded: generation %llu", (unsigned long long)nw->generation);
}

static void on_grace_timeout(uv_timer_t *t)
{
	log_warn("lb", "grace period over: closing the connections still open");
	exit(0);
}

static void stop(struct lb_proc *p, const char *why)
{
	if (p->stopping) {
		log_warn("lb", "%s again: exiting now", why);
		exit(0);
	}
	log_info("lb", "%s: draining in-flight requests (grace %llums)", why,
		 (unsigned long long)p->world->cfg->grace);
	pthread_mutex_lock(&p->world_lock);
	p->stopping = true;
	pthread_mutex_unlock(&p->world_lock);
	lb__workers_kick(p);
	lb__catalog_stop(p);
	uv_close((uv_handle_t *)&p->servers_changed, NULL);
	uv_close((uv_handle_t *)&p->revive, NULL);
	lb__checks_stop(p);
	lb__stats_stop(p);
	uv_close((uv_handle_t *)&p->sighup, NULL);
	uv_close((uv_handle_t *)&p->sigterm, NULL);
	uv_close((uv_handle_t *)&p->sigint, NULL);
	uv_timer_start(&p->grace_timer, on_grace_timeout, p->world->cfg->grace, 0);
	/* The grace timer must not keep the main loop alive by itself once
	 * the workers have finished: the main thread joins them instead. */
	uv_unref((uv_handle_t *)&p->grace_timer);
}

/* A feeder thread changed a catalog-fed backend's servers: the checks
 * follow (new servers get checked, gone ones stop being). */
static void on_servers_changed(uv_async_t *a)
{
	struct lb_proc *p = a->data;

	if (!p->stopping)
		lb__checks_sync(p);
}

static void on_revive(uv_timer_t *t)
{
	struct lb_proc *p = t->data;

	lb__revive_passive(p->world, time_mono_ms());
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct lb_proc *p = h->data;

	if (sig == SIGHUP)
		reload(p);
	else
		stop(p, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void *join_workers(void *arg)
{
	struct lb_proc *p = arg;

	lb__workers_join(p);
	uv_async_send(&p->joined);
	return NULL;
}

/* Every worker is done: nothing holds the main loop any more. */
static void on_joined(uv_async_t *a)
{
	struct lb_proc *p = a->data;

	uv_close((uv_handle_t *)&p->grace_timer, NULL);
	uv_close((uv_handle_t *)&p->joined, NULL);
}

int lb_run(const struct lb_options *opt)
{
	struct lb_proc proc = {0}, *p = &proc;
	struct lb_config *cfg = NULL;
	char *err = NULL;
	uv_loop_t loop;

	if (lb_config_load(opt->config_path, &cfg, &err) < 0) {
		fprintf(stderr, "berth lb: %s\n", err);
		free(err);
		return 1;
	}
	if (opt->threads > 0)
		cfg->threads = opt->threads;
	p->nthreads = cfg->threads;
	p->world = lb__world_build(cfg, NULL, p->nthreads, &err);
	if (!p->world) {
		fprintf(stderr, "berth lb: %s\n", err);
		free(err);
		lb_config_free(cfg);
		return 1;
	}
	if (opt->check_only) {
		printf("%s: configuration is valid\n", opt->config_path);
		lb__world_unref(p->world);
		return 0;
	}
	/* A peer that closes mid-write must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	struct timeval tv;
	gettimeofday(&tv, NULL);
	p->start_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	p->config_path = opt->config_path;
	p->generation = p->world->generation;
	pthread_mutex_init(&p->world_lock, NULL);
	uv_loop_init(&loop);
	p->loop = &loop;

	/* Handlers first: once a listener is open, a supervisor may signal
	 * us, and SIGTERM must mean a drain, not the default death. The
	 * signals wait in libuv's pipe until the loop runs. */
	uv_signal_init(&loop, &p->sighup);
	uv_signal_init(&loop, &p->sigterm);
	uv_signal_init(&loop, &p->sigint);
	p->sighup.data = p->sigterm.data = p->sigint.data = p;
	uv_signal_start(&p->sighup, on_signal, SIGHUP);
	uv_signal_start(&p->sigterm, on_signal, SIGTERM);
	uv_signal_start(&p->sigint, on_signal, SIGINT);

	if (lb__workers_start(p) < 0) {
		fprintf(stderr, "berth lb: cannot open every listener (see above)\n");
		return 1;
	}
	if (lb__stats_start(p) < 0) {
		fprintf(stderr, "berth lb: cannot start the stats listener (see above)\n");
		return 1;
	}
	lb__checks_start(p);
	uv_async_init(&loop, &p->servers_changed, on_servers_changed);
	p->servers_changed.data = p;
	lb__catalog_sync(p);
	uv_timer_init(&loop, &p->revive);
	p->revive.data = p;
	uv_timer_start(&p->revive, on_revive, 500, 500);

	uv_timer_init(&loop, &p->grace_timer);
	/* Sent by the thread that joins the workers at the end; unreferenced
	 * so that it does not keep the serving phase's loop alive. */
	uv_async_init(&loop, &p->joined, on_joined);
	p->joined.data = p;
	uv_unref((uv_handle_t *)&p->joined);

	for (int i = 0; i < p->world->cfg->nfes; i++) {
		const struct lb_frontend_cfg *fc = &p->world->cfg->fes[i];
		for (int b = 0; b < fc->nbinds; b++)
			log_info("lb", "frontend %s listening on %s (%s%s)", fc->name, fc->binds[b].text,
				 fc->mode == LB_MODE_TCP ? "tcp" : "http", fc->tls.ncerts ? ", tls" : "");
	}
	if (p->world->cfg->stats.enabled)
		log_info("lb", "stats on http://%s/stats", p->world->cfg->stats.bind.text);
	log_info("lb", "ready: %d worker thread%s", p->nthreads, p->nthreads > 1 ? "s" : "");

	/* The main loop runs until stop() closed the signal handles and the
	 * checks and stats are gone; the workers are then joined from a
	 * helper thread so the grace timer can still fire meanwhile. */
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_t joiner;
	uv_ref((uv_handle_t *)&p->grace_timer);
	uv_ref((uv_handle_t *)&p->joined);
	pthread_create(&joiner, NULL, join_workers, p);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(joiner, NULL);
	uv_loop_close(&loop);
	lb__world_unref(p->world);
	pthread_mutex_destroy(&p->world_lock);
	log_info("lb", "stopped");
	return 0;
}
