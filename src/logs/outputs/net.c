/* Sockets for the outputs: blocking, with timeouts, so a send on an
 * output's thread is always bounded. */
#include "logs/output.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/mem.h"

/* Splits "HOST:PORT" or "[V6]:PORT". */
static int split(const char *addr, char **host, char **port)
{
	const char *c;

	if (!addr || !*addr)
		return -1;
	if (addr[0] == '[') {
		const char *e = strchr(addr, ']');
		if (!e || e[1] != ':' || !e[2])
			return -1;
		*host = xstrndup(addr + 1, (size_t)(e - addr - 1));
		*port = xstrdup(e + 2);
		return 0;
	}
	if (!(c = strrchr(addr, ':')) || c == addr || !c[1] || memchr(addr, ':', (size_t)(c - addr)))
		return -1;
	*host = xstrndup(addr, (size_t)(c - addr));
	*port = xstrdup(c + 1);
	return 0;
}

int logs_net_check_addr(const char *addr, char **why)
{
	char *host, *port, *end;

	if (split(addr, &host, &port) < 0) {
		*why = xstrdup("expected HOST:PORT");
		return -1;
	}
	long p = strtol(port, &end, 10);
	int rc = *end || p < 1 || p > 65535 ? -1 : 0;
	if (rc < 0)
		*why = xasprintf("\"%s\" is not a port (1-65535)", port);
	free(host);
	free(port);
	return rc;
}

int logs_net_connect(const char *addr, int udp, int timeout_ms, char **err)
{
	struct addrinfo hints = {.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM}, *res = NULL;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	char *host, *port;
	int fd = -1, rc;

	if (split(addr, &host, &port) < 0) {
		*err = xasprintf("%s: expected HOST:PORT", addr);
		return -1;
	}
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		*err = xasprintf("%s: %s", addr, gai_strerror(rc));
		goto out;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (!udp) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		/* SO_SNDTIMEO bounds connect() too (Linux). */
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		free(*err);
		*err = xasprintf("connect to %s: %s", addr, strerror(rc));
	}
	if (fd < 0 && !*err)
		*err = xasprintf("connect to %s: no address", addr);
out:
	if (res)
		freeaddrinfo(res);
	free(host);
	free(port);
	return fd;
}

int logs_net_write_all(int fd, const char *p, size_t n, char **err)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*err = xasprintf("send: %s", w < 0 ? strerror(errno) : "connection closed");
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
