/* Durations and clocks. */
#ifndef BERTH_CORE_TIMEUTIL_H
#define BERTH_CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parses "250ms", "2s", "5m", "1h", "1d", or a bare number of milliseconds
 * (HAProxy's convention). Returns 0, or -1 on junk or overflow. */
int duration_parse(const char *s, uint64_t *ms);
/* Go's time.ParseDuration syntax, as compose files use it ("1m30s",
 * "1.5s", "500ms"; a bare "0" only), in whole milliseconds: a duration
 * with a sub-millisecond remainder is refused, not rounded. */
int duration_parse_go(const char *s, uint64_t *ms);
/* The current UTC time as RFC 3339 with milliseconds,
 * "2026-12-01T10:30:42.123Z" (25 bytes with the NUL). */
void time_now_rfc3339(char *buf, size_t cap);
/* Monotonic milliseconds. */
uint64_t time_mono_ms(void);

#endif
