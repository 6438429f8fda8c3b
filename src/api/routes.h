/* The agent's HTTP/JSON API (docs/api.md): the routes behind the unix
 * socket and the optional TCP listener. */
#ifndef BERTH_API_ROUTES_H
#define BERTH_API_ROUTES_H

struct agent;
struct http_req;

#include <stdbool.h>

struct http1_msg;

/* The http_server's authorize hook: TCP requests need the bearer token. */
bool api_routes_authorize(const struct http1_msg *head, bool tcp, void *arg);
/* The http_server handler; <arg> is the struct agent. */
void api_routes_handle(struct http_req *rq, void *arg);
void api_routes_start(struct agent *a);
/* Ends every open stream (the agent is stopping). */
void api_routes_stop(struct agent *a);

#endif
