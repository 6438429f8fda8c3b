/* Durations and clocks. */
#ifndef BERTH_CORE_TIMEUTIL_H
#define BERTH_CORE_TIMEUTIL_H

#include <stdint.h>

/* Parses "250ms", "2s", "5m", "1h", "1d", or a bare number of milliseconds
 * (HAProxy's convention). Returns 0, or -1 on junk or overflow. */
int duration_parse(const char *s, uint64_t *ms);
/* Monotonic milliseconds. */
uint64_t time_mono_ms(void);

#endif
