/* Least connections, weighted, with round-robin among equally loaded servers. */
#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"
#include "lb/balance/balance.h"

struct lc_ctx {
	struct lb_server **cand; /* scratch: the least loaded servers of one pick, one slot per pool server */
};

static void lc_update(struct lb_lbprm *p)
{
	struct lc_ctx *c = p->ctx;
	int n;
	struct lb_server **pool = lb__pool(p, &n);

	if (!c)
		c = p->ctx = XNEW(struct lc_ctx);
	free(c->cand);
	c->cand = XNEWV(struct lb_server *, n);
	/* The tie-break's round-robin state starts fresh with the new set. */
	for (int i = 0; i < n; i++)
		pool[i]->lb_cur = 0;
}

/* Lowest (cur_conns + 1) / weight wins. The + 1 counts the connection about
 * to be added, so that among idle servers the heavier one goes first. Loads
 * are compared by cross-multiplication: no floats, and exact. Equal loads are
 * common (idle backends, short requests), so ties go through rr's smooth step
 * rather than always to the first server, as in nginx's least_conn. O(n).
 * Backend lock held. */
static struct lb_server *lc_select(struct lb_lbprm *p, uint64_t hash, const struct lb_server *avoid)
{
	struct lc_ctx *c = p->ctx;
	struct lb_server *fallback = NULL;
	int64_t best_load = 0, best_w = 1;
	int n, ncand = 0;
	struct lb_server **pool = lb__pool(p, &n);

	for (int i = 0; i < n; i++) {
		struct lb_server *s = pool[i];
		int64_t load, w, cmp;

		if (!lb_server_usable(s))
			continue;
		if (s == avoid) {
			fallback = s;
			continue;
		}
		load = (int64_t)atomic_load_explicit(&s->cur_conns, memory_order_relaxed) + 1;
		w = s->weight;
		cmp = ncand ? load * best_w - best_load * w : -1;
		if (cmp < 0) {
			ncand = 0;
			best_load = load;
			best_w = w;
		}
		if (cmp <= 0)
			c->cand[ncand++] = s;
	}
	if (ncand == 0)
		return fallback;
	return lb__rr_smooth_pick(c->cand, ncand);
}

static void lc_destroy(struct lb_lbprm *p)
{
	struct lc_ctx *c = p->ctx;

	if (!c)
		return;
	free(c->cand);
	free(c);
	p->ctx = NULL;
}

const struct lb_balance_ops lb_leastconn_ops = {
	.name = "leastconn",
	.update = lc_update,
	.select = lc_select,
	.destroy = lc_destroy,
};
