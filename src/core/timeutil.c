/* Durations and clocks. */
#include "core/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int duration_parse(const char *s, uint64_t *ms)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!*p)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > UINT64_MAX / 10 - 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -1;
	if (*p == '\0' || strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "s") == 0)
		mult = 1000;
	else if (strcmp(p, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(p, "d") == 0)
		mult = 86400 * 1000;
	else
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*ms = v * mult;
	return 0;
}

int duration_parse_go(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
		/* longest first where one is a prefix of another ("ms" before "m") */
		{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
		{"ms", 1000000}, {"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL},
	};
	unsigned __int128 total = 0;
	const char *p = s;

	/* Go accepts a bare "0" and nothing else without a unit. */
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (!*p)
		return -1;
	while (*p) {
		uint64_t whole = 0, frac = 0, den = 1, unit = 0;
		bool digits = false;
		size_t ulen = 0;

		for (; *p >= '0' && *p <= '9'; p++, digits = true) {
			if (whole > UINT64_MAX / 10 - 10)
				return -1;
			whole = whole * 10 + (uint64_t)(*p - '0');
		}
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
				/* digits past 10^18 cannot matter at nanosecond precision */
				if (den < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					den *= 10;
				}
			}
		}
		if (!digits)
			return -1;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, n) == 0 && n > ulen) {
				/* "m" must not win over "ms": keep the longest match */
				unit = units[i].ns;
				ulen = n;
			}
		}
		if (!unit)
			return -1;
		p += ulen;
		total += (unsigned __int128)whole * unit + (unsigned __int128)frac * unit / den;
		if (total > (unsigned __int128)UINT64_MAX)
			return -1;
	}
	if (total % 1000000)
		return -1; /* berth counts in milliseconds; refuse rather than round */
	*ms = (uint64_t)(total / 1000000);
	return 0;
}

uint64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void time_now_rfc3339(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}
