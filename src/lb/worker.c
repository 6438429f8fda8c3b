/* Worker threads: one libuv loop each, with its own SO_REUSEPORT listeners,
 * picking up new worlds and queue hand-offs when the main thread wakes it. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/mem.h"
#include "lb/conn.h"

int lb__listen_socket(const struct sockaddr *sa, socklen_t salen, int backlog)
{
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* SO_REUSEPORT gives each thread its own accept queue: the kernel
	 * spreads connections, and no thread wakes for another's. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto err;
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, sa, salen) < 0 || listen(fd, backlog) < 0)
		goto err;
	return fd;
err:;
	int e = errno;
	close(fd);
	return -e;
}

static void on_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct lb_listener *l = server->data;

	if (status < 0) {
		log_errno(LOG_LVL_WARN, "lb", status, "accept");
		return;
	}
	if (l->closing)
		return;
	if (l->w->world->cfg->fes[l->fe_idx].mode == LB_MODE_TCP)
		lb__tcp_accept(l->w, l);
	else
		lb__http_accept(l->w, l);
}

/* Finds the open listener of <w> for address <a>, so a reload keeps the
 * sockets of binds that stay (no connection refused during a reload). */
static struct lb_listener *find_listener(struct lb_worker *w, const struct lb_addr *a)
{
	for (int i = 0; i < w->nls; i++) {
		struct lb_listener *l = w->ls[i];
		if (l && l->salen == a->salen && memcmp(&l->sa, &a->sa, a->salen) == 0)
			return l;
	}
	return NULL;
}

/* Opens, keeps or closes listeners so they match <nw>; then adopts it. */
static void worker_adopt_world(struct lb_worker *w, struct lb_world *nw)
{
	struct lb_listener **ls = NULL;
	int nls = 0, cap = 0;

	w->bind_errors = 0;

	for (int f = 0; f < nw->cfg->nfes; f++) {
		const struct lb_frontend_cfg *fc = &nw->cfg->fes[f];
		for (int b = 0; b < fc->nbinds; b++) {
			struct lb_listener *l = w->world ? find_listener(w, &fc->binds[b]) : NULL;
			if (!l) {
				int fd = lb__listen_socket((const struct sockaddr *)&fc->binds[b].sa,
							   fc->binds[b].salen, 1024);
				if (fd < 0) {
					log_errno(LOG_LVL_ERROR, "lb", fd, "frontend %s: cannot listen on %s",
						  fc->name, fc->binds[b].text);
					w->bind_errors++;
					continue;
				}
				l = XNEW(struct lb_listener);
				l->w = w;
				l->sa = fc->binds[b].sa;
				l->salen = fc->binds[b].salen;
				uv_tcp_init(&w->loop, &l->tcp);
				l->tcp.data = l;
				uv_tcp_open(&l->tcp, fd);
				uv_tcp_nodelay(&l->tcp, 1);
				int rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
				if (rc < 0) {
					log_errno(LOG_LVL_ERROR, "lb", rc, "listen %s", fc->binds[b].text);
					w->bind_errors++;
					uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
					continue;
				}
			} else {
				/* Claimed: mark so the sweep below keeps it. */
				for (int i = 0; i < w->nls; i++)
					if (w->ls[i] == l)
						w->ls[i] = NULL;
			}
			l->fe_idx = f;
			l->bind_idx = b;
			if (nls == cap) {
				cap = cap ? cap * 2 : 8;
				ls = xrealloc(ls, sizeof(*ls) * (size_t)cap);
			}
			ls[nls++] = l;
		}
	}
	for (int i = 0; i < w->nls; i++) {
		if (!w->ls[i])
			continue;
		w->ls[i]->closing = true;
		uv_close((uv_handle_t *)&w->ls[i]->tcp, on_listener_closed);
	}
	free(w->ls);
	w->ls = ls;
	w->nls = nls;
	lb__world_ref(nw);
	lb__world_unref(w->world);
	w->world = nw;
	w->seen_generation = nw->generation;
}

