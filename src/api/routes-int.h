/* Private to src/api/: the route files' shared entry points. */
#ifndef BERTH_API_ROUTES_INT_H
#define BERTH_API_ROUTES_INT_H

#include <stdbool.h>

struct agent;
struct http_req;

/* routes_catalog.c: /v1/catalog, /v1/kv, /v1/leases. Returns false when the
 * path is none of those. <segs> are the path's segments. */
bool api__catalog_route(struct agent *a, struct http_req *rq, char **segs, int n);
void api__catalog_start(struct agent *a);
/* Blocking queries parked now. */
int api__catalog_waiters(void);

#endif
