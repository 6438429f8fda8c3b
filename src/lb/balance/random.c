/* Random with two choices: the less loaded of two weighted random draws. */
#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"
#include "lb/balance/balance.h"

/* Draws allowed for finding two usable servers. When they all miss, most of
 * the pool is full or avoided and a scan finds the rest faster. */
#define RAND_DRAWS_MAX 6

struct rand_ctx {
	uint32_t *cum; /* cum[i]: sum of the weights of pool[0..i]; cum[n - 1] is the total */
};

/* xorshift64* (Vigna): fast, and plenty for spreading load. The state must
 * not be zero, which lb_lbprm_rebuild() already ensures; kept safe here too
 * since a zero state would stick at zero. */
static uint64_t rng_next(struct lb_lbprm *p)
{
	uint64_t x = p->rng ? p->rng : UINT64_C(0x9e3779b97f4a7c15);

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->rng = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* A pool index drawn with probability weight / total. O(log n). */
static int draw(struct lb_lbprm *p, const uint32_t *cum, int n)
{
	/* The high bits are the best ones of xorshift64*; multiply-shift maps
	 * them onto [0, total) without a division. */
	uint32_t x = (uint32_t)(((rng_next(p) >> 32) * cum[n - 1]) >> 32);
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void rand_update(struct lb_lbprm *p)
{
	struct rand_ctx *c = p->ctx;
	uint32_t sum = 0;
	int n;
	struct lb_server **pool = lb__pool(p, &n);

	if (!c)
		c = p->ctx = XNEW(struct rand_ctx);
	free(c->cum);
	c->cum = XNEWV(uint32_t, n);
	for (int i = 0; i < n; i++) {
		sum += (uint32_t)pool[i]->weight;
		c->cum[i] = sum;
	}
}

/* Two draws, then the one with fewer cur_conns per unit of weight (compared
 * by cross-multiplication), the first on a tie. Sampling two instead of
 * scanning all keeps it O(log n), and picks made before the counts catch up
 * do not all pile onto the same least loaded server. Backend lock held. */
static struct lb_server *rand_select(struct lb_lbprm *p, uint64_t hash, const struct lb_server *avoid)
{
	struct rand_ctx *c = p->ctx;
	struct lb_server *pick[2], *fallback = NULL;
	int n, got = 0, start;
	struct lb_server **pool = lb__pool(p, &n);

	if (n == 0)
		return NULL;
	for (int tries = 0; got < 2 && tries < RAND_DRAWS_MAX; tries++) {
		struct lb_server *s = pool[draw(p, c->cum, n)];

		if (s != avoid && lb_server_usable(s))
			pick[got++] = s;
	}
	if (got == 2) {
		int64_t a = atomic_load_explicit(&pick[0]->cur_conns, memory_order_relaxed);
		int64_t b = atomic_load_explicit(&pick[1]->cur_conns, memory_order_relaxed);

		return b * pick[0]->weight < a * pick[1]->weight ? pick[1] : pick[0];
	}
	if (got == 1)
		return pick[0];

	/* Start at a random place so that the few usable servers share the
	 * load rather than the first of them taking it all. */
	start = (int)(rng_next(p) % (uint64_t)n);
	for (int k = 0; k < n; k++) {
		struct lb_server *s = pool[(start + k) % n];

		if (!lb_server_usable(s))
			continue;
		if (s != avoid)
			return s;
		fallback = s;
	}
	return fallback;
}

static void rand_destroy(struct lb_lbprm *p)
{
	struct rand_ctx *c = p->ctx;

	if (!c)
		return;
	free(c->cum);
	free(c);
	p->ctx = NULL;
}

const struct lb_balance_ops lb_random_ops = {
	.name = "random",
	.update = rand_update,
	.select = rand_select,
	.destroy = rand_destroy,
};
