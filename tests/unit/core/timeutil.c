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

Test(timeutil, durations_go_syntax)
{
	static const struct {
		const char *in;
		uint64_t ms;
	} ok[] = {
		{"0", 0},          {"0s", 0},       {"10s", 10000},       {"1m30s", 90000},
		{"1h", 3600000},   {"500ms", 500},  {"1.5s", 1500},       {"2h45m", 9900000},
		{"1000us", 1},     {"1000000ns", 1}, {"1h2m3s4ms", 3723004}, {".5s", 500},
		{"1m0.25s", 60250}, {"3000\xc2\xb5s", 3},
	};
	static const char *const bad[] = {"", "10", "1x", "s", "1.s5", "-1s", "1.5", "0.5ms", "1ns",
					  "1s ", " 1s", "1m30", "99999999999999999999h"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t ms = 12345;
		cr_expect_eq(duration_parse_go(ok[i].in, &ms), 0, "%s", ok[i].in);
		cr_expect_eq(ms, ok[i].ms, "%s: %llu", ok[i].in, (unsigned long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms;
		cr_expect_eq(duration_parse_go(bad[i], &ms), -1, "accepted \"%s\"", bad[i]);
	}
}
