/* The small, strict JSON and file layer under spec.json and state.json. */
#include "runner/shim-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- memory ---- */

static void oom(void)
{
	static const char msg[] = "berth-shim: out of memory\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void *shim__xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *shim__xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

char *shim__xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(shim__xmalloc(n), s, n);
}

static char *vasprintf_x(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	char *p = shim__xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *shim__asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = vasprintf_x(fmt, ap);
	va_end(ap);
	return p;
}

/* ---- growable string ---- */

static void sb_reserve(struct shim__sb *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->p = shim__xrealloc(b->p, cap);
	b->cap = cap;
}

void shim__sb_add(struct shim__sb *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void shim__sb_addf(struct shim__sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vasprintf_x(fmt, ap);
	va_end(ap);
	shim__sb_add(b, s, strlen(s));
	free(s);
}

void shim__sb_add_jstr(struct shim__sb *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	shim__sb_add(b, "\"", 1);
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		/* Copy the plain run before <s> in one go. */
		shim__sb_add(b, run, (size_t)(s - run));
		run = s + 1;
		if (c == '\0')
			break;
		char esc[6] = {'\\', 0};
		size_t n = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		shim__sb_add(b, esc, n);
	}
	shim__sb_add(b, "\"", 1);
}

/* ---- UTF-8 ---- */

/* Length of the well-formed UTF-8 sequence at <s> (at most <n> bytes), or
 * 0 when it is not one. Table 3-7 of the Unicode standard. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

bool shim__utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* ---- JSON reader ---- */

#define JSON_MAX_DEPTH 32

void shim__json_init(struct shim__json *j, const char *what, const char *buf, size_t len)
{
	j->what = what;
	j->start = j->p = buf;
	j->end = buf + len;
	j->err = NULL;
}

