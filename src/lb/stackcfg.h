/* The load balancer of a stack (stackcfg.c): from a service `image:
 * berth/lb` to the configuration `berth lb` runs with. */
#ifndef BERTH_LB_STACKCFG_H
#define BERTH_LB_STACKCFG_H

#include <stdbool.h>

#include <jansson.h>

struct spec_service;

/* Whether <svc> is a berth load balancer (image berth/lb[:tag]). */
bool lb_stack_is_lb(const struct spec_service *svc);

/* Its lb configuration as JSON (which is YAML for lb_config_load): its
 * x-berth.lb, or its rancher-compose lb_config translated, with
 * `catalog: {socket: <socket>, stack: <stack>}` so that `servers:
 * {service: NAME}` follow that stack's catalog. NULL with *err (heap)
 * when it cannot be built. */
json_t *lb_stack_config(const struct spec_service *svc, const char *stack, const char *socket, char **err);

/* The URLs its frontends serve, with <addr> for "every address" binds:
 * ["http://10.0.0.5:8080", "tcp://10.0.0.5:6379"]. */
json_t *lb_stack_urls(const json_t *cfg, const char *addr);

#endif
