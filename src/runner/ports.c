/* Host port allocation for instances (see ports.h). */
#include "runner/ports.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void ports_init(struct ports *p, int min, int max)
{
	memset(p, 0, sizeof(*p));
	p->min = min;
	p->max = max;
	p->next = min;
}

/* Whether the host lets us bind <port> on every address (TCP). */
static bool host_free(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	bool ok;

	if (fd < 0)
		return false;
	/* Same flag as a typical server: a port in TIME_WAIT is usable. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int ports_take_any(struct ports *p)
{
	int span = p->max - p->min + 1;

	for (int i = 0; i < span; i++) {
		int port = p->min + (p->next - p->min + i) % span;
		if (p->used[port] || !host_free(port))
			continue;
		p->used[port] = 1;
		p->next = port + 1 > p->max ? p->min : port + 1;
		return port;
	}
	return -1;
}

bool ports_take_fixed(struct ports *p, int port)
{
	if (port < 1 || port > 65535 || p->used[port] || !host_free(port))
		return false;
	p->used[port] = 1;
	return true;
}

void ports_mark(struct ports *p, int port)
{
	if (port > 0 && port < 65536)
		p->used[port] = 1;
}

void ports_release(struct ports *p, int port)
{
	if (port > 0 && port < 65536)
		p->used[port] = 0;
}

bool ports_in_use_here(const struct ports *p, int port)
{
	return port > 0 && port < 65536 && p->used[port];
}
