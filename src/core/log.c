/* Logging to stderr, one line per message, text or JSON. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/timeutil.h"

enum log_level log_level = LOG_LVL_INFO;
static enum log_format log_fmt = LOG_FMT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format fmt)
{
	log_level = level;
	log_fmt = fmt;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FMT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FMT_JSON;
	else
		return -1;
	return 0;
}

static void json_escape(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	for (; *src && o + 7 < cap; src++) {
		unsigned char c = (unsigned char)*src;
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
}

void log_write(enum log_level lvl, const char *comp, int err, const char *fmt, ...)
{
	char msg[2048], ts[40], line[4600];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = (size_t)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (err) {
		/* errno values are positive, libuv's are negative. */
		const char *es = err < 0 ? uv_strerror(err) : strerror(err);
		snprintf(msg + n, sizeof(msg) - n, ": %s", es);
	}

	time_now_rfc3339(ts, sizeof(ts));

	if (log_fmt == LOG_FMT_JSON) {
		char esc[sizeof(msg) * 2];
		json_escape(esc, sizeof(esc), msg);
		snprintf(line, sizeof(line),
			 "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}\n",
			 ts, level_names[lvl], comp, esc);
	} else {
		snprintf(line, sizeof(line), "%s %-5s [%s] %s\n", ts, level_names[lvl], comp, msg);
	}
	/* One write(2) per line so lines from several threads never interleave. */
	if (write(STDERR_FILENO, line, strlen(line)) < 0) {
		/* Nowhere left to report it. */
	}
}

void log_bug(const char *file, int line, const char *cond)
{
	fprintf(stderr, "berth: BUG at %s:%d: %s\n", file, line, cond);
	abort();
}
