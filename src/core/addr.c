/* Numeric socket addresses: parse "ip:port" forms without ever touching DNS, and format them back. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* "0".."65535", digits only: no sign, no spaces, no "0x". */
static int port_parse(const char *s, in_port_t *port)
{
	unsigned long v = 0;

	if (!*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || p - s >= 5)
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -1;
	*port = (in_port_t)v;
	return 0;
}

static void set_v4(struct sockaddr_storage *sa, socklen_t *salen, const struct in_addr *ip,
		   in_port_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;

	memset(sa, 0, sizeof(*sa));
	sin->sin_family = AF_INET;
	sin->sin_addr = *ip;
	sin->sin_port = htons(port);
	*salen = sizeof(*sin);
}

int addr_parse(const char *s, struct sockaddr_storage *sa, socklen_t *salen, const char **why)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_s;
	size_t hlen;
	in_port_t port;
	struct in_addr ip4;
	struct in6_addr ip6;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			*why = "missing ']' after the IPv6 address";
			return -1;
		}
		if (close[1] != ':') {
			*why = "missing :PORT after the ']'";
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host)) {
			*why = "expected a numeric IPv6 address inside [ ]";
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (port_parse(close + 2, &port) < 0) {
			*why = "expected a port 0..65535 after the ':'";
			return -1;
		}
		if (inet_pton(AF_INET6, host, &ip6) != 1) {
			*why = "expected a numeric IPv6 address inside [ ]";
			return -1;
		}
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
		memset(sa, 0, sizeof(*sa));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = ip6;
		sin6->sin6_port = htons(port);
		*salen = sizeof(*sin6);
		return 0;
	}

	colon = strrchr(s, ':');
	if (!colon) {
		*why = "missing :PORT (write *:PORT to listen on every address)";
		return -1;
	}
	if (colon != strchr(s, ':')) {
		*why = "an IPv6 address needs brackets, e.g. [::1]:8080";
		return -1;
	}
	port_s = colon + 1;
	if (port_parse(port_s, &port) < 0) {
		*why = "expected a port 0..65535 after the ':'";
		return -1;
	}
	hlen = (size_t)(colon - s);
	if (hlen >= sizeof(host)) {
		*why = "expected a numeric IP address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';

	if (hlen == 0 || strcmp(host, "*") == 0) {
		ip4.s_addr = htonl(INADDR_ANY);
	} else if (strcmp(host, "localhost") == 0) {
		/* The one name users write everywhere; still no resolver. */
		ip4.s_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, host, &ip4) != 1) {
		/* inet_pton, not inet_aton: "127.1" or "0x7f.1" are refused. */
		*why = "expected a numeric IP address (names are not resolved)";
		return -1;
	}
	set_v4(sa, salen, &ip4, port);
	return 0;
}

void addr_format_ip(const struct sockaddr *sa, char *dst, size_t cap)
{
	char buf[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, sizeof(buf));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "?");
	snprintf(dst, cap, "%s", buf);
}

void addr_format(const struct sockaddr *sa, char *dst, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	addr_format_ip(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET)
		snprintf(dst, cap, "%s:%u", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else if (sa->sa_family == AF_INET6)
		snprintf(dst, cap, "[%s]:%u", ip, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else
		snprintf(dst, cap, "?");
}
