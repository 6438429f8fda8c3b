/* berth-shim: runs one instance's program, writes its output to a CRI log,
 * records its pid and exit status in state.json, and outlives the agent
 * that started it. The contract is in shim.h and docs/shim.md.
 *
 * libc only, single-threaded, one poll() loop: a signalfd (SIGCHLD,
 * SIGTERM, SIGINT) and the two pipes of the child's stdout and stderr.
 * The stop escalation is s6-supervise's: the stop signal, then SIGKILL
 * when the grace period is over, driven by the shim's own clock so that
 * it completes whatever happens to the agent. */
#include "runner/shim-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

#define KILL_TREE_MS 5000   /* how long the final SIGKILL sweep may take */
#define STATE_RETRIES 10    /* final state.json attempts, STATE_RETRY_MS apart */
#define STATE_RETRY_MS 500

extern char **environ;

/* The step of the child's setup that failed, sent over the report pipe. */
enum child_stage {
	STAGE_SETPGID = 0, /* the first step. Please keep at zero. */
	STAGE_FDS,
	STAGE_SETGROUPS,
	STAGE_SETGID,
	STAGE_SETUID,
	STAGE_CHDIR,
	STAGE_EXEC,
};

struct child_report {
	int stage; /* enum child_stage */
	int err;   /* its errno */
};

struct shim_pipe {
	int fd;                      /* read end, O_NONBLOCK; -1 once at EOF */
	struct shim__cri_line line;  /* the line being read */
};

