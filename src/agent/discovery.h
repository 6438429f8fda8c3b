/* The agent's view of the catalog: /berth/catalog mirrored into a struct
 * catalog (catalog/catalog.h), with every stack's services declared from
 * its spec, and listeners told which services changed (blocking queries,
 * hooks). DNS and ${endpoints:...} read the struct directly. */
#ifndef BERTH_AGENT_DISCOVERY_H
#define BERTH_AGENT_DISCOVERY_H

struct agent;
struct catalog;

typedef void discovery_fn(const char *stack, const char *svc, void *arg);

void discovery_start(struct agent *a);
void discovery_stop(struct agent *a);
/* <fn> is called once per changed service after each batch of changes. */
void discovery_listen(struct agent *a, discovery_fn *fn, void *arg);

#endif
