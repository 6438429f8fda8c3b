/* The hook engine (DESIGN.md 7, docs/hooks.md): a service's x-berth
 * on_change hooks (render a template over the catalog, then run a
 * command, when watched services change) and its pre_start command (run
 * before each of its instances starts), on the agent's libuv loop.
 *
 * The agent creates one engine, tells it each service's x-berth
 * (hooks_set_service, again whenever the stack changes), tells it when a
 * service's endpoints change in the catalog (hooks_catalog_changed), and
 * asks it to run pre_start before starting each instance (hooks_pre_start).
 *
 * An on_change hook
 *   - fires once when it is created (hooks_set_service), and then each time
 *     a watched service changes, debounced by wait MIN:MAX: it fires MIN
 *     after the last change of a burst, but no later than MAX after the
 *     first;
 *   - when it fires, renders its template (if any) to a temp file beside
 *     dest and renames it over dest. When the output equals dest's
 *     content, nothing is written and the command does not run;
 *   - then runs its command (if any) with /bin/sh -c, in the project
 *     directory, with the service's environment plus BERTH_STACK and
 *     BERTH_SERVICE; never two runs of one hook at a time: a hook that
 *     fires while its command runs fires once more when it ends (however
 *     many changes came meanwhile);
 *   - writes the command's stdout and stderr as CRI records (runner/shim.h)
 *     to DATA/instances/<stack>/<svc>/hooks.log (HOOKS_LOG_FILE), which
 *     `berth logs` shows as <svc>.hook; logs the exit status;
 *   - kills the command's process group at its timeout, when the hook is
 *     removed or changed, and at hooks_free; and when the command exits,
 *     whatever is left of its process group.
 *
 * Rendering and the dest write are synchronous (small local files).
 * Callbacks (hooks_opts.event, pre_start's done, hooks_free's done) are
 * never called from inside the call that caused them. Not thread-safe:
 * every call comes from the loop's thread.
 *
 * Exit statuses, in events and for pre_start: 0..255 the command's exit
 * code; 128 + N killed by signal N; UV_ETIMEDOUT killed at its timeout;
 * UV_ECANCELED stopped (removed, cancelled, hooks_free); another negative
 * libuv error: it could not be started (uv_spawn's error). */
#ifndef BERTH_HOOKS_HOOKS_H
#define BERTH_HOOKS_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

struct catalog;
struct spec_service;
struct hooks;
struct hooks_pre;

#define HOOKS_LOG_FILE "hooks.log"         /* in DATA/instances/<stack>/<svc>/ */
#define HOOKS_DEFAULT_WAIT_MIN 100         /* ms */
#define HOOKS_DEFAULT_WAIT_MAX 2000        /* ms */
#define HOOKS_DEFAULT_TIMEOUT (5 * 60000)  /* ms a command may run */
#define HOOKS_MAX_DURATION (24 * 3600000ull) /* ms: longer wait or timeout values are refused */
#define HOOKS_DRAIN_MS 2000                /* after a command's exit, how long its pipes may stay open */
#define HOOKS_MAX_ON_CHANGE 64             /* on_change entries of one service */

enum hooks_event_kind {
	HOOKS_EV_RENDERED = 0,  /* dest was replaced by the new output */
	HOOKS_EV_UNCHANGED,     /* the output equals dest: nothing written, the command not run */
	HOOKS_EV_RENDER_FAILED, /* a template or I/O error (msg): dest kept, the command not run */
	HOOKS_EV_RUN_STARTED,   /* the command started (pid) */
	HOOKS_EV_RUN_EXITED,    /* it ended (status), its output is in the log file */
	HOOKS_EV_PRE_START_EXITED, /* a pre_start command ended (status, index) */
};

/* What happened, for the agent's event log and for tests. Everything is
 * borrowed for the duration of the callback. */
