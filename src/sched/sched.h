/* Placement: a pure function from (nodes, services, current allocations)
 * to the allocations that should exist. No I/O, no store: the agent's
 * leader feeds it what it read and writes back the difference, so the same
 * code places instances on one host or on many.
 *
 * Rules (DESIGN.md section 9):
 *   - replicated services get instances 1..replicas; an instance keeps its
 *     node while that node is up and still eligible (no reshuffling); a new
 *     or orphaned instance goes to the eligible node running the fewest
 *     instances of that service, then the fewest instances overall, then
 *     the first by name (spread);
 *   - global services get one instance per eligible node; an instance keeps
 *     its index for its node, a new node takes the smallest free index;
 *   - placement constraints: "node.hostname == X", "node.hostname != X",
 *     "node.id == X", "node.role == manager|worker" (every berth node is
 *     both), "node.labels.K == V", "node.labels.K != V"; every constraint
 *     of a service must hold;
 *   - max_replicas_per_node caps a service's instances on one node;
 *   - an instance that fits nowhere is reported as pending, with why. */
#ifndef BERTH_SCHED_SCHED_H
#define BERTH_SCHED_SCHED_H

#include <stdbool.h>

struct sched_label {
	const char *key;
	const char *value;
};

struct sched_node {
	const char *name;             /* node id and hostname */
	const struct sched_label *labels;
	int nlabels;
	bool up;                      /* registered and its lease alive */
};

struct sched_service {
	const char *stack;
	const char *name;
	bool global;                  /* mode: global */
	int replicas;                 /* replicated: how many */
	const char *const *constraints;
	int nconstraints;
	int max_per_node;             /* 0 = no limit */
};

struct sched_alloc {
	const char *node;             /* borrowed from the inputs */
	const char *stack;
	const char *service;
	int index;                    /* 1-based */
};

struct sched_pending {
	const char *stack;
	const char *service;
	int index;
	const char *why;              /* static text */
};

struct sched_result {
	struct sched_alloc *allocs;   /* sorted by stack, service, index */
	int nallocs;
	struct sched_pending *pending;
	int npending;
};

/* Computes the allocations for <svcs> given the current ones. Allocations
 * of services not in <svcs> are dropped (their stack or service is gone).
 * Strings in the result are borrowed from the inputs. */
void sched_place(const struct sched_node *nodes, int nnodes, const struct sched_service *svcs, int nsvcs,
		 const struct sched_alloc *cur, int ncur, struct sched_result *out);
void sched_result_free(struct sched_result *r);

/* Checks a constraint's syntax; returns NULL if fine, else why not. */
const char *sched_constraint_check(const char *c);

#endif
