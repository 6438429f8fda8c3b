/* The catalog: every instance's reachable endpoint, with its health and
 * tags (DESIGN.md 6). The agent keeps it in the store under
 * /berth/catalog/<stack>/<svc>/<idx> (built from status + health) and holds
 * an in-memory copy of it, this struct, that DNS, the API's blocking
 * queries, ${endpoints:...} and the hooks read.
 *
 * A catalog is a plain index: endpoints are put and removed by key, and
 * every change bumps <index> (the Consul-style X-Berth-Index of blocking
 * queries; per service too, so a query on one service wakes only when that
 * service changed). It does no I/O; it is not thread-safe (the agent's
 * loop owns it). */
#ifndef BERTH_CATALOG_CATALOG_H
#define BERTH_CATALOG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct catalog;

enum catalog_proto {
	CATALOG_TCP = 0,
	CATALOG_UDP,
};

struct catalog_port {
	int target;                  /* container port (0: the bare PORT) */
	int published;               /* the host port clients use */
	enum catalog_proto proto;
	char *name;                  /* compose long syntax name (SRV _<name>._tcp), or NULL */
};

struct catalog_endpoint {
	char *stack;
	char *service;
	int index;                   /* 1-based instance index */
	char *node;
	char *addr;                  /* IPv4 or IPv6 text, the node's address */
	int port;                    /* first published port (SRV), 0 if none */
	struct catalog_port *ports;
	int nports;
	char **tags;                 /* "primary", "replica", user tags; sorted, unique */
	int ntags;
	bool healthy;                /* passing (or no check): routable */
	char *health;                /* "healthy", "unhealthy", "starting", "none" */
	uint64_t modify_index;       /* catalog index of its last change */
};

struct catalog *catalog_new(void);
void catalog_free(struct catalog *c);

/* Replaces (or adds) the endpoint of <stack>/<svc>/<index> with a deep copy
 * of <ep>; unchanged content bumps nothing. Returns true if it changed. */
bool catalog_put(struct catalog *c, const struct catalog_endpoint *ep);
/* Removes it; returns true if it was there. */
bool catalog_remove(struct catalog *c, const char *stack, const char *svc, int index);

/* The current index: bumped by every change. */
uint64_t catalog_index(const struct catalog *c);
/* The index of the last change to <stack>/<svc> (0: never existed). */
uint64_t catalog_service_index(const struct catalog *c, const char *stack, const char *svc);

/* Whether <stack>/<svc> has or had endpoints (for NXDOMAIN versus NODATA:
 * a service that exists with no healthy endpoint answers NODATA). A
 * service counts as existing while any endpoint of it, healthy or not,
 * is in the catalog, or while <known> says its stack declares it. */
bool catalog_service_exists(const struct catalog *c, const char *stack, const char *svc);
/* Declares the services of a stack (from its spec), so that a service with
 * no instance at all (scaled to 0, not started yet) still exists. NULL
 * <svcs> forgets the stack. */
void catalog_declare(struct catalog *c, const char *stack, const char *const *svcs, int nsvcs);
bool catalog_stack_exists(const struct catalog *c, const char *stack);
/* Undeclares the services of every stack not in <stacks> (they are gone). */
void catalog_keep_stacks(struct catalog *c, const char *const *stacks, int nstacks);
/* Every endpoint, sorted (borrowed until the next change). */
const struct catalog_endpoint *catalog_endpoints(const struct catalog *c, int *n);

/* Selects endpoints of <stack>/<svc> (stack NULL: any stack) with optional
 * <tag> (NULL: any), <index> (0: any) and <healthy_only>, sorted by stack,
 * service, index. Fills <out> (borrowed pointers valid until the next
 * change) with at most <max>; returns how many matched in all. */
int catalog_select(const struct catalog *c, const char *stack, const char *svc, const char *tag, int index,
		   bool healthy_only, const struct catalog_endpoint **out, int max);

/* Every (stack, service) pair, sorted, as a JSON array of objects
 * {"stack", "service", "endpoints", "healthy", "tags": [...]}. */
json_t *catalog_services_json(const struct catalog *c);
/* One endpoint as the API shows it. */
json_t *catalog_endpoint_json(const struct catalog_endpoint *ep);
/* Parses the JSON form (the value of a /berth/catalog key) into <ep>
 * (free with catalog_endpoint_clear). Returns 0 or -1. */
int catalog_endpoint_from_json(const json_t *j, struct catalog_endpoint *ep);
void catalog_endpoint_clear(struct catalog_endpoint *ep);

#endif
