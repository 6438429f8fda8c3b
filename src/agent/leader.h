/* Leader election and the scheduling loop of the leading agent (leader.c). */
#ifndef BERTH_AGENT_LEADER_H
#define BERTH_AGENT_LEADER_H

#include <stdint.h>

#include <uv.h>

struct store;
struct agent_sched;

struct agent_sched *agent_sched_new(uv_loop_t *loop, struct store *st, const char *node);
/* The node's lease: leadership is bound to it (0: none yet). */
void agent_sched_set_lease(struct agent_sched *s, int64_t lease);
void agent_sched_free(struct agent_sched *s, void (*done)(void *), void *arg);

#endif
