/* Private to lb/balance/: the algorithms registered in balance.c. */
#ifndef BERTH_LB_BALANCE_BALANCE_H
#define BERTH_LB_BALANCE_BALANCE_H

#include "lb/server.h"

extern const struct lb_balance_ops lb_rr_ops;
extern const struct lb_balance_ops lb_leastconn_ops;
extern const struct lb_balance_ops lb_chash_ops;
extern const struct lb_balance_ops lb_random_ops;

/* The servers an algorithm picks from: the active ones, or, only while no
 * active server is up, all the backups (HAProxy's rule, not only the first
 * backup). */
static inline struct lb_server **lb__pool(struct lb_lbprm *p, int *n)
{
	if (p->nact > 0) {
		*n = p->nact;
		return p->act;
	}
	*n = p->nbck;
	return p->bck;
}

/* One step of smooth weighted round-robin (nginx's) over <cand, n>, using
 * each server's lb_cur. Shared by rr.c and leastconn.c (its tie-break). */
struct lb_server *lb__rr_smooth_pick(struct lb_server **cand, int n);

#endif
