/* Logging: levels, a component prefix, text or JSON lines on stderr. */
#ifndef BERTH_CORE_LOG_H
#define BERTH_CORE_LOG_H

enum log_level {
	LOG_LVL_ERROR = 0, /* always printed */
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_format {
	LOG_FMT_TEXT = 0, /* "2026-11-22T10:00:00.123Z info  [lb] message" */
	LOG_FMT_JSON,     /* {"ts":..., "level":..., "component":..., "msg":...} */
};

extern enum log_level log_level;

void log_setup(enum log_level level, enum log_format fmt);
/* Parses "error|warn|info|debug"; returns 0, or -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);

/* <comp> names the component ("lb", "lb:check"). <err> is an errno-style code
 * appended as ": strerror" when non-zero (libuv negative codes allowed). */
void log_write(enum log_level lvl, const char *comp, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The level is checked before any formatting happens. */
#define log_msg(lvl, comp, err, ...)                                   \
	do {                                                           \
		if ((lvl) <= log_level)                                \
			log_write((lvl), (comp), (err), __VA_ARGS__);  \
	} while (0)

#define log_error(comp, ...) log_msg(LOG_LVL_ERROR, comp, 0, __VA_ARGS__)
#define log_warn(comp, ...) log_msg(LOG_LVL_WARN, comp, 0, __VA_ARGS__)
#define log_info(comp, ...) log_msg(LOG_LVL_INFO, comp, 0, __VA_ARGS__)
#define log_debug(comp, ...) log_msg(LOG_LVL_DEBUG, comp, 0, __VA_ARGS__)
#define log_errno(lvl, comp, err, ...) log_msg(lvl, comp, err, __VA_ARGS__)

/* An invariant that cannot fail; crashes loudly in every build. */
#define BUG_ON(cond)                                                          \
	do {                                                                  \
		if (__builtin_expect(!!(cond), 0))                            \
			log_bug(__FILE__, __LINE__, #cond);                   \
	} while (0)

_Noreturn void log_bug(const char *file, int line, const char *cond);

#endif
