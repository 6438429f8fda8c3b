/* Smooth weighted round-robin (nginx's algorithm), replayed from one precomputed period. */
#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"
#include "lb/balance/balance.h"

/* Schedule slots select() examines before it falls back to one O(n) smooth
 * step over the usable servers. A server's runs in a smooth schedule are short
 * unless its weight dwarfs the others', so the walk rarely gives up while most
 * of the pool is usable; it bounds the cost when most of it is full. */
#define RR_WALK_MAX 16

/* Bounds on the precomputed period: its length (4 bytes a slot) and the work
 * to compute it (length x servers, done under the backend lock). Past either
 * one, every pick runs the O(n) smooth step instead, which yields the same
 * sequence, only slower. Typical pools (tens of servers) stay far below. */
#define RR_SCHED_MAX_LEN (UINT64_C(1) << 16)
#define RR_SCHED_MAX_WORK (UINT64_C(1) << 22)

struct rr_ctx {
	uint32_t *sched;         /* one period of the smooth sequence, as pool indexes; NULL past the bounds */
	uint32_t nsched;         /* its length: sum of weights / their gcd; 0 without a schedule */
	uint32_t next;           /* slot of the next pick, < nsched */
	struct lb_server **cand; /* scratch for the slow path, one slot per pool server */
};

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* One step of nginx's smooth weighted round-robin over <cand, n> (n > 0):
 * every candidate's lb_cur grows by its weight, the largest wins and pays the
 * total back. Repeated sum(weights) times over a fixed set, each server wins
 * exactly <weight> times, spread out, and every lb_cur ends where it started.
 * Ties go to the earliest candidate. Shared with leastconn, which breaks its
 * ties with it (nginx's least_conn does the same). Backend lock held. */
struct lb_server *lb__rr_smooth_pick(struct lb_server **cand, int n)
{
	struct lb_server *best = NULL;
	int64_t total = 0;

	for (int i = 0; i < n; i++) {
		struct lb_server *s = cand[i];

		s->lb_cur += s->weight;
		total += s->weight;
		if (!best || s->lb_cur > best->lb_cur)
			best = s;
	}
	best->lb_cur -= total;
	return best;
}

/* Precomputes one period of the sequence by running the smooth step itself,
 * so the hot path is a table read. Scaling every weight by the same factor
 * does not change the sequence, hence the period is sum / gcd. */
static void rr_update(struct lb_lbprm *p)
{
	struct rr_ctx *c = p->ctx;
	uint32_t old_len, old_next;
	uint64_t sum = 0, g = 0, len;
	int n;
	struct lb_server **pool = lb__pool(p, &n);

	if (!c)
		c = p->ctx = XNEW(struct rr_ctx);
	old_len = c->nsched;
	old_next = c->next;
	free(c->sched);
	free(c->cand);
	c->sched = NULL;
	c->nsched = c->next = 0;
	c->cand = XNEWV(struct lb_server *, n);

	for (int i = 0; i < n; i++) {
		pool[i]->lb_cur = 0;
		pool[i]->lb_pos = (uint32_t)i;
		sum += (uint64_t)pool[i]->weight;
		g = gcd(g, (uint64_t)pool[i]->weight);
	}
	if (n == 0)
		return;
	len = sum / g;
	if (len > RR_SCHED_MAX_LEN || len * (uint64_t)n > RR_SCHED_MAX_WORK)
		return;

	c->sched = XNEWV(uint32_t, len);
	for (uint64_t k = 0; k < len; k++)
		c->sched[k] = lb__rr_smooth_pick(pool, n)->lb_pos;
	c->nsched = (uint32_t)len;
	/* Resume at the same relative place: restarting at slot 0 on every
	 * rebuild would give the heaviest server the next picks each time some
	 * server flaps. */
	if (old_len)
		c->next = (uint32_t)((uint64_t)old_next * len / old_len);
}

/* Fair among whatever is usable right now: the smooth step over only those
 * servers, as nginx does when it skips down or full peers. */
static struct lb_server *rr_select_slow(struct rr_ctx *c, struct lb_server **pool, int n,
					const struct lb_server *avoid)
{
	struct lb_server *fallback = NULL;
	int ncand = 0;

	for (int i = 0; i < n; i++) {
		struct lb_server *s = pool[i];

		if (!lb_server_usable(s))
			continue;
		if (s == avoid)
			fallback = s;
		else
			c->cand[ncand++] = s;
	}
	if (ncand == 0)
		return fallback;
	return lb__rr_smooth_pick(c->cand, ncand);
}

/* O(1) while the servers next in the schedule are usable: skipping a full or
 * avoided server's slot leaves the others in their interleaved order, so the
 * rest keep their exact ratios. Backend lock held. */
static struct lb_server *rr_select(struct lb_lbprm *p, uint64_t hash, const struct lb_server *avoid)
{
	struct rr_ctx *c = p->ctx;
	int n;
	struct lb_server **pool = lb__pool(p, &n);

	if (n == 0)
		return NULL;
	if (c->nsched) {
		uint32_t walk = c->nsched < RR_WALK_MAX ? c->nsched : RR_WALK_MAX;
		uint32_t pos = c->next;

		for (uint32_t k = 0; k < walk; k++) {
			struct lb_server *s = pool[c->sched[pos]];

			if (++pos == c->nsched)
				pos = 0;
			if (s != avoid && lb_server_usable(s)) {
				c->next = pos;
				return s;
			}
		}
		/* The walked slots belong to servers that cannot take them now:
		 * drop them rather than probe them again on the next pick. */
		c->next = pos;
	}
	return rr_select_slow(c, pool, n, avoid);
}

static void rr_destroy(struct lb_lbprm *p)
{
	struct rr_ctx *c = p->ctx;

	if (!c)
		return;
	free(c->sched);
	free(c->cand);
	free(c);
	p->ctx = NULL;
}

const struct lb_balance_ops lb_rr_ops = {
	.name = "roundrobin",
	.update = rr_update,
	.select = rr_select,
	.destroy = rr_destroy,
};
