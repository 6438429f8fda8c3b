/* Private to lb/balance/: the algorithms registered in balance.c. */
#ifndef BERTH_LB_BALANCE_BALANCE_H
#define BERTH_LB_BALANCE_BALANCE_H

#include "lb/server.h"

extern const struct lb_balance_ops lb_rr_ops;
extern const struct lb_balance_ops lb_leastconn_ops;
extern const struct lb_balance_ops lb_chash_ops;
extern const struct lb_balance_ops lb_random_ops;

#endif
