/* Answers: from a parsed query and the catalog to a response (see
 * dns-int.h and docs/dns.md for the names and records served). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "dns/dns-int.h"

enum proto_filter {
	PF_NONE = 0,                 /* no named-port filter */
	PF_TCP,
	PF_UDP,
};

/* Which endpoints of a service a name designates. */
struct filter {
	int index;                   /* one instance (0: any) */
	const uint8_t *tag;          /* endpoints with this tag (NULL: any), lower-cased label */
	size_t tag_len;
	const uint8_t *port;         /* a named port, the label without its '_' (NULL: none) */
	size_t port_len;
	enum proto_filter proto;
};

/* What a name can answer. */
enum rrset {
	RS_HOST = 1,                 /* A and AAAA */
	RS_SRV = 2,
};

/* One response being built. */
struct ans {
	struct dns__zone *z;
	const struct dns_query *q;
	struct dns_builder b;
	struct dns_b_mark after_q;   /* just after the question: a truncated answer restarts here */
	int rcode;
	bool truncated;
	bool nodata;
	int rel;                     /* labels of the name below the apex */
};

void dns_opts_init(struct dns_opts *o)
{
	*o = (struct dns_opts){
		.domain = "berth.",
		.ttl = 5,
		.neg_ttl = 5,
		.udp_max = DNS_EDNS_MAX,
		.tcp_idle_ms = 10000,
		.max_tcp_conns = 256,
	};
}

/* ---- the zone ---- */

int dns__zone_init(struct dns__zone *z, const struct dns_opts *o, struct catalog *cat, char **err)
{
	struct dns_opts def;

	memset(z, 0, sizeof(*z));
	if (!o) {
		dns_opts_init(&def);
		o = &def;
	}
	if (!o->domain || dns_name_from_text(&z->domain, o->domain) < 0 || !z->domain.nlabels) {
		*err = xasprintf("domain '%s': expected a name of one or more labels (1..63 bytes each, 255 in all)",
				 o->domain ? o->domain : "");
		return -1;
	}
	dns_name_lower(&z->domain);
	if (dns_name_prepend(&z->ns_name, "ns", 2, &z->domain, 0) < 0 ||
	    dns_name_prepend(&z->hostmaster, "hostmaster", 10, &z->domain, 0) < 0) {
		*err = xasprintf("domain '%s': too long to hold ns.%s", o->domain, o->domain);
		return -1;
	}
	if (o->udp_max < DNS_UDP_MIN || o->udp_max > DNS_EDNS_MAX) {
		*err = xasprintf("udp_max %u: expected %d..%d", o->udp_max, DNS_UDP_MIN, DNS_EDNS_MAX);
		return -1;
	}
	/* RFC 2181 8: a TTL is 31 bits. */
	if (o->ttl > INT32_MAX || o->neg_ttl > INT32_MAX) {
		*err = xasprintf("TTL too large (at most %d s)", INT32_MAX);
		return -1;
	}
	z->ttl = o->ttl;
	z->neg_ttl = o->neg_ttl;
	z->udp_max = o->udp_max;
	z->cat = cat;
	return 0;
}

static void map_clear(struct dns__zone *z)
{
	for (int i = 0; i < z->nsvcs; i++) {
		free(z->svcs[i].stack);
		free(z->svcs[i].service);
		free(z->svcs[i].lstack);
		free(z->svcs[i].lservice);
	}
	free(z->svcs);
	z->svcs = NULL;
	z->nsvcs = 0;
	z->map_valid = false;
}

void dns__zone_free(struct dns__zone *z)
{
	map_clear(z);
	free(z->eps);
	free(z->picks);
	free(z->addrs);
	memset(z, 0, sizeof(*z));
}

void dns__zone_set_catalog(struct dns__zone *z, struct catalog *cat)
{
	z->cat = cat;
	/* A new catalog can have the old one's index: never trust the map. */
	map_clear(z);
}

void dns__zone_set_ns_addr(struct dns__zone *z, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (in->sin_addr.s_addr != htonl(INADDR_ANY)) {
			z->ns_v4.family = AF_INET;
			memcpy(z->ns_v4.ip, &in->sin_addr, 4);
		}
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (!IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
			z->ns_v6.family = AF_INET6;
			memcpy(z->ns_v6.ip, &in6->sin6_addr, 16);
		}
	}
}

