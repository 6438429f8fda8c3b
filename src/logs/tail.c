/* A source: one tailed file. It is read with pread() at its own offset,
 * split into lines, CRI records joined (P..F) and multiline events
 * gathered, and each message encoded into the caller's chunk.
 *
 * Identity. A file is who it is by device, inode and a fingerprint: a hash
 * of its first bytes (up to LOGS_FP_LEN). The inode alone is not enough: a
 * deleted file's inode is soon given to a new one, and a saved offset must
 * not be applied to a stranger.
 *
 * Rotation. Rename-and-create: the path now names another inode. The old
 * one is still open here, so it is read to its end first, then let go and
 * the new file read from 0. Copytruncate: the file shrank, or its first
 * bytes changed (a truncated file that was written past our offset again
 * before we looked). The bytes we had not read are in the copy: a file of
 * the same directory whose first bytes have our fingerprint; it is read from
 * our offset to its end before the truncated file is read from 0. */
#include "logs/logs-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

uint64_t logs__fp_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Hash of the first <len> bytes of <fd>; false when it has fewer. */
static bool fp_of(int fd, uint32_t len, uint64_t *fp)
{
	char tmp[LOGS_FP_LEN];
	ssize_t r = len ? pread(fd, tmp, len, 0) : 0;

	if (r != (ssize_t)len)
		return false;
	*fp = logs__fp_hash(tmp, len);
	return true;
}

static bool fp_ok(const struct logs__src *s, int fd)
{
	uint64_t h;
	return s->fplen == 0 || (fp_of(fd, s->fplen, &h) && h == s->fp);
}

/* Extends the fingerprint as the file grows to LOGS_FP_LEN bytes. */
static void fp_grow(struct logs__src *s, off_t size)
{
	if (s->fplen >= LOGS_FP_LEN || size <= (off_t)s->fplen)
		return;
	uint32_t len = size < LOGS_FP_LEN ? (uint32_t)size : LOGS_FP_LEN;
	uint64_t h;
	if (fp_of(s->fd, len, &h)) {
		s->fp = h;
		s->fplen = len;
	}
}

static void emit(struct logs__src *s, int k, const char *ts, const char *msg, size_t len, bool trunc,
		 struct buf *out, uint32_t *n)
{
	logs__event_encode(out, &s->meta, ts, s->cri ? (k ? "stderr" : "stdout") : NULL, s->path, msg, len, trunc);
	(*n)++;
	s->ev_in++;
}

static void ml_flush(struct logs__src *s, int k, struct buf *out, uint32_t *n)
{
	struct logs__join *j = &s->join[k];

	if (j->mlstart < 0)
		return;
	emit(s, k, j->mlts, buf_ptr(&j->ml), j->ml.data, j->mltrunc, out, n);
	buf_reset(&j->ml);
	j->mlstart = -1;
	j->mllines = 0;
	j->mltrunc = false;
}

/* Appends <p, len> to <b> without passing LOGS_MAX_LINE; true if cut. */
static bool append_capped(struct buf *b, const char *p, size_t len)
{
	size_t room = b->data < LOGS_MAX_LINE ? LOGS_MAX_LINE - b->data : 0;
	buf_append(b, p, len < room ? len : room);
	return len > room;
}

/* A whole message of stream <k> (CRI records joined) that began at file
 * offset <start>: an event, or a part of a multiline one. */
