/* The DNS server (DESIGN.md 6, docs/dns.md): authoritative answers for the
 * catalog's names, over UDP and TCP on one address, never recursive.
 *
 *   <svc>.<stack>.berth          A/AAAA of healthy endpoints, SRV per endpoint
 *   <tag>.<svc>.<stack>.berth    the same, endpoints carrying <tag>
 *   <idx>.<svc>.<stack>.berth    one instance, while it is healthy
 *   _<port>._tcp.<svc>.<stack>.berth   SRV of a named port (_udp too)
 *   berth.                       SOA and NS
 *
 * The server reads a catalog it does not own: the caller mutates it on the
 * same loop, between callbacks, and the server picks changes up at the next
 * query (catalog_index tells it when its name index is stale). */
#ifndef BERTH_DNS_DNS_H
#define BERTH_DNS_DNS_H

#include <stdint.h>

#include <uv.h>

struct catalog;
struct dns_server;

struct dns_opts {
	const char *domain;          /* the zone's apex, e.g. "berth." (copied) */
	uint32_t ttl;                /* seconds, of positive answers */
	uint32_t neg_ttl;            /* seconds, of negative answers: the SOA's TTL and MINIMUM */
	uint16_t udp_max;            /* the most an EDNS0 client is sent over UDP, 512..4096 */
	uint64_t tcp_idle_ms;        /* a TCP connection with no complete query for this long is closed */
	int max_tcp_conns;           /* TCP connections beyond this are closed at once */
};

/* The defaults: "berth.", 5 s, 5 s, 4096 bytes, 10 s, 256 connections. */
void dns_opts_init(struct dns_opts *o);

/* Counters since the server started; read them with dns_server_stats. */
struct dns_stats {
	uint64_t queries;            /* messages received, UDP and TCP, dropped ones included */
	uint64_t tcp_queries;        /* of which over TCP */
	uint64_t noerror;            /* answered NOERROR (NODATA included) */
	uint64_t nodata;             /* of which with an empty answer (the name exists, not the type) */
	uint64_t nxdomain;
	uint64_t formerr;
	uint64_t servfail;
	uint64_t notimp;
	uint64_t refused;
	uint64_t badvers;            /* EDNS version other than 0 */
	uint64_t truncated;          /* UDP answers sent with TC=1 */
	uint64_t dropped;            /* not answered: no readable header, a response, or the send failed */
	uint64_t tcp_conns;          /* TCP connections accepted */
	uint64_t tcp_conns_refused;  /* closed at once: over max_tcp_conns */
	uint64_t tcp_timeouts;       /* closed after tcp_idle_ms without a complete query */
};

/* Creates a server answering from <cat> (borrowed: it must outlive the
 * server or be replaced with dns_server_set_catalog first) with options
 * <o> (NULL: the defaults). Returns NULL with *err set (heap) when an
 * option is invalid. Nothing listens yet. */
struct dns_server *dns_server_new(uv_loop_t *loop, const struct dns_opts *o, struct catalog *cat, char **err);
/* Opens UDP and TCP on "HOST:PORT" (numeric; "[::1]:8600" for IPv6). With
 * port 0, UDP picks a free port and TCP takes the same one. Once only.
 * Returns 0, or a negative libuv error with *err set (heap); on error
 * nothing stays open. */
int dns_server_listen(struct dns_server *s, const char *hostport, char **err);
/* The port listened on, or 0. */
int dns_server_port(const struct dns_server *s);
/* Answers from <cat> from now on (a reload that built a new catalog); the
 * previous one is no longer read and may be freed at once. */
void dns_server_set_catalog(struct dns_server *s, struct catalog *cat);
void dns_server_stats(const struct dns_server *s, struct dns_stats *out);
/* Closes the sockets and every TCP connection (queries in flight are not
 * answered); <done> (may be NULL) runs once every handle is closed, then
 * the server is freed. */
void dns_server_close(struct dns_server *s, void (*done)(void *arg), void *arg);

#endif
