/* App-cookie stickiness: remembers which server set which session cookie
 * (e.g. connect.sid), so later requests carrying it go back there. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "lb/lb-int.h"

struct lb_appck_ent {
	struct lb_appck_ent *next;
	struct lb_server *srv;   /* ref held */
	uint64_t expires;        /* monotonic ms */
	uint64_t ttl;
	uint64_t hash;
	size_t len;
	char value[];
};

struct lb_appck {
	struct lb_appck_ent **slots;
	size_t nslots;           /* power of two */
	size_t count;
	uint64_t next_prune;     /* monotonic ms */
};

static void ent_free(struct lb_appck_ent *e)
{
	lb__server_unref(e->srv);
	free(e);
}

/* Drops expired entries; called with the backend lock held. */
static void prune(struct lb_appck *t, uint64_t now)
{
	for (size_t i = 0; i < t->nslots; i++) {
		struct lb_appck_ent **pp = &t->slots[i];
		while (*pp) {
			struct lb_appck_ent *e = *pp;
			if (e->expires <= now || e->srv->removed) {
				*pp = e->next;
				ent_free(e);
				t->count--;
			} else {
				pp = &e->next;
			}
		}
	}
	t->next_prune = now + 10000;
}

static void grow(struct lb_appck *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 256;
	struct lb_appck_ent **slots = XNEWV(struct lb_appck_ent *, n);

	for (size_t i = 0; i < t->nslots; i++) {
		struct lb_appck_ent *e = t->slots[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = slots[e->hash & (n - 1)];
			slots[e->hash & (n - 1)] = e;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
}

void lb__appck_learn(struct lb_backend *be, struct slice value, struct lb_server *srv, uint64_t ttl_ms)
{
	uint64_t h = hash64(value.ptr, value.len), now = time_mono_ms();
	struct lb_appck *t;
	struct lb_appck_ent *e;

	pthread_mutex_lock(&be->lock);
	if (!be->appck)
		be->appck = XNEW(struct lb_appck);
	t = be->appck;
	if (now >= t->next_prune)
		prune(t, now);
	if (t->count >= t->nslots)
		grow(t);
	for (e = t->slots[h & (t->nslots - 1)]; e; e = e->next) {
		if (e->hash == h && e->len == value.len && memcmp(e->value, value.ptr, value.len) == 0) {
			if (e->srv != srv) {
				lb__server_ref(srv);
				lb__server_unref(e->srv);
				e->srv = srv;
			}
			e->expires = now + ttl_ms;
			e->ttl = ttl_ms;
			pthread_mutex_unlock(&be->lock);
			return;
		}
	}
	e = xmalloc(sizeof(*e) + value.len);
	e->srv = srv;
	lb__server_ref(srv);
	e->hash = h;
	e->len = value.len;
	e->ttl = ttl_ms;
	e->expires = now + ttl_ms;
	memcpy(e->value, value.ptr, value.len);
	e->next = t->slots[h & (t->nslots - 1)];
	t->slots[h & (t->nslots - 1)] = e;
	t->count++;
	pthread_mutex_unlock(&be->lock);
}

struct lb_server *lb__appck_lookup(struct lb_backend *be, struct slice value)
{
	uint64_t h = hash64(value.ptr, value.len), now = time_mono_ms();
	struct lb_server *srv = NULL;

	pthread_mutex_lock(&be->lock);
	if (be->appck && be->appck->nslots) {
		struct lb_appck_ent *e = be->appck->slots[h & (be->appck->nslots - 1)];
		for (; e; e = e->next) {
			if (e->hash == h && e->len == value.len && memcmp(e->value, value.ptr, value.len) == 0) {
				if (e->expires > now && !e->srv->removed) {
					/* Idle time counts from the last use, as
					 * HAProxy's stick tables do. */
					e->expires = now + e->ttl;
					srv = e->srv;
					lb__server_ref(srv);
				}
				break;
			}
		}
	}
	pthread_mutex_unlock(&be->lock);
	return srv;
}

void lb__appck_free(struct lb_backend *be)
{
	struct lb_appck *t = be->appck;

	if (!t)
		return;
	for (size_t i = 0; i < t->nslots; i++) {
		struct lb_appck_ent *e = t->slots[i], *next;
		for (; e; e = next) {
			next = e->next;
			ent_free(e);
		}
	}
	free(t->slots);
	free(t);
	be->appck = NULL;
}
