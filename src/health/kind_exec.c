/* The exec check: run a program (compose CMD) or a shell line (CMD-SHELL) on the host; healthy iff it exits 0. */
#include "health/health-int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

/*
 * The program runs with the instance's environment and working directory,
 * as the instance's user when the agent is root, in a process group of its
 * own (a new session), so that a timeout or a stop kills everything it
 * started: kill(-pgid, SIGKILL). When the program exits, whatever it left
 * in its group is killed too; a check is not a place for daemons.
 *
 * A run ends when the program has exited and both its stdout and stderr
 * are at EOF (so no output is lost), or when the timeout strikes. The
 * first HEALTH_MAX_OUTPUT bytes of stdout and stderr, in arrival order,
 * are the message, as docker keeps them. A stdout line "berth-tags: a,b"
 * sets the instance's tags (the last such line of a run wins).
 */

#define EXEC_LINE_MAX 1024   /* a longer stdout line is not scanned for tags */
#define EXEC_TAGS_PREFIX "berth-tags:"

enum { EXEC_OUT = 0, EXEC_ERR = 1 };

struct exec_priv {
	uv_process_t proc;           /* the run's program */
	uv_pipe_t pipes[2];          /* its stdout and stderr */
	bool proc_open;              /* proc initialized, not yet closing */
	bool pipe_open[2];           /* pipes[i] initialized, not yet closing */
	bool eof[2];                 /* pipes[i] reached EOF (or failed) */
	bool exited;                 /* the program was reaped */
	int64_t status;              /* its exit status */
	int term_signal;             /* the signal that killed it, or 0 */
	bool concluded;              /* the run's result was reported, or dropped by a stop */
	struct buf out;              /* the first HEALTH_MAX_OUTPUT bytes of output */
	char line[EXEC_LINE_MAX];    /* stdout line being assembled */
	size_t linelen;
	bool line_long;              /* the current line outgrew <line> */
	char tags[EXEC_LINE_MAX];    /* the last berth-tags: value seen */
	bool have_tags;
	bool set_ids;                /* run as uid/gid */
	uid_t uid;
	gid_t gid;
	char rbuf[8192];             /* read buffer, shared by both pipes (reads are sequential) */
};

/* ---- the user to run as ---- */

static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return *end || errno || *out >= 0xffffffffUL ? -1 : 0;
}

/* "name", "uid", "name:group", "uid:gid"; the group defaults to the
 * user's primary group (or the uid's, for a uid not in passwd). */
static int resolve_user(const char *spec, uid_t *uid, gid_t *gid)
{
	char name[256], bufp[4096];
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	unsigned long id;

	if (n == 0 || n >= sizeof(name))
		return -1;
	memcpy(name, spec, n);
	name[n] = '\0';
	if (parse_id(name, &id) == 0) {
		*uid = (uid_t)id;
		*gid = (gid_t)id;
		if (getpwuid_r(*uid, &pw, bufp, sizeof(bufp), &pwp) == 0 && pwp)
			*gid = pwp->pw_gid;
	} else {
		if (getpwnam_r(name, &pw, bufp, sizeof(bufp), &pwp) != 0 || !pwp)
			return -1;
		*uid = pwp->pw_uid;
		*gid = pwp->pw_gid;
	}
	if (colon) {
		if (parse_id(colon + 1, &id) == 0) {
			*gid = (gid_t)id;
		} else {
			if (getgrnam_r(colon + 1, &gr, bufp, sizeof(bufp), &grp) != 0 || !grp)
				return -1;
			*gid = grp->gr_gid;
		}
	}
	return 0;
}

/* ---- the run ---- */

static void on_pipe_close(uv_handle_t *h)
{
	health__run_handle_closed(h->data);
}

static void on_proc_close(uv_handle_t *h)
{
	health__run_handle_closed(h->data);
}

/* Closes the pipes, and the process once it has been reaped (closing it
 * earlier would leave a zombie: libuv reaps only the processes it has). */