struct hooks_event {
	enum hooks_event_kind kind;
	const char *stack;
	const char *service;         /* the hook's owner */
	int hook;                    /* position in the service's on_change list; -1: pre_start */
	int index;                   /* PRE_START_EXITED: the instance's index */
	int status;                  /* RUN_EXITED, PRE_START_EXITED: see above */
	int pid;                     /* RUN_STARTED */
	const char *dest;            /* RENDERED, UNCHANGED, RENDER_FAILED: the file */
	const char *msg;             /* RENDER_FAILED: why */
};

struct hooks_opts {
	const struct catalog *catalog; /* borrowed for the engine's life; read at each render */
	const char *data_dir;          /* log files go under DATA/instances/ (copied) */
	const char *shell;             /* default "/bin/sh" (copied) */
	void (*event)(const struct hooks_event *ev, void *arg); /* may be NULL */
	void *arg;
};

/* A new engine on <loop>. Messages go to the core log ("hooks"). */
struct hooks *hooks_new(uv_loop_t *loop, const struct hooks_opts *o);

/* Creates, updates or removes the hooks of <stack>/<svc->name> from
 * svc->x_berth (on_change, pre_start). Relative template paths and the
 * commands' working directory are <project_dir>; <env> ("K=V",
 * NULL-terminated; NULL: the agent's own environment) is the commands'
 * environment (copied). When the on_change config, the project directory
 * and the environment are those already set, the running hooks are kept
 * as they are (nothing fires); otherwise the old hooks are stopped and the
 * new ones fire once. Returns 0, or -1 with *err (heap) when the config is
 * invalid, in which case the old hooks are kept. */
int hooks_set_service(struct hooks *h, const char *stack, const struct spec_service *svc, const char *project_dir,
		      char *const *env, char **err);
/* Stops and forgets the hooks of one service, or of every service of a
 * stack; their pending pre_start requests end with UV_ECANCELED. */
void hooks_remove_service(struct hooks *h, const char *stack, const char *svc);
void hooks_remove_stack(struct hooks *h, const char *stack);

/* The endpoints of <stack>/<svc> changed in the catalog: every hook that
 * watches it (in watch:, or read by its template) starts or extends its
 * debounce. */
void hooks_catalog_changed(struct hooks *h, const char *stack, const char *svc);

/* Call before starting instance <index> of <stack>/<svc>: once the
 * service's on_change hooks have rendered for the first time (so their
 * dest files exist), runs its pre_start command, if any, with <env> (the
 * instance's environment, copied; NULL: the service's) plus BERTH_STACK,
 * BERTH_SERVICE, BERTH_INSTANCE (web.2) and BERTH_INDEX; then calls
 * done(status, arg): start the instance only if status is 0. A service
 * with no hooks completes with 0 on the next loop iteration. Returns 0 and,
 * when <out> is not NULL, a handle for hooks_pre_cancel() valid until done
 * is called. Never fails (the command's start failure is a status). */
int hooks_pre_start(struct hooks *h, const char *stack, const char *svc, int index, char *const *env,
		    void (*done)(int status, void *arg), void *arg, struct hooks_pre **out);
/* Stops a pending pre_start: its command is killed, done gets
 * UV_ECANCELED (later, not from inside this call). */
void hooks_pre_cancel(struct hooks_pre *p);

/* Stops everything (killing running commands and reaping them, pending
 * pre_start requests ending with UV_ECANCELED), then frees the engine and
 * calls done(arg) (may be NULL) from a close callback. No process of the
 * engine is left once done is called. */
void hooks_free(struct hooks *h, void (*done)(void *arg), void *arg);

/* Checks x-berth's on_change and pre_start (a JSON object as the compose
 * loader makes it; NULL or other keys are fine), resolving template paths
 * against <project_dir> and compiling the templates. Returns 0, or -1 with
 * *err (heap: the message; a template's own errors keep their
 * FILE:LINE:COL) and *at (heap: the key path of the culprit inside
 * x-berth, "on_change[1].wait"), *at_key telling whether the key itself
 * (an unknown key) rather than its value is at fault. */
int hooks_check_x_berth(const json_t *x_berth, const char *project_dir, char **err, char **at, bool *at_key);

#endif
