/* Unit tests for restart decisions (src/runner/restart.c). */
#include <criterion/criterion.h>

#include "runner/restart.h"

Test(restart, never_and_on_failure)
{
	struct restart_policy no = {.when = RESTART_NEVER, .delay_ms = 100, .window_ms = 10000};
	struct restart_policy onf = {.when = RESTART_ON_FAILURE, .max_attempts = 2, .delay_ms = 100,
				     .window_ms = 10000};
	struct restart_history h = {0};
	uint64_t d;

	cr_assert_not(restart_decide(&no, &h, 1, 0, 10, &d));
	cr_assert_not(restart_decide(&onf, &h, 0, 0, 10, &d), "a clean exit is not a failure");
	cr_assert(restart_decide(&onf, &h, 3, 0, 10, &d));
	cr_assert(restart_decide(&onf, &h, -1, 9, 10, &d), "a signal is a failure");
	cr_assert_not(restart_decide(&onf, &h, 3, 0, 10, &d), "max_attempts reached");
	cr_assert_eq(h.restarts, 2);
}

Test(restart, backoff_doubles_caps_and_resets)
{
	struct restart_policy p = {.when = RESTART_ALWAYS, .delay_ms = 100, .window_ms = 10000};
	struct restart_history h = {0};
	uint64_t d, want = 100;

	for (int i = 0; i < 12; i++) {
		cr_assert(restart_decide(&p, &h, 1, 0, 50, &d));
		cr_assert_eq(d, want, "attempt %d: %llu", i, (unsigned long long)d);
		want = want * 2 > RESTART_MAX_DELAY_MS ? RESTART_MAX_DELAY_MS : want * 2;
	}
	cr_assert(restart_crashlooping(&h));
	/* A run that outlasted the window resets the backoff. */
	cr_assert(restart_decide(&p, &h, 1, 0, 20000, &d));
	cr_assert_eq(d, 100);
	cr_assert_not(restart_crashlooping(&h));
}