static void message(struct logs__src *s, int k, const char *ts, const char *msg, size_t len, bool trunc,
		    off_t start, struct buf *out, uint32_t *n)
{
	struct logs__join *j = &s->join[k];

	if (len > LOGS_MAX_LINE) {
		len = LOGS_MAX_LINE;
		trunc = true;
	}
	if (!s->conf || !s->conf->has_ml) {
		emit(s, k, ts, msg, len, trunc, out, n);
		return;
	}
	/* regexec() wants a C string (REG_STARTEND would do without one, but
	 * sanitizers' interceptors still read to a NUL). A message with a NUL
	 * inside is matched on its part before it. */
	buf_reset(&s->scratch);
	buf_append(&s->scratch, msg, len);
	buf_append(&s->scratch, "", 1);
	bool first = regexec(&s->conf->ml, buf_ptr(&s->scratch), 0, NULL, 0) == 0;
	if (first || j->mlstart < 0) {
		ml_flush(s, k, out, n);
		j->mlstart = start;
		snprintf(j->mlts, sizeof(j->mlts), "%s", ts);
		j->mltrunc = append_capped(&j->ml, msg, len) || trunc;
		j->mllines = 1;
	} else {
		j->mltrunc |= append_capped(&j->ml, "\n", 1) || append_capped(&j->ml, msg, len) || trunc;
		if (++j->mllines >= LOGS_ML_MAX_LINES)
			ml_flush(s, k, out, n);
	}
	j->mllast = time_mono_ms();
}

/* One line of the file (without its '\n'), starting at file offset <start>. */
static void line(struct logs__src *s, const char *p, size_t len, bool trunc, off_t start, struct buf *out,
		 uint32_t *n)
{
	char ts[32];

	if (!s->cri) {
		if (len && p[len - 1] == '\r')
			len--;
		logs__now_ts(ts);
		message(s, 0, ts, p, len, trunc, start, out, n);
		return;
	}
	char t[40];
	bool err, partial;
	const char *text;
	size_t tlen;
	if (logs_parse_record(p, len, t, sizeof(t), &err, &partial, &text, &tlen) < 0) {
		/* Not a CRI record (a foreign line in the file): kept whole, as stdout. */
		logs__now_ts(ts);
		message(s, 0, ts, p, len, trunc, start, out, n);
		return;
	}
	int k = err;
	struct logs__join *j = &s->join[k];
	if (!partial && j->partstart < 0) { /* the common case: nothing to join */
		logs__cri_ts(t, strlen(t), ts);
		message(s, k, ts, text, tlen, trunc, start, out, n);
		return;
	}
	if (j->partstart < 0) {
		j->partstart = start;
		logs__cri_ts(t, strlen(t), j->partts);
		j->parttrunc = false;
	}
	j->parttrunc |= append_capped(&j->part, text, tlen) || trunc;
	if (partial) {
		j->partlast = time_mono_ms();
		return;
	}
	message(s, k, j->partts, buf_ptr(&j->part), j->part.data, j->parttrunc, j->partstart, out, n);
	buf_reset(&j->part);
	j->partstart = -1;
}

/* Where a restart must resume: before anything still being joined. */
static off_t safe_end(const struct logs__src *s, off_t consumed)
{
	off_t e = consumed;
	for (int k = 0; k < 2; k++) {
		if (s->join[k].partstart >= 0 && s->join[k].partstart < e)
			e = s->join[k].partstart;
		if (s->join[k].mlstart >= 0 && s->join[k].mlstart < e)
			e = s->join[k].mlstart;
	}
	return e;
}

/* Hands every whole line in rbuf to line(); cuts a line that outgrew
 * LOGS_MAX_LINE (its first part is an event, the rest is dropped). */
static void split(struct logs__src *s, struct buf *out, uint32_t *n)
{
	char *base = buf_ptr(&s->rbuf), *p = base, *end = base + s->rbuf.data;
	off_t at = s->off - (off_t)s->rbuf.data;

	while (p < end && (s->uncapped || out->data < LOGS_CHUNK_OUT)) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		size_t len = (size_t)(nl - p);
		if (s->skipping)
			s->skipping = false;
		else /* a long line read whole in one go is cut here */
			line(s, p, len > LOGS_MAX_LINE ? LOGS_MAX_LINE : len, len > LOGS_MAX_LINE, at + (p - base), out, n);
		p = nl + 1;
	}
	buf_consume(&s->rbuf, (size_t)(p - base));
	if (!s->uncapped && out->data >= LOGS_CHUNK_OUT) {
		/* The chunk is full (many short lines): the rest waits in rbuf
		 * for the next chunk. */
		s->end = safe_end(s, s->off - (off_t)s->rbuf.data);
		return;
	}
	if (s->rbuf.data > LOGS_MAX_LINE) {
		if (!s->skipping)
			line(s, buf_ptr(&s->rbuf), LOGS_MAX_LINE, true, s->off - (off_t)s->rbuf.data, out, n);
		s->skipping = true;
		buf_reset(&s->rbuf);
	}
	s->end = safe_end(s, s->off - (off_t)s->rbuf.data);
}

