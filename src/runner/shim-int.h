/* Private to the shim's files (src/runner/shim*.c) and their tests: the
 * strict JSON layer, file helpers, the CRI log formatter and user lookup.
 * Like shim.h, libc only. */
#ifndef BERTH_RUNNER_SHIM_INT_H
#define BERTH_RUNNER_SHIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "runner/shim.h"

/* ---- memory: out of memory aborts (STYLE.md 4) ---- */

void *shim__xmalloc(size_t n);
void *shim__xrealloc(void *p, size_t n);
char *shim__xstrdup(const char *s);
/* Formats into a fresh heap string (for *err). */
char *shim__asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- a growable string ---- */

struct shim__sb {
	char *p;    /* NUL-terminated once anything was added; NULL before */
	size_t len; /* bytes, the NUL excluded */
	size_t cap; /* allocated bytes */
};

void shim__sb_add(struct shim__sb *b, const char *s, size_t n);
static inline void shim__sb_adds(struct shim__sb *b, const char *s)
{
	shim__sb_add(b, s, __builtin_strlen(s));
}
void shim__sb_addf(struct shim__sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends <s> as a quoted JSON string. <s> must be valid UTF-8 (callers
 * check with shim__utf8_valid); control bytes are escaped. */
void shim__sb_add_jstr(struct shim__sb *b, const char *s);

/* True when <n> bytes at <s> are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool shim__utf8_valid(const char *s, size_t n);

/* ---- a strict JSON reader ---- */

/* A cursor over one document. Every call that fails sets err (the first
 * failure only: "WHAT:LINE:COL: message") and returns -1; after that all
 * calls fail at once, so a caller can check once at the end of a block. */
struct shim__json {
	const char *what;  /* document name for messages, e.g. "spec.json" */
	const char *start; /* first byte, to turn positions into line:col */
	const char *p;     /* next byte to read */
	const char *end;   /* one past the last byte */
	char *err;         /* the first failure (heap), NULL while none */
	char got[16];      /* scratch: the byte at the cursor, for messages */
};

void shim__json_init(struct shim__json *j, const char *what, const char *buf, size_t len);
/* Fails at the current position with a message; returns -1. */
int shim__json_fail(struct shim__json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Expects the byte <c> ('{', '[', ...) after optional whitespace. */
int shim__json_expect(struct shim__json *j, char c);
/* Iterates an object's members after its '{': returns 1 with the next
 * key in <key> (truncated to <cap> - 1 bytes) and its ':' consumed, 0 once
 * the '}' is consumed, -1 on error. *first starts true. */
int shim__json_member(struct shim__json *j, bool *first, char *key, size_t cap);
/* Iterates an array's elements after its '[': 1 when an element follows,
 * 0 once the ']' is consumed, -1 on error. */
int shim__json_element(struct shim__json *j, bool *first);
/* Reads a string value into *out (heap, NUL-terminated, *len bytes if
 * <len>), at most <max> bytes decoded. \u0000 is refused: C strings. */
int shim__json_string(struct shim__json *j, const char *name, size_t max, char **out, size_t *len);
/* Reads an integer (no fraction, no exponent) within [min, max]. */
int shim__json_int(struct shim__json *j, const char *name, long long min, long long max, long long *out);
/* Consumes `null` and returns true when it comes next. */
bool shim__json_null(struct shim__json *j);
/* Skips any one value, nested at most 32 deep. */
int shim__json_skip(struct shim__json *j);
/* Expects nothing but whitespace up to the end. */
int shim__json_end(struct shim__json *j);
/* Replaces control bytes in <s> by '?' and returns it: for quoting
 * decoded input in one-line messages. */
char *shim__printable(char *s);

/* ---- files ---- */

/* Reads <name> relative to <dirfd> (AT_FDCWD: the cwd), at most <max>
 * bytes, into *buf (heap, NUL-terminated). Returns 0 or a negative errno
 * (-EFBIG when larger than <max>), with *err naming the file. */
int shim__read_file_at(int dirfd, const char *name, size_t max, char **buf, size_t *len, char **err);
/* Replaces <name> in <dirfd> by <len> bytes of <data> atomically: writes
 * <name>.tmp, fsyncs it, renames it over <name> and fsyncs the directory.
 * Returns 0, or -1 with *err. */
int shim__write_file_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode, char **err);

/* ---- time and the CRI log format ---- */

/* Writes <ts> as "YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ" (UTC, SHIM_TIME_LEN
 * bytes) plus a NUL into <out>. No locale, no time zone files. */
void shim__time_format(char out[SHIM_TIME_LEN + 1], const struct timespec *ts);
/* The current wall-clock time, formatted. */
void shim__time_now(char out[SHIM_TIME_LEN + 1]);

enum shim__stream {
	SHIM_STREAM_STDOUT = 0, /* the child's fd 1. Please keep at zero. */
	SHIM_STREAM_STDERR = 1, /* the child's fd 2 */
};

/* The longest record: time, " stderr P ", text, '\n'. */
#define SHIM_CRI_RECORD_MAX (SHIM_TIME_LEN + 10 + SHIM_CRI_MAX_TEXT + 1)

/* Formats one record into <out> (at least SHIM_CRI_RECORD_MAX bytes, or
 * the record's own size) and returns its length. <len> <= SHIM_CRI_MAX_TEXT;
 * <text> holds no '\n'. */
size_t shim__cri_format(char *out, const char time[SHIM_TIME_LEN], enum shim__stream stream,
			bool partial, const char *text, size_t len);

/* Called for each record a stream completes: <partial> is a P record.
 * <text> is borrowed for the call. */
typedef void shim__cri_emit_fn(void *ctx, enum shim__stream stream, bool partial,
			       const char *text, size_t len);

/* The unfinished line of one stream. The caller reads straight into
 * shim__cri_space(), then commits what it read. */
struct shim__cri_line {
	enum shim__stream stream;
	size_t len;                        /* bytes pending in buf */
	char buf[SHIM_CRI_MAX_TEXT + 1];   /* one spare byte: a full record is P only if more text follows */
};

void shim__cri_init(struct shim__cri_line *l, enum shim__stream stream);
/* Where the next read goes; *avail >= 1 bytes. */
char *shim__cri_space(struct shim__cri_line *l, size_t *avail);
/* Takes <n> bytes just read into the space and emits every record they
 * complete. */
void shim__cri_commit(struct shim__cri_line *l, size_t n, shim__cri_emit_fn *emit, void *ctx);
/* Copies <n> bytes in (any amount) and emits as commit does. */
void shim__cri_feed(struct shim__cri_line *l, const char *p, size_t n, shim__cri_emit_fn *emit, void *ctx);
/* At EOF: emits the text left without a newline as an F record. */
void shim__cri_finish(struct shim__cri_line *l, shim__cri_emit_fn *emit, void *ctx);

/* ---- users ---- */

#define SHIM_MAX_GROUPS 256 /* supplementary groups kept for the child */

struct shim__user {
	uid_t uid;
	gid_t gid;                      /* primary group */
	size_t ngroups;                 /* entries in groups, gid first */
	gid_t groups[SHIM_MAX_GROUPS];  /* for setgroups() */
};

/* Resolves "USER[:GROUP]" (spec.json "user") with the passwd and group
 * files at <passwd> and <group> (normally /etc/passwd and /etc/group; read
 * directly, not through NSS, so that a static berth-shim needs no shared
 * libraries). Returns 0, or -1 with *err. */
int shim__user_resolve(const char *spec, const char *passwd, const char *group,
		       struct shim__user *out, char **err);

#endif
