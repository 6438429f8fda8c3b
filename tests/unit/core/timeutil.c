/* Unit tests for durations and clocks (src/core/timeutil.c). */
#include <criterion/criterion.h>
#include <time.h>

#include "core/timeutil.h"

static uint64_t ok(const char *s)
{
	uint64_t ms = 12345;

	cr_assert_eq(duration_parse(s, &ms), 0, "\"%s\" refused", s);
	return ms;
}

Test(timeutil, duration_units)
{
	cr_assert_eq(ok("250ms"), 250);
	cr_assert_eq(ok("2s"), 2000);
	cr_assert_eq(ok("5m"), 300000);
	cr_assert_eq(ok("1h"), 3600000);
	cr_assert_eq(ok("1d"), 86400000);
	cr_assert_eq(ok("1500"), 1500);
	cr_assert_eq(ok("0"), 0);
	cr_assert_eq(ok("0s"), 0);
	cr_assert_eq(ok("007s"), 7000);
}

Test(timeutil, duration_junk)
{
	static const char *bad[] = {
		"", "s", "ms", "5x", "-1", "+1", " 1s", "1s ", "1 s", "1S", "1sec",
		"1.5s", "1ms5", "5mm", "0x10", "1hh",
	};
	uint64_t ms = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(duration_parse(bad[i], &ms), -1, "\"%s\" accepted", bad[i]);
		cr_assert_eq(ms, 42, "\"%s\" wrote the output", bad[i]);
	}
}

Test(timeutil, duration_overflow)
{
	uint64_t ms = 42;

	cr_assert_eq(duration_parse("18446744073709551616", &ms), -1);
	cr_assert_eq(duration_parse("99999999999999999999999", &ms), -1);
	/* Fits as a number, not once multiplied. */
	cr_assert_eq(duration_parse("18446744073709551d", &ms), -1);
	cr_assert_eq(duration_parse("184467440737095516s", &ms), -1);
	cr_assert_eq(ms, 42);
	/* Large but representable. */
	cr_assert_eq(duration_parse("100000000000d", &ms), 0);
	cr_assert_eq(ms, UINT64_C(8640000000000000000));
}

Test(timeutil, mono_clock)
{
	uint64_t a = time_mono_ms();
	struct timespec ts = {0, 20 * 1000 * 1000};

	nanosleep(&ts, NULL);
	uint64_t b = time_mono_ms();
	cr_assert_geq(b, a + 19);
	cr_assert_lt(b, a + 5000);
}
