/* berth agent: the daemon of one node. It wires the store, the node's
 * registration and lease, the scheduler (when this node leads), the runner,
 * the event log and the HTTP API onto one event loop (DESIGN.md 1, 2, 11). */
#ifndef BERTH_AGENT_AGENT_H
#define BERTH_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "agent/config.h"

struct store;
struct events;
struct runner;
struct mirror;
struct http_server;
struct agent_sched;
struct catalog;
struct discovery;
struct dns_server;
struct hooks;
struct logs;

struct agent {
	uv_loop_t *loop;
	struct agent_config *cfg;
	struct store *st;
	struct events *events;
	struct runner *runner;
	struct agent_sched *sched;
	struct http_server *api;
	struct mirror *stacks;       /* for the API */
	struct mirror *status;       /* for the API: every instance's status */
	struct mirror *nodes;
	struct catalog *catalog;     /* the catalog as this agent sees it (discovery.c) */
	struct discovery *discovery;
	struct dns_server *dns;      /* NULL when --dns-addr is "" */
	struct hooks *hooks;         /* on_change and pre_start (hooks/hooks.h) */
	struct logs *logs;           /* the log pipeline (logs/logs.h); NULL: it could not start */
	int64_t lease;               /* this node's lease (0 until granted) */
	uv_timer_t keepalive;        /* renews the lease */
	uv_signal_t sigterm, sigint;
	char *token;                 /* TCP API token, or NULL */
	char *started_at;            /* RFC 3339 */
	char *self;                  /* this berth binary */
	bool stopping;
	bool granting;               /* a lease grant is in flight */
	int exit_code;
};

/* Runs the agent until SIGTERM or SIGINT; returns the exit status. */
int agent_run(struct agent_config *cfg);

/* The stack record key. Heap string. */
char *agent_stack_key(const char *stack);

#endif
