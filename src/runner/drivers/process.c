/* The process driver: the service's command runs as a process group under
 * berth-shim (see runner/shim.h for the contract). The agent talks to a
 * run only through its directory and signals: spec.json in, the handshake
 * line and state.json out, SIGTERM to the shim to stop. A pidfd of the
 * shim tells when the run ended, whether the shim is our child or was
 * adopted after an agent restart. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "runner/driver.h"
#include "runner/shim.h"

struct proc_run {
	struct driver_run run;
	uv_process_t proc;           /* the shim, when we started it */
	uv_pipe_t out;               /* its stdout: the handshake */
	uv_poll_t poll;              /* readable when the shim has exited */
	int pidfd;
	int handles;                 /* open handles; freed when the last closes */
	char line[SHIM_HANDSHAKE_MAX + 1];
	size_t linelen;
	pid_t shim_pid;
	bool handshake_done;
	bool stop_wanted;            /* stop asked before the handshake */
	bool ended;                  /* exited or failed was reported */
	bool released;
	bool proc_exited;
	int64_t proc_status;
	int proc_signal;
};

static void maybe_free(struct proc_run *p);

static void on_handle_closed(uv_handle_t *h)
{
	struct proc_run *p = h->data;

	p->handles--;
	maybe_free(p);
}

static void maybe_free(struct proc_run *p)
{
	if (!p->released || p->handles > 0)
		return;
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p->run.run_dir);
	free(p);
}

static void close_handle(struct proc_run *p, uv_handle_t *h)
{
	if (!uv_is_closing(h)) {
		h->data = p;
		uv_close(h, on_handle_closed);
	}
}

static void report_failed(struct proc_run *p, const char *why)
{
	if (p->ended)
		return;
	p->ended = true;
	p->run.ev->failed(&p->run, why, p->run.arg);
}

/* The shim is gone: state.json says how the run ended. */
static void finish_from_state(struct proc_run *p)
{
	struct shim_state st;
	char *err = NULL;

	if (p->ended)
		return;
	int rc = shim_state_read(p->run.run_dir, &st, &err);
	if (rc < 0) {
		char why[512];
		snprintf(why, sizeof(why), "the shim ended without a final state: %s", err ? err : strerror(-rc));
		free(err);
		/* The program may have outlived a shim that was killed. */
		report_failed(p, why);
		return;
	}
	if (st.status == SHIM_ST_FAILED) {
		report_failed(p, st.error[0] ? st.error : "the program could not be started");
		return;
	}
	p->ended = true;
	if (st.status == SHIM_ST_EXITED)
		p->run.ev->exited(&p->run, st.exit_code, st.signal, p->run.arg);
	else
		/* "running" in the file but the shim is dead: killed -9. */
		p->run.ev->exited(&p->run, -1, SIGKILL, p->run.arg);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct proc_run *p = h->data;

	uv_poll_stop(h);
	finish_from_state(p);
}

static int watch_shim(struct proc_run *p, uv_loop_t *loop, pid_t shim_pid)
{
	p->pidfd = pidfd_open(shim_pid, 0);
	if (p->pidfd < 0)
		return -errno;
	uv_poll_init(loop, &p->poll, p->pidfd);
	p->poll.data = p;
	p->handles++;
	uv_poll_start(&p->poll, UV_READABLE, on_pidfd);
	return 0;
}