static char *lowered(const char *s)
{
	char *l = xstrdup(s);

	for (char *p = l; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return l;
}

static int svc_cmp(const void *a, const void *b)
{
	const struct dns__svc *x = a, *y = b;
	int c = strcmp(x->lstack, y->lstack);

	return c ? c : strcmp(x->lservice, y->lservice);
}

/* Rebuilds the service index when the catalog changed since. Names that
 * differ only by case would be ambiguous: the first in the catalog's order
 * wins. */
static void map_refresh(struct dns__zone *z)
{
	uint64_t idx = catalog_index(z->cat);

	if (z->map_valid && z->map_index == idx)
		return;
	map_clear(z);
	json_t *all = catalog_services_json(z->cat), *v;
	size_t i;
	z->svcs = XNEWV(struct dns__svc, json_array_size(all) + 1);
	json_array_foreach(all, i, v) {
		struct dns__svc *s = &z->svcs[z->nsvcs++];
		s->stack = xstrdup(json_string_value(json_object_get(v, "stack")));
		s->service = xstrdup(json_string_value(json_object_get(v, "service")));
		s->lstack = lowered(s->stack);
		s->lservice = lowered(s->service);
	}
	json_decref(all);
	qsort(z->svcs, (size_t)z->nsvcs, sizeof(*z->svcs), svc_cmp);
	z->map_valid = true;
	z->map_index = idx;
}

/* Compares a lower-cased label with a C string, strcmp-style. A label can
 * hold any byte, NUL included; no catalog name does, so none matches. */
static int label_cmp(const uint8_t *l, size_t n, const char *s)
{
	size_t sl = strlen(s);
	int c = memcmp(l, s, n < sl ? n : sl);

	if (c)
		return c;
	return (n > sl) - (n < sl);
}

/* Case-insensitive equality of a lower-cased label and a catalog string. */
static bool label_eq_ci(const uint8_t *l, size_t n, const char *s)
{
	size_t k = 0;

	for (; k < n && s[k]; k++) {
		unsigned char c = (unsigned char)s[k];
		if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != l[k])
			return false;
	}
	return k == n && s[k] == 0;
}