static void close_all(struct health_check *c)
{
	struct exec_priv *p = c->priv;

	for (int i = 0; i < 2; i++) {
		if (p->pipe_open[i]) {
			p->pipe_open[i] = false;
			uv_close((uv_handle_t *)&p->pipes[i], on_pipe_close);
		}
	}
	if (p->proc_open && p->exited) {
		p->proc_open = false;
		uv_close((uv_handle_t *)&p->proc, on_proc_close);
	}
}

/* Kills the run's process group, if its leader is still there to name it
 * (after the exit, kill(-pid) reaches the leftovers of the group: a pid is
 * not reused while a group of that id exists). */
static void kill_group(struct exec_priv *p)
{
	if (p->proc_open && p->proc.pid > 0)
		kill(-p->proc.pid, SIGKILL);
}

static void scan_line(struct exec_priv *p)
{
	size_t n = p->linelen, k = sizeof(EXEC_TAGS_PREFIX) - 1;

	if (n > 0 && p->line[n - 1] == '\r')
		n--;
	if (!p->line_long && n >= k && memcmp(p->line, EXEC_TAGS_PREFIX, k) == 0) {
		memcpy(p->tags, p->line + k, n - k);
		p->tags[n - k] = '\0';
		p->have_tags = true;
	}
	p->linelen = 0;
	p->line_long = false;
}

static void scan_stdout(struct exec_priv *p, const char *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\n')
			scan_line(p);
		else if (p->linelen < sizeof(p->line) - 1)
			p->line[p->linelen++] = d[i];
		else
			p->line_long = true;
	}
}

static char *output_text(struct exec_priv *p)
{
	return health__text(buf_ptr(&p->out), p->out.data);
}

static void conclude(struct health_check *c)
{
	struct exec_priv *p = c->priv;
	const char *tags[HEALTH_MAX_TAGS];
	char tagbuf[EXEC_LINE_MAX + HEALTH_MAX_TAGS];
	bool ok = p->status == 0 && p->term_signal == 0;
	char *msg = output_text(p);
	int ntags = -1;

	p->concluded = true;
	if (!ok && !msg[0]) {
		free(msg);
		msg = p->term_signal ? xasprintf("killed by signal %d", p->term_signal)
				     : xasprintf("exit status %lld", (long long)p->status);
	}
	if (p->have_tags)
		ntags = health__tags_parse(p->tags, strlen(p->tags), tagbuf, sizeof(tagbuf), tags);
	close_all(c);
	health__run_done(c, ok, msg, tags, ntags);
	free(msg);
}

static void maybe_end(struct health_check *c)
{
	struct exec_priv *p = c->priv;

	if (p->concluded) {
		/* timed out or stopped: nothing to wait for once reaped */
		if (p->exited)
			close_all(c);
		return;
	}
	if (p->exited && p->eof[EXEC_OUT] && p->eof[EXEC_ERR])
		conclude(c);
}