static void on_handshake(struct proc_run *p)
{
	pid_t pid;
	const char *reason;
	struct shim_state st;
	char *err = NULL;

	p->handshake_done = true;
	int r = shim_handshake_parse(p->line, &pid, &reason);
	if (r == 1) {
		report_failed(p, reason);
		return;
	}
	if (r < 0) {
		report_failed(p, "the shim sent a malformed handshake");
		return;
	}
	p->run.pid = pid;
	p->shim_pid = p->proc.pid;
	if (shim_state_read(p->run.run_dir, &st, &err) == 0 && st.shim_pid > 0)
		p->shim_pid = st.shim_pid;
	free(err);
	if (p->proc_exited) {
		/* A short-lived program: the shim is already gone (and reaped),
		 * before we read its handshake. state.json says how it went. */
		p->run.ev->started(&p->run, pid, p->run.arg);
		finish_from_state(p);
		return;
	}
	int rc = watch_shim(p, p->proc.loop, p->shim_pid);
	if (rc < 0) {
		/* The shim exited between the handshake and pidfd_open (ESRCH):
		 * its state.json has the outcome. Never signal a pid we cannot
		 * tie to the shim any more. */
		p->run.ev->started(&p->run, pid, p->run.arg);
		finish_from_state(p);
		return;
	}
	p->run.ev->started(&p->run, pid, p->run.arg);
	if (p->stop_wanted)
		kill(p->shim_pid, SIGTERM);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct proc_run *p = h->data;

	*b = uv_buf_init(p->line + p->linelen, (unsigned)(SHIM_HANDSHAKE_MAX - p->linelen));
}

static void on_out(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct proc_run *p = s->data;

	if (nread > 0) {
		p->linelen += (size_t)nread;
		p->line[p->linelen] = 0;
		if (memchr(p->line, '\n', p->linelen) || p->linelen >= SHIM_HANDSHAKE_MAX) {
			uv_read_stop(s);
			close_handle(p, (uv_handle_t *)&p->out);
			on_handshake(p);
		}
		return;
	}
	if (nread < 0) {
		uv_read_stop(s);
		close_handle(p, (uv_handle_t *)&p->out);
		if (!p->handshake_done) {
			p->handshake_done = true;
			/* The shim died before it could tell: its exit status
			 * (on_proc_exit) says more. */
			if (p->proc_exited) {
				char why[128];
				snprintf(why, sizeof(why), "the shim exited before starting the program (status %lld, signal %d)",
					 (long long)p->proc_status, p->proc_signal);
				report_failed(p, why);
			}
		}
	}
}

static void on_proc_exit(uv_process_t *h, int64_t status, int sig)
{
	struct proc_run *p = h->data;

	p->proc_exited = true;
	p->proc_status = status;
	p->proc_signal = sig;
	close_handle(p, (uv_handle_t *)&p->proc);
	if (p->handshake_done && !p->ended && p->pidfd < 0) {
		char why[128];
		snprintf(why, sizeof(why), "the shim exited before starting the program (status %lld, signal %d)",
			 (long long)status, sig);
		report_failed(p, why);
	}
}

static int proc_start(uv_loop_t *loop, const struct driver_spec *spec, const struct driver_events *ev, void *arg,
		      const char *shim, struct driver_run **out, char **err)
{
	struct shim_spec ss = {0};
	size_t argc = 0, envc = 0;

	while (spec->argv[argc])
		argc++;
	while (spec->env && spec->env[envc])
		envc++;
	if (!argc) {
		*err = xstrdup("nothing to run: the service has no command");
		return -EINVAL;
	}
	ss.argv = spec->argv;
	ss.argc = argc;
	ss.env = spec->env;
	ss.envc = envc;
	ss.cwd = (char *)(spec->cwd ? spec->cwd : spec->run_dir);
	ss.user = (char *)spec->user;
	ss.log = (char *)spec->log_path;
	ss.stop_signal = spec->stop_signal ? spec->stop_signal : SIGTERM;
	ss.stop_grace_ms = (unsigned)(spec->stop_grace_ms > SHIM_MAX_STOP_GRACE_MS ? SHIM_MAX_STOP_GRACE_MS
										: spec->stop_grace_ms);
	if (shim_spec_write(spec->run_dir, &ss, err) < 0)
		return -EINVAL;

	struct proc_run *p = XNEW(struct proc_run);
	p->run.ops = &driver_process_ops;
	p->run.loop = loop;
	p->run.ev = ev;
	p->run.arg = arg;
	p->run.run_dir = xstrdup(spec->run_dir);
	p->run.priv = p;
	p->pidfd = -1;

	uv_pipe_init(loop, &p->out, 0);
	p->out.data = p;
	p->handles++;
	char *args[] = {(char *)shim, (char *)spec->run_dir, NULL};
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
		{.flags = UV_INHERIT_FD, .data.fd = 2},
	};
	uv_process_options_t po = {
		.exit_cb = on_proc_exit,
		.file = shim,
		.args = args,
		.cwd = spec->run_dir,
		.flags = UV_PROCESS_DETACHED,
		.stdio_count = 3,
		.stdio = stdio,
	};
	int rc = uv_spawn(loop, &p->proc, &po);
	if (rc < 0) {
		*err = xasprintf("cannot start %s: %s", shim, uv_strerror(rc));
		p->released = true;
		/* uv_spawn initialised the handle even on failure. */
		p->proc.data = p;
		p->handles++;
		close_handle(p, (uv_handle_t *)&p->proc);
		close_handle(p, (uv_handle_t *)&p->out);
		return rc;
	}
	p->proc.data = p;
	p->handles++;
	/* The shim outlives us by design; it must not keep our loop alive. */
	uv_unref((uv_handle_t *)&p->proc);
	uv_read_start((uv_stream_t *)&p->out, on_alloc, on_out);
	*out = &p->run;
	return 0;
}

