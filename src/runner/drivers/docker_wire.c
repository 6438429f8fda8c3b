/* The docker driver's pure parts: bytes from the engine (log frames,
 * progress streams) in, bytes for the engine (create bodies, build
 * contexts) out. No I/O but the log file and the context directory, so the
 * unit tests and the fuzzers drive them directly. */
#include "runner/drivers/docker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/str.h"

/* ---- frames ---- */

void docker__demux_init(struct docker__demux *d)
{
	memset(d, 0, sizeof(*d));
}

void docker__demux_free(struct docker__demux *d)
{
	buf_free(&d->frame);
}

static void frame_flush(struct docker__demux *d, docker__frame_fn *fn, void *ctx)
{
	if (d->frame.data || d->first)
		fn(ctx, d->stream, d->first, buf_ptr(&d->frame), d->frame.data);
	d->first = false;
	buf_reset(&d->frame);
}

int docker__demux_feed(struct docker__demux *d, const char *p, size_t n, docker__frame_fn *fn, void *ctx)
{
	while (n && !d->broken) {
		if (d->left == 0) {
			size_t k = 8 - d->hlen < n ? 8 - d->hlen : n;
			memcpy(d->hdr + d->hlen, p, k);
			d->hlen += k;
			p += k;
			n -= k;
			if (d->hlen < 8)
				break;
			d->hlen = 0;
			if (d->hdr[0] > 2 || d->hdr[1] || d->hdr[2] || d->hdr[3]) {
				d->broken = true;
				return -1;
			}
			d->stream = d->hdr[0] == 2 ? 2 : 1;
			d->left = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 | (uint32_t)d->hdr[6] << 8 |
				  d->hdr[7];
			d->first = true;
			if (d->left == 0) {
				/* An empty frame carries nothing worth a record. */
				d->first = false;
			}
			continue;
		}
		size_t k = d->left < n ? d->left : n;
		/* Gather a frame that fits, so the caller sees its timestamp
		 * and its text together; a bigger one goes on in pieces. */
		if (d->frame.data + k > DOCKER_FRAME_MAX)
			frame_flush(d, fn, ctx);
		if (k > DOCKER_FRAME_MAX) {
			fn(ctx, d->stream, d->first, p, k);
			d->first = false;
		} else {
			buf_append(&d->frame, p, k);
		}
		d->left -= (uint32_t)k;
		p += k;
		n -= k;
		if (d->left == 0)
			frame_flush(d, fn, ctx);
	}
	return d->broken ? -1 : 0;
}