static void on_proc_exit(uv_process_t *proc, int64_t status, int term_signal)
{
	struct health_check *c = proc->data;
	struct exec_priv *p = c->priv;

	/* leftovers of the group go with their leader */
	kill_group(p);
	p->exited = true;
	p->status = status;
	p->term_signal = term_signal;
	maybe_end(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct health_check *c = h->data;
	struct exec_priv *p = c->priv;

	*b = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct health_check *c = s->data;
	struct exec_priv *p = c->priv;
	int i = s == (uv_stream_t *)&p->pipes[EXEC_OUT] ? EXEC_OUT : EXEC_ERR;

	if (nread == 0)
		return;
	if (nread < 0) {
		/* EOF, or an error that ends the stream all the same */
		uv_read_stop(s);
		if (i == EXEC_OUT && p->linelen)
			scan_line(p);
		p->eof[i] = true;
		maybe_end(c);
		return;
	}
	if (p->out.data < HEALTH_MAX_OUTPUT) {
		size_t room = HEALTH_MAX_OUTPUT - p->out.data;
		buf_append(&p->out, b->base, (size_t)nread < room ? (size_t)nread : room);
	}
	if (i == EXEC_OUT)
		scan_stdout(p, b->base, (size_t)nread);
}

static int exec_init(struct health_check *c)
{
	struct exec_priv *p = XNEW(struct exec_priv);

	if (c->user && geteuid() == 0) {
		if (resolve_user(c->user, &p->uid, &p->gid) < 0) {
			log_error("health", "%s: exec check: unknown user \"%s\"", c->name, c->user);
			free(p);
			return -1;
		}
		p->set_ids = true;
	}
	if (!c->cfg.argv || !c->cfg.argv[0]) {
		log_error("health", "%s: exec check without a command", c->name);
		free(p);
		return -1;
	}
	c->priv = p;
	return 0;
}

static void exec_run(struct health_check *c)
{
	struct exec_priv *p = c->priv;
	char *msg;
	int r;

	p->exited = p->concluded = p->have_tags = p->line_long = false;
	p->eof[0] = p->eof[1] = false;
	p->status = 0;
	p->term_signal = 0;
	p->linelen = 0;
	buf_reset(&p->out);
	for (int i = 0; i < 2; i++) {
		uv_pipe_init(c->loop, &p->pipes[i], 0);
		p->pipes[i].data = c;
		health__run_handle_open(c);
		p->pipe_open[i] = true;
	}
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->pipes[EXEC_OUT]},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->pipes[EXEC_ERR]},
	};
	uv_process_options_t po = {
		.exit_cb = on_proc_exit,
		.file = c->cfg.argv[0],
		.args = c->cfg.argv,
		.env = c->env,
		.cwd = c->cwd,
		/* DETACHED is setsid(): a new session, hence a group of its own */
		.flags = UV_PROCESS_DETACHED | (p->set_ids ? UV_PROCESS_SETUID | UV_PROCESS_SETGID : 0),
		.stdio_count = 3,
		.stdio = stdio,
		.uid = p->uid,
		.gid = p->gid,
	};
	r = uv_spawn(c->loop, &p->proc, &po);
	/* uv_spawn initializes the handle even when it fails */
	p->proc.data = c;
	health__run_handle_open(c);
	p->proc_open = true;
	if (r < 0) {
		p->exited = true; /* nothing to reap */
		p->concluded = true;
		close_all(c);
		msg = xasprintf("cannot run %s: %s", c->cfg.argv[0], uv_strerror(r));
		health__run_done(c, false, msg, NULL, -1);
		free(msg);
		return;
	}
	for (int i = 0; i < 2; i++)
		uv_read_start((uv_stream_t *)&p->pipes[i], on_alloc, on_read);
}

static void exec_timeout(struct health_check *c)
{
	struct exec_priv *p = c->priv;
	char d[32], *out, *msg;

	if (p->concluded)
		return;
	p->concluded = true;
	kill_group(p);
	/* An exited program whose pipes stay open was outlived by something
	 * outside its group: stop waiting for it. */
	if (p->exited)
		close_all(c);
	health__duration_str(c->cfg.timeout, d, sizeof(d));
	out = output_text(p);
	msg = xasprintf("timed out after %s%s%s", d, out[0] ? ": " : "", out);
	health__run_done(c, false, msg, NULL, -1);
	free(out);
	free(msg);
}

static void exec_cancel(struct health_check *c)
{
	struct exec_priv *p = c->priv;

	p->concluded = true;
	kill_group(p);
	if (p->exited)
		close_all(c);
	else
		/* the pipes can go now; the process is closed once reaped */
		for (int i = 0; i < 2; i++)
			if (p->pipe_open[i]) {
				p->pipe_open[i] = false;
				uv_close((uv_handle_t *)&p->pipes[i], on_pipe_close);
			}
}

static void exec_release(struct health_check *c)
{
	struct exec_priv *p = c->priv;

	buf_free(&p->out);
	free(p);
}

const struct health_kind_ops health__exec_ops = {
	.name = "exec",
	.kind = HEALTH_KIND_EXEC,
	.init = exec_init,
	.run = exec_run,
	.timeout = exec_timeout,
	.cancel = exec_cancel,
	.release = exec_release,
};
