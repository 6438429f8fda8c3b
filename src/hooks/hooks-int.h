/* Shared inside src/hooks/ only: the parsed x-berth config (config.c) and the command runner with its CRI log writer (cmd.c). */
#ifndef BERTH_HOOKS_HOOKS_INT_H
#define BERTH_HOOKS_HOOKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "runner/shim.h"

struct template;

/* ---- config.c: x-berth.on_change and x-berth.pre_start ---- */

struct hooks__watch {
	char *stack;               /* NULL: the hook's own stack */
	char *service;             /* NULL: any service of that stack (from a template's {{#services}}) */
};

struct hooks__onchange {
	struct hooks__watch *watch; /* watch: entries, then what the template reads */
	int nwatch;
	int nwatch_given;          /* how many of them watch: gave */
	char *src;                 /* template src, absolute; NULL: no template */
	char *dest;                /* template dest, absolute */
	struct template *tmpl;     /* src compiled; NULL when not asked for or no template */
	char *run;                 /* command line for sh -c; NULL: none */
	uint64_t wait_min, wait_max; /* ms */
	uint64_t timeout;          /* ms */
};

struct hooks__conf {
	json_t *on_change;         /* x-berth.on_change as written (a new reference), or NULL */
	struct hooks__onchange *oc;
	int noc;
	char *pre_start;           /* command line; NULL: none */
	uint64_t pre_timeout;      /* ms */
};

/* Parses x-berth (may be NULL) into <c> (zeroed by the caller; cleared on
 * error). Returns 0, or -1 with *err, *at and *at_key as
 * hooks_check_x_berth() says. */
int hooks__conf_parse(const json_t *x_berth, const char *project_dir, struct hooks__conf *c, char **err, char **at,
		      bool *at_key);
void hooks__conf_clear(struct hooks__conf *c);
void hooks__onchange_clear(struct hooks__onchange *oc);
/* Replaces oc->tmpl by <t> (taken; may be NULL) and the watch entries
 * that came from the old template by those <t> reads. */
void hooks__onchange_set_template(struct hooks__onchange *oc, struct template *t);
/* Go-style durations without fractions: "1m30s", "500ms", "2s", "0". 0 or -1. */
int hooks__duration_parse(const char *s, uint64_t *ms);

/* ---- cmd.c: one run of a command, its output as CRI records ---- */

/* The unfinished line of one stream: one spare byte tells a full record
 * that more text follows (P) from one a newline ends (F). */
struct hooks__cri_line {
	size_t len;
	char buf[SHIM_CRI_MAX_TEXT + 1];
};

struct hooks__cmd;
/* The run ended: <status> as hooks.h says. Called once, from a loop
 * callback; the cmd frees itself afterwards. */
typedef void hooks__cmd_done_fn(struct hooks__cmd *c, int status, void *arg);

struct hooks__cmd {
	uv_loop_t *loop;
	uv_process_t proc;
	uv_pipe_t out[2];          /* the command's stdout, stderr */
	uv_timer_t timer;          /* the timeout, then the drain after its exit */
	int handles;               /* open handles: freed when the last one closes */
	pid_t pid;
	bool exited;               /* exit_cb ran */
	bool reported;             /* done was called */
	int status;                /* for done */
	int stopped;               /* 0, or UV_ETIMEDOUT / UV_ECANCELED: why we killed it */
	int eof;                   /* pipes at EOF or closed */
	int logfd;                 /* the CRI log file, or -1 */
	struct hooks__cri_line line[2];
	char rbuf[16384];          /* where reads land */
	hooks__cmd_done_fn *done;
	void *arg;
};

/* Starts `<shell> -c <cmdline>` in <cwd> with <env> (NULL: ours) in its
 * own process group, its output appended to <log_path> (NULL: dropped;
 * its directory is created). Returns 0 and the run in *out (it frees
 * itself after calling done), or a negative libuv error (done is never
 * called, nothing is left). */
int hooks__cmd_start(uv_loop_t *loop, const char *shell, const char *cmdline, const char *cwd, char *const *env,
		     const char *log_path, uint64_t timeout_ms, hooks__cmd_done_fn *done, void *arg,
		     struct hooks__cmd **out);
/* Kills its process group (SIGKILL); done follows with <why>
 * (UV_ECANCELED, UV_ETIMEDOUT) as the status. */
void hooks__cmd_kill(struct hooks__cmd *c, int why);

/* CRI records: feeds <n> bytes of stream <s> (0 stdout, 1 stderr), writing
 * every record they complete to <fd> (-1: nowhere); finish writes what is
 * left as an F record. */
void hooks__cri_feed(struct hooks__cri_line *l, int fd, int s, const char *p, size_t n);
void hooks__cri_finish(struct hooks__cri_line *l, int fd, int s);

#endif