struct shim {
	int dirfd;                   /* DIR, where state.json goes; -1 if unusable */
	int sigfd;                   /* signalfd for SIGCHLD, SIGTERM, SIGINT */
	int logfd;                   /* the CRI log, O_APPEND; -1 before it is open */
	int nullfd;                  /* /dev/null, for the child's stdin and our own 0 and 1 */
	struct shim_spec spec;       /* spec.json */
	struct shim_state st;        /* what state.json says; rewritten on each change */
	pid_t child;                 /* the main child, also its process group; 0 before fork */
	bool exited;                 /* its exit is in st; it stays a zombie until the end (see reap) */
	bool stopping;               /* SIGTERM or SIGINT came */
	bool kill_armed;             /* kill_at is set */
	uint64_t kill_at;            /* CLOCK_MONOTONIC ms: SIGKILL the tree then */
	uint64_t drain_until;        /* ms: stop waiting for the pipes' EOF then (once exited) */
	struct shim_pipe out[2];     /* indexed by enum shim__stream */
	unsigned long log_errors;    /* records lost to failed writes */
	char record[SHIM_CRI_RECORD_MAX]; /* the record being written */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One diagnostic line on stderr: the agent's stderr until the handshake,
 * DIR/shim.log after it. <err> is an errno or 0. */
static void diag(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diag(int err, const char *fmt, ...)
{
	char buf[1024], t[SHIM_TIME_LEN + 1];
	size_t n;
	va_list ap;

	shim__time_now(t);
	n = (size_t)snprintf(buf, sizeof(buf), "%s berth-shim[%d]: ", t, (int)getpid());
	va_start(ap, fmt);
	int k = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	n = k < 0 ? n : n + (size_t)k;
	if (err && n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(err));
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	ssize_t w = write(2, buf, n);
	(void)w;
}

/* Writes the handshake line and closes our stdout: the agent reads one
 * line, and a pipe it has closed must not matter to us later. */
static void handshake(struct shim *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void handshake(struct shim *sh, const char *fmt, ...)
{
	char line[SHIM_HANDSHAKE_MAX];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n > sizeof(line) - 2 ? sizeof(line) - 2 : (size_t)n;
	/* One line whatever a reason quotes. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	line[len++] = '\n';
	for (size_t off = 0; off < len;) {
		ssize_t w = write(1, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break; /* the agent went away: it will read state.json */
		off += (size_t)w;
	}
	if (sh->nullfd >= 0)
		dup2(sh->nullfd, 1);
}

static int write_state(struct shim *sh)
{
	char *err = NULL;

	if (sh->dirfd < 0)
		return -1;
	if (shim_state_write(sh->dirfd, &sh->st, &err) < 0) {
		diag(0, "%s", err);
		free(err);
		return -1;
	}
	return 0;
}

/* Records that the program never ran, and says so. Returns the shim's exit
 * status: OK when state.json holds the failure. */
static int fail_start(struct shim *sh, const char *reason)
{
	sh->st.status = SHIM_ST_FAILED;
	sh->st.exit_code = -1;
	sh->st.signal = 0;
	/* Cut at a character boundary if it must be cut. */
	size_t n = strlen(reason);
	if (n >= sizeof(sh->st.error)) {
		n = sizeof(sh->st.error) - 1;
		while (n && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(sh->st.error, reason, n);
	sh->st.error[n] = '\0';
	shim__time_now(sh->st.finished_at);
	if (write_state(sh) < 0) {
		handshake(sh, "failed: %s (and %s could not be written)", reason, SHIM_STATE_FILE);
		return SHIM_EXIT_FAILED;
	}
	handshake(sh, "failed: %s", reason);
	return SHIM_EXIT_OK;
}

/* ---- the process tree ---- */

/* Calls <fn> for each process whose parent is the shim, the main child
 * excepted: orphans of the tree, re-parented to us as their subreaper. */
static int each_orphan(struct shim *sh, int (*fn)(struct shim *sh, pid_t pid, const struct shim_proc *p, int arg),
		       int arg)
{
	pid_t self = getpid();
	int total = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d) {
		diag(errno, "opendir /proc");
		return 0;
	}
	while ((e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		struct shim_proc p;
		if (*end || v <= 0 || v > INT_MAX || (pid_t)v == sh->child)
			continue;
		if (shim_proc_read((pid_t)v, &p) == 0 && p.ppid == self)
			total += fn(sh, (pid_t)v, &p, arg);
	}
	closedir(d);
	return total;
}

static int reap_one(struct shim *sh, pid_t pid, const struct shim_proc *p, int arg)
{
	if (p->state == 'Z')
		waitpid(pid, NULL, WNOHANG);
	return 0;
}

/* Signals an orphan; returns 1 when it was still alive. */
static int signal_one(struct shim *sh, pid_t pid, const struct shim_proc *p, int sig)
{
	if (p->state == 'Z') {
		waitpid(pid, NULL, WNOHANG);
		return 0;
	}
	kill(pid, sig);
	return 1;
}

/* Sends <sig> to the program's process group and to every orphan of the
 * tree (those may have left the group). Returns how many orphans lived. */
static int signal_tree(struct shim *sh, int sig)
{
	/* Safe even after the program exited: it stays an unreaped zombie,
	 * so no other process can be given its pid or its group id. */
	if (kill(-sh->child, sig) < 0 && errno != ESRCH)
		diag(errno, "kill -%d %d", sig, (int)-sh->child);
	return each_orphan(sh, signal_one, sig);
}

static void record_exit(struct shim *sh, const siginfo_t *si)
{
	sh->exited = true;
	sh->st.status = SHIM_ST_EXITED;
	if (si->si_code == CLD_EXITED) {
		sh->st.exit_code = si->si_status;
		sh->st.signal = 0;
	} else {
		sh->st.exit_code = -1;
		sh->st.signal = si->si_status;
	}
	shim__time_now(sh->st.finished_at);
	sh->drain_until = mono_ms() + (sh->stopping && !sh->kill_armed ? 0 : SHIM_DRAIN_MS);
}

/* Collects exited children. The main child is only looked at (WNOWAIT):
 * reaped, its pid and group id could be reused by an unrelated process
 * while we may still signal them. The orphans are reaped. */
static void reap(struct shim *sh)
{
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			return;
		if (si.si_pid != sh->child) {
			waitpid(si.si_pid, NULL, WNOHANG);
			continue;
		}
		if (!sh->exited)
			record_exit(sh, &si);
		/* The zombie main child now comes first in every waitid(P_ALL):
		 * find the other zombies by name. */
		each_orphan(sh, reap_one, 0);
		return;
	}
}

/* Drains the signalfd. Stop requests count only when <stops> is set. */
static void read_signals(struct shim *sh, bool stops);

/* Kills what is left of the tree, repeating until no orphan remains:
 * killing one re-parents its own children to us. Bounded: a process stuck
 * in the kernel (D state) cannot hold the final state back forever. */
static void kill_tree(struct shim *sh)
{
	uint64_t deadline = mono_ms() + KILL_TREE_MS;

	for (;;) {
		int left = signal_tree(sh, SIGKILL);
		if (left == 0)
			return;
		if (mono_ms() >= deadline) {
			diag(0, "%d processes of the tree survive SIGKILL; giving up on them", left);
			return;
		}
		struct pollfd pfd = {.fd = sh->sigfd, .events = POLLIN};
		poll(&pfd, 1, 10);
		read_signals(sh, false);
	}
}

static void request_stop(struct shim *sh)
{
	if (sh->stopping)
		return; /* the escalation already runs on its own clock */
	sh->stopping = true;
	shim__time_now(sh->st.stop_requested_at);
	if (sh->exited) {
		/* Only descendants are left: no reason to give them the drain.
		 * No write either: st already says "exited", which state.json
		 * must say only once the tree is gone (finish()). */
		sh->drain_until = mono_ms();
		return;
	}
	write_state(sh);
	diag(0, "stop: signal %d to process group %d, SIGKILL in %u ms", sh->spec.stop_signal, (int)sh->child,
	     sh->spec.stop_grace_ms);
	signal_tree(sh, sh->spec.stop_signal);
	/* As s6-supervise does: a stopped process would only see its stop
	 * signal at the SIGKILL. */
	if (sh->spec.stop_signal != SIGCONT && sh->spec.stop_signal != SIGKILL)
		signal_tree(sh, SIGCONT);
	sh->kill_armed = true;
	sh->kill_at = mono_ms() + sh->spec.stop_grace_ms;
}

static void read_signals(struct shim *sh, bool stops)
{
	struct signalfd_siginfo si;
	bool chld = false;

	while (read(sh->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			chld = true;
		else if (stops)
			request_stop(sh);
	}
	if (chld)
		reap(sh);
}

/* ---- logs ---- */

static void emit(void *ctx, enum shim__stream stream, bool partial, const char *text, size_t len)
{
	struct shim *sh = ctx;
	char t[SHIM_TIME_LEN + 1];

	shim__time_now(t);
	size_t n = shim__cri_format(sh->record, t, stream, partial, text, len);
	/* One write() per record: O_APPEND makes each land whole at the end,
	 * so a tailer never reads half of one. */
	for (size_t off = 0; off < n;) {
		ssize_t w = write(sh->logfd, sh->record + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (sh->log_errors++ % 1000 == 0)
				diag(errno, "%s: %lu records lost", sh->spec.log, sh->log_errors);
			return;
		}
		off += (size_t)w;
	}
}

/* Reads once from stream <i>. Returns 1 when data came, 0 otherwise (EOF
 * closes the stream and flushes its last line). */
static int read_stream(struct shim *sh, int i)
{
	struct shim_pipe *p = &sh->out[i];
	size_t avail;
	char *dst = shim__cri_space(&p->line, &avail);
	ssize_t n = read(p->fd, dst, avail);

	if (n > 0) {
		shim__cri_commit(&p->line, (size_t)n, emit, sh);
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0)
		diag(errno, "read %s", i == SHIM_STREAM_STDOUT ? "stdout" : "stderr");
	shim__cri_finish(&p->line, emit, sh);
	close(p->fd);
	p->fd = -1;
	return 0;
}

/* ---- start ---- */

/* In the child, between fork and exec: becomes the program or reports why
 * not on <repw> and exits 127. */
static void child_exec(struct shim *sh, const struct shim__user *u, int outw, int errw, int repw)
	__attribute__((noreturn));
static void child_exec(struct shim *sh, const struct shim__user *u, int outw, int errw, int repw)
{
	struct sigaction dfl;
	sigset_t none;
	int stage;

	/* The program starts with default signal handling, whatever the shim
	 * (or the agent before it) ignored or blocked: SIG_IGN survives exec. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	stage = STAGE_SETPGID;
	if (setpgid(0, 0) < 0)
		goto fail;
	stage = STAGE_FDS;
	if (dup2(sh->nullfd, 0) < 0 || dup2(outw, 1) < 0 || dup2(errw, 2) < 0)
		goto fail;
	if (u) {
		stage = STAGE_SETGROUPS;
		if (setgroups(u->ngroups, u->groups) < 0)
			goto fail;
		stage = STAGE_SETGID;
		if (setgid(u->gid) < 0)
			goto fail;
		stage = STAGE_SETUID;
		if (setuid(u->uid) < 0)
			goto fail;
	}
	/* After the switch, so that the directory is checked as the user. */
	stage = STAGE_CHDIR;
	if (chdir(sh->spec.cwd) < 0)
		goto fail;
	/* execvp() searches the PATH of the environment it finds: the
	 * program's, not ours. */
	environ = sh->spec.env;
	stage = STAGE_EXEC;
	execvp(sh->spec.argv[0], sh->spec.argv);
fail:;
	struct child_report r = {stage, errno};
	ssize_t w = write(repw, &r, sizeof(r));
	(void)w;
	_exit(127);
}

static void describe_failure(const struct shim *sh, const struct shim__user *u, const struct child_report *r,
			     char *out, size_t cap)
{
	const char *e = strerror(r->err);

	switch (r->stage) {
	case STAGE_SETPGID: snprintf(out, cap, "setpgid: %s", e); break;
	case STAGE_FDS: snprintf(out, cap, "dup2: %s", e); break;
	case STAGE_SETGROUPS: snprintf(out, cap, "setgroups: %s", e); break;
	case STAGE_SETGID: snprintf(out, cap, "setgid %u: %s", u ? (unsigned)u->gid : 0u, e); break;
	case STAGE_SETUID: snprintf(out, cap, "setuid %u: %s", u ? (unsigned)u->uid : 0u, e); break;
	case STAGE_CHDIR: snprintf(out, cap, "chdir %s: %s", sh->spec.cwd, e); break;
	default: snprintf(out, cap, "exec %s: %s", sh->spec.argv[0], e); break;
	}
}

/* The shim's own process: fds 0-2 open, nothing else inherited, signals
 * on a signalfd, subreaper of its tree, its own session. */
static int setup_process(struct shim *sh)
{
	sigset_t set;

	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return -1;
	/* Whatever the agent left open (listeners, store files) is not ours
	 * to keep alive. */
	if (close_range(3, ~0U, 0) < 0)
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	sh->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sh->sigfd < 0)
		return -1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return -1;
	/* The agent should have started us in a new session already; if not,
	 * a Ctrl-C or SIGHUP meant for its terminal must not reach us. */
	setsid();
	sh->nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (sh->nullfd < 0)
		return -1;
	dup2(sh->nullfd, 0);
	return 0;
}

/* Starts the program. Returns -1 after fail_start() (then *rc is the exit
 * status), 0 once it runs and the handshake is sent. */
static int start(struct shim *sh, const char *dir, int *rc)
{
	char *buf = NULL, *err = NULL, reason[512];
	size_t len;
	struct shim__user user, *u = NULL;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};

	sh->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sh->dirfd < 0) {
		snprintf(reason, sizeof(reason), "%s: %s", dir, strerror(errno));
		goto fail;
	}
	/* Hold no mount busy: everything else is reached by absolute path or
	 * through dirfd. */
	if (chdir("/") < 0) {
		snprintf(reason, sizeof(reason), "chdir /: %s", strerror(errno));
		goto fail;
	}
	if (shim__read_file_at(sh->dirfd, SHIM_SPEC_FILE, SHIM_SPEC_MAX_BYTES, &buf, &len, &err) < 0 ||
	    shim_spec_parse(buf, len, &sh->spec, &err) < 0) {
		snprintf(reason, sizeof(reason), "%s", err);
		goto fail;
	}
	free(buf);
	buf = NULL;
	if (sh->spec.user) {
		if (shim__user_resolve(sh->spec.user, "/etc/passwd", "/etc/group", &user, &err) < 0) {
			snprintf(reason, sizeof(reason), "%s", err);
			goto fail;
		}
		if (geteuid() == 0)
			u = &user;
		else if (user.uid != geteuid() || user.gid != getegid()) {
			snprintf(reason, sizeof(reason), "user \"%s\": switching users needs root", sh->spec.user);
			goto fail;
		}
	}
	sh->logfd = open(sh->spec.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (sh->logfd < 0) {
		snprintf(reason, sizeof(reason), "%s: %s", sh->spec.log, strerror(errno));
		goto fail;
	}
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
		snprintf(reason, sizeof(reason), "pipe: %s", strerror(errno));
		goto fail;
	}

	char started_at[SHIM_TIME_LEN + 1];
	shim__time_now(started_at);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(reason, sizeof(reason), "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child_exec(sh, u, outp[1], errp[1], rep[1]);
	sh->child = pid;
	/* Both sides set the group, so that it exists before either goes on
	 * (EACCES: the child has exec'd, so it has done it itself). */
	setpgid(pid, pid);
	close(outp[1]);
	close(errp[1]);
	close(rep[1]);
	outp[1] = errp[1] = rep[1] = -1;

	/* The report pipe is close-on-exec: EOF means exec succeeded, a
	 * report means it did not. Nothing is guessed. */
	struct child_report r;
	ssize_t n;
	do
		n = read(rep[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	close(rep[0]);
	rep[0] = -1;
	if (n != 0) {
		if (n != (ssize_t)sizeof(r))
			r = (struct child_report){STAGE_EXEC, n < 0 ? errno : EIO};
		describe_failure(sh, u, &r, reason, sizeof(reason));
		waitpid(pid, NULL, 0);
		sh->child = 0;
		goto fail;
	}

	struct shim_proc p = {0};
	shim_proc_read(pid, &p);
	sh->st.pid = sh->st.pgid = pid;
	sh->st.start_time = p.start_time;
	memcpy(sh->st.started_at, started_at, sizeof(started_at));
	sh->st.status = SHIM_ST_RUNNING;
	if (write_state(sh) < 0) {
		/* Unrecorded, the instance could not be re-adopted or stopped
		 * by an agent that restarts: better not to run it. */
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		handshake(sh, "failed: %s could not be written", SHIM_STATE_FILE);
		*rc = SHIM_EXIT_FAILED;
		goto out;
	}
	handshake(sh, "started %d", (int)pid);
	/* From now on our messages go to DIR/shim.log, not to the agent. */
	int dfd = openat(sh->dirfd, SHIM_DIAG_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	dup2(dfd >= 0 ? dfd : sh->nullfd, 2);
	if (dfd >= 0)
		close(dfd);

	sh->out[0].fd = outp[0];
	sh->out[1].fd = errp[0];
	for (int i = 0; i < 2; i++) {
		fcntl(sh->out[i].fd, F_SETFL, O_NONBLOCK);
		shim__cri_init(&sh->out[i].line, (enum shim__stream)i);
	}
	return 0;

fail:
	*rc = fail_start(sh, reason);
out:
	free(buf);
	free(err);
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	return -1;
}

/* ---- run ---- */

static void loop(struct shim *sh)
{
	for (;;) {
		uint64_t now = mono_ms();
		if (sh->kill_armed && now >= sh->kill_at) {
			sh->kill_armed = false;
			diag(0, "stop: grace of %u ms over, SIGKILL", sh->spec.stop_grace_ms);
			signal_tree(sh, SIGKILL);
		}
		if (sh->exited && ((sh->out[0].fd < 0 && sh->out[1].fd < 0) || now >= sh->drain_until))
			return;

		uint64_t deadline = UINT64_MAX;
		if (sh->kill_armed)
			deadline = sh->kill_at;
		if (sh->exited && sh->drain_until < deadline)
			deadline = sh->drain_until;
		int timeout = -1;
		if (deadline != UINT64_MAX)
			timeout = deadline <= now ? 0 : deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);

		struct pollfd pfd[3] = {
			{.fd = sh->sigfd, .events = POLLIN},
			{.fd = sh->out[0].fd, .events = POLLIN},
			{.fd = sh->out[1].fd, .events = POLLIN},
		};
		if (poll(pfd, 3, timeout) < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				diag(errno, "poll");
				struct timespec pause = {0, 10 * 1000000};
				nanosleep(&pause, NULL); /* ENOMEM: do not spin */
			}
			continue;
		}
		if (pfd[0].revents)
			read_signals(sh, true);
		for (int i = 0; i < 2; i++)
			if (pfd[i + 1].revents && sh->out[i].fd >= 0)
				read_stream(sh, i);
	}
}

/* After the loop: nothing of the tree survives, what its pipes still hold
 * is logged, then the final state goes to disk. */
static int finish(struct shim *sh)
{
	kill_tree(sh);
	for (int i = 0; i < 2; i++) {
		/* The writers are dead: read what is buffered, up to EOF, or
		 * EAGAIN if some process outside the tree still holds the pipe. */
		while (sh->out[i].fd >= 0 && read_stream(sh, i) > 0)
			;
		if (sh->out[i].fd >= 0) {
			shim__cri_finish(&sh->out[i].line, emit, sh);
			close(sh->out[i].fd);
			sh->out[i].fd = -1;
		}
	}
	for (int i = 0;; i++) {
		if (write_state(sh) == 0)
			break;
		if (i + 1 == STATE_RETRIES) {
			diag(0, "giving up: the final %s is not on disk", SHIM_STATE_FILE);
			return SHIM_EXIT_FAILED;
		}
		struct timespec pause = {0, STATE_RETRY_MS * 1000000L};
		nanosleep(&pause, NULL);
	}
	waitpid(sh->child, NULL, 0);
	return SHIM_EXIT_OK;
}

static int run(struct shim *sh, const char *dir)
{
	struct shim_proc self = {0};
	int rc = SHIM_EXIT_OK;

	sh->dirfd = sh->sigfd = sh->logfd = sh->nullfd = -1;
	sh->out[0].fd = sh->out[1].fd = -1;
	sh->st.exit_code = -1;
	if (setup_process(sh) < 0) {
		char reason[128];
		snprintf(reason, sizeof(reason), "setup: %s", strerror(errno));
		/* No dirfd yet: this cannot be recorded. */
		handshake(sh, "failed: %s", reason);
		return SHIM_EXIT_FAILED;
	}
	sh->st.shim_pid = getpid();
	shim_proc_read(getpid(), &self);
	sh->st.shim_start_time = self.start_time;

	if (start(sh, dir, &rc) == 0) {
		loop(sh);
		rc = finish(sh);
	}
	shim_spec_free(&sh->spec);
	if (sh->logfd >= 0)
		close(sh->logfd);
	if (sh->dirfd >= 0)
		close(sh->dirfd);
	close(sh->sigfd);
	close(sh->nullfd);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: berth-shim DIR\n"
		"\n"
		"Runs the program described by DIR/spec.json as one berth instance:\n"
		"logs its stdout and stderr to the spec's log file in the CRI format,\n"
		"records its pid and exit status in DIR/state.json, and prints one\n"
		"handshake line (\"started PID\" or \"failed: REASON\"). SIGTERM or\n"
		"SIGINT stops the program (stop_signal, then SIGKILL after\n"
		"stop_grace_ms). See docs/shim.md.\n");
}

int main(int argc, char **argv)
{
	static struct shim sh; /* static: its buffers cost RSS only once touched */

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return SHIM_EXIT_OK;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("berth-shim %s\n", BERTH_VERSION);
		return SHIM_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
		usage(stderr);
		return SHIM_EXIT_USAGE;
	}
	return run(&sh, argv[1]);
}
