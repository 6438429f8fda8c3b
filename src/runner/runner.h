/* The runner: this node's reconcile loop. It watches the allocations the
 * scheduler made for this node (/berth/alloc/<node>/...) and the stacks they
 * belong to, and drives the instances toward them through a driver: start
 * what is allocated, stop what is not, restart by policy with backoff,
 * honour depends_on, restart an instance whose service definition changed.
 * What it observes goes to /berth/status/<stack>/<svc>/<idx>, and a running
 * instance's endpoint to /berth/catalog/<stack>/<svc>/<idx>, both bound to
 * the node's lease, and to the agent's event log.
 *
 * On disk, under DATA_DIR/instances/<stack>/<svc>/<idx>/:
 *   log          the instance's stdout and stderr, CRI lines, across runs
 *   ports.json   the host ports given to it (kept while the instance exists)
 *   runs/<n>/    one directory per run: spec.json, state.json (the shim's),
 *                meta.json (which service definition the run was started for)
 * At start the runner re-adopts the runs it finds alive, so an agent that
 * restarts starts no duplicates. */
#ifndef BERTH_RUNNER_RUNNER_H
#define BERTH_RUNNER_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "store/store.h"

struct runner;
struct events;
struct catalog;
struct hooks;
struct logs;

struct runner_opts {
	uv_loop_t *loop;
	struct store *st;
	struct events *events;       /* where instance events go */
	const char *node;
	const char *addr;            /* this node's address, in status records */
	const char *data_dir;
	const char *shim;            /* berth-shim path */
	int port_min, port_max;
	struct catalog *catalog;     /* the agent's view of the catalog, for ${endpoints:...} */
	const char *berth;           /* the berth binary, for `image: berth/lb` services */
	struct hooks *hooks;         /* the hook engine: on_change and pre_start (may be NULL) */
	struct logs *logs;           /* the log pipeline, told of every instance (may be NULL) */
};

struct runner *runner_new(const struct runner_opts *o);
/* Begins: adopts what runs, then follows the store. Status records are
 * written with <lease> (set it again with runner_set_lease when the node's
 * lease changes: every record is written again). */
void runner_start(struct runner *r, int64_t lease);
void runner_set_lease(struct runner *r, int64_t lease);
/* Stops following the store; instances keep running (they outlive the
 * agent). <done> runs once the runner's handles are closed. */
void runner_free(struct runner *r, void (*done)(void *arg), void *arg);

/* A TTL check's refresh from the API: the instance's check passes (or
 * fails) with <note> and its TTL restarts. Returns 0; -ENOENT when no such
 * instance runs here; -EINVAL when its check is not a ttl check. */
int runner_ttl(struct runner *r, const char *stack, const char *svc, int index, bool pass, const char *note);

/* The log file of an instance (heap string). */
char *runner_log_path(const char *data_dir, const char *stack, const char *svc, int index);

#endif
