/* berth lb: the load balancer as a process. */
#ifndef BERTH_LB_LB_H
#define BERTH_LB_LB_H

#include <stdbool.h>

struct lb_options {
	const char *config_path;
	int threads;             /* 0 = from the config (default: cores) */
	bool check_only;         /* validate the config and exit */
};

/* Runs the load balancer until SIGTERM/SIGINT and the drain that follows.
 * Returns the process exit status. */
int lb_run(const struct lb_options *opt);

#endif