static const struct dns__svc *svc_lookup(struct dns__zone *z, const uint8_t *stack, size_t stack_len,
					 const uint8_t *svc, size_t svc_len)
{
	int lo = 0, hi = z->nsvcs;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		int c = label_cmp(stack, stack_len, z->svcs[mid].lstack);
		if (!c)
			c = label_cmp(svc, svc_len, z->svcs[mid].lservice);
		if (c == 0)
			return &z->svcs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool stack_exists(struct dns__zone *z, const uint8_t *stack, size_t stack_len)
{
	int lo = 0, hi = z->nsvcs;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		int c = label_cmp(stack, stack_len, z->svcs[mid].lstack);
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static void scratch_reserve(struct dns__zone *z, int n)
{
	if (n <= z->scratch_cap)
		return;
	int cap = z->scratch_cap ? z->scratch_cap : 64;
	while (cap < n)
		cap *= 2;
	z->eps = xrealloc(z->eps, sizeof(*z->eps) * (size_t)cap);
	z->picks = xrealloc(z->picks, sizeof(*z->picks) * (size_t)cap);
	z->addrs = xrealloc(z->addrs, sizeof(*z->addrs) * (size_t)cap);
	z->scratch_cap = cap;
}

/* Loads every endpoint of <s>, healthy or not, into z->eps. */
static int load_endpoints(struct dns__zone *z, const struct dns__svc *s)
{
	scratch_reserve(z, 64);
	int n = catalog_select(z->cat, s->stack, s->service, NULL, 0, false, z->eps, z->scratch_cap);
	if (n > z->scratch_cap) {
		scratch_reserve(z, n);
		n = catalog_select(z->cat, s->stack, s->service, NULL, 0, false, z->eps, z->scratch_cap);
	}
	return n;
}

/* Whether <ep> is designated by <f>; for a named port, *port gets its
 * published port. */
static bool ep_matches(const struct catalog_endpoint *ep, const struct filter *f, int *port)
{
	*port = ep->port;
	if (f->index && ep->index != f->index)
		return false;
	if (f->tag) {
		bool has = false;
		for (int t = 0; t < ep->ntags && !has; t++)
			has = label_eq_ci(f->tag, f->tag_len, ep->tags[t]);
		if (!has)
			return false;
	}
	if (f->proto != PF_NONE) {
		enum catalog_proto want = f->proto == PF_UDP ? CATALOG_UDP : CATALOG_TCP;
		for (int i = 0; i < ep->nports; i++) {
			const struct catalog_port *p = &ep->ports[i];
			if (p->name && p->proto == want && (!f->port || label_eq_ci(f->port, f->port_len, p->name))) {
				*port = p->published;
				return true;
			}
		}
		return false;
	}
	return true;
}

static void parse_addr(const char *text, struct dns__addr *a)
{
	a->family = 0;
	if (!text)
		return;
	if (inet_pton(AF_INET, text, a->ip) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, text, a->ip) == 1)
		a->family = AF_INET6;
}

/* ---- writing records ---- */

/* The answer does not fit: the client is to retry over TCP. Everything
 * after the question goes (a partial RRset would look complete to a client
 * that ignores TC), and nothing more is added. */
static void truncate_answer(struct ans *a)
{
	dns_b_rollback(&a->b, &a->after_q);
	a->truncated = true;
}

static void put_soa(struct ans *a, int sec, uint32_t ttl)
{
	struct dns__zone *z = a->z;
	uint32_t times[5] = {(uint32_t)catalog_index(z->cat), DNS_SOA_REFRESH, DNS_SOA_RETRY, DNS_SOA_EXPIRE,
			     z->neg_ttl};

	if (!a->truncated && dns_b_soa(&a->b, sec, &z->domain, ttl, &z->ns_name, &z->hostmaster, times) < 0)
		truncate_answer(a);
}

/* A negative answer: the SOA in the authority section says for how long
 * the client may cache it (RFC 2308). */
static void negative(struct ans *a, int rcode)
{
	a->rcode = rcode;
	a->nodata = rcode == DNS_R_NOERROR;
	put_soa(a, DNS_S_NS, a->z->neg_ttl);
}

static int addr_cmp(const void *x, const void *y)
{
	const struct dns__addr *a = x, *b = y;

	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16);
}

/* A or AAAA records of <n> addresses at the question's name: sorted and
 * de-duplicated (instances on one node share its address), then rotated
 * by one per query so that clients taking the first spread their load.
 * Returns the records written; on overflow the answer is truncated. */
static int put_hosts(struct ans *a, struct dns__addr *addrs, int n, int family)
{
	int u = 0, written = 0;

	qsort(addrs, (size_t)n, sizeof(*addrs), addr_cmp);
	for (int i = 0; i < n; i++) {
		if (addrs[i].family != family || (u && addr_cmp(&addrs[u - 1], &addrs[i]) == 0))
			continue;
		addrs[u++] = addrs[i];
	}
	for (int k = 0; k < u && !a->truncated; k++) {
		const struct dns__addr *ad = &addrs[(k + a->z->rot) % (unsigned)u];
		int rc = family == AF_INET ? dns_b_a(&a->b, DNS_S_AN, &a->q->qname, a->z->ttl, ad->ip)
					   : dns_b_aaaa(&a->b, DNS_S_AN, &a->q->qname, a->z->ttl, ad->ip);
		if (rc < 0)
			truncate_answer(a);
		else
			written++;
	}
	return written;
}

/* The owner name of endpoint <idx>'s address: <idx>.<svc>.<stack>.<domain>,
 * built from the question's labels from the service's on. */
static int target_name(struct ans *a, int idx, struct dns_name *out)
{
	char num[16];
	size_t n = sizeof(num);

	/* By hand: snprintf showed in the profile of the query path. */
	do {
		num[--n] = (char)('0' + idx % 10);
		idx /= 10;
	} while (idx > 0 && n > 0);
	return dns_name_prepend(out, num + n, sizeof(num) - n, &a->q->qname, a->rel - 2);
}

