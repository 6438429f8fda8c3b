/* libFuzzer harness: a DNS query, as any client may send it, through the
 * parser and the answer code against a small fixed catalog, over UDP and
 * over TCP. Every response must read back with the codec's own reader,
 * fit its transport's limit, carry the query's ID, and echo the question
 * of a query that parsed. The input also goes through the message reader
 * directly (it follows compression pointers: loops must end). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "dns/dns-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct catalog *cat;
static struct dns__zone zone;
static uint8_t out[DNS_TCP_MAX + DNS_B_SLACK];

static void put(const char *svc, int idx, const char *addr, bool healthy, const char *tag, const char *pname)
{
	struct catalog_port ports[1] = {{.target = 80, .published = 30000 + idx, .proto = CATALOG_TCP,
					 .name = (char *)pname}};
	char *tags[1] = {(char *)tag};
	struct catalog_endpoint ep = {.stack = "demo", .service = (char *)svc, .index = idx, .addr = (char *)addr,
				      .port = 30000 + idx, .ports = ports, .nports = pname ? 1 : 0,
				      .tags = tags, .ntags = tag ? 1 : 0, .healthy = healthy};
	catalog_put(cat, &ep);
}

static void init(void)
{
	char *err = NULL;

	cat = catalog_new();
	put("web", 1, "10.0.0.1", true, "primary", "http");
	put("web", 2, "10.0.0.2", true, NULL, "http");
	put("web", 3, "10.0.0.1", false, "canary", NULL);
	put("v6", 1, "fd00::1", true, NULL, NULL);
	put("Api", 1, "10.0.0.7", true, NULL, "Admin");
	/* Enough endpoints to truncate over UDP. */
	for (int i = 1; i <= 60; i++) {
		char a[32];
		snprintf(a, sizeof(a), "10.1.0.%d", i);
		put("big", i, a, true, i % 2 ? "odd" : NULL, "p");
	}
	const char *decl[] = {"web", "v6", "Api", "big", "empty"};
	catalog_declare(cat, "demo", decl, 5);
	if (dns__zone_init(&zone, NULL, cat, &err) < 0)
		abort();
}

static void check(const uint8_t *q, size_t n, bool tcp)
{
	struct dns__result res;
	struct dns_msg m;
	struct dns_query pq;
	const char *why = NULL;
	size_t len = dns__respond(&zone, q, n, tcp, out, sizeof(out), &res);
	enum dns_parse_rc prc = dns_query_parse(q, n, &pq, &why);

	if (!len) {
		if (res.rcode != -1 || prc != DNS_PARSE_DROP)
			abort(); /* only what cannot be answered goes unanswered */
		return;
	}
	if (len > (tcp ? DNS_TCP_MAX : DNS_EDNS_MAX) || len < DNS_HDR_LEN)
		abort();
	if (dns_msg_parse(out, len, &m, &why) < 0) {
		fprintf(stderr, "response does not parse back: %s\n", why);
		abort();
	}
	if (m.id != pq.id || !(m.flags & DNS_F_QR) || (m.flags & DNS_F_RA))
		abort();
	if (prc == DNS_PARSE_OK) {
		if (m.count[DNS_S_QD] != 1 || m.qtype != pq.qtype || m.qclass != pq.qclass)
			abort();
		dns_name_lower(&m.qname);
		if (m.qname.len != pq.qname.len || memcmp(m.qname.wire, pq.qname.wire, m.qname.len))
			abort();
		/* Without EDNS0, a UDP answer stays within 512 bytes. */
		if (!tcp && !pq.edns && len > DNS_UDP_MIN)
			abort();
		if (pq.edns != m.edns)
			abort();
	}
	dns_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg m;
	const char *why;

	if (!cat)
		init();
	check(data, size, false);
	check(data, size, true);
	dns_msg_parse(data, size, &m, &why);
	dns_msg_free(&m);
	return 0;
}