int shim__json_fail(struct shim__json *j, const char *fmt, ...)
{
	if (j->err)
		return -1;
	/* Positions are for people: 1-based line and column, in bytes. */
	unsigned line = 1, col = 1;
	for (const char *q = j->start; q < j->p; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	va_list ap;
	va_start(ap, fmt);
	char *msg = vasprintf_x(fmt, ap);
	va_end(ap);
	j->err = shim__asprintf("%s:%u:%u: %s", j->what, line, col, msg);
	free(msg);
	return -1;
}

static void ws(struct shim__json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Describes the byte at the cursor for "expected X, got Y" messages. */
static const char *got(struct shim__json *j)
{
	if (j->p >= j->end)
		return "end of input";
	unsigned char c = (unsigned char)*j->p;
	if (c >= 0x20 && c < 0x7f)
		snprintf(j->got, sizeof(j->got), "'%c'", c);
	else
		snprintf(j->got, sizeof(j->got), "byte 0x%02x", c);
	return j->got;
}

int shim__json_expect(struct shim__json *j, char c)
{
	if (j->err)
		return -1;
	ws(j);
	if (j->p >= j->end || *j->p != c)
		return shim__json_fail(j, "expected '%c', got %s", c, got(j));
	j->p++;
	return 0;
}

/* The shared part of member() and element(): before each item, either the
 * closing byte or (after the first) a comma. */
static int next_item(struct shim__json *j, bool *first, char close)
{
	if (j->err)
		return -1;
	ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	if (!*first) {
		if (j->p >= j->end || *j->p != ',')
			return shim__json_fail(j, "expected ',' or '%c', got %s", close, got(j));
		j->p++;
		ws(j);
		if (j->p < j->end && *j->p == close)
			return shim__json_fail(j, "trailing comma");
	}
	*first = false;
	return 1;
}

static int parse_string(struct shim__json *j, const char *name, size_t max, struct shim__sb *out);

int shim__json_member(struct shim__json *j, bool *first, char *key, size_t cap)
{
	int r = next_item(j, first, '}');
	if (r <= 0)
		return r;
	ws(j);
	if (j->p >= j->end || *j->p != '"')
		return shim__json_fail(j, "expected a key, got %s", got(j));
	struct shim__sb k = {0};
	if (parse_string(j, "key", 256, &k) < 0) {
		free(k.p);
		return -1;
	}
	size_t n = k.len < cap - 1 ? k.len : cap - 1;
	memcpy(key, k.p ? k.p : "", n);
	key[n] = '\0';
	free(k.p);
	return shim__json_expect(j, ':') < 0 ? -1 : 1;
}

int shim__json_element(struct shim__json *j, bool *first)
{
	return next_item(j, first, ']');
}

static int hex4(struct shim__json *j, unsigned *out)
{
	unsigned v = 0;

	if (j->end - j->p < 4)
		return shim__json_fail(j, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = j->p[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return shim__json_fail(j, "bad \\u escape");
		v = v << 4 | d;
	}
	j->p += 4;
	*out = v;
	return 0;
}

static void put_utf8(struct shim__sb *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	shim__sb_add(b, u, n);
}

/* Parses the string at the cursor (which is on its '"') into <out>. The
 * limit is checked as bytes are produced, so a huge string costs at most
 * <max> bytes of memory. */
static int parse_string(struct shim__json *j, const char *name, size_t max, struct shim__sb *out)
{
	j->p++; /* the opening quote */
	shim__sb_add(out, "", 0);
	for (;;) {
		const char *run = j->p;
		while (j->p < j->end && (unsigned char)*j->p >= 0x20 && *j->p != '"' && *j->p != '\\' &&
		       (unsigned char)*j->p < 0x80)
			j->p++;
		if (out->len + (size_t)(j->p - run) > max)
			return shim__json_fail(j, "%s: longer than %zu bytes", name, max);
		shim__sb_add(out, run, (size_t)(j->p - run));
		if (j->p >= j->end)
			return shim__json_fail(j, "%s: unterminated string", name);
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c < 0x20)
			return shim__json_fail(j, "%s: control byte 0x%02x in a string", name, c);
		if (c >= 0x80) {
			size_t n = utf8_seq((const unsigned char *)j->p, (size_t)(j->end - j->p));
			if (n == 0)
				return shim__json_fail(j, "%s: invalid UTF-8", name);
			if (out->len + n > max)
				return shim__json_fail(j, "%s: longer than %zu bytes", name, max);
			shim__sb_add(out, j->p, n);
			j->p += n;
			continue;
		}
		/* A backslash. */
		j->p++;
		if (j->p >= j->end)
			return shim__json_fail(j, "%s: unterminated string", name);
		char e = *j->p++;
		unsigned cp;
		switch (e) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (hex4(j, &cp) < 0)
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return shim__json_fail(j, "%s: lone low surrogate", name);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned lo;
				if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
					return shim__json_fail(j, "%s: lone high surrogate", name);
				j->p += 2;
				if (hex4(j, &lo) < 0)
					return -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					return shim__json_fail(j, "%s: bad surrogate pair", name);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				return shim__json_fail(j, "%s: NUL (\\u0000) is not allowed", name);
			break;
		default:
			j->p--;
			return shim__json_fail(j, "%s: bad escape '\\%c'", name,
					       (unsigned char)e >= 0x20 && (unsigned char)e < 0x7f ? e : '?');
		}
		size_t before = out->len;
		put_utf8(out, cp);
		if (out->len > max) {
			out->len = before;
			return shim__json_fail(j, "%s: longer than %zu bytes", name, max);
		}
	}
}

int shim__json_string(struct shim__json *j, const char *name, size_t max, char **out, size_t *len)
{
	struct shim__sb b = {0};

	if (j->err)
		return -1;
	ws(j);
	if (j->p >= j->end || *j->p != '"')
		return shim__json_fail(j, "%s: expected a string, got %s", name, got(j));
	if (parse_string(j, name, max, &b) < 0) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	if (len)
		*len = b.len;
	return 0;
}

int shim__json_int(struct shim__json *j, const char *name, long long min, long long max, long long *out)
{
	bool neg = false;
	unsigned long long v = 0;

	if (j->err)
		return -1;
	ws(j);
	const char *at = j->p;
	if (j->p < j->end && *j->p == '-') {
		neg = true;
		j->p++;
	}
	if (j->p >= j->end || *j->p < '0' || *j->p > '9') {
		j->p = at;
		return shim__json_fail(j, "%s: expected an integer, got %s", name, got(j));
	}
	if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
		return shim__json_fail(j, "%s: leading zero", name);
	bool big = false;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		unsigned d = (unsigned)(*j->p++ - '0');
		if (v > (ULLONG_MAX - d) / 10)
			big = true;
		else
			v = v * 10 + d;
	}
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return shim__json_fail(j, "%s: expected an integer", name);
	long long x = 0;
	if (neg && v > (unsigned long long)LLONG_MAX + 1)
		big = true;
	else if (neg)
		x = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	else if (v > (unsigned long long)LLONG_MAX)
		big = true;
	else
		x = (long long)v;
	if (big || x < min || x > max) {
		j->p = at;
		return shim__json_fail(j, "%s: expected an integer from %lld to %lld", name, min, max);
	}
	*out = x;
	return 0;
}

