/* Reading CRI log files (see logs.h). */
#include "agent/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

int logs_parse_record(const char *p, size_t n, char *time, size_t tcap, bool *is_stderr, bool *partial,
		      const char **text, size_t *tlen)
{
	const char *sp1 = memchr(p, ' ', n);

	if (!sp1 || (size_t)(sp1 - p) >= tcap || sp1 == p)
		return -1;
	memcpy(time, p, (size_t)(sp1 - p));
	time[sp1 - p] = 0;
	const char *s = sp1 + 1, *end = p + n;
	if ((size_t)(end - s) >= 7 && memcmp(s, "stdout ", 7) == 0) {
		*is_stderr = false;
		s += 7;
	} else if ((size_t)(end - s) >= 7 && memcmp(s, "stderr ", 7) == 0) {
		*is_stderr = true;
		s += 7;
	} else {
		return -1;
	}
	if (end - s < 1 || (*s != 'F' && *s != 'P'))
		return -1;
	*partial = *s == 'P';
	s++;
	if (s < end) {
		if (*s != ' ')
			return -1;
		s++;
	}
	*text = s;
	*tlen = (size_t)(end - s);
	return 0;
}

int logs_time_cmp(const char *a, const char *b)
{
	return strcmp(a, b);
}

void log_reader_init(struct log_reader *r, const char *path, int src)
{
	memset(r, 0, sizeof(*r));
	r->path = xstrdup(path);
	r->src = src;
}

void log_reader_free(struct log_reader *r)
{
	free(r->path);
	free(r->part);
	memset(r, 0, sizeof(*r));
}

static void part_append(struct log_reader *r, const char *t, size_t n)
{
	if (r->partlen + n > LOGS_MAX_LINE)
		n = r->partlen < LOGS_MAX_LINE ? LOGS_MAX_LINE - r->partlen : 0;
	r->part = xrealloc(r->part, r->partlen + n + 1);
	memcpy(r->part + r->partlen, t, n);
	r->partlen += n;
	r->part[r->partlen] = 0;
}

/* One record: joins partials; calls <fn> for each complete line. */
static int feed_record(struct log_reader *r, const char *p, size_t n,
		       void (*fn)(const struct log_line *l, void *arg), void *arg)
{
	char time[40];
	bool is_stderr, partial;
	const char *text;
	size_t tlen;

	if (logs_parse_record(p, n, time, sizeof(time), &is_stderr, &partial, &text, &tlen) < 0)
		return 0; /* not ours: skip it rather than stop */
	if (r->part && r->partstderr != is_stderr) {
		/* A partial line of the other stream never finished: flush it. */
		struct log_line l = {.stderr_ = r->partstderr, .text = r->part, .len = r->partlen, .src = r->src};
		memcpy(l.time, r->parttime, sizeof(l.time));
		fn(&l, arg);
		free(r->part);
		r->part = NULL;
		r->partlen = 0;
	}
	if (!r->part) {
		memcpy(r->parttime, time, sizeof(time));
		r->partstderr = is_stderr;
	}
	part_append(r, text, tlen);
	if (partial)
		return 0;
	struct log_line l = {.stderr_ = is_stderr, .text = r->part, .len = r->partlen, .src = r->src};
	memcpy(l.time, r->parttime, sizeof(l.time));
	fn(&l, arg);
	free(r->part);
	r->part = NULL;
	r->partlen = 0;
	return 1;
}

void log_reader_seek_tail(struct log_reader *r, int lines)
{
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char buf[65536];
	/* Records, not lines: long lines are several P records, so look a
	 * little further back than asked. */
	long want = (long)lines * 4 + 64, seen = 0;

	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		close(fd);
		return;
	}
	off_t pos = st.st_size;
	while (pos > 0) {
		size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		if (pread(fd, buf, n, pos - (off_t)n) != (ssize_t)n)
			break;
		for (size_t i = n; i-- > 0;) {
			/* The newline that ends the record before ours: start after it
			 * (the file's last newline ends the last record; skip it). */
			if (buf[i] == '\n' && (pos - (off_t)n + (off_t)i) < st.st_size - 1 && ++seen > want) {
				r->offset = pos - (off_t)n + (off_t)i + 1;
				r->ino = st.st_ino;
				close(fd);
				return;
			}
		}
		pos -= (off_t)n;
	}
	r->offset = 0;
	r->ino = st.st_ino;
	close(fd);
}

