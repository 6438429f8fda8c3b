/* Health checks of instances: exec, http, tcp, ttl and redis checks with rise/fall thresholds, on the agent's loop (DESIGN.md 4, 6). */
#ifndef BERTH_HEALTH_HEALTH_H
#define BERTH_HEALTH_HEALTH_H

/*
 * Two halves:
 *
 *   - configuration: health_config_from_service() turns a normalized
 *     service (x-berth.check, rancher-compose health_check, compose
 *     healthcheck, in that order of precedence) into a struct
 *     health_config, the same for every instance of the service;
 *   - runtime: health_check_start() runs that config against one instance
 *     (its address, host ports, environment, working directory) on a libuv
 *     loop and reports state and tag changes through a callback, until
 *     health_check_stop().
 *
 * docs/health.md is the user's reference for every key and rule.
 */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "spec/spec.h"

#define HEALTH_MAX_EXPECT 16   /* status ranges of one http check */
#define HEALTH_MAX_TAGS   16   /* tags one check may set */
#define HEALTH_MAX_OUTPUT 4096 /* bytes of an exec check's output kept as its message */

enum health_kind {
	HEALTH_KIND_NONE = 0,  /* no check: the instance reports "none". Please keep set to zero. */
	HEALTH_KIND_EXEC,      /* run a program; healthy iff it exits 0 */
	HEALTH_KIND_HTTP,      /* GET a path; healthy iff the status is expected */
	HEALTH_KIND_TCP,       /* healthy iff a connection opens */
	HEALTH_KIND_TTL,       /* healthy while refreshed through the API */
	HEALTH_KIND_REDIS,     /* ROLE answered; tags primary / replica / sentinel */
};

enum health_state {
	HEALTH_NONE = 0,       /* no check configured. Please keep set to zero. */
	HEALTH_STARTING,       /* checked, not yet healthy (start_period, rise) */
	HEALTH_HEALTHY,
	HEALTH_UNHEALTHY,
};

enum health_source {
	HEALTH_SRC_NONE = 0,   /* no check anywhere */
	HEALTH_SRC_XBERTH,     /* x-berth.check (with a kind) */
	HEALTH_SRC_RANCHER,    /* rancher-compose health_check */
	HEALTH_SRC_COMPOSE,    /* compose healthcheck */
};

/* One accepted range of HTTP statuses, inclusive. */
struct health_expect {
	int lo, hi;            /* 100..999, lo <= hi */
};

/* What to check and when; the same for every instance of a service.
 * Everything is owned (health_config_free()); durations are milliseconds. */
struct health_config {
	enum health_kind kind;
	enum health_source source;  /* where the kind came from */
	/* exec */
	char **argv;                /* NULL-terminated program and arguments; a shell
				     * command line is {"/bin/sh", "-c", line} */
	int argc;
	bool shell;                 /* argv was built from a command line (CMD-SHELL) */
	/* http */
	char *method;               /* "GET" (rancher's request_line may say HEAD, OPTIONS...) */
	char *path;                 /* request target, starts with '/' */
	char *host;                 /* Host header; NULL: the instance's "addr:port" */
	int http_minor;             /* 1: HTTP/1.1 (default), 0: HTTP/1.0 */
	struct health_expect expect[HEALTH_MAX_EXPECT]; /* accepted statuses */
	int nexpect;                /* 0: 200..399 */
	/* http, tcp, redis */
	int port;                   /* target (container) port; 0: the instance's first port */
	/* redis */
	char *password;             /* AUTH with it; NULL: none (or password_env) */
	char *password_env;         /* AUTH with this variable of the instance's environment */
	/* ttl */
	uint64_t ttl;               /* ms a pass or fail stays valid */
	/* timing and thresholds */
	uint64_t interval;          /* ms from the end of one run to the start of the next */
	uint64_t timeout;           /* ms one run may take, then it fails (exec: killed) */
	uint64_t start_period;      /* ms after start during which failures do not count */
	uint64_t start_interval;    /* ms between runs during start_period */
	uint64_t initializing_timeout;   /* ms a new instance has to turn healthy; 0: no limit */
	uint64_t reinitializing_timeout; /* same for a restarted instance (rancher); 0: no limit */
	int rise;                   /* consecutive successes to turn healthy, >= 1 */
	int fall;                   /* consecutive failures to turn unhealthy, >= 1 */
	bool restart_on_unhealthy;  /* the agent restarts an instance that turns unhealthy */
};

