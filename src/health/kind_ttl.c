/* The ttl check: healthy while the API refreshes it (health_ttl_pass) within its TTL; a lapse counts as a failure. */
#include "health/health-int.h"

#include <stdio.h>

/*
 * Nothing runs: check.c schedules the "run" one TTL after the last result
 * (or after the start), and a run is the lapse itself. Each TTL without a
 * refresh counts one failure, so a never-refreshed check turns unhealthy
 * one TTL after the start (with the default fall of 1).
 */

static int ttl_init(struct health_check *c)
{
	return 0;
}

static void ttl_run(struct health_check *c)
{
	char d[32], m[96];

	health__duration_str(c->cfg.ttl, d, sizeof(d));
	snprintf(m, sizeof(m), "TTL of %s passed without an update", d);
	health__run_done(c, false, m, NULL, -1);
}

static void ttl_nothing(struct health_check *c)
{
}

const struct health_kind_ops health__ttl_ops = {
	.name = "ttl",
	.kind = HEALTH_KIND_TTL,
	.init = ttl_init,
	.run = ttl_run,
	.timeout = ttl_nothing,
	.cancel = ttl_nothing,
	.release = ttl_nothing,
};