static void close_listeners(struct lb_worker *w)
{
	for (int i = 0; i < w->nls; i++) {
		w->ls[i]->closing = true;
		uv_close((uv_handle_t *)&w->ls[i]->tcp, on_listener_closed);
	}
	free(w->ls);
	w->ls = NULL;
	w->nls = 0;
}

static void on_wake(uv_async_t *a)
{
	struct lb_worker *w = a->data;
	struct lb_proc *p = w->proc;
	struct lb_waiter *wt;

	pthread_mutex_lock(&w->inbox_lock);
	wt = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->inbox_lock);
	/* The inbox is LIFO; hand-offs are rare enough that order among
	 * those arriving in the same wake-up does not matter. */
	while (wt) {
		struct lb_waiter *next = wt->next;
		wt->next = NULL;
		wt->wake(wt);
		wt = next;
	}

	if (!w->draining) {
		pthread_mutex_lock(&p->world_lock);
		struct lb_world *cur = p->world;
		lb__world_ref(cur);
		bool stopping = p->stopping;
		pthread_mutex_unlock(&p->world_lock);
		if (stopping) {
			w->draining = true;
			close_listeners(w);
			lb__sessions_drain(w);
			lb__pool_close_all(w);
		} else if (cur->generation != w->seen_generation) {
			worker_adopt_world(w, cur);
		}
		lb__world_unref(cur);
	} else {
		lb__sessions_drain(w);
	}
	if (w->draining && w->nsessions == 0 && !uv_is_closing((uv_handle_t *)&w->wake)) {
		lb__pool_close_all(w);
		uv_close((uv_handle_t *)&w->sweep, NULL);
		uv_close((uv_handle_t *)&w->wake, NULL);
	}
}

static void on_sweep(uv_timer_t *t)
{
	lb__pool_sweep(t->data);
}

void lb__worker_inbox_push(struct lb_worker *w, struct lb_waiter *wt)
{
	pthread_mutex_lock(&w->inbox_lock);
	wt->next = w->inbox;
	w->inbox = wt;
	pthread_mutex_unlock(&w->inbox_lock);
	uv_async_send(&w->wake);
}

static void *worker_main(void *arg)
{
	struct lb_worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	lb__world_unref(w->world);
	w->world = NULL;
	/* Handles of finished sessions may still need one pass to close. */
	uv_run(&w->loop, UV_RUN_NOWAIT);
	if (uv_loop_close(&w->loop) != 0)
		log_debug("lb", "worker %d: loop closed with handles left", w->id);
	return NULL;
}

int lb__workers_start(struct lb_proc *p)
{
	p->workers = XNEWV(struct lb_worker, p->nthreads);
	for (int i = 0; i < p->nthreads; i++) {
		struct lb_worker *w = &p->workers[i];
		w->proc = p;
		w->id = i;
		uv_loop_init(&w->loop);
		pthread_mutex_init(&w->inbox_lock, NULL);
		uv_async_init(&w->loop, &w->wake, on_wake);
		w->wake.data = w;
		uv_timer_init(&w->loop, &w->sweep);
		w->sweep.data = w;
		uv_timer_start(&w->sweep, on_sweep, 1000, 1000);
		w->rr_key = 0x2545f4914f6cdd1dULL + (uint64_t)i;
		worker_adopt_world(w, p->world);
		/* At start, every bind must work: a proxy missing one of its
		 * ports is a config error, not a degraded mode. */
		if (w->bind_errors)
			return -1;
	}
	for (int i = 0; i < p->nthreads; i++) {
		int rc = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
		if (rc != 0) {
			log_errno(LOG_LVL_ERROR, "lb", rc, "cannot start worker thread");
			return -1;
		}
	}
	return 0;
}

void lb__workers_kick(struct lb_proc *p)
{
	for (int i = 0; i < p->nthreads; i++)
		uv_async_send(&p->workers[i].wake);
}

void lb__workers_join(struct lb_proc *p)
{
	for (int i = 0; i < p->nthreads; i++) {
		pthread_join(p->workers[i].thread, NULL);
		pthread_mutex_destroy(&p->workers[i].inbox_lock);
	}
	free(p->workers);
	p->workers = NULL;
}
