/* The CRI log format: child output split into timestamped records, one
 * write() each, so that tailers never see half a record. */
#include "runner/shim-int.h"

#include <string.h>

/* Days since 1970-01-01 to a civil date, proleptic Gregorian (H. Hinnant's
 * days_from_civil inverse): no gmtime(), which would read time zone files
 * and grow a static shim. */
static void civil(long long z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static char *digits(char *p, unsigned long v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

void shim__time_format(char out[SHIM_TIME_LEN + 1], const struct timespec *ts)
{
	long long s = ts->tv_sec;
	long long days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
	long long sod = s - days * 86400;
	int y;
	unsigned m, d;
	char *p = out;

	civil(days, &y, &m, &d);
	if (y < 0)
		y = 0; /* four digits only: clocks before year 0 are not worth a format */
	if (y > 9999)
		y = 9999;
	p = digits(p, (unsigned long)y, 4);
	*p++ = '-';
	p = digits(p, m, 2);
	*p++ = '-';
	p = digits(p, d, 2);
	*p++ = 'T';
	p = digits(p, (unsigned long)(sod / 3600), 2);
	*p++ = ':';
	p = digits(p, (unsigned long)(sod / 60 % 60), 2);
	*p++ = ':';
	p = digits(p, (unsigned long)(sod % 60), 2);
	*p++ = '.';
	p = digits(p, (unsigned long)ts->tv_nsec, 9);
	*p++ = 'Z';
	*p = '\0';
}

void shim__time_now(char out[SHIM_TIME_LEN + 1])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	shim__time_format(out, &ts);
}

size_t shim__cri_format(char *out, const char time[SHIM_TIME_LEN], enum shim__stream stream,
			bool partial, const char *text, size_t len)
{
	char *p = out;

	memcpy(p, time, SHIM_TIME_LEN);
	p += SHIM_TIME_LEN;
	memcpy(p, stream == SHIM_STREAM_STDERR ? " stderr " : " stdout ", 8);
	p += 8;
	*p++ = partial ? 'P' : 'F';
	*p++ = ' ';
	memcpy(p, text, len);
	p += len;
	*p++ = '\n';
	return (size_t)(p - out);
}

void shim__cri_init(struct shim__cri_line *l, enum shim__stream stream)
{
	l->stream = stream;
	l->len = 0;
}

char *shim__cri_space(struct shim__cri_line *l, size_t *avail)
{
	/* commit() never leaves more than SHIM_CRI_MAX_TEXT bytes pending. */
	*avail = sizeof(l->buf) - l->len;
	return l->buf + l->len;
}

void shim__cri_commit(struct shim__cri_line *l, size_t n, shim__cri_emit_fn *emit, void *ctx)
{
	size_t off = 0;

	l->len += n;
	for (;;) {
		char *nl = memchr(l->buf + off, '\n', l->len - off);
		if (nl) {
			/* The buffer is one record plus one byte, so a line that
			 * ends here fits in one F record. */
			size_t k = (size_t)(nl - (l->buf + off));
			emit(ctx, l->stream, false, l->buf + off, k);
			off += k + 1;
			continue;
		}
		if (l->len - off > SHIM_CRI_MAX_TEXT) {
			/* A full record and at least one byte more that is not a
			 * newline: this record is partial. */
			emit(ctx, l->stream, true, l->buf + off, SHIM_CRI_MAX_TEXT);
			off += SHIM_CRI_MAX_TEXT;
			continue;
		}
		break;
	}
	memmove(l->buf, l->buf + off, l->len - off);
	l->len -= off;
}

void shim__cri_feed(struct shim__cri_line *l, const char *p, size_t n, shim__cri_emit_fn *emit, void *ctx)
{
	while (n) {
		size_t avail;
		char *dst = shim__cri_space(l, &avail);
		size_t k = n < avail ? n : avail;
		memcpy(dst, p, k);
		shim__cri_commit(l, k, emit, ctx);
		p += k;
		n -= k;
	}
}

void shim__cri_finish(struct shim__cri_line *l, shim__cri_emit_fn *emit, void *ctx)
{
	if (l->len)
		emit(ctx, l->stream, false, l->buf, l->len);
	l->len = 0;
}