static void proc_stop(struct driver_run *run)
{
	struct proc_run *p = run->priv;

	if (p->ended)
		return;
	if (!p->handshake_done || !p->shim_pid) {
		p->stop_wanted = true;
		return;
	}
	kill(p->shim_pid, SIGTERM);
}

static int proc_adopt(uv_loop_t *loop, const char *run_dir, const struct driver_events *ev, void *arg,
		      struct driver_run **out, int *code, int *sig)
{
	struct shim_state st;
	char *err = NULL;

	*code = -1;
	*sig = 0;
	if (shim_state_read(run_dir, &st, &err) < 0) {
		free(err);
		return -1;
	}
	if (st.status == SHIM_ST_EXITED) {
		*code = st.exit_code;
		*sig = st.signal;
		return 0;
	}
	if (st.status != SHIM_ST_RUNNING)
		return 0;
	if (!shim_pid_alive(st.shim_pid, st.shim_start_time)) {
		/* The shim was killed: the program runs unsupervised, its
		 * output unread. Stop what is left rather than adopt it. */
		if (st.pgid > 0 && shim_pid_alive(st.pid, st.start_time))
			kill(-st.pgid, SIGKILL);
		*sig = SIGKILL;
		return 0;
	}
	struct proc_run *p = XNEW(struct proc_run);
	p->run.ops = &driver_process_ops;
	p->run.loop = loop;
	p->run.ev = ev;
	p->run.arg = arg;
	p->run.run_dir = xstrdup(run_dir);
	p->run.priv = p;
	p->run.pid = st.pid;
	p->run.adopted = true;
	p->pidfd = -1;
	p->handshake_done = true;
	p->proc_exited = true;
	p->shim_pid = st.shim_pid;
	if (watch_shim(p, loop, st.shim_pid) < 0) {
		free(p->run.run_dir);
		free(p);
		return -1;
	}
	*out = &p->run;
	return 1;
}

static void proc_release(struct driver_run *run)
{
	struct proc_run *p = run->priv;

	p->released = true;
	if (p->pidfd >= 0)
		close_handle(p, (uv_handle_t *)&p->poll);
	/* A shim that has exited but that libuv has not reaped yet keeps its
	 * process handle until on_proc_exit: closing it now would leave a
	 * zombie child for ever. A live shim (the agent is stopping) loses
	 * only our watch: it goes on, and the next agent adopts it. */
	if (!p->run.adopted) {
		if (p->proc_exited || !p->ended)
			close_handle(p, (uv_handle_t *)&p->proc);
		close_handle(p, (uv_handle_t *)&p->out);
	}
	maybe_free(p);
}

const struct driver_ops driver_process_ops = {
	.name = "process",
	.start = proc_start,
	.stop = proc_stop,
	.adopt = proc_adopt,
	.release = proc_release,
};