/* What is left at the end of a file that is let go: a last line without
 * its '\n', and whatever is being joined. */
static void flush_all(struct logs__src *s, struct buf *out, uint32_t *n)
{
	bool was = s->uncapped;

	s->uncapped = true; /* whole lines a full chunk left in rbuf first */
	split(s, out, n);
	s->uncapped = was;
	if (s->rbuf.data && !s->skipping)
		line(s, buf_ptr(&s->rbuf), s->rbuf.data, false, s->off - (off_t)s->rbuf.data, out, n);
	buf_reset(&s->rbuf);
	s->skipping = false;
	for (int k = 0; k < 2; k++) {
		struct logs__join *j = &s->join[k];
		if (j->partstart >= 0) {
			message(s, k, j->partts, buf_ptr(&j->part), j->part.data, j->parttrunc, j->partstart, out, n);
			buf_reset(&j->part);
			j->partstart = -1;
		}
		ml_flush(s, k, out, n);
	}
}

void logs__src_flush(struct logs__src *s, struct buf *out, uint32_t *n, bool force)
{
	uint64_t now = time_mono_ms();

	if (force) {
		flush_all(s, out, n);
	} else {
		for (int k = 0; k < 2; k++) {
			struct logs__join *j = &s->join[k];
			/* A line whose end never comes (a prompt, a progress bar)
			 * goes as it is after a second, so it does not hold the
			 * saved position back for good. */
			if (j->partstart >= 0 && now - j->partlast >= LOGS_ML_TIMEOUT_MS) {
				message(s, k, j->partts, buf_ptr(&j->part), j->part.data, j->parttrunc, j->partstart, out, n);
				buf_reset(&j->part);
				j->partstart = -1;
			}
			if (j->mlstart >= 0 && now - j->mllast >= LOGS_ML_TIMEOUT_MS)
				ml_flush(s, k, out, n);
		}
	}
	s->end = safe_end(s, s->off - (off_t)s->rbuf.data);
}

/* Remembers that the file open as <fd> was read up to <off> and let go. */
static void released(struct logs__src *s, int fd, off_t off)
{
	struct stat st;

	if (s->nreleased == (int)(sizeof(s->released) / sizeof(s->released[0])) || fstat(fd, &st) < 0)
		return;
	struct logs__pos *p = &s->released[s->nreleased++];
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	p->off = off;
	p->fplen = st.st_size < LOGS_FP_LEN ? (uint32_t)st.st_size : LOGS_FP_LEN;
	if (!fp_of(fd, p->fplen, &p->fp))
		s->nreleased--;
}

/* Reads <fd> from <from> to its end as a part of <s> (a rotated file we
 * had not finished), then lets it go. */
static void drain_other(struct logs__src *s, int fd, off_t from, struct buf *out, uint32_t *n)
{
	int keepfd = s->fd;

	/* <from> is where rbuf's first byte was: what a full chunk left in
	 * rbuf is read again from the other file, so rbuf is dropped. */
	s->fd = fd;
	s->off = from;
	buf_reset(&s->rbuf);
	s->skipping = false;
	/* One chunk for all of it (see docs/logs.md): a file that is let go
	 * is read to its end in one go. */
	s->uncapped = true;
	for (;;) {
		buf_reserve(&s->rbuf, LOGS_CHUNK_BYTES);
		ssize_t r = pread(fd, buf_tail(&s->rbuf), LOGS_CHUNK_BYTES, s->off);
		if (r <= 0)
			break;
		s->rbuf.data += (size_t)r;
		s->off += r;
		s->bytes_in += (uint64_t)r;
		split(s, out, n);
	}
	flush_all(s, out, n);
	s->uncapped = false;
	released(s, fd, s->off);
	close(fd);
	s->fd = keepfd;
}

