/* The table of balancing algorithms, and the pool bookkeeping they share. */
#include <stdlib.h>

#include "core/mem.h"
#include "lb/balance/balance.h"

static const struct {
	enum lb_algo algo;
	const struct lb_balance_ops *ops;
} lb_balance_table[] = {
	{LB_ALGO_ROUNDROBIN, &lb_rr_ops},
	{LB_ALGO_LEASTCONN, &lb_leastconn_ops},
	{LB_ALGO_SOURCE, &lb_chash_ops},
	{LB_ALGO_RANDOM, &lb_random_ops},
	{LB_ALGO_HASH_URI, &lb_chash_ops},
	{LB_ALGO_HASH_HEADER, &lb_chash_ops},
	{LB_ALGO_HASH_COOKIE, &lb_chash_ops},
};

const struct lb_balance_ops *lb_balance_find(enum lb_algo algo)
{
	for (size_t i = 0; i < sizeof(lb_balance_table) / sizeof(lb_balance_table[0]); i++)
		if (lb_balance_table[i].algo == algo)
			return lb_balance_table[i].ops;
	return &lb_rr_ops;
}

void lb_lbprm_rebuild(struct lb_lbprm *p, struct lb_server **srv, int n)
{
	free(p->act);
	free(p->bck);
	p->act = XNEWV(struct lb_server *, n);
	p->bck = XNEWV(struct lb_server *, n);
	p->nact = p->nbck = 0;
	for (int i = 0; i < n; i++) {
		struct lb_server *s = srv[i];
		if (atomic_load(&s->state) != LB_SRV_UP || s->weight <= 0)
			continue;
		if (s->backup)
			p->bck[p->nbck++] = s;
		else
			p->act[p->nact++] = s;
	}
	if (!p->rng)
		p->rng = 0x9e3779b97f4a7c15ULL;
	p->ops->update(p);
}

void lb_lbprm_destroy(struct lb_lbprm *p)
{
	if (p->ops && p->ops->destroy)
		p->ops->destroy(p);
	free(p->act);
	free(p->bck);
	p->act = p->bck = NULL;
	p->nact = p->nbck = 0;
}
