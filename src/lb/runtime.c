/* Worlds, backends and servers: the runtime built from a config snapshot,
 * shared by the worker threads and kept across reloads. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "lb/lb-int.h"

/* ---- servers ---- */

static struct lb_server *server_new(const struct lb_server_cfg *sc, int nthreads)
{
	struct lb_server *s = XNEW(struct lb_server);

	s->name = xstrdup(sc->name);
	s->addr_text = xstrdup(sc->addr.text);
	s->sa = sc->addr.sa;
	s->salen = sc->addr.salen;
	s->cookie = xstrdup(sc->cookie ? sc->cookie : sc->name);
	s->weight = sc->weight;
	s->maxconn = sc->maxconn;
	s->backup = sc->backup;
	/* Servers start up, as in HAProxy: checks take them down after <fall>
	 * failures, and until then traffic is not held back by a guess. */
	atomic_init(&s->state, LB_SRV_UP);
	atomic_init(&s->refs, 1);
	atomic_init(&s->last_change_ms, time_mono_ms());
	s->cnt = XNEWV(struct lb_counters, nthreads);
	return s;
}

void lb__server_ref(struct lb_server *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void lb__server_unref(struct lb_server *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(s->name);
	free(s->addr_text);
	free(s->cookie);
	free(s->cnt);
	free(s);
}

/* ---- backends ---- */

static struct lb_backend *backend_new(const struct lb_backend_cfg *bc, int nthreads)
{
	struct lb_backend *be = XNEW(struct lb_backend);

	be->name = xstrdup(bc->name);
	atomic_init(&be->refs, 1);
	pthread_mutex_init(&be->lock, NULL);
	be->qtail = &be->qhead;
	be->nthreads = nthreads;
	be->cnt = XNEWV(struct lb_counters, nthreads);
	be->algo = bc->algo;
	be->lb.ops = lb_balance_find(bc->algo);
	return be;
}

void lb__backend_ref(struct lb_backend *be)
{
	atomic_fetch_add_explicit(&be->refs, 1, memory_order_relaxed);
}

void lb__backend_unref(struct lb_backend *be)
{
	if (atomic_fetch_sub_explicit(&be->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (int i = 0; i < be->nsrv; i++) {
		be->srv[i]->removed = true;
		lb__server_unref(be->srv[i]);
	}
	free(be->srv);
	lb_lbprm_destroy(&be->lb);
	lb__appck_free(be);
	pthread_mutex_destroy(&be->lock);
	free(be->cnt);
	free(be->name);
	free(be);
}

/* A server keeps its identity (state, counters, pooled connections) across a
 * set change only if what other threads read without the lock is unchanged:
 * name, address and cookie. */
static bool same_server(const struct lb_server *s, const struct lb_server_cfg *c)
{
	return strcmp(s->name, c->name) == 0 && s->salen == c->addr.salen &&
	       memcmp(&s->sa, &c->addr.sa, s->salen) == 0 &&
	       strcmp(s->cookie, c->cookie ? c->cookie : c->name) == 0;
}

void lb_backend_set_servers(struct lb_backend *be, const struct lb_server_cfg *list, int n,
			    const struct lb_backend_cfg *cfg)
{
	struct lb_server **nsrv = XNEWV(struct lb_server *, n);
	struct lb_server **old;
	int nold;

	pthread_mutex_lock(&be->lock);
	old = be->srv;
	nold = be->nsrv;
	for (int i = 0; i < n; i++) {
		struct lb_server *keep = NULL;
		for (int j = 0; j < nold; j++) {
			if (old[j] && same_server(old[j], &list[i])) {
				keep = old[j];
				old[j] = NULL; /* moved: its ref now belongs to nsrv */
				break;
			}
		}
		if (keep) {
			keep->weight = list[i].weight;
			keep->maxconn = list[i].maxconn;
			keep->backup = list[i].backup;
		} else {
			keep = server_new(&list[i], be->nthreads);
			log_info("lb", "backend %s: server %s (%s) added", be->name, keep->name, keep->addr_text);
		}
		nsrv[i] = keep;
	}
	for (int j = 0; j < nold; j++) {
		if (!old[j])
			continue;
		log_info("lb", "backend %s: server %s (%s) removed", be->name, old[j]->name, old[j]->addr_text);
		old[j]->removed = true;
		lb__server_unref(old[j]);
	}
	free(old);
	be->srv = nsrv;
	be->nsrv = n;
	if (cfg) {
		if (cfg->algo != be->algo || !be->lb.ops) {
			lb_lbprm_destroy(&be->lb);
			be->lb.ops = lb_balance_find(cfg->algo);
			be->algo = cfg->algo;
		}
		be->queue_max = cfg->queue_max;
		be->cfg = cfg;
	}
	lb_lbprm_rebuild(&be->lb, be->srv, be->nsrv);
	pthread_mutex_unlock(&be->lock);
}

void lb__backend_apply_cfg(struct lb_backend *be, const struct lb_backend_cfg *cfg)
{
	pthread_mutex_lock(&be->lock);
	if (cfg->algo != be->algo || !be->lb.ops) {
		lb_lbprm_destroy(&be->lb);
		be->lb.ops = lb_balance_find(cfg->algo);
		be->algo = cfg->algo;
	}
	be->queue_max = cfg->queue_max;
	be->cfg = cfg;
	lb_lbprm_rebuild(&be->lb, be->srv, be->nsrv);
	pthread_mutex_unlock(&be->lock);
}

void lb__server_set_state(struct lb_backend *be, struct lb_server *srv, int state, const char *why)
{
	pthread_mutex_lock(&be->lock);
	if (atomic_load(&srv->state) == state) {
		pthread_mutex_unlock(&be->lock);
		return;
	}
	atomic_store(&srv->state, state);
	atomic_store(&srv->last_change_ms, time_mono_ms());
	if (state == LB_SRV_UP)
		atomic_store(&srv->passive_down, false);
	srv->consec_fail = 0;
	if (!srv->removed)
		lb_lbprm_rebuild(&be->lb, be->srv, be->nsrv);
	pthread_mutex_unlock(&be->lock);
	if (state == LB_SRV_UP)
		log_info("lb", "backend %s: server %s is UP (%s)", be->name, srv->name, why);
	else
		log_warn("lb", "backend %s: server %s is DOWN (%s)", be->name, srv->name, why);
}

void lb__server_report(struct lb_backend *be, struct lb_server *srv, bool ok, int fall)
{
	if (ok) {
		__atomic_store_n(&srv->consec_fail, 0, __ATOMIC_RELAXED);
		return;
	}
	int n = __atomic_add_fetch(&srv->consec_fail, 1, __ATOMIC_RELAXED);
	if (n >= (fall > 0 ? fall : 1)) {
		atomic_store(&srv->passive_down, true);
		lb__server_set_state(be, srv, LB_SRV_DOWN, "connection failures");
	}
}

void lb__revive_passive(struct lb_world *w, uint64_t now_ms)
{
	for (int i = 0; i < w->cfg->nbes; i++) {
		const struct lb_backend_cfg *bc = &w->cfg->bes[i];
		struct lb_backend *be = w->be[i];
		/* With an active check, the check brings servers back. */
		if (bc->check.type != LB_CHECK_NONE)
			continue;
		uint64_t hold = bc->check.interval ? bc->check.interval : 2000;
		struct lb_server **v;
		int n;
		pthread_mutex_lock(&be->lock);
		n = be->nsrv;
		v = XNEWV(struct lb_server *, (size_t)(n ? n : 1));
		for (int k = 0; k < n; k++) {
			v[k] = be->srv[k];
			lb__server_ref(v[k]);
		}
		pthread_mutex_unlock(&be->lock);
		for (int k = 0; k < n; k++) {
			struct lb_server *srv = v[k];
			if (atomic_load(&srv->state) == LB_SRV_DOWN && atomic_load(&srv->passive_down) &&
			    now_ms - atomic_load(&srv->last_change_ms) >= hold) {
				atomic_store(&srv->passive_down, false);
				__atomic_store_n(&srv->consec_fail, 0, __ATOMIC_RELAXED);
				lb__server_set_state(be, srv, LB_SRV_UP, "retrying after connection failures");
			}
			lb__server_unref(srv);
		}
		free(v);
	}
}

struct lb_server *lb__backend_take(struct lb_backend *be, uint64_t hash, const struct lb_server *avoid)
{
	struct lb_server *s;

	pthread_mutex_lock(&be->lock);
	s = be->lb.ops->select(&be->lb, hash, avoid);
	if (s) {
		int c = atomic_fetch_add(&s->cur_conns, 1) + 1;
		if (c > atomic_load_explicit(&s->max_conns, memory_order_relaxed))
			atomic_store_explicit(&s->max_conns, c, memory_order_relaxed);
		lb__server_ref(s);
	}
	pthread_mutex_unlock(&be->lock);
	return s;
}

bool lb__server_take(struct lb_backend *be, struct lb_server *srv)
{
	bool ok;

	pthread_mutex_lock(&be->lock);
	ok = !srv->removed && lb_server_usable(srv);
	/* A pinned client waits behind the queue like everyone else. */
	if (ok && be->nqueued && srv->maxconn)
		ok = false;
	if (ok) {
		atomic_fetch_add(&srv->cur_conns, 1);
		lb__server_ref(srv);
	}
	pthread_mutex_unlock(&be->lock);
	return ok;
}

void lb__server_release(struct lb_backend *be, struct lb_server *srv)
{
	struct lb_waiter *wt = NULL;

	pthread_mutex_lock(&be->lock);
	atomic_fetch_sub(&srv->cur_conns, 1);
	if (be->qhead) {
		/* Hand the freed capacity to the oldest waiter. It may land on
		 * another server than the one released: the balancer decides. */
		struct lb_server *s = be->lb.ops->select(&be->lb, 0, NULL);
		if (s) {
			wt = be->qhead;
			be->qhead = wt->next;
			if (be->qhead)
				be->qhead->pprev = &be->qhead;
			else
				be->qtail = &be->qhead;
			wt->pprev = NULL;
			wt->next = NULL;
			be->nqueued--;
			atomic_fetch_add(&s->cur_conns, 1);
			lb__server_ref(s);
			wt->assigned = s;
		}
	}
	pthread_mutex_unlock(&be->lock);
	lb__server_unref(srv);
	if (wt)
		lb__worker_inbox_push(wt->w, wt);
}

bool lb__backend_enqueue(struct lb_backend *be, struct lb_waiter *wt)
{
	bool ok = false;

	pthread_mutex_lock(&be->lock);
	/* A slot may have been freed between the failed take and now. */
	struct lb_server *s = be->qhead ? NULL : be->lb.ops->select(&be->lb, 0, NULL);
	if (s) {
		atomic_fetch_add(&s->cur_conns, 1);
		lb__server_ref(s);
		wt->assigned = s;
		pthread_mutex_unlock(&be->lock);
		lb__worker_inbox_push(wt->w, wt);
		return true;
	}
	if (be->nqueued < be->queue_max) {
		wt->next = NULL;
		wt->pprev = be->qtail;
		*be->qtail = wt;
		be->qtail = &wt->next;
		be->nqueued++;
		ok = true;
	}
	pthread_mutex_unlock(&be->lock);
	return ok;
}

bool lb__backend_dequeue(struct lb_backend *be, struct lb_waiter *wt)
{
	bool was_queued = false;

	pthread_mutex_lock(&be->lock);
	if (wt->pprev) {
		*wt->pprev = wt->next;
		if (wt->next)
			wt->next->pprev = wt->pprev;
		else
			be->qtail = wt->pprev;
		wt->pprev = NULL;
		wt->next = NULL;
		be->nqueued--;
		was_queued = true;
	}
	pthread_mutex_unlock(&be->lock);
	return was_queued;
}

int lb__backend_usable_count(struct lb_backend *be)
{
	int n;

	pthread_mutex_lock(&be->lock);
	n = be->lb.nact + be->lb.nbck;
	pthread_mutex_unlock(&be->lock);
	return n;
}

struct lb_server *lb__backend_find_cookie(struct lb_backend *be, struct slice value)
{
	struct lb_server *found = NULL;

	pthread_mutex_lock(&be->lock);
	for (int i = 0; i < be->nsrv; i++) {
		if (slice_eq(slice_from(be->srv[i]->cookie), value)) {
			found = be->srv[i];
			lb__server_ref(found);
			break;
		}
	}
	pthread_mutex_unlock(&be->lock);
	return found;
}

/* ---- frontends ---- */

static struct lb_frontend *frontend_new(const struct lb_frontend_cfg *fc, int nthreads)
{
	struct lb_frontend *fe = XNEW(struct lb_frontend);

	fe->name = xstrdup(fc->name);
	atomic_init(&fe->refs, 1);
	fe->cnt = XNEWV(struct lb_counters, nthreads);
	return fe;
}

static void frontend_unref(struct lb_frontend *fe)
{
	if (atomic_fetch_sub(&fe->refs, 1) != 1)
		return;
	free(fe->cnt);
	free(fe->name);
	free(fe);
}

/* ---- worlds ---- */

struct lb_world *lb__world_build(struct lb_config *cfg, struct lb_world *prev, int nthreads, char **err)
{
	struct lb_tls_ctx **tls = XNEWV(struct lb_tls_ctx *, cfg->nfes);
	struct lb_world *w;

	/* Everything that can fail comes first, so that a refused config has
	 * touched none of the backends the running world shares. */
	for (int i = 0; i < cfg->nfes; i++) {
		if (cfg->fes[i].tls.ncerts == 0)
			continue;
		tls[i] = lb__tls_ctx_new(&cfg->fes[i].tls, err);
		if (!tls[i]) {
			for (int j = 0; j < i; j++)
				lb__tls_ctx_free(tls[j]);
			free(tls);
			return NULL;
		}
	}
	w = XNEW(struct lb_world);
	atomic_init(&w->refs, 1);
	w->cfg = cfg;
	w->tls = tls;
	w->generation = prev ? prev->generation + 1 : 1;
	w->be = XNEWV(struct lb_backend *, cfg->nbes);
	w->fe = XNEWV(struct lb_frontend *, cfg->nfes);
	for (int i = 0; i < cfg->nbes; i++) {
		const struct lb_backend_cfg *bc = &cfg->bes[i];
		struct lb_backend *be = NULL;
		int j = prev ? lb_config_backend_index(prev->cfg, bc->name) : -1;
		if (j >= 0) {
			be = prev->be[j];
			lb__backend_ref(be);
		} else {
			be = backend_new(bc, nthreads);
		}
		if (bc->catalog && j >= 0)
			/* Catalog-fed: the servers are the feeder's, not the file's;
			 * only the backend's settings change on a reload. */
			lb__backend_apply_cfg(be, bc);
		else
			lb_backend_set_servers(be, bc->servers, bc->nservers, bc);
		w->be[i] = be;
	}
	for (int i = 0; i < cfg->nfes; i++) {
		/* Frontends, like backends, keep their counters across a reload
		 * when their name stays; TLS contexts belong to the world. */
		struct lb_frontend *fe = NULL;
		for (int j = 0; prev && j < prev->cfg->nfes; j++) {
			if (strcmp(prev->cfg->fes[j].name, cfg->fes[i].name) == 0) {
				fe = prev->fe[j];
				atomic_fetch_add(&fe->refs, 1);
				break;
			}
		}
		w->fe[i] = fe ? fe : frontend_new(&cfg->fes[i], nthreads);
	}
	return w;
}

void lb__world_ref(struct lb_world *w)
{
	atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
}

void lb__world_unref(struct lb_world *w)
{
	if (!w || atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (int i = 0; i < w->cfg->nbes; i++)
		lb__backend_unref(w->be[i]);
	for (int i = 0; i < w->cfg->nfes; i++) {
		frontend_unref(w->fe[i]);
		lb__tls_ctx_free(w->tls[i]);
	}
	free(w->tls);
	free(w->be);
	free(w->fe);
	lb_config_free(w->cfg);
	free(w);
}
