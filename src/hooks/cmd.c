/* One run of a hook's command: sh -c in its own process group, its output
 * written as CRI records, killed at its timeout, reaped, then freed. */
#include "hooks/hooks-int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "hooks/hooks.h"

/* ---- CRI records (the shim's format, runner/shim.h) ---- */

static void cri_time(char out[SHIM_TIME_LEN + 1])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* "YYYY-MM-DDTHH:MM:SS" is 19 bytes, ".NNNNNNNNNZ" the other 11. */
	if (strftime(out, 20, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
		memcpy(out, "9999-12-31T23:59:59", 20);
	snprintf(out + 19, SHIM_TIME_LEN + 1 - 19, ".%09uZ", (unsigned)ts.tv_nsec % 1000000000u);
}

/* One record, one write(): readers never see half of one. */
static void cri_write(int fd, int s, bool partial, const char *text, size_t len)
{
	char rec[SHIM_TIME_LEN + 10 + SHIM_CRI_MAX_TEXT + 1];
	char t[SHIM_TIME_LEN + 1];
	size_t n = 0;

	if (fd < 0)
		return;
	cri_time(t);
	memcpy(rec, t, SHIM_TIME_LEN);
	n = SHIM_TIME_LEN;
	memcpy(rec + n, s ? " stderr " : " stdout ", 8);
	n += 8;
	rec[n++] = partial ? 'P' : 'F';
	rec[n++] = ' ';
	memcpy(rec + n, text, len);
	n += len;
	rec[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, rec + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a full disk loses the record, not the hook */
		off += (size_t)w;
	}
}

void hooks__cri_feed(struct hooks__cri_line *l, int fd, int s, const char *p, size_t n)
{
	while (n) {
		size_t room = sizeof(l->buf) - l->len, k = n < room ? n : room, off = 0;
		memcpy(l->buf + l->len, p, k);
		l->len += k;
		p += k;
		n -= k;
		for (;;) {
			char *nl = memchr(l->buf + off, '\n', l->len - off);
			if (nl) {
				size_t m = (size_t)(nl - (l->buf + off));
				cri_write(fd, s, false, l->buf + off, m);
				off += m + 1;
				continue;
			}
			if (l->len - off > SHIM_CRI_MAX_TEXT) {
				/* A full record and one byte more that is not a newline. */
				cri_write(fd, s, true, l->buf + off, SHIM_CRI_MAX_TEXT);
				off += SHIM_CRI_MAX_TEXT;
				continue;
			}
			break;
		}
		memmove(l->buf, l->buf + off, l->len - off);
		l->len -= off;
	}
}

void hooks__cri_finish(struct hooks__cri_line *l, int fd, int s)
{
	if (l->len)
		cri_write(fd, s, false, l->buf, l->len);
	l->len = 0;
}

/* ---- the run ---- */

static void on_close(uv_handle_t *hd)
{
	struct hooks__cmd *c = hd->data;

	if (--c->handles)
		return;
	if (c->logfd >= 0)
		close(c->logfd);
	free(c);
}

static void close_handle(uv_handle_t *hd)
{
	if (!uv_is_closing(hd))
		uv_close(hd, on_close);
}

/* Done once it has exited and its pipes are at EOF (or given up on). */
static void maybe_done(struct hooks__cmd *c)
{
	if (!c->exited || c->eof < 2 || c->reported)
		return;
	c->reported = true;
	close_handle((uv_handle_t *)&c->timer);
	c->done(c, c->stopped ? c->stopped : c->status, c->arg);
}

static void pipe_end(struct hooks__cmd *c, int i)
{
	uv_pipe_t *p = &c->out[i];

	if (uv_is_closing((uv_handle_t *)p))
		return;
	uv_read_stop((uv_stream_t *)p);
	close_handle((uv_handle_t *)p);
	hooks__cri_finish(&c->line[i], c->logfd, i);
	c->eof++;
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b)
{
	struct hooks__cmd *c = hd->data;

	/* Each read is consumed before the next alloc: one buffer will do. */
	b->base = c->rbuf;
	b->len = sizeof(c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct hooks__cmd *c = s->data;
	int i = s == (uv_stream_t *)&c->out[1];

	if (n > 0) {
		hooks__cri_feed(&c->line[i], c->logfd, i, b->base, (size_t)n);
		return;
	}
	if (n < 0) {
		pipe_end(c, i);
		maybe_done(c);
	}
}

static void on_drain(uv_timer_t *t)
{
	struct hooks__cmd *c = t->data;

	/* Something that left its process group still holds the pipes. */
	pipe_end(c, 0);
	pipe_end(c, 1);
	maybe_done(c);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct hooks__cmd *c = p->data;

	c->exited = true;
	c->status = sig ? 128 + sig : (int)status;
	/* Whatever it left behind in its group goes with it (as the shim does). */
	kill(-c->pid, SIGKILL);
	close_handle((uv_handle_t *)p);
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, on_drain, HOOKS_DRAIN_MS, 0);
	maybe_done(c);
}

static void on_timeout(uv_timer_t *t)
{
	hooks__cmd_kill(t->data, UV_ETIMEDOUT);
}

void hooks__cmd_kill(struct hooks__cmd *c, int why)
{
	if (c->reported)
		return;
	if (c->exited) {
		/* Only the drain is left: stop waiting for it, from the loop
		 * (done is never called from inside our caller). */
		uv_timer_start(&c->timer, on_drain, 0, 0);
		return;
	}
	if (!c->stopped)
		c->stopped = why;
	kill(-c->pid, SIGKILL);
}

int hooks__cmd_start(uv_loop_t *loop, const char *shell, const char *cmdline, const char *cwd, char *const *env,
		     const char *log_path, uint64_t timeout_ms, hooks__cmd_done_fn *done, void *arg,
		     struct hooks__cmd **out)
{
	struct hooks__cmd *c = XNEW(struct hooks__cmd);

	c->loop = loop;
	c->logfd = -1;
	c->done = done;
	c->arg = arg;
	if (log_path) {
		fs_mkdir_parents(log_path, 0755);
		c->logfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (c->logfd < 0)
			log_errno(LOG_LVL_WARN, "hooks", errno, "cannot open %s, the command's output is lost", log_path);
	}
	for (int i = 0; i < 2; i++) {
		uv_pipe_init(loop, &c->out[i], 0);
		c->out[i].data = c;
		c->handles++;
	}
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->handles++;
	char *args[] = {(char *)shell, "-c", (char *)cmdline, NULL};
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out[0]},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out[1]},
	};
	uv_process_options_t po = {
		.exit_cb = on_exit_cb,
		.file = shell,
		.args = args,
		.env = (char **)env,
		.cwd = cwd,
		/* setsid(): its own process group, which we kill as a whole. */
		.flags = UV_PROCESS_DETACHED,
		.stdio_count = 3,
		.stdio = stdio,
	};
	int rc = uv_spawn(loop, &c->proc, &po);
	/* uv_spawn initialises the handle even when it fails. */
	c->proc.data = c;
	c->handles++;
	if (rc < 0) {
		c->reported = true;
		close_handle((uv_handle_t *)&c->proc);
		close_handle((uv_handle_t *)&c->out[0]);
		close_handle((uv_handle_t *)&c->out[1]);
		close_handle((uv_handle_t *)&c->timer);
		return rc;
	}
	c->pid = c->proc.pid;
	if (timeout_ms)
		uv_timer_start(&c->timer, on_timeout, timeout_ms, 0);
	uv_read_start((uv_stream_t *)&c->out[0], on_alloc, on_read);
	uv_read_start((uv_stream_t *)&c->out[1], on_alloc, on_read);
	*out = c;
	return 0;
}