/* ---- time ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), H. Hinnant's
 * days_from_civil: no timegm(), which reads time zone files. */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int num(const char *s, size_t n, size_t at, size_t len, unsigned *out)
{
	unsigned v = 0;

	if (at + len > n)
		return -1;
	for (size_t i = at; i < at + len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int docker__parse_time(const char *s, size_t n, struct timespec *out)
{
	unsigned y, mo, d, h, mi, se;
	size_t i = 19;
	long nsec = 0;

	if (num(s, n, 0, 4, &y) || n < 20 || s[4] != '-' || num(s, n, 5, 2, &mo) || s[7] != '-' ||
	    num(s, n, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || num(s, n, 11, 2, &h) ||
	    s[13] != ':' || num(s, n, 14, 2, &mi) || s[16] != ':' || num(s, n, 17, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	if (i < n && s[i] == '.') {
		long scale = 100000000;
		i++;
		size_t start = i;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			nsec += (s[i] - '0') * scale;
			scale /= 10;
		}
		if (i == start)
			return -1;
	}
	long long off = 0;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		unsigned oh, om;
		if (num(s, n, i + 1, 2, &oh) || i + 3 >= n || s[i + 3] != ':' || num(s, n, i + 4, 2, &om))
			return -1;
		off = (long long)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
		i += 6;
	} else {
		return -1;
	}
	if (i != n)
		return -1;
	out->tv_sec = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off);
	out->tv_nsec = nsec;
	return 0;
}

static bool time_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* ---- CRI records ---- */

void docker__logw_init(struct docker__logw *w, int fd, const struct timespec *since)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	shim__cri_init(&w->out, SHIM_STREAM_STDOUT);
	shim__cri_init(&w->err, SHIM_STREAM_STDERR);
	if (since)
		w->since = *since;
	shim__time_now(w->ts);
}

static void emit_record(void *ctx, enum shim__stream stream, bool partial, const char *text, size_t len)
{
	struct docker__logw *w = ctx;
	char rec[SHIM_CRI_RECORD_MAX];
	size_t n = shim__cri_format(rec, w->ts, stream, partial, text, len);

	w->records++;
	if (w->fd < 0)
		return;
	/* One write per record, as the shim does: a tailer never reads half
	 * of one. A full disk loses the record, not the container. */
	for (size_t off = 0; off < n;) {
		ssize_t k = write(w->fd, rec + off, n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
}

static void logw_text(struct docker__logw *w, int stream, const char *p, size_t n)
{
	if (w->skipping || !n)
		return;
	shim__cri_feed(stream == 2 ? &w->err : &w->out, p, n, emit_record, w);
}

/* The frame's timestamp is complete: use it, or skip the frame if an
 * earlier agent already wrote it. */
static void logw_stamp(struct docker__logw *w)
{
	struct timespec ts;

	w->in_ts = false;
	if (docker__parse_time(w->tsbuf, w->tslen, &ts) < 0) {
		shim__time_now(w->ts);
		return;
	}
	if ((w->since.tv_sec || w->since.tv_nsec) && !time_after(&ts, &w->since)) {
		w->skipping = true;
		return;
	}
	w->last = ts;
	shim__time_format(w->ts, &ts);
}

void docker__logw_frame(void *ctx, int stream, bool first, const char *p, size_t n)
{
	struct docker__logw *w = ctx;

	if (first) {
		w->skipping = false;
		w->in_ts = true;
		w->tslen = 0;
	}
	if (w->in_ts) {
		const char *sp = memchr(p, ' ', n);
		size_t k = sp ? (size_t)(sp - p) : n;
		if (w->tslen + k < sizeof(w->tsbuf)) {
			memcpy(w->tsbuf + w->tslen, p, k);
			w->tslen += k;
		} else {
			w->tslen = sizeof(w->tsbuf); /* no timestamp is this long: not one */
		}
		if (!sp)
			return;
		logw_stamp(w);
		p = sp + 1;
		n -= k + 1;
	}
	logw_text(w, stream, p, n);
}

void docker__logw_finish(struct docker__logw *w)
{
	shim__time_now(w->ts);
	shim__cri_finish(&w->out, emit_record, w);
	shim__cri_finish(&w->err, emit_record, w);
}

int docker__log_last_time(const char *path, struct timespec *out)
{
	char tail[4096 + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0)
		return -1;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > 4096 ? end - 4096 : 0;
	ssize_t n = end > 0 ? pread(fd, tail, (size_t)(end - from), from) : 0;
	close(fd);
	if (n <= 0)
		return -1;
	tail[n] = 0;
	/* The last complete record: after the last newline but one. */
	char *last = NULL;
	for (char *p = tail; p < tail + n; p++) {
		if (*p == '\n' && p + 1 < tail + n)
			last = p + 1;
	}
	if (!last && from == 0)
		last = tail;
	if (last && tail + n - last > SHIM_TIME_LEN && docker__parse_time(last, SHIM_TIME_LEN, out) == 0)
		rc = 0;
	return rc;
}

/* ---- progress streams ---- */

void docker__progress_init(struct docker__progress *p)
{
	memset(p, 0, sizeof(*p));
}

void docker__progress_free(struct docker__progress *p)
{
	buf_free(&p->line);
	free(p->error);
	free(p->id);
}

static void progress_line(struct docker__progress *p, const char *s, size_t n, docker__progress_fn *fn, void *ctx)
{
	json_t *j = json_loadb(s, n, 0, NULL);
	const char *err, *text;

	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	p->lines++;
	err = json_string_value(json_object_get(json_object_get(j, "errorDetail"), "message"));
	if (!err)
		err = json_string_value(json_object_get(j, "error"));
	if (err && !p->error)
		p->error = xstrdup(err);
	const char *id = json_string_value(json_object_get(json_object_get(j, "aux"), "ID"));
	if (id) {
		free(p->id);
		p->id = xstrdup(id);
	}
	text = json_string_value(json_object_get(j, "stream"));
	if (!text)
		text = json_string_value(json_object_get(j, "status"));
	if (text && fn) {
		char *t = xstrdup(text);
		size_t len = strlen(t);
		while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
			t[--len] = 0;
		const char *prog = json_string_value(json_object_get(j, "progress"));
		if (len && prog) {
			char *both = xasprintf("%s %s", t, prog);
			free(t);
			t = both;
		}
		if (t[0])
			fn(ctx, t);
		free(t);
	}
	json_decref(j);
}

void docker__progress_feed(struct docker__progress *p, const char *data, size_t n, docker__progress_fn *fn,
			   void *ctx)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t k = nl ? (size_t)(nl - data) : n;
		if (!p->dropping && p->line.data + k > DOCKER_PROGRESS_LINE_MAX) {
			p->dropping = true;
			buf_reset(&p->line);
		}
		if (!p->dropping)
			buf_append(&p->line, data, k);
		if (nl) {
			if (!p->dropping && p->line.data)
				progress_line(p, buf_ptr(&p->line), p->line.data, fn, ctx);
			buf_reset(&p->line);
			p->dropping = false;
			k++;
		}
		data += k;
		n -= k;
	}
}

void docker__progress_finish(struct docker__progress *p, docker__progress_fn *fn, void *ctx)
{
	if (!p->dropping && p->line.data)
		progress_line(p, buf_ptr(&p->line), p->line.data, fn, ctx);
	buf_reset(&p->line);
	p->dropping = false;
}

/* ---- tar ---- */

static void octal(char *field, size_t width, uint64_t v)
{
	/* width-1 digits and a NUL, as GNU tar writes them */
	field[width - 1] = 0;
	for (size_t i = width - 1; i > 0; i--) {
		field[i - 1] = (char)('0' + (v & 7));
		v >>= 3;
	}
}

int docker__tar_entry(struct buf *out, const char *name, char type, unsigned mode, uint64_t size,
		      int64_t mtime, const char *link, const void *data)
{
	unsigned char h[512];
	size_t nl = strlen(name);
	const char *base = name;
	size_t pl = 0;

	memset(h, 0, sizeof(h));
	if (nl > 100) {
		/* ustar: a prefix of up to 155 bytes, split at a '/'. */
		const char *cut = NULL;
		for (const char *s = name + nl - 1; s > name; s--)
			if (*s == '/' && (size_t)(s - name) <= 155 && nl - (size_t)(s - name) - 1 <= 100) {
				cut = s;
				break;
			}
		if (!cut)
			return -1;
		pl = (size_t)(cut - name);
		base = cut + 1;
	}
	if (link && strlen(link) > 100)
		return -1;
	if (size > 077777777777ULL)
		return -1;
	memcpy(h, base, strlen(base));
	octal((char *)h + 100, 8, mode & 07777);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, type == '0' ? size : 0);
	octal((char *)h + 136, 12, mtime > 0 ? (uint64_t)mtime : 0);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	if (link)
		memcpy(h + 157, link, strlen(link));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	if (pl)
		memcpy(h + 345, name, pl);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	octal((char *)h + 148, 7, sum);
	h[155] = ' ';
	buf_append(out, h, sizeof(h));
	if (type == '0' && size) {
		static const char zeros[512];
		buf_append(out, data, (size_t)size);
		if (size % 512)
			buf_append(out, zeros, 512 - (size_t)(size % 512));
	}
	return 0;
}

