/* Consistent hashing on a ring of virtual nodes (source, hash uri/header/cookie). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "lb/balance/balance.h"

/* Ring points per unit of weight. More points even out the shares (their
 * spread shrinks as 1 / sqrt(points)) at 16 bytes each. */
#define CHASH_POINTS_PER_WEIGHT 40

struct chash_point {
	uint64_t hash;         /* position on the ring: hash64("<name>#<i>") */
	struct lb_server *srv; /* owner of this point */
};

struct chash_ctx {
	struct chash_point *ring; /* sorted by hash, then by server name */
	uint32_t npoints;         /* sum of weights x CHASH_POINTS_PER_WEIGHT */
};

/* Total order, so that equal hashes (rare) sort the same whatever the order
 * of the server list; names are unique within a backend. */
static int point_cmp(const struct chash_point *x, const struct chash_point *y)
{
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return strcmp(x->srv->name, y->srv->name);
}

/* Sorts by point_cmp(). Rings reach a million points (100 servers of weight
 * 256) and are rebuilt under the backend lock on every state change, where
 * qsort() took about 70 ms: an LSD radix sort on the hash, 8 bits a pass,
 * does it in O(points). Its stable passes leave equal hashes in list order;
 * the insertion pass then orders those by name, in O(points) since
 * everything else is already in place. */
static void ring_sort(struct chash_point *ring, uint32_t n)
{
	struct chash_point *tmp = XNEWV(struct chash_point, n);
	struct chash_point *src = ring, *dst = tmp, *swap;

	for (int shift = 0; shift < 64; shift += 8) {
		uint32_t pos[256] = {0}, sum = 0;

		for (uint32_t i = 0; i < n; i++)
			pos[(src[i].hash >> shift) & 0xff]++;
		for (int b = 0; b < 256; b++) {
			uint32_t cnt = pos[b];

			pos[b] = sum;
			sum += cnt;
		}
		for (uint32_t i = 0; i < n; i++)
			dst[pos[(src[i].hash >> shift) & 0xff]++] = src[i];
		swap = src;
		src = dst;
		dst = swap;
	}
	/* An even number of passes: the result is back in <ring>. */
	free(tmp);

	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && point_cmp(&ring[j - 1], &ring[j]) > 0; j--) {
			struct chash_point t = ring[j];

			ring[j] = ring[j - 1];
			ring[j - 1] = t;
		}
}

/* Writes "#<i>" at <p>, without snprintf(): it is called once per point. */
static size_t put_suffix(char *p, int i)
{
	char digits[12];
	size_t nd = 0;

	do {
		digits[nd++] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	p[0] = '#';
	for (size_t k = 0; k < nd; k++)
		p[1 + k] = digits[nd - 1 - k];
	return nd + 1;
}

/* Point positions come from server names only, never from their order or
 * from the other servers: a server that leaves takes only its own points, and
 * only the keys that landed on them move. */
static void chash_update(struct lb_lbprm *p)
{
	struct chash_ctx *c = p->ctx;
	uint64_t total = 0;
	uint32_t k = 0;
	int n;
	struct lb_server **pool = lb__pool(p, &n);

	if (!c)
		c = p->ctx = XNEW(struct chash_ctx);
	free(c->ring);
	for (int i = 0; i < n; i++)
		total += (uint64_t)pool[i]->weight * CHASH_POINTS_PER_WEIGHT;
	c->ring = XNEWV(struct chash_point, total);

	for (int i = 0; i < n; i++) {
		struct lb_server *s = pool[i];
		int npts = s->weight * CHASH_POINTS_PER_WEIGHT;
		size_t len = strlen(s->name);
		/* Room for "#" and the digits of any int. */
		char *key = xmalloc(len + 12);

		memcpy(key, s->name, len);
		for (int j = 0; j < npts; j++) {
			c->ring[k].hash = hash64(key, len + put_suffix(key + len, j));
			c->ring[k].srv = s;
			k++;
		}
		free(key);
	}
	c->npoints = k;
	ring_sort(c->ring, k);
}

/* Takes the first point at or after <hash> (wrapping), then walks on to the
 * next usable server when that one is full or avoided: a key then lands on a
 * stable second choice, and gets its own server back when it frees up.
 * O(log points) while the server is usable. Backend lock held. */
static struct lb_server *chash_select(struct lb_lbprm *p, uint64_t hash, const struct lb_server *avoid)
{
	struct chash_ctx *c = p->ctx;
	struct lb_server *fallback = NULL;
	uint32_t lo = 0, hi, idx;
	int n, nusable = 0;
	struct lb_server **pool;

	if (c->npoints == 0)
		return NULL;
	hi = c->npoints;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->ring[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	idx = lo == c->npoints ? 0 : lo;
	if (c->ring[idx].srv != avoid && lb_server_usable(c->ring[idx].srv))
		return c->ring[idx].srv;

	/* Count first, so that a pool where everything is full (the busy case)
	 * costs O(n) rather than a walk around the whole ring. */
	pool = lb__pool(p, &n);
	for (int i = 0; i < n; i++) {
		if (!lb_server_usable(pool[i]))
			continue;
		if (pool[i] == avoid)
			fallback = pool[i];
		else
			nusable++;
	}
	if (nusable == 0)
		return fallback;
	for (uint32_t k = 1; k < c->npoints; k++) {
		uint32_t j = idx + k < c->npoints ? idx + k : idx + k - c->npoints;
		struct lb_server *s = c->ring[j].srv;

		if (s != avoid && lb_server_usable(s))
			return s;
	}
	/* The servers counted above filled up or went down meanwhile. */
	return fallback;
}

static void chash_destroy(struct lb_lbprm *p)
{
	struct chash_ctx *c = p->ctx;

	if (!c)
		return;
	free(c->ring);
	free(c);
	p->ctx = NULL;
}

const struct lb_balance_ops lb_chash_ops = {
	.name = "chash",
	.update = chash_update,
	.select = chash_select,
	.destroy = chash_destroy,
};
