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

#include <jansson.h>

/* routes.c, for the other route files. */
bool api__valid_name(const char *s);
bool api__stack_exists(struct agent *a, const char *stack);
/* Status records of <stack> (NULL: all), <service> (NULL: all), sorted. */
json_t *api__instances(struct agent *a, const char *stack, const char *service);

/* routes_logs.c: the logs and events streams. */
void api__get_logs(struct agent *a, struct http_req *rq);
void api__get_events(struct agent *a, struct http_req *rq);
/* Ends every open stream (the agent stops). */
void api__streams_stop(struct agent *a);

#endif
