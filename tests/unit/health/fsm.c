/* Unit tests of the health state machine (src/health/fsm.c): every transition, start_period, rise/fall, initializing timeout. No I/O. */
#include <criterion/criterion.h>

#include "health/health-int.h"

#define OK true
#define KO false

/* Feeds <n> results of <ok> at time <t> (ms); returns how many changed the state. */
static int feed(struct health_fsm *f, bool ok, int n, uint64_t t)
{
	int changes = 0;

	for (int i = 0; i < n; i++)
		changes += health__fsm_result(f, ok, t);
	return changes;
}

Test(health_fsm, starts_starting, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 2, 3, 0, 0, 1000);
	cr_expect_eq(f.state, HEALTH_STARTING);
	cr_expect_eq(health__fsm_deadline(&f), UINT64_MAX);
	cr_expect_not(health__fsm_tick(&f, 1000000));
}

Test(health_fsm, starting_to_healthy_after_rise, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 3, 2, 0, 0, 0);
	cr_expect_eq(feed(&f, OK, 2, 1), 0);
	cr_expect_eq(f.state, HEALTH_STARTING);
	cr_expect(health__fsm_result(&f, OK, 2));
	cr_expect_eq(f.state, HEALTH_HEALTHY);
	/* more successes change nothing */
	cr_expect_eq(feed(&f, OK, 5, 3), 0);
	cr_expect_eq(f.state, HEALTH_HEALTHY);
}

Test(health_fsm, rise_counts_successes_in_a_row, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 2, 5, 0, 0, 0);
	feed(&f, OK, 1, 1);
	feed(&f, KO, 1, 1); /* breaks the run */
	feed(&f, OK, 1, 1);
	cr_expect_eq(f.state, HEALTH_STARTING);
	feed(&f, OK, 1, 1);
	cr_expect_eq(f.state, HEALTH_HEALTHY);
}

Test(health_fsm, starting_to_unhealthy_after_fall, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 2, 3, 0, 0, 0);
	cr_expect_eq(feed(&f, KO, 2, 1), 0);
	cr_expect_eq(f.state, HEALTH_STARTING);
	cr_expect(health__fsm_result(&f, KO, 1));
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
	cr_expect_eq(feed(&f, KO, 10, 1), 0);
}

Test(health_fsm, healthy_to_unhealthy_and_back, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 2, 3, 0, 0, 0);
	feed(&f, OK, 2, 1);
	cr_assert_eq(f.state, HEALTH_HEALTHY);
	/* fall - 1 failures, then a success: the count starts over */
	feed(&f, KO, 2, 2);
	feed(&f, OK, 1, 2);
	feed(&f, KO, 2, 2);
	cr_expect_eq(f.state, HEALTH_HEALTHY);
	cr_expect_eq(feed(&f, KO, 1, 2), 1);
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
	/* unhealthy: one success is not enough with rise 2 */
	feed(&f, OK, 1, 3);
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
	feed(&f, KO, 1, 3);
	feed(&f, OK, 1, 3);
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
	cr_expect_eq(feed(&f, OK, 1, 3), 1);
	cr_expect_eq(f.state, HEALTH_HEALTHY);
}

Test(health_fsm, compose_one_success_is_healthy, .timeout = 5)
{
	struct health_fsm f;

	/* compose: rise 1, fall = retries */
	health__fsm_init(&f, 1, 3, 0, 0, 0);
	feed(&f, KO, 3, 1);
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
	feed(&f, OK, 1, 2);
	cr_expect_eq(f.state, HEALTH_HEALTHY);
}

Test(health_fsm, start_period_failures_do_not_count, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 1, 2, 10000, 0, 1000);
	cr_expect(health__fsm_in_grace(&f, 1000));
	cr_expect_eq(feed(&f, KO, 50, 5000), 0);
	cr_expect_eq(f.state, HEALTH_STARTING);
	cr_expect(health__fsm_in_grace(&f, 10999));
	cr_expect_not(health__fsm_in_grace(&f, 11000));
	/* after the period they count */
	feed(&f, KO, 1, 11000);
	cr_expect_eq(f.state, HEALTH_STARTING);
	feed(&f, KO, 1, 11001);
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
}

Test(health_fsm, start_period_success_makes_healthy, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 1, 2, 10000, 0, 0);
	feed(&f, KO, 5, 100);
	cr_expect(health__fsm_result(&f, OK, 200));
	cr_expect_eq(f.state, HEALTH_HEALTHY);
	/* "considered started": failures count from now on, even inside the period */
	cr_expect_not(health__fsm_in_grace(&f, 300));
	feed(&f, KO, 2, 300);
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
}

Test(health_fsm, start_period_ends_at_first_success_with_rise, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 3, 2, 10000, 0, 0);
	feed(&f, OK, 1, 100);
	cr_expect_eq(f.state, HEALTH_STARTING);
	cr_expect_not(health__fsm_in_grace(&f, 100));
	feed(&f, KO, 2, 200);
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
}

Test(health_fsm, initializing_timeout, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 2, 3, 0, 60000, 1000);
	cr_expect_eq(health__fsm_deadline(&f), 61000);
	cr_expect_not(health__fsm_tick(&f, 60999));
	feed(&f, OK, 1, 30000);
	cr_expect(health__fsm_tick(&f, 61000));
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
	cr_expect_eq(health__fsm_deadline(&f), UINT64_MAX);
	cr_expect_not(health__fsm_tick(&f, 99999));
	/* from unhealthy, rise successes as usual */
	feed(&f, OK, 2, 62000);
	cr_expect_eq(f.state, HEALTH_HEALTHY);
}

Test(health_fsm, initializing_timeout_met, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 2, 3, 0, 60000, 0);
	feed(&f, OK, 2, 59999);
	cr_expect_eq(f.state, HEALTH_HEALTHY);
	cr_expect_eq(health__fsm_deadline(&f), UINT64_MAX);
	cr_expect_not(health__fsm_tick(&f, 70000));
	cr_expect_eq(f.state, HEALTH_HEALTHY);
}

Test(health_fsm, late_result_counts_after_timeout, .timeout = 5)
{
	struct health_fsm f;

	/* a success arriving after the deadline: the timeout strikes first,
	 * then the success counts toward rise from unhealthy */
	health__fsm_init(&f, 1, 3, 0, 1000, 0);
	cr_expect(health__fsm_result(&f, OK, 1500));
	cr_expect_eq(f.state, HEALTH_HEALTHY);
	health__fsm_init(&f, 2, 3, 0, 1000, 0);
	cr_expect(health__fsm_result(&f, OK, 1500));
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
}

Test(health_fsm, thresholds_at_least_one, .timeout = 5)
{
	struct health_fsm f;

	health__fsm_init(&f, 0, -4, 0, 0, 0);
	cr_expect(health__fsm_result(&f, KO, 0));
	cr_expect_eq(f.state, HEALTH_UNHEALTHY);
	cr_expect(health__fsm_result(&f, OK, 0));
	cr_expect_eq(f.state, HEALTH_HEALTHY);
}

Test(health_fsm, clock_wraps_safely, .timeout = 5)
{
	struct health_fsm f;

	/* times are differences from the start, never absolute comparisons */
	health__fsm_init(&f, 1, 1, 500, 0, UINT64_MAX - 100);
	cr_expect(health__fsm_in_grace(&f, UINT64_MAX - 50));
	cr_expect_eq(feed(&f, KO, 1, UINT64_MAX - 50), 0);
}
