/* Catalog-fed backends: `servers: {service: chat}` (DESIGN.md 5).
 *
 * One thread per such backend follows the service's healthy endpoints with
 * Consul-style blocking queries on the agent's API and hands every new list
 * to lb_backend_set_servers(), the same seam a reload uses: servers that
 * stay keep their connections, counters and stickiness cookies (a server's
 * name, and so its cookie, is "<service>.<index>"), new ones join, gone
 * ones stop taking requests while their established connections finish.
 * Nothing restarts, nothing is dropped.
 *
 * A thread blocks in the API client for up to the query's wait; to stop it
 * (reload, exit) the main thread shuts its socket down, which makes the
 * blocking call return at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/client.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/mem.h"
#include "lb/lb-int.h"

#define FEED_WAIT "30s"          /* the blocking queries' wait */
#define FEED_RETRY_MS 500        /* after an error (no agent, bad answer) */

struct lb_feeder {
	struct lb_feeder *next;
	struct lb_proc *p;
	struct lb_backend *be;       /* ref held */
	char *backend;               /* its name, for logs */
	char *service, *stack, *tag;
	int port, weight, maxconn;
	char *socket, *addr, *token;
	pthread_t thread;
	pthread_mutex_t lock;        /* guards fd and stop */
	int fd;                      /* the client's socket while a call runs, else -1 */
	bool stop;
	bool running;
};

static bool stopping(struct lb_feeder *f)
{
	pthread_mutex_lock(&f->lock);
	bool s = f->stop;
	pthread_mutex_unlock(&f->lock);
	return s;
}

