/* The shim contract (DESIGN.md section 4, docs/shim.md): what berth-shim and
 * the agent's process driver agree on, on disk and on the wire.
 *
 * One shim per instance run. The agent creates the instance directory DIR
 * (DATA/instances/<stack>/<svc>/<idx>/<run-id>/), writes DIR/spec.json
 * (shim_spec_write() does it atomically), then starts `berth-shim DIR` (or
 * `berth shim DIR`) detached in a new session with stdout on a pipe, and
 * reads one line from that pipe, the handshake:
 *
 *     started PID\n          the program runs as PID (exec succeeded)
 *     failed: REASON\n       nothing runs; REASON is one line of text
 *
 * EOF without a line means the shim died before it could tell (see its
 * exit status and DIR/shim.log). DIR/state.json is on disk before the
 * handshake line is written, whatever it says; the agent waits for nothing
 * else. It reaps the shim when the shim exits, while it is its parent; an
 * agent that restarts is no longer its parent (init or the nearest
 * subreaper is). The shim's fds 0-2 are /dev/null, /dev/null and
 * DIR/shim.log after the handshake: it keeps none of the agent's.
 *
 * spec.json, written by the agent (one object; unknown keys are refused):
 *     "argv"          [string, ...]  required, >= 1 entry, argv[0] non-empty;
 *                                    looked up in the PATH of "env" when it
 *                                    has no '/' (/bin:/usr/bin without PATH)
 *     "env"           ["K=V", ...]   the child's whole environment (default [])
 *     "cwd"           "/abs/path"    the child's working directory (default "/")
 *     "user"          "USER[:GROUP]" USER is a name or a uid, GROUP a name or a
 *                                    gid (default: USER's primary group, or
 *                                    gid = uid for a uid /etc/passwd lacks);
 *                                    supplementary groups from /etc/group.
 *                                    Only a root shim can switch; omitted or
 *                                    null: run as the shim's user.
 *     "log"           "/abs/path"    the CRI log file (required)
 *     "stop_signal"   1..64          sent to the process group on stop (15)
 *     "stop_grace_ms" 0..86400000    before SIGKILL (10000)
 * Strings are UTF-8 without NUL; limits are the SHIM_SPEC_MAX_* below.
 *
 * state.json, written by the shim (write temp + rename, no fsync: see
 * shim__write_file_at), with the
 * keys of struct shim_state: "status" is "running" (after the handshake,
 * and again with "stop_requested_at" once a stop is asked), then "exited"
 * (+ "exit_code" or "signal", the other null, and "finished_at"), or
 * "failed" (+ "error"; nothing ran). Readers ignore keys they do not know.
 *
 * The log file (O_APPEND, created 0640): one CRI record per write(),
 *     <time> <stdout|stderr> <F|P> <text>\n
 * <time> is UTC with exactly 9 fractional digits (SHIM_TIME_LEN bytes). A
 * line longer than SHIM_CRI_MAX_TEXT bytes becomes P records (partial) and
 * a final F; text left without a newline at EOF is an F record. One record
 * never mixes stdout and stderr.
 *
 * Signals to the shim: SIGTERM or SIGINT = stop the instance: stop_signal
 * (then SIGCONT) to the child's process group, SIGKILL to the group and
 * every remaining descendant after stop_grace_ms; a second request changes
 * nothing.
 * SIGHUP and SIGPIPE are ignored. The shim is the subreaper of the tree.
 *
 * End of a run: once the main child has exited and both pipes are at EOF
 * (or SHIM_DRAIN_MS after the exit), whatever is left of the tree is
 * SIGKILLed, the final state.json is renamed into place, and the shim exits
 * with SHIM_EXIT_OK. To learn of it without being the shim's parent, poll a
 * pidfd of shim_pid or watch DIR for state.json (inotify IN_MOVED_TO).
 *
 * Re-adoption: after a restart the agent reads state.json; the instance is
 * still supervised when shim_pid_alive(shim_pid, shim_start_time), and its
 * program runs when shim_pid_alive(pid, start_time) (start times guard
 * against pid reuse). Stopping it is kill(shim_pid, SIGTERM), nothing more.
 *
 * Everything below is libc only: berth-shim compiles it without libberth. */
#ifndef BERTH_RUNNER_SHIM_H
#define BERTH_RUNNER_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SHIM_SPEC_FILE "spec.json"   /* in DIR, written by the agent */
#define SHIM_STATE_FILE "state.json" /* in DIR, written by the shim */
#define SHIM_DIAG_FILE "shim.log"    /* in DIR: the shim's own messages after the handshake */

#define SHIM_SPEC_MAX_BYTES (1024 * 1024) /* spec.json larger than this is refused */
#define SHIM_SPEC_MAX_ITEMS 8192          /* entries in "argv", and in "env" */
#define SHIM_SPEC_MAX_STRING (128 * 1024 - 1) /* bytes in one string (the kernel's MAX_ARG_STRLEN) */
#define SHIM_STATE_MAX_BYTES (64 * 1024)  /* state.json larger than this is corrupt */
#define SHIM_HANDSHAKE_MAX 1024           /* bytes in the handshake line, '\n' included */

#define SHIM_DEFAULT_STOP_SIGNAL 15       /* SIGTERM */
#define SHIM_DEFAULT_STOP_GRACE_MS 10000
#define SHIM_MAX_STOP_GRACE_MS 86400000u  /* one day */
#define SHIM_DRAIN_MS 2000 /* after the child's exit, how long descendants may hold its pipes */

