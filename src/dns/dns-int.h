/* Private to src/dns/: the zone, which turns a query into a response from
 * the catalog (answer.c), shared by the server and the tests. */
#ifndef BERTH_DNS_DNS_INT_H
#define BERTH_DNS_DNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "catalog/catalog.h"
#include "dns/dns.h"
#include "dns/wire.h"

/* SOA timers: nothing transfers this zone, so they only inform; the
 * values are the conventional ones for a small dynamic zone. */
#define DNS_SOA_REFRESH 3600
#define DNS_SOA_RETRY 600
#define DNS_SOA_EXPIRE 86400

/* One (stack, service) of the catalog, for case-insensitive lookups. */
struct dns__svc {
	char *stack;                 /* the catalog's spelling, for catalog_select */
	char *service;
	char *lstack;                /* lower-cased: the sort key */
	char *lservice;
};

/* A parsed endpoint address. */
struct dns__addr {
	int family;                  /* AF_INET or AF_INET6; 0: not a numeric address */
	uint8_t ip[16];
};

/* An endpoint selected for an answer. */
struct dns__pick {
	const struct catalog_endpoint *ep;
	int port;                    /* its port for SRV: the first one, or the named one */
	struct dns__addr addr;
};

struct dns__zone {
	struct catalog *cat;         /* borrowed; read only */
	struct dns_name domain;      /* the apex, lower-cased */
	struct dns_name ns_name;     /* ns.<domain>: the NS target and the SOA MNAME */
	struct dns_name hostmaster;  /* hostmaster.<domain>: the SOA RNAME */
	uint32_t ttl;                /* seconds, positive answers */
	uint32_t neg_ttl;            /* seconds, negative answers (SOA TTL and MINIMUM) */
	uint16_t udp_max;            /* EDNS0 buffer cap */
	struct dns__addr ns_v4;      /* ns.<domain>'s addresses: the listen address, if specific */
	struct dns__addr ns_v6;
	/* The services by lower-cased name, rebuilt when the catalog changes. */
	bool map_valid;
	uint64_t map_index;          /* catalog_index when it was built */
	struct dns__svc *svcs;       /* sorted by lstack, lservice */
	int nsvcs;
	/* Scratch, grown as needed, reused by every query. */
	const struct catalog_endpoint **eps; /* a service's endpoints */
	struct dns__pick *picks;     /* those that answer */
	struct dns__addr *addrs;     /* their addresses, sorted for A/AAAA */
	int scratch_cap;             /* entries in each of the three */
	unsigned rot;                /* rotates A/AAAA answers between queries */
};

struct dns__result {
	int rcode;                   /* enum dns_rcode, or -1: dropped, nothing to send */
	bool nodata;                 /* NOERROR with an empty answer */
	bool truncated;              /* TC=1 */
};

/* Fills <z> from <o> (NULL: defaults). Returns 0, or -1 with *err (heap). */
int dns__zone_init(struct dns__zone *z, const struct dns_opts *o, struct catalog *cat, char **err);
void dns__zone_free(struct dns__zone *z);
void dns__zone_set_catalog(struct dns__zone *z, struct catalog *cat);
/* Makes <sa>'s IP the address of ns.<domain>, unless it is a wildcard. */
void dns__zone_set_ns_addr(struct dns__zone *z, const struct sockaddr *sa);

/* Answers the message <q, qlen> received over UDP (<tcp> false: 512 bytes,
 * or the client's EDNS0 size within 512..udp_max) or TCP (65535 bytes).
 * Writes the response into <out, cap> and returns its length, 0 when
 * nothing is to be sent; <res> says what was answered. */
size_t dns__respond(struct dns__zone *z, const uint8_t *q, size_t qlen, bool tcp, uint8_t *out, size_t cap,
		    struct dns__result *res);

#endif
