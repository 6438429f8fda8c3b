/* Shared inside src/health/ only: the state machine, the check object and the table of check kinds. */
#ifndef BERTH_HEALTH_HEALTH_INT_H
#define BERTH_HEALTH_HEALTH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/buf.h"
#include "health/health.h"

/* ---- fsm.c: states and thresholds, a pure function of results and time ---- */

/*
 * starting -> healthy <-> unhealthy, counted in consecutive results:
 *   - <rise> successes in a row turn starting or unhealthy into healthy;
 *   - <fall> failures in a row turn starting or healthy into unhealthy;
 *   - while starting, failures inside <start_period> (from the start) do
 *     not count, until a first success ends that grace (compose);
 *   - still starting when <init_timeout> has passed: unhealthy (rancher's
 *     initializing_timeout); 0 means no limit.
 * A result that agrees with the state resets the opposite count.
 */
struct health_fsm {
	enum health_state state;   /* never HEALTH_NONE */
	int rise, fall;            /* thresholds, >= 1 */
	uint64_t start_period;     /* ms of grace from <started> */
	uint64_t init_timeout;     /* ms from <started> to turn healthy; 0: none */
	uint64_t started;          /* ms (the caller's clock) when the check started */
	int successes;             /* consecutive successes, counted toward <rise> */
	int failures;              /* consecutive counted failures, toward <fall> */
	bool graced;               /* the grace ended: a success was seen */
};

void health__fsm_init(struct health_fsm *f, int rise, int fall, uint64_t start_period,
		      uint64_t init_timeout, uint64_t now);
/* Counts one result at <now>; returns true when the state changed. */
bool health__fsm_result(struct health_fsm *f, bool ok, uint64_t now);
/* Applies time alone (the initializing timeout); true when the state changed. */
bool health__fsm_tick(struct health_fsm *f, uint64_t now);
/* Whether failures would not count at <now> (grace of start_period). */
bool health__fsm_in_grace(const struct health_fsm *f, uint64_t now);
/* When health__fsm_tick() may next change something, in ms of the
 * caller's clock; UINT64_MAX: never. */
uint64_t health__fsm_deadline(const struct health_fsm *f);

/* ---- the check object (check.c) ---- */

/* A kind of check (one file each, registered in kinds.c). A run starts
 * with run() and ends with exactly one health__run_done() (possibly from
 * inside run()), unless the check is stopped first: then cancel() drops it
 * with no result. */
struct health_kind_ops {
	const char *name;               /* "exec", "http", ... */
	enum health_kind kind;
	/* Allocates c->priv at start; returns 0, or -1 after a log line (the
	 * start fails and nothing is called back). */
	int (*init)(struct health_check *c);
	/* Starts one run. */
	void (*run)(struct health_check *c);
	/* The run's deadline passed: end it now with health__run_done()
	 * (failed), releasing (or starting to release) what it holds. */
	void (*timeout)(struct health_check *c);
	/* The check stops: abandon a running run without a result. */
	void (*cancel)(struct health_check *c);
	/* Frees c->priv once every handle of the check is closed. */
	void (*release)(struct health_check *c);
};

extern const struct health_kind_ops health__exec_ops;
extern const struct health_kind_ops health__http_ops;
extern const struct health_kind_ops health__tcp_ops;
extern const struct health_kind_ops health__ttl_ops;
extern const struct health_kind_ops health__redis_ops;

/* kinds.c: the kind's ops, or NULL for HEALTH_KIND_NONE / unknown. */
const struct health_kind_ops *health__kind_find(enum health_kind k);

/*
 * Lifetime: three timers are embedded (next run, run deadline, fsm
 * deadline), plus whatever handles the kind opens for a run (counted in
 * <nrun>, always closed before the next run may start). Stop sets <dead>
 * and closes everything; the object is freed from the last close callback.
 */