/* Answers the endpoints z->picks[0..n) (healthy, designated by the name)
 * with the records of the question's type among <what>. An empty answer
 * is NODATA: the name exists. */
static void answer_picks(struct ans *a, int n, unsigned what)
{
	struct dns__zone *z = a->z;
	const struct dns__pick *pk = z->picks;
	uint16_t qt = a->q->qtype;
	int written = 0;
	bool want_a = (what & RS_HOST) && (qt == DNS_T_A || qt == DNS_T_ANY);
	bool want_aaaa = (what & RS_HOST) && (qt == DNS_T_AAAA || qt == DNS_T_ANY);
	bool want_srv = (what & RS_SRV) && (qt == DNS_T_SRV || qt == DNS_T_ANY);
	struct dns_name target;

	if (want_a || want_aaaa) {
		int na = 0;
		for (int i = 0; i < n; i++)
			if (pk[i].addr.family)
				z->addrs[na++] = pk[i].addr;
		if (want_a)
			written += put_hosts(a, z->addrs, na, AF_INET);
		if (want_aaaa && !a->truncated)
			written += put_hosts(a, z->addrs, na, AF_INET6);
	}
	if (want_srv) {
		for (int i = 0; i < n && !a->truncated; i++) {
			if (pk[i].port <= 0 || pk[i].port > 65535 || !pk[i].addr.family ||
			    target_name(a, pk[i].ep->index, &target) < 0)
				continue;
			if (dns_b_srv(&a->b, DNS_S_AN, &a->q->qname, z->ttl, 1, 1, (uint16_t)pk[i].port, &target) < 0)
				truncate_answer(a);
			else
				written++;
		}
		/* The targets' addresses, as far as they fit: a client that
		 * misses one asks for it (RFC 2181 9: no TC for additional
		 * data). Only for SRV queries; ANY stays minimal. */
		for (int i = 0; i < n && !a->truncated && qt == DNS_T_SRV; i++) {
			const struct dns__addr *ad = &pk[i].addr;
			if (pk[i].port <= 0 || pk[i].port > 65535 || !ad->family ||
			    target_name(a, pk[i].ep->index, &target) < 0)
				continue;
			int rc = ad->family == AF_INET ? dns_b_a(&a->b, DNS_S_AR, &target, z->ttl, ad->ip)
						       : dns_b_aaaa(&a->b, DNS_S_AR, &target, z->ttl, ad->ip);
			if (rc < 0)
				break;
		}
	}
	if (!written && !a->truncated)
		negative(a, DNS_R_NOERROR);
}

/* A name that designates endpoints of a service: the healthy ones answer;
 * any one, healthy or not, makes the name exist. */
static void answer_service(struct ans *a, const struct dns__svc *s, const struct filter *f, unsigned what)
{
	struct dns__zone *z = a->z;
	int n = load_endpoints(z, s), npick = 0;
	bool exists = !f->index && !f->tag && f->proto == PF_NONE;

	for (int i = 0; i < n; i++) {
		int port;
		if (!ep_matches(z->eps[i], f, &port))
			continue;
		exists = true;
		if (!z->eps[i]->healthy)
			continue;
		struct dns__pick *pk = &z->picks[npick++];
		pk->ep = z->eps[i];
		pk->port = port;
		parse_addr(pk->ep->addr, &pk->addr);
	}
	if (!exists)
		negative(a, DNS_R_NXDOMAIN);
	else
		answer_picks(a, npick, what);
}

/* The apex: SOA and NS, NODATA for anything else. */
static void answer_apex(struct ans *a)
{
	struct dns__zone *z = a->z;
	uint16_t qt = a->q->qtype;
	int written = 0;

	if (qt == DNS_T_SOA || qt == DNS_T_ANY) {
		put_soa(a, DNS_S_AN, z->ttl);
		written++;
	}
	if ((qt == DNS_T_NS || qt == DNS_T_ANY) && !a->truncated) {
		if (dns_b_ns(&a->b, DNS_S_AN, &z->domain, z->ttl, &z->ns_name) < 0) {
			truncate_answer(a);
			return;
		}
		written++;
		/* Glue for the name server, if it fits. */
		if (z->ns_v4.family && qt == DNS_T_NS)
			dns_b_a(&a->b, DNS_S_AR, &z->ns_name, z->ttl, z->ns_v4.ip);
		if (z->ns_v6.family && qt == DNS_T_NS)
			dns_b_aaaa(&a->b, DNS_S_AR, &z->ns_name, z->ttl, z->ns_v6.ip);
	}
	if (!written && !a->truncated)
		negative(a, DNS_R_NOERROR);
}