/* Builds the check of <svc> into <out> (zeroed first), from x-berth.check,
 * else rancher-compose health_check, else compose healthcheck; a service
 * with none gets kind HEALTH_KIND_NONE. An x-berth.check without a kind
 * only adjusts the timing, thresholds and restart_on_unhealthy of the
 * check below it. Returns 0, or -1 with *err (heap, "x-berth.check.KEY:
 * message"; the caller frees it) and nothing left in *out. The loader has
 * validated what came from a file; this also guards what comes back from
 * the store. */
int health_config_from_service(const struct spec_service *svc, struct health_config *out, char **err);
/* Checks the value of x-berth.check (<check>: its JSON form, as the
 * loader builds it; NULL or null: absent) by the same rules. Returns 0, or
 * -1 with *key (the offending key, borrowed from <check>; NULL: the value
 * itself), *index (its list item at fault, or -1), *at_key (the key is the
 * fault: unknown, or a second kind) and *why (heap, the caller frees it).
 * This is how the loader reports a bad check with file:line:col. */
int health_xcheck_validate(const json_t *check, const char **key, int *index, bool *at_key, char **why);
/* The kind x-berth.check names, HEALTH_KIND_NONE when it names none
 * (absent, only tuning, or invalid); *off says it is false, which turns
 * every check of the service off. */
enum health_kind health_xcheck_kind(const json_t *check, bool *off);
/* Frees what <c> owns (not <c>) and zeroes it. */
void health_config_free(struct health_config *c);
/* A deep copy of <src> into <dst>. */
void health_config_copy(struct health_config *dst, const struct health_config *src);

/* "none", "starting", "healthy", "unhealthy" (the status JSON's "health"). */
const char *health_state_name(enum health_state s);
/* "none", "exec", "http", "tcp", "ttl", "redis". */
const char *health_kind_name(enum health_kind k);

/* ---- runtime ---- */

struct health_check;

/* An instance port: what the service says and what the instance got. */
struct health_port {
	int target;                 /* container port (spec_port.target) */
	int host;                   /* the instance's host port */
};

/* The instance to check. Borrowed for the call of health_check_start(),
 * which copies what it needs. */
struct health_target {
	const char *name;           /* for messages and logs: "web.2"; NULL: "instance" */
	const char *addr;           /* numeric IPv4 or IPv6 address; NULL: 127.0.0.1 */
	const struct health_port *ports; /* first: the instance's first port */
	int nports;
	char *const *env;           /* NULL-terminated "K=V" the instance runs with;
				     * NULL: the agent's own environment */
	const char *cwd;            /* exec's working directory; NULL: the agent's */
	const char *user;           /* "name", "uid" or "uid:gid" to run exec as (only
				     * when the agent is root); NULL: the agent's user */
	bool restarted;             /* use reinitializing_timeout instead of initializing_timeout */
};

/* Called on the loop on every change of state and on every change of the
 * tags. <tags> (<ntags> strings) are the instance's current check tags,
 * <message> the last result's text (exec: its output); all are borrowed
 * for the call. The callback may call health_check_stop(<c>). */
typedef void health_cb(struct health_check *c, enum health_state state, const char *const *tags,
		       int ntags, const char *message, void *arg);

/* Starts checking <t> with <cfg> (copied) on <loop>. The state starts at
 * HEALTH_STARTING (HEALTH_NONE for a config without a kind, which then
 * never runs anything nor calls back); the first run starts at once, each
 * next one <interval> after the previous ended, so runs never overlap.
 * Returns the check, or NULL (after a log line) when it cannot run at all
 * (an unknown kind, an unknown user): then <cb> is never called. Problems
 * of one instance that a run can report (a target port the instance does
 * not have, an exec that fails) are failed runs instead, with a message. */
struct health_check *health_check_start(uv_loop_t *loop, const struct health_config *cfg,
					const struct health_target *t, health_cb *cb, void *arg);

/* Stops <c>: a running run is abandoned (an exec's process group is
 * killed), <cb> is never called again, and the memory is freed once libuv
 * has closed the check's handles; a killed process is reaped first, so the
 * loop lives until it is gone. <c> must not be used after the call. Safe
 * from inside <cb>. NULL is ignored. */
void health_check_stop(struct health_check *c);

/* The current state, tags and last message (borrowed until the next
 * callback or the stop). */
enum health_state health_check_state(const struct health_check *c);
const char *health_check_message(const struct health_check *c);
int health_check_tags(const struct health_check *c, const char *const **tags);
/* The config the check runs (its own copy). */
const struct health_config *health_check_config(const struct health_check *c);

/* TTL checks, for the API: records a passing (or failing) result with
 * <note> (may be NULL) as its message, and restarts the TTL. Returns 0, or
 * UV_EINVAL when <c> is not a ttl check. May call the callback before
 * returning. */
int health_ttl_pass(struct health_check *c, const char *note);
int health_ttl_fail(struct health_check *c, const char *note);

#endif