/* The file of <s>'s directory that was <s>'s file before it was rotated:
 * same device and inode (<ino> != 0) and fingerprint, or (copytruncate)
 * the same fingerprint only, at least <need> bytes long. Returns an open
 * fd or -1. */
static int find_rotated(const struct logs__src *s, dev_t dev, ino_t ino, off_t need)
{
	char *dcopy = xstrdup(s->path), *bcopy = xstrdup(s->path);
	const char *dir = dirname(dcopy), *base = basename(bcopy);
	size_t stem = strcspn(base, ".");
	DIR *d = opendir(dir);
	int best = -1;
	struct timespec best_mtime = {0};
	bool best_same = false;

	if (!d || s->fplen == 0)
		goto out;
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, base) == 0 || strncmp(e->d_name, base, stem) != 0)
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		free(p);
		struct stat st;
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < need || !fp_ok(s, fd)) {
			close(fd);
			continue;
		}
		bool same = ino && st.st_dev == dev && st.st_ino == ino;
		bool newer = st.st_mtim.tv_sec > best_mtime.tv_sec ||
			     (st.st_mtim.tv_sec == best_mtime.tv_sec && st.st_mtim.tv_nsec > best_mtime.tv_nsec);
		if (best < 0 || (same && !best_same) || (same == best_same && newer)) {
			if (best >= 0)
				close(best);
			best = fd;
			best_same = same;
			best_mtime = st.st_mtim;
		} else {
			close(fd);
		}
	}
out:
	if (d)
		closedir(d);
	free(dcopy);
	free(bcopy);
	return best;
}

static void reset_identity(struct logs__src *s, const struct stat *st)
{
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->off = 0;
	s->fp = 0;
	s->fplen = 0;
	s->end = 0;
	buf_reset(&s->rbuf);
	s->skipping = false;
	fp_grow(s, st->st_size);
}

/* The file was truncated under us (copytruncate). */
static void on_truncated(struct logs__src *s, struct buf *out, uint32_t *n)
{
	struct stat st;
	off_t from = s->off - (off_t)s->rbuf.data;
	int fd = find_rotated(s, 0, 0, from);

	s->truncations++;
	if (fd >= 0) {
		drain_other(s, fd, from, out, n);
	} else {
		flush_all(s, out, n);
		if (from > 0)
			log_warn("logs", "%s was truncated at %lld bytes read and no rotated copy with its first bytes was found "
					 "in its directory: what was written after that is lost",
				 s->path, (long long)from);
	}
	if (fstat(s->fd, &st) == 0)
		reset_identity(s, &st);
}