/* ns.<domain>: the address the server listens on. */
static void answer_ns_host(struct ans *a)
{
	struct dns__zone *z = a->z;
	uint16_t qt = a->q->qtype;
	int written = 0;

	if (z->ns_v4.family && (qt == DNS_T_A || qt == DNS_T_ANY)) {
		if (dns_b_a(&a->b, DNS_S_AN, &a->q->qname, z->ttl, z->ns_v4.ip) < 0)
			truncate_answer(a);
		written++;
	}
	if (z->ns_v6.family && (qt == DNS_T_AAAA || qt == DNS_T_ANY) && !a->truncated) {
		if (dns_b_aaaa(&a->b, DNS_S_AN, &a->q->qname, z->ttl, z->ns_v6.ip) < 0)
			truncate_answer(a);
		written++;
	}
	if (!written && !a->truncated)
		negative(a, DNS_R_NOERROR);
}

/* A decimal instance index: 1..999999999, no sign, no leading zero. */
static int parse_index(const uint8_t *l, size_t n)
{
	int v = 0;

	if (n == 0 || n > 9 || l[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (l[i] < '0' || l[i] > '9')
			return 0;
		v = v * 10 + (l[i] - '0');
	}
	return v;
}

static enum proto_filter parse_proto(const uint8_t *l, size_t n)
{
	if (n == 4 && memcmp(l, "_tcp", 4) == 0)
		return PF_TCP;
	if (n == 4 && memcmp(l, "_udp", 4) == 0)
		return PF_UDP;
	return PF_NONE;
}

/* Finds what the name designates, writing the answer. Labels are counted
 * from the left of the question; the stack is the one just below the apex. */
static void resolve(struct ans *a)
{
	struct dns__zone *z = a->z;
	const struct dns_name *qn = &a->q->qname;
	const uint8_t *l[4];
	size_t ln[4];
	int rel = a->rel;

	if (rel == 0) {
		answer_apex(a);
		return;
	}
	if (rel > 4) {
		negative(a, DNS_R_NXDOMAIN);
		return;
	}
	for (int i = 0; i < rel; i++)
		l[i] = dns_name_label(qn, i, &ln[i]);
	map_refresh(z);
	if (rel == 1) {
		if (ln[0] == 2 && memcmp(l[0], "ns", 2) == 0)
			answer_ns_host(a);
		else
			negative(a, stack_exists(z, l[0], ln[0]) ? DNS_R_NOERROR : DNS_R_NXDOMAIN);
		return;
	}
	const struct dns__svc *s = svc_lookup(z, l[rel - 1], ln[rel - 1], l[rel - 2], ln[rel - 2]);
	struct filter f = {0};
	if (!s) {
		negative(a, DNS_R_NXDOMAIN);
		return;
	}
	if (rel == 2) {
		answer_service(a, s, &f, RS_HOST | RS_SRV);
		return;
	}
	if (rel == 3) {
		f.proto = parse_proto(l[0], ln[0]);
		if (f.proto != PF_NONE) {
			/* _tcp.<svc>...: an empty non-terminal while some named
			 * port of that protocol exists below it. */
			answer_service(a, s, &f, 0);
			return;
		}
		f.index = parse_index(l[0], ln[0]);
		if (!f.index) {
			f.tag = l[0];
			f.tag_len = ln[0];
		}
		answer_service(a, s, &f, RS_HOST | RS_SRV);
		return;
	}
	/* rel == 4: _<port>._<proto>.<svc>.<stack> */
	f.proto = parse_proto(l[1], ln[1]);
	if (f.proto == PF_NONE || ln[0] < 2 || l[0][0] != '_') {
		negative(a, DNS_R_NXDOMAIN);
		return;
	}
	f.port = l[0] + 1;
	f.port_len = ln[0] - 1;
	answer_service(a, s, &f, RS_SRV);
}

/* ---- the entry point ---- */

static size_t header_only(uint8_t *out, size_t cap, const struct dns_query *q, int rcode, struct dns__result *res)
{
	struct dns_builder b;
	uint16_t flags = DNS_F_QR | (q->flags & (DNS_F_OPCODE_MASK | DNS_F_RD | DNS_F_CD));

	dns_b_init(&b, out, cap, cap, q->id, flags | (uint16_t)rcode);
	res->rcode = rcode;
	return dns_b_finish(&b);
}

size_t dns__respond(struct dns__zone *z, const uint8_t *pkt, size_t n, bool tcp, uint8_t *out, size_t cap,
		    struct dns__result *res)
{
	struct dns_query q;
	const char *why = NULL;
	enum dns_parse_rc prc = dns_query_parse(pkt, n, &q, &why);
	struct ans a = {.z = z, .q = &q, .rcode = DNS_R_NOERROR};

	res->rcode = -1;
	res->nodata = res->truncated = false;
	switch (prc) {
	case DNS_PARSE_DROP:
		log_debug("dns", "dropped a %zu-byte message: %s", n, why);
		return 0;
	case DNS_PARSE_FORMERR:
		log_debug("dns", "FORMERR for a %zu-byte message: %s", n, why);
		return header_only(out, cap, &q, DNS_R_FORMERR, res);
	case DNS_PARSE_NOTIMP:
		return header_only(out, cap, &q, DNS_R_NOTIMP, res);
	case DNS_PARSE_OK:
		break;
	}

	size_t limit = tcp ? DNS_TCP_MAX : DNS_UDP_MIN;
	if (!tcp && q.edns)
		limit = q.edns_udp < DNS_UDP_MIN ? DNS_UDP_MIN : q.edns_udp > z->udp_max ? z->udp_max : q.edns_udp;
	uint16_t flags = DNS_F_QR | (q.flags & (DNS_F_RD | DNS_F_CD));
	dns_b_init(&a.b, out, cap, limit, q.id, 0);
	if (dns_b_question(&a.b, q.question, q.question_len, NULL, 0, 0) < 0)
		return header_only(out, cap, &q, DNS_R_SERVFAIL, res);
	/* Room for our OPT is kept aside so that it always fits. */
	if (q.edns)
		a.b.limit -= DNS_OPT_LEN;
	a.after_q = dns_b_mark(&a.b);

	a.rel = q.qname.nlabels - z->domain.nlabels;
	if (q.edns && q.edns_version != 0) {
		a.rcode = DNS_R_BADVERS;
	} else if (q.qtype == DNS_T_OPT) {
		a.rcode = DNS_R_FORMERR;
	} else if (q.qclass != DNS_C_IN) {
		/* Authoritative for IN only: other classes are another
		 * server's business, as names outside the domain are. */
		a.rcode = DNS_R_REFUSED;
	} else if (q.qtype >= 128 && q.qtype != DNS_T_ANY) {
		/* AXFR, IXFR, MAILA, MAILB, TSIG...: not served. */
		a.rcode = DNS_R_NOTIMP;
	} else if (!dns_name_is_under(&q.qname, &z->domain)) {
		a.rcode = DNS_R_REFUSED;
	} else {
		flags |= DNS_F_AA;
		resolve(&a);
		z->rot++;
	}
	if (a.truncated)
		flags |= DNS_F_TC;
	a.b.flags = flags | (uint16_t)(a.rcode & 0xf);
	if (q.edns) {
		/* RFC 6891 7: the OPT goes back, truncated or not; DO is
		 * echoed (RFC 3225), nothing is signed. */
		a.b.limit += DNS_OPT_LEN;
		BUG_ON(dns_b_opt(&a.b, z->udp_max, (uint8_t)(a.rcode >> 4), q.edns_flags & DNS_EDNS_DO) < 0);
	}
	res->rcode = a.rcode;
	res->nodata = a.nodata;
	res->truncated = a.truncated;
	return dns_b_finish(&a.b);
}
