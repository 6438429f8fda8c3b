/* The check kinds, registered in one list (STYLE.md 2): adding a kind is one file and one line here. */
#include "health/health-int.h"

#include <stddef.h>

static const struct health_kind_ops *const kinds[] = {
	&health__exec_ops,
	&health__http_ops,
	&health__tcp_ops,
	&health__ttl_ops,
	&health__redis_ops,
	NULL,
};

const struct health_kind_ops *health__kind_find(enum health_kind k)
{
	for (size_t i = 0; kinds[i]; i++)
		if (kinds[i]->kind == k)
			return kinds[i];
	return NULL;
}