static int open_path(struct logs__src *s, struct stat *st)
{
	int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

void logs__src_pos(const struct logs__src *s, struct logs__pos *p)
{
	p->dev = s->dev;
	p->ino = s->ino;
	p->fp = s->fp;
	p->fplen = s->fplen;
	p->off = s->end;
}

void logs__src_open(struct logs__src *s, const struct logs__pos *saved, struct buf *out, uint32_t *n)
{
	struct stat st;
	int fd = open_path(s, &st);
	dev_t dev = saved ? saved->dev : 0;
	ino_t ino = saved ? saved->ino : 0;
	off_t off = saved ? saved->off : 0;

	s->fp = saved ? saved->fp : 0;
	s->fplen = saved ? saved->fplen : 0;
	if (fd >= 0 && off > 0 && st.st_dev == dev && st.st_ino == ino && st.st_size >= off && fp_ok(s, fd)) {
		s->fd = fd;
		s->dev = dev;
		s->ino = ino;
		s->off = s->end = off;
		s->committed = *saved;
		return;
	}
	if (off > 0 && !s->globbed) {
		/* Rotated (or truncated) while we were away: finish the old file.
		 * (A glob's sources need not: the glob also matches it, and its
		 * source resumes by identity.) */
		int old = find_rotated(s, dev, ino, off);
		if (old >= 0) {
			drain_other(s, old, off, out, n);
		} else {
			log_warn("logs", "%s is not the file read before (%lld bytes) and that file was not found in its "
					 "directory: reading the new one from its start",
				 s->path, (long long)off);
		}
	}
	s->fd = fd;
	if (fd >= 0) {
		reset_identity(s, &st);
	} else {
		memset(&st, 0, sizeof(st));
		reset_identity(s, &st);
	}
}

bool logs__src_poll(struct logs__src *s, struct buf *out, uint32_t *n)
{
	struct stat st;

	if (s->fd < 0 && s->gone) {
		s->drained = true; /* never existed: nothing to read */
		return false;
	}
	if (s->fd < 0) {
		s->fd = open_path(s, &st);
		if (s->fd < 0)
			return false;
		reset_identity(s, &st);
	}
	if (fstat(s->fd, &st) < 0)
		return false;
	if (st.st_size < s->off || !fp_ok(s, s->fd)) {
		on_truncated(s, out, n);
		return true;
	}
	if (s->rbuf.data && memchr(buf_ptr(&s->rbuf), '\n', s->rbuf.data)) {
		/* Lines left by a full chunk go first, before reading more. */
		split(s, out, n);
		return true;
	}
	buf_reserve(&s->rbuf, LOGS_CHUNK_BYTES);
	ssize_t r = pread(s->fd, buf_tail(&s->rbuf), LOGS_CHUNK_BYTES, s->off);
	if (r > 0) {
		/* Truncated between the check and the read? Then these bytes
		 * may be the new content's: drop them, start over. */
		if (!fp_ok(s, s->fd)) {
			on_truncated(s, out, n);
			return true;
		}
		s->rbuf.data += (size_t)r;
		s->off += r;
		s->bytes_in += (uint64_t)r;
		fp_grow(s, s->off);
		split(s, out, n);
		return r == LOGS_CHUNK_BYTES;
	}
	if (r < 0)
		return false;
	/* At the end. The path may name another file now (renamed). */
	struct stat ps;
	bool moved = stat(s->path, &ps) < 0 || ps.st_dev != s->dev || ps.st_ino != s->ino;
	if (s->gone || (s->globbed && (moved || st.st_nlink == 0))) {
		/* Let go: the instance is gone, or (a glob's match) the file
		 * was renamed away or deleted; the glob picks up whatever now
		 * has this name, and the file's new name resumes from the
		 * position remembered for it. */
		flush_all(s, out, n);
		if (s->globbed && !s->gone)
			released(s, s->fd, s->off);
		s->gone = s->drained = true;
		return false;
	}
	if (!moved)
		return false;
	int fd = open_path(s, &ps);
	if (fd < 0)
		return false; /* not recreated yet: keep the old one open meanwhile */
	/* One last read of the old file: its writer may have added a line
	 * between our read and its reopening. */
	r = pread(s->fd, buf_tail(&s->rbuf), buf_room(&s->rbuf), s->off);
	if (r > 0) {
		close(fd);
		s->rbuf.data += (size_t)r;
		s->off += r;
		s->bytes_in += (uint64_t)r;
		split(s, out, n);
		return true;
	}
	flush_all(s, out, n);
	released(s, s->fd, s->off);
	close(s->fd);
	s->fd = fd;
	s->rotations++;
	reset_identity(s, &ps);
	return true;
}

void logs__src_close(struct logs__src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	buf_free(&s->rbuf);
	buf_free(&s->scratch);
	for (int k = 0; k < 2; k++) {
		buf_free(&s->join[k].part);
		buf_free(&s->join[k].ml);
	}
}