#define SHIM_CRI_MAX_TEXT 16384 /* bytes of text in one log record; longer lines are split */
#define SHIM_TIME_LEN 30        /* "2026-12-01T08:30:00.123456789Z" */

/* Exit status of berth-shim. */
enum shim_exit {
	SHIM_EXIT_OK = 0,     /* the outcome (exited or failed) is in state.json */
	SHIM_EXIT_FAILED = 1, /* the shim could not record it: see the handshake and shim.log */
	SHIM_EXIT_USAGE = 2,  /* bad command line */
};

/* ---- spec.json ---- */

/* A parsed spec.json. Every pointer is owned by the struct (shim_spec_free). */
struct shim_spec {
	char **argv;            /* argc entries then NULL; argv[0] is the program */
	size_t argc;            /* >= 1 */
	char **env;             /* envc "K=V" entries then NULL: the child's whole environment */
	size_t envc;
	char *cwd;              /* absolute; "/" when spec.json has none */
	char *user;             /* "USER[:GROUP]", or NULL: run as the shim's user */
	char *log;              /* absolute path of the CRI log file */
	int stop_signal;        /* 1..64 */
	unsigned stop_grace_ms; /* 0..SHIM_MAX_STOP_GRACE_MS */
};

/* Parses <len> bytes of spec.json into <out>, which the caller frees with
 * shim_spec_free() after a success. Strict: one object, known keys once
 * each, the types and limits above. Returns 0, or -1 with a one-line
 * message in *err ("spec.json:LINE:COL: ...", heap, the caller frees it)
 * and <out> left empty. */
int shim_spec_parse(const char *buf, size_t len, struct shim_spec *out, char **err);

/* Frees what <s> owns and zeroes it; fine on a zeroed struct. */
void shim_spec_free(struct shim_spec *s);

/* Serializes <s> (borrowed) as spec.json into *out (heap, NUL-terminated,
 * *outlen bytes). Fails (-1, *err) when <s> could not be parsed back: a
 * string that is not UTF-8, a relative path, a limit exceeded. */
int shim_spec_format(const struct shim_spec *s, char **out, size_t *outlen, char **err);

/* Writes <s> to DIR/spec.json atomically (temp file, then rename).
 * Returns 0, or -1 with *err. */
int shim_spec_write(const char *dir, const struct shim_spec *s, char **err);

/* ---- state.json ---- */

enum shim_status {
	SHIM_ST_UNKNOWN = 0, /* nothing read yet. Please keep at zero. */
	SHIM_ST_RUNNING,     /* the program was exec'd and has not been seen to exit */
	SHIM_ST_EXITED,      /* it exited; exit_code or signal says how */
	SHIM_ST_FAILED,      /* it never ran; error says why */
};

/* What state.json holds. Times are SHIM_TIME_LEN-byte strings, "" when
 * absent; pids and start times are 0 when absent. */
struct shim_state {
	enum shim_status status;
	pid_t shim_pid;                         /* the shim: signal it to stop the instance */
	unsigned long long shim_start_time;     /* the shim's /proc/PID/stat field 22 (clock ticks since boot) */
	pid_t pid;                              /* the program (main child) */
	pid_t pgid;                             /* its process group (== pid) */
	unsigned long long start_time;          /* the program's /proc/PID/stat field 22 */
	char started_at[SHIM_TIME_LEN + 1];     /* when it was forked */
	char stop_requested_at[SHIM_TIME_LEN + 1]; /* when the shim got SIGTERM/SIGINT */
	char finished_at[SHIM_TIME_LEN + 1];    /* when its exit (or the failure) was seen */
	int exit_code;                          /* 0..255, or -1 (null: killed, or not exited) */
	int signal;                             /* the signal that killed it, or 0 (null) */
	char error[256];                        /* SHIM_ST_FAILED: why, one line (truncated) */
};

/* Reads DIR/state.json into <out>. Returns 0; -ENOENT when there is none
 * (the shim has not got that far); another negative errno (with *err) when
 * it cannot be read or parsed. *err is heap, the caller frees it. */
int shim_state_read(const char *dir, struct shim_state *out, char **err);

/* Writes <st> as state.json into the directory open as <dirfd>, atomically.
 * Returns 0, or -1 with *err. Used by the shim; here so that writer and
 * reader are one format. */
int shim_state_write(int dirfd, const struct shim_state *st, char **err);

/* ---- processes ---- */

/* The fields of /proc/PID/stat the shim and the agent need. */
struct shim_proc {
	char state;                    /* 'R', 'S', 'Z', ... */
	pid_t ppid;
	pid_t pgid;
	unsigned long long start_time; /* field 22: clock ticks after boot */
};

/* Reads /proc/<pid>/stat. Returns 0, or a negative errno (-ENOENT: no
 * such process). */
int shim_proc_read(pid_t pid, struct shim_proc *out);

/* True when <pid> is a live (not zombie) process that started at
 * <start_time>, i.e. the same process state.json names, not a reuse of its
 * pid. */
bool shim_pid_alive(pid_t pid, unsigned long long start_time);

/* Parses one handshake line (its '\n' optional). Returns 0 with *pid for
 * "started PID"; 1 with *reason pointing into <line> for "failed: REASON"
 * (to the end of <line>, its '\n' included); -1 for anything else. */
int shim_handshake_parse(const char *line, pid_t *pid, const char **reason);

#endif