int log_reader_poll(struct log_reader *r, size_t max_bytes, void (*fn)(const struct log_line *l, void *arg),
		    void *arg, bool *more)
{
	struct stat st;
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	int lines = 0;
	char buf[65536];
	char *carry = NULL;
	size_t carrylen = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	/* Replaced or truncated: start over from its beginning. */
	if ((r->ino && st.st_ino != r->ino) || st.st_size < r->offset) {
		r->offset = 0;
		free(r->part);
		r->part = NULL;
		r->partlen = 0;
	}
	r->ino = st.st_ino;
	size_t used = 0;
	if (more)
		*more = false;
	for (;;) {
		if (max_bytes && used >= max_bytes && carrylen == 0) {
			if (more)
				*more = r->offset < st.st_size;
			break;
		}
		ssize_t got = pread(fd, buf, sizeof(buf), r->offset + (off_t)carrylen);
		if (got <= 0)
			break;
		used += (size_t)got;
		carry = xrealloc(carry, carrylen + (size_t)got);
		memcpy(carry + carrylen, buf, (size_t)got);
		carrylen += (size_t)got;
		size_t start = 0;
		for (size_t i = 0; i < carrylen; i++) {
			if (carry[i] != '\n')
				continue;
			lines += feed_record(r, carry + start, i - start, fn, arg);
			start = i + 1;
		}
		/* Only whole records count as read; the rest waits. */
		r->offset += (off_t)start;
		memmove(carry, carry + start, carrylen - start);
		carrylen -= start;
		if (carrylen > 2 * LOGS_MAX_LINE) {
			/* A record this long is not from the shim: skip it. */
			r->offset += (off_t)carrylen;
			carrylen = 0;
		}
	}
	free(carry);
	close(fd);
	return lines;
}

struct collect {
	struct log_line *v;
	int n, cap;
	int head;                    /* ring: the oldest entry once full */
	int tail;
	const char *since;
};

static void collect_line(const struct log_line *l, void *arg)
{
	struct collect *c = arg;

	if (c->since && c->since[0] && logs_time_cmp(l->time, c->since) < 0)
		return;
	if (c->tail >= 0 && c->n == c->tail) {
		if (c->tail == 0)
			return;
		/* Keep the last <tail>: a ring, the oldest overwritten. */
		struct log_line *d = &c->v[c->head];
		free(d->text);
		*d = *l;
		d->text = xstrndup(l->text, l->len);
		c->head = (c->head + 1) % c->tail;
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xrealloc(c->v, sizeof(*c->v) * (size_t)c->cap);
	}
	struct log_line *d = &c->v[c->n++];
	*d = *l;
	d->text = xstrndup(l->text, l->len);
}

int logs_read(struct log_reader *r, int tail, const char *since, struct log_line **out, int *n)
{
	struct collect c = {.tail = tail, .since = since};
	if (tail >= 0)
		log_reader_seek_tail(r, tail);
	int rc = log_reader_poll(r, 0, collect_line, &c, NULL);

	if (c.head) {
		/* Unroll the ring into time order. */
		struct log_line *o = XNEWV(struct log_line, (size_t)c.n);
		for (int i = 0; i < c.n; i++)
			o[i] = c.v[(c.head + i) % c.n];
		free(c.v);
		c.v = o;
	}
	*out = c.v;
	*n = c.n;
	return rc < 0 ? -1 : 0;
}

void logs_lines_free(struct log_line *l, int n)
{
	for (int i = 0; i < n; i++)
		free(l[i].text);
	free(l);
}