struct health_check {
	uv_loop_t *loop;
	const struct health_kind_ops *ops; /* NULL: kind none */
	struct health_config cfg;    /* own copy */
	char *name;                  /* "web.2", for logs */
	char *addr;                  /* numeric address text, for messages and Host */
	struct sockaddr_storage sa;  /* addr and the checked host port */
	int host_port;               /* the checked host port; 0: none (see port_error) */
	char *port_error;            /* why there is no port to check; NULL */
	char **env;                  /* NULL-terminated copy of the target's env; NULL */
	char *cwd;                   /* NULL: inherit */
	char *user;                  /* NULL: the agent's */
	health_cb *cb;
	void *arg;
	struct health_fsm fsm;
	uv_timer_t run_timer;        /* next run */
	uv_timer_t deadline;         /* the running run's timeout */
	uv_timer_t fsm_timer;        /* the fsm's time-based transition */
	int nhandles;                /* initialized handles not yet closed (timers too) */
	int nrun;                    /* of which the kind's per-run handles */
	bool running;                /* a run is started and has not reported */
	bool dead;                   /* stopped: waits for close callbacks */
	bool in_cb;                  /* calling back: stop must not free */
	char *message;               /* last result's text; never NULL */
	char *tags[HEALTH_MAX_TAGS]; /* current tags */
	int ntags;
	void *priv;                  /* the kind's state */
};

/* Ends the running run: <ok>, <message> (copied; NULL: ""), and tags:
 * <ntags> >= 0 replaces the tags with <tags>, -1 leaves them. Counts the
 * result, calls back on a change and schedules the next run. */
void health__run_done(struct health_check *c, bool ok, const char *message, const char *const *tags,
		      int ntags);
/* The kind initialized a per-run handle / one of them was closed (call
 * from its close callback). */
void health__run_handle_open(struct health_check *c);
void health__run_handle_closed(struct health_check *c);
/* A variable of the instance's environment, or NULL. */
const char *health__env_get(const struct health_check *c, const char *name);
/* Parses a comma-separated tag list ("a, b,c") into at most
 * HEALTH_MAX_TAGS valid tags (DNS labels: letters, digits, '-', '_';
 * others are dropped), pointers into <out> (cap bytes, a copy of <s>).
 * Returns how many. */
int health__tags_parse(const char *s, size_t len, char *out, size_t cap, const char **tags);

/* "2s" for whole seconds, else "1500ms". */
void health__duration_str(uint64_t ms, char *dst, size_t cap);
/* A heap copy of <len> bytes of <p> as text: invalid UTF-8 and control
 * characters other than newline and tab become '?', trailing whitespace
 * is dropped. */
char *health__text(const char *p, size_t len);

/* config.c: a rancher request_line, "METHOD /path [HTTP/1.x]", each word
 * possibly double-quoted; the version defaults to HTTP/1.0. 0, or -1. */
int health__request_line_parse(const char *s, char *method, size_t mcap, char *path, size_t pcap,
			       int *minor);

/* ---- net.c: a probe connection to the instance, for http, tcp and redis ---- */

struct health_conn;

/* What a probe connection tells its kind. */
struct health_conn_events {
	void (*connected)(struct health_conn *k, void *arg);
	/* Bytes arrived: they are at buf_ptr(&k->rbuf) (appended). */
	void (*data)(struct health_conn *k, void *arg);
	/* The peer closed (UV_EOF) or an error; no more events follow. */
	void (*error)(struct health_conn *k, int status, void *arg);
};

struct health_conn {
	struct health_check *c;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	const struct health_conn_events *ev;
	void *arg;
	struct buf rbuf;             /* received bytes, at most <max> */
	size_t max;                  /* cap of rbuf; more is an error (UV_ENOBUFS) */
	char *wdata;                 /* bytes being written, owned */
	bool open;                   /* tcp initialized and not yet closing */
	bool connected;
	bool live;                   /* events may still be delivered */
};

/* Opens a connection to the check's address and port; events follow
 * unless it returns an error (< 0), in which case nothing was opened.
 * <k> is owned by the kind (in its priv) and must stay until closed. */
int health__conn_open(struct health_conn *k, struct health_check *c, size_t max,
		      const struct health_conn_events *ev, void *arg);
/* Writes <len> bytes of <p> (copied) and starts reading; an error comes
 * as an error event. */
void health__conn_send(struct health_conn *k, const char *p, size_t len);
/* Closes (reset when <reset>); no event after this; idempotent. */
void health__conn_close(struct health_conn *k, bool reset);

#endif
