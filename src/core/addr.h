/* Numeric socket addresses: "127.0.0.1:80", "[::1]:80", "*:80", ":80". */
#ifndef BERTH_CORE_ADDR_H
#define BERTH_CORE_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Parses <s> into <sa>. "*:P" and ":P" mean 0.0.0.0:P. No name resolution.
 * Returns 0, or -1 with a short reason in *why (static string). */
int addr_parse(const char *s, struct sockaddr_storage *sa, socklen_t *salen, const char **why);
/* Formats an address as "ip:port" or "[ip6]:port" into <dst>. */
void addr_format(const struct sockaddr *sa, char *dst, size_t cap);
/* Formats only the IP ("127.0.0.1", "::1"). */
void addr_format_ip(const struct sockaddr *sa, char *dst, size_t cap);

#endif
