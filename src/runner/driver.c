/* The runtime drivers berth has (one row each) and which one runs a
 * service (docs/docker.md, "Driver selection"). */
#include <string.h>

#include "lb/stackcfg.h"
#include "runner/driver.h"
#include "spec/spec.h"

static const struct driver_ops *const drivers[] = {
	&driver_process_ops,
	&driver_docker_ops,
};

const struct driver_ops *driver_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

const char *driver_for_service(const struct spec_service *svc)
{
	const char *want = json_string_value(json_object_get(svc->x_berth, "driver"));

	if (want && driver_find(want))
		return want;
	/* berth's load balancer is berth itself: it needs no engine. */
	if (lb_stack_is_lb(svc))
		return "process";
	return svc->image || svc->build ? "docker" : "process";
}