static void nap(struct lb_feeder *f, int ms)
{
	/* Short slices, so a stop is seen quickly. */
	for (int i = 0; i < ms / 50 && !stopping(f); i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* The published host port of the endpoint's container port <target>, or
 * its first port. */
static int endpoint_port(json_t *ep, int target)
{
	size_t i;
	json_t *p;

	if (!target)
		return (int)json_integer_value(json_object_get(ep, "port"));
	json_array_foreach(json_object_get(ep, "ports"), i, p)
		if (json_integer_value(json_object_get(p, "target")) == target)
			return (int)json_integer_value(json_object_get(p, "published"));
	return 0;
}

/* Turns one answer into the backend's server list. */
static void apply(struct lb_feeder *f, json_t *eps)
{
	size_t n = json_array_size(eps), i;
	struct lb_server_cfg *list = XNEWV(struct lb_server_cfg, n + 1);
	int cnt = 0;
	json_t *ep;

	json_array_foreach(eps, i, ep) {
		const char *addr = json_string_value(json_object_get(ep, "addr"));
		int port = endpoint_port(ep, f->port);
		char text[128];
		const char *why = NULL;
		if (!addr || port <= 0)
			continue;
		struct lb_server_cfg *s = &list[cnt];
		snprintf(text, sizeof(text), strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
		if (addr_parse(text, &s->addr.sa, &s->addr.salen, &why) < 0) {
			log_warn("lb", "backend %s: catalog endpoint %s unusable: %s", f->backend, text, why ? why : "bad address");
			continue;
		}
		s->addr.text = xstrdup(text);
		s->name = xasprintf("%s.%lld", f->service, (long long)json_integer_value(json_object_get(ep, "index")));
		s->cookie = xstrdup(s->name);
		s->weight = f->weight;
		s->maxconn = f->maxconn;
		cnt++;
	}
	lb_backend_set_servers(f->be, list, cnt, NULL);
	for (int k = 0; k < cnt; k++) {
		free(list[k].name);
		free(list[k].addr.text);
		free(list[k].cookie);
	}
	free(list);
	uv_async_send(&f->p->servers_changed);
}

static void *feed(void *arg)
{
	struct lb_feeder *f = arg;
	long long index = 0;
	char path[1024], stack[256], svc[256], tag[256];
	bool told_down = false;

	while (!stopping(f)) {
		struct api_client c;
		bool refused;
		char *err = NULL;
		int rc = f->socket ? api_client_open_socket(&c, f->socket, &err)
				   : api_client_open(&c, NULL, f->addr, f->token, &refused, &err);
		if (rc < 0) {
			if (!told_down)
				log_warn("lb", "backend %s: %s; retrying", f->backend, err);
			told_down = true;
			free(err);
			nap(f, FEED_RETRY_MS);
			continue;
		}
		pthread_mutex_lock(&f->lock);
		f->fd = c.fd;
		bool stop = f->stop;
		pthread_mutex_unlock(&f->lock);
		if (stop) {
			api_client_close(&c);
			break;
		}
		/* One connection, many queries (keep-alive). */
		for (;;) {
			int status = 0;
			json_t *resp = NULL;
			snprintf(path, sizeof(path), "/v1/catalog/service/%s?stack=%s&healthy=1%s%s&index=%lld&wait=" FEED_WAIT,
				 api_urlencode(f->service, svc, sizeof(svc)), api_urlencode(f->stack, stack, sizeof(stack)),
				 f->tag ? "&tag=" : "", f->tag ? api_urlencode(f->tag, tag, sizeof(tag)) : "", index);
			if (api_call(&c, "GET", path, NULL, &status, &resp, &err) < 0 || status != 200 ||
			    !json_is_array(resp)) {
				if (!stopping(f))
					log_warn("lb", "backend %s: catalog query failed: %s", f->backend,
						 err ? err : status ? "unexpected answer" : "no answer");
				json_decref(resp);
				free(err);
				err = NULL;
				break;
			}
			if (told_down)
				log_info("lb", "backend %s: following %s/%s in the catalog", f->backend, f->stack, f->service);
			told_down = false;
			/* The answer comes when the service changed (or the wait
			 * ran out with the same index: then nothing changed). */
			if (c.last_index != index)
				apply(f, resp);
			json_decref(resp);
			index = c.last_index;
			if (stopping(f))
				break;
		}
		pthread_mutex_lock(&f->lock);
		f->fd = -1;
		pthread_mutex_unlock(&f->lock);
		api_client_close(&c);
		index = 0; /* a new connection starts with a fresh answer */
		nap(f, FEED_RETRY_MS);
	}
	return NULL;
}

static void feeder_free(struct lb_feeder *f)
{
	lb__backend_unref(f->be);
	pthread_mutex_destroy(&f->lock);
	free(f->backend);
	free(f->service);
	free(f->stack);
	free(f->tag);
	free(f->socket);
	free(f->addr);
	free(f->token);
	free(f);
}

static void feeder_stop(struct lb_feeder *f)
{
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	/* Wakes a call blocked in recv(); the thread then sees stop. */
	if (f->fd >= 0)
		shutdown(f->fd, SHUT_RDWR);
	pthread_mutex_unlock(&f->lock);
}

static void stop_all(struct lb_feeder *list)
{
	for (struct lb_feeder *f = list; f; f = f->next)
		feeder_stop(f);
	while (list) {
		struct lb_feeder *f = list;
		list = f->next;
		if (f->running)
			pthread_join(f->thread, NULL);
		feeder_free(f);
	}
}

void lb__catalog_sync(struct lb_proc *p)
{
	struct lb_world *w;
	struct lb_feeder *old = p->feeders, *list = NULL;

	pthread_mutex_lock(&p->world_lock);
	w = p->world;
	lb__world_ref(w);
	pthread_mutex_unlock(&p->world_lock);
	/* The old feeders go first: two threads must not feed one backend. */
	p->feeders = NULL;
	stop_all(old);
	for (int i = 0; i < w->cfg->nbes; i++) {
		const struct lb_backend_cfg *bc = &w->cfg->bes[i];
		if (!bc->catalog)
			continue;
		struct lb_feeder *f = XNEW(struct lb_feeder);
		f->p = p;
		f->be = w->be[i];
		lb__backend_ref(f->be);
		f->backend = xstrdup(bc->name);
		f->service = xstrdup(bc->catalog->service);
		f->stack = xstrdup(bc->catalog->stack ? bc->catalog->stack : w->cfg->catalog.stack);
		f->tag = bc->catalog->tag ? xstrdup(bc->catalog->tag) : NULL;
		f->port = bc->catalog->port;
		f->weight = bc->catalog->weight;
		f->maxconn = bc->catalog->maxconn;
		f->socket = w->cfg->catalog.socket ? xstrdup(w->cfg->catalog.socket) : NULL;
		f->addr = w->cfg->catalog.addr ? xstrdup(w->cfg->catalog.addr) : NULL;
		if (w->cfg->catalog.token_file) {
			const char *why;
			f->token = api_read_token(w->cfg->catalog.token_file, &why);
			if (!f->token)
				log_error("lb", "backend %s: cannot read the token file %s: %s", bc->name,
					  w->cfg->catalog.token_file, why ? why : "unreadable");
		}
		f->fd = -1;
		pthread_mutex_init(&f->lock, NULL);
		if (pthread_create(&f->thread, NULL, feed, f) == 0)
			f->running = true;
		else
			log_error("lb", "backend %s: cannot start its catalog thread", bc->name);
		f->next = list;
		list = f;
	}
	p->feeders = list;
	lb__world_unref(w);
}

void lb__catalog_stop(struct lb_proc *p)
{
	stop_all(p->feeders);
	p->feeders = NULL;
}