void docker__tar_end(struct buf *out)
{
	static const char zeros[1024];

	buf_append(out, zeros, sizeof(zeros));
}

static int tar_walk(const char *root, const char *rel, struct buf *out, char **err)
{
	char *dir = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	struct dirent **list = NULL;
	int n = scandir(dir, &list, NULL, alphasort);
	int rc = 0;

	if (n < 0) {
		*err = xasprintf("build context: cannot read %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *nm = list[i]->d_name;
		if (rc < 0 || strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		char *path = xasprintf("%s/%s", dir, nm);
		char *name = rel[0] ? xasprintf("%s/%s", rel, nm) : xstrdup(nm);
		struct stat st;
		if (lstat(path, &st) < 0) {
			*err = xasprintf("build context: cannot read %s: %s", path, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = docker__tar_entry(out, name, '5', st.st_mode, 0, st.st_mtime, NULL, NULL);
			if (rc == 0)
				rc = tar_walk(root, name, out, err);
			else
				*err = xasprintf("build context: the path %s is too long for a tar archive", name);
		} else if (S_ISLNK(st.st_mode)) {
			char link[PATH_MAX];
			ssize_t k = readlink(path, link, sizeof(link) - 1);
			link[k > 0 ? k : 0] = 0;
			if (docker__tar_entry(out, name, '2', st.st_mode, 0, st.st_mtime, link, NULL) < 0) {
				*err = xasprintf("build context: the link %s is too long for a tar archive", name);
				rc = -1;
			}
		} else if (S_ISREG(st.st_mode)) {
			if (out->data + (size_t)st.st_size > DOCKER_TAR_MAX) {
				*err = xasprintf("build context: %s is over %zu MiB", root, DOCKER_TAR_MAX >> 20);
				rc = -1;
			} else {
				char *data = xmalloc((size_t)st.st_size + 1);
				int fd = open(path, O_RDONLY | O_CLOEXEC);
				size_t got = 0;
				while (fd >= 0 && got < (size_t)st.st_size) {
					ssize_t k = read(fd, data + got, (size_t)st.st_size - got);
					if (k <= 0)
						break;
					got += (size_t)k;
				}
				if (fd >= 0)
					close(fd);
				if (got != (size_t)st.st_size) {
					*err = xasprintf("build context: cannot read %s", path);
					rc = -1;
				} else if (docker__tar_entry(out, name, '0', st.st_mode, got, st.st_mtime, NULL, data) < 0) {
					*err = xasprintf("build context: the path %s is too long for a tar archive", name);
					rc = -1;
				}
				free(data);
			}
		}
		/* Sockets, fifos and devices have no place in an image build. */
		free(path);
		free(name);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	free(dir);
	return rc;
}

int docker__tar_dir(const char *dir, struct buf *out, char **err)
{
	if (tar_walk(dir, "", out, err) < 0)
		return -1;
	docker__tar_end(out);
	return 0;
}

/* ---- names ---- */

char *docker__container_name(const char *stack, const char *svc, int index, const char *node,
			     const char *data_dir)
{
	char *who = xasprintf("%s\n%s", node ? node : "", data_dir ? data_dir : "");
	uint64_t h = hash64(who, strlen(who));

	free(who);
	return xasprintf("berth-%s-%s-%d-%08x", stack, svc, index, (unsigned)(h & 0xffffffffu));
}

char *docker__image_name(const char *stack, const struct spec_service *svc)
{
	if (svc->image && svc->image[0])
		return xstrdup(svc->image);
	return xasprintf("%s_%s", stack, svc->name);
}

void docker__split_ref(const char *ref, char **repo, char **tag)
{
	const char *at = strchr(ref, '@');
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(ref, ':');

	if (at) {
		*repo = xstrdup(ref);
		*tag = NULL;
		return;
	}
	/* A colon before the last slash is a registry's port. */
	if (colon && (!slash || colon > slash)) {
		*repo = xstrndup(ref, (size_t)(colon - ref));
		*tag = xstrdup(colon + 1);
		return;
	}
	*repo = xstrdup(ref);
	*tag = xstrdup("latest");
}

int docker__parse_host(const char *host, char **base, char **sock, char **err)
{
	if (!host || !host[0])
		host = DOCKER_DEFAULT_HOST;
	*base = *sock = NULL;
	if (strncmp(host, "unix://", 7) == 0) {
		if (host[7] != '/') {
			*err = xasprintf("DOCKER_HOST=%s: a unix socket needs an absolute path (unix:///run/docker.sock)",
					 host);
			return -1;
		}
		*sock = xstrdup(host + 7);
		*base = xstrdup("http://docker");
		return 0;
	}
	if (strncmp(host, "tcp://", 6) == 0 || strncmp(host, "http://", 7) == 0) {
		const char *hp = strstr(host, "://") + 3;
		size_t n = strcspn(hp, "/");
		if (!n) {
			*err = xasprintf("DOCKER_HOST=%s: no host", host);
			return -1;
		}
		*base = xasprintf("http://%.*s", (int)n, hp);
		return 0;
	}
	*err = xasprintf("DOCKER_HOST=%s: berth speaks to unix:// sockets and tcp:// (plain HTTP) engines", host);
	return -1;
}

void docker__exit_status(long status, bool signalled, int *code, int *sig)
{
	*code = (int)status;
	*sig = 0;
	if (status > 128 && status <= 128 + 64 && (signalled || status == 128 + SIGKILL)) {
		*code = -1;
		*sig = (int)(status - 128);
	}
}

char *docker__urlenc(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = 0;
	return out;
}

/* ---- the create body ---- */

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static char *bind_spec(const struct docker__create *c, const struct spec_volume *v)
{
	struct buf b = {0};
	const char *src = v->source;
	char *out;

	/* A named volume is the engine's volume of the stack's name for it. */
	for (int i = 0; v->type == SPEC_VOL_VOLUME && i < c->nvolumes; i++)
		if (strcmp(c->volumes[i].key, v->source) == 0)
			src = c->volumes[i].name;
	buf_appendf(&b, "%s:%s", src, v->target);
	const char *sep = ":";
	if (v->read_only) {
		buf_appendf(&b, "%sro", sep);
		sep = ",";
	}
	if (v->propagation) {
		buf_appendf(&b, "%s%s", sep, v->propagation);
		sep = ",";
	}
	if (v->selinux) {
		buf_appendf(&b, "%s%s", sep, v->selinux);
		sep = ",";
	}
	if (v->type == SPEC_VOL_VOLUME && v->nocopy)
		buf_appendf(&b, "%snocopy", sep);
	buf_append(&b, "", 1);
	out = xstrdup(buf_ptr(&b));
	buf_free(&b);
	return out;
}

json_t *docker__create_body(const struct docker__create *c)
{
	const struct spec_service *s = c->svc;
	json_t *j = json_object(), *hc = json_object(), *labels = json_object();
	char buf[64];

	json_object_set_new(j, "Image", json_string(c->image));
	if (c->entrypoint)
		json_object_set_new(j, "Entrypoint", strv_json(c->entrypoint));
	if (c->command)
		json_object_set_new(j, "Cmd", strv_json(c->command));
	json_object_set_new(j, "Env", strv_json(c->env));
	if (s->working_dir)
		json_object_set_new(j, "WorkingDir", json_string(s->working_dir));
	if (s->user)
		json_object_set_new(j, "User", json_string(s->user));
	const char *sig = spec_signal_name(s->stop_signal ? s->stop_signal : SIGTERM);
	if (sig)
		json_object_set_new(j, "StopSignal", json_string(sig));
	else {
		snprintf(buf, sizeof(buf), "%d", s->stop_signal);
		json_object_set_new(j, "StopSignal", json_string(buf));
	}
	/* Docker's own stop (an engine shutdown) waits as long as berth does. */
	json_object_set_new(j, "StopTimeout", json_integer((json_int_t)((s->stop_grace_period + 999) / 1000)));
	/* The compose labels, then berth's, which a compose label cannot hide. */
	for (int i = 0; i < s->nlabels; i++)
		json_object_set_new(labels, s->labels[i].key, json_string(s->labels[i].value));
	json_object_set_new(labels, "berth.stack", json_string(c->stack));
	json_object_set_new(labels, "berth.service", json_string(c->service));
	snprintf(buf, sizeof(buf), "%d", c->index);
	json_object_set_new(labels, "berth.index", json_string(buf));
	json_object_set_new(labels, "berth.node", json_string(c->node ? c->node : ""));
	json_object_set_new(labels, "berth.data-dir", json_string(c->data_dir ? c->data_dir : ""));
	snprintf(buf, sizeof(buf), "%d", c->run);
	json_object_set_new(labels, "berth.run", json_string(buf));
	json_object_set_new(j, "Labels", labels);

	json_t *exposed = json_object(), *bindings = json_object();
	for (int i = 0; i < c->nports; i++) {
		const struct driver_port *p = &c->ports[i];
		snprintf(buf, sizeof(buf), "%d/%s", p->target, p->udp ? "udp" : "tcp");
		json_object_set_new(exposed, buf, json_object());
		json_t *list = json_object_get(bindings, buf);
		if (!list) {
			list = json_array();
			json_object_set_new(bindings, buf, list);
		}
		char hp[16];
		snprintf(hp, sizeof(hp), "%d", p->host);
		json_array_append_new(list, json_pack("{s:s, s:s}", "HostIp", p->host_ip ? p->host_ip : "", "HostPort", hp));
	}
	json_object_set_new(j, "ExposedPorts", exposed);
	json_object_set_new(hc, "PortBindings", bindings);

	json_t *binds = json_array(), *tmpfs = json_object(), *anon = json_object();
	for (int i = 0; i < s->nvolumes; i++) {
		const struct spec_volume *v = &s->volumes[i];
		if (v->type == SPEC_VOL_TMPFS) {
			struct buf o = {0};
			if (v->tmpfs_size)
				buf_appendf(&o, "size=%llu", (unsigned long long)v->tmpfs_size);
			if (v->tmpfs_mode)
				buf_appendf(&o, "%smode=%o", o.data ? "," : "", (unsigned)v->tmpfs_mode);
			buf_append(&o, "", 1);
			json_object_set_new(tmpfs, v->target, json_string(buf_ptr(&o)));
			buf_free(&o);
		} else if (v->type == SPEC_VOL_VOLUME && !v->source) {
			json_object_set_new(anon, v->target, json_object());
		} else {
			char *b = bind_spec(c, v);
			json_array_append_new(binds, json_string(b));
			free(b);
		}
	}
	if (json_object_size(anon))
		json_object_set_new(j, "Volumes", anon);
	else
		json_decref(anon);
	json_object_set_new(hc, "Binds", binds);
	if (json_object_size(tmpfs))
		json_object_set_new(hc, "Tmpfs", tmpfs);
	else
		json_decref(tmpfs);
	const struct spec_resources *l = &s->deploy.limits;
	if (l->memory)
		json_object_set_new(hc, "Memory", json_integer((json_int_t)l->memory));
	if (l->cpus > 0)
		json_object_set_new(hc, "NanoCpus", json_integer((json_int_t)(l->cpus * 1e9 + 0.5)));
	if (l->pids)
		json_object_set_new(hc, "PidsLimit", json_integer(l->pids));
	if (s->deploy.reservations.memory)
		json_object_set_new(hc, "MemoryReservation", json_integer((json_int_t)s->deploy.reservations.memory));
	json_object_set_new(hc, "Init", json_boolean(s->init));
	/* berth restarts by its own policy (and logs through the engine's
	 * json-file, which /logs reads back). */
	json_object_set_new(hc, "RestartPolicy", json_pack("{s:s}", "Name", "no"));
	json_object_set_new(hc, "LogConfig", json_pack("{s:s, s:{s:s, s:s}}", "Type", "json-file", "Config", "max-size",
						       "10m", "max-file", "2"));
	json_object_set_new(j, "HostConfig", hc);
	return j;
}