bool shim__json_null(struct shim__json *j)
{
	if (j->err)
		return false;
	ws(j);
	if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
		j->p += 4;
		return true;
	}
	return false;
}

static int skip_value(struct shim__json *j, int depth)
{
	static const char *const words[] = {"null", "true", "false"};
	bool first = true;
	char key[8];
	int r;

	if (depth > JSON_MAX_DEPTH)
		return shim__json_fail(j, "nested deeper than %d", JSON_MAX_DEPTH);
	ws(j);
	if (j->p >= j->end)
		return shim__json_fail(j, "expected a value, got end of input");
	switch (*j->p) {
	case '{':
		j->p++;
		while ((r = shim__json_member(j, &first, key, sizeof(key))) > 0)
			if (skip_value(j, depth + 1) < 0)
				return -1;
		return r;
	case '[':
		j->p++;
		while ((r = shim__json_element(j, &first)) > 0)
			if (skip_value(j, depth + 1) < 0)
				return -1;
		return r;
	case '"': {
		struct shim__sb b = {0};
		r = parse_string(j, "string", SHIM_STATE_MAX_BYTES, &b);
		free(b.p);
		return r;
	}
	default:
		for (size_t i = 0; i < 3; i++) {
			size_t n = strlen(words[i]);
			if ((size_t)(j->end - j->p) >= n && memcmp(j->p, words[i], n) == 0) {
				j->p += n;
				return 0;
			}
		}
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
			/* Any JSON number: -?int frac? exp? */
			if (*j->p == '-')
				j->p++;
			const char *d = j->p;
			while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
				j->p++;
			if (j->p == d)
				return shim__json_fail(j, "bad number");
			if (j->p < j->end && *j->p == '.') {
				d = ++j->p;
				while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
					j->p++;
				if (j->p == d)
					return shim__json_fail(j, "bad number");
			}
			if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
				j->p++;
				if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
					j->p++;
				d = j->p;
				while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
					j->p++;
				if (j->p == d)
					return shim__json_fail(j, "bad number");
			}
			return 0;
		}
		return shim__json_fail(j, "expected a value, got %s", got(j));
	}
}

int shim__json_skip(struct shim__json *j)
{
	if (j->err)
		return -1;
	return skip_value(j, 0);
}

int shim__json_end(struct shim__json *j)
{
	if (j->err)
		return -1;
	ws(j);
	if (j->p != j->end)
		return shim__json_fail(j, "unexpected %s after the document", got(j));
	return 0;
}

char *shim__printable(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/* ---- files ---- */

int shim__read_file_at(int dirfd, const char *name, size_t max, char **buf, size_t *len, char **err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct shim__sb b = {0};
	int rc;

	if (fd < 0) {
		rc = -errno;
		*err = shim__asprintf("%s: %s", name, strerror(errno));
		return rc;
	}
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			*err = shim__asprintf("%s: %s", name, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			rc = -EFBIG;
			*err = shim__asprintf("%s: larger than %zu bytes", name, max);
			goto fail;
		}
		shim__sb_add(&b, chunk, (size_t)n);
	}
	close(fd);
	shim__sb_add(&b, "", 0); /* NUL-terminated even when empty */
	*buf = b.p;
	*len = b.len;
	return 0;
fail:
	close(fd);
	free(b.p);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int shim__write_file_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode, char **err)
{
	char tmp[256];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
	if (fd < 0)
		goto fail;
	/* No fsync: these files describe live processes, so what they must
	 * survive is a crash of a process (the agent, the shim), against which
	 * rename() is atomic already. After a machine crash no instance runs
	 * any more, and a reader that finds a damaged file treats the run as
	 * ended. fsync costs 10 ms or more per file here, and 50 instances
	 * stopping together spent half a second in it (bench/agent.sh). */
	if (write_all(fd, data, len) < 0) {
		int e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = e;
		goto fail;
	}
	if (close(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		errno = e;
		goto fail;
	}
	return 0;
fail:
	*err = shim__asprintf("%s: %s", name, strerror(errno));
	return -1;
}
