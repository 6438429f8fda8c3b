/* Unit tests of the answers: every name form, NXDOMAIN versus NODATA, the
 * SOA of negative answers, truncation with and without EDNS0, refusals;
 * every response is read back with the codec's reader. No sockets. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "dns/dns-int.h"

static struct catalog *cat;
static struct dns__zone zone;

static void put_json(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	struct catalog_endpoint ep;

	cr_assert_not_null(j, "bad test JSON: %s: %s", text, je.text);
	cr_assert_eq(catalog_endpoint_from_json(j, &ep), 0);
	catalog_put(cat, &ep);
	catalog_endpoint_clear(&ep);
	json_decref(j);
}

/* The catalog of most tests: stack "demo" with
 *   web: 1 (10.0.0.1, primary, named ports http/tcp and dns/udp),
 *        2 (10.0.0.2, named port http), 3 (10.0.0.1 again: same node),
 *        4 (10.0.0.9, unhealthy, tag canary);
 *   v6:  1 (fd00::1), 2 (10.0.0.5);
 *   down: 1 (unhealthy); empty: declared, no endpoint;
 *   Api: 1 (10.0.0.7), upper-case in the catalog. */
static void setup(void)
{
	char *err = NULL;
	struct dns_opts o;

	cat = catalog_new();
	put_json("{\"stack\":\"demo\",\"service\":\"web\",\"index\":1,\"addr\":\"10.0.0.1\",\"port\":31001,"
		 "\"healthy\":true,\"tags\":[\"primary\"],\"ports\":[{\"target\":80,\"published\":31001,\"name\":"
		 "\"http\"},{\"target\":53,\"published\":31053,\"protocol\":\"udp\",\"name\":\"dns\"}]}");
	put_json("{\"stack\":\"demo\",\"service\":\"web\",\"index\":2,\"addr\":\"10.0.0.2\",\"port\":31002,"
		 "\"healthy\":true,\"ports\":[{\"target\":80,\"published\":31002,\"name\":\"HTTP\"}]}");
	put_json("{\"stack\":\"demo\",\"service\":\"web\",\"index\":3,\"addr\":\"10.0.0.1\",\"port\":31003,"
		 "\"healthy\":true}");
	put_json("{\"stack\":\"demo\",\"service\":\"web\",\"index\":4,\"addr\":\"10.0.0.9\",\"port\":31004,"
		 "\"healthy\":false,\"tags\":[\"canary\"]}");
	put_json("{\"stack\":\"demo\",\"service\":\"v6\",\"index\":1,\"addr\":\"fd00::1\",\"port\":4001,"
		 "\"healthy\":true}");
	put_json("{\"stack\":\"demo\",\"service\":\"v6\",\"index\":2,\"addr\":\"10.0.0.5\",\"port\":4002,"
		 "\"healthy\":true}");
	put_json("{\"stack\":\"demo\",\"service\":\"down\",\"index\":1,\"addr\":\"10.0.0.6\",\"port\":5000,"
		 "\"healthy\":false}");
	put_json("{\"stack\":\"demo\",\"service\":\"Api\",\"index\":1,\"addr\":\"10.0.0.7\",\"port\":6000,"
		 "\"healthy\":true}");
	const char *decl[] = {"web", "v6", "down", "empty", "Api"};
	catalog_declare(cat, "demo", decl, 5);
	dns_opts_init(&o);
	cr_assert_eq(dns__zone_init(&zone, &o, cat, &err), 0, "%s", err);
}

static void teardown(void)
{
	dns__zone_free(&zone);
	catalog_free(cat);
}

TestSuite(dns_answer, .init = setup, .fini = teardown);

/* ---- asking ---- */

struct resp {
	uint8_t buf[DNS_TCP_MAX + DNS_B_SLACK];
	size_t len;
	struct dns__result res;
	struct dns_msg m;
	int rcode;                   /* 12 bits, with the OPT's part */
};

static uint8_t qbuf[1024];

static size_t make_query(const char *name, uint16_t type, uint16_t qclass, int edns, uint16_t flags)
{
	struct dns_builder b;
	struct dns_name nm;

	cr_assert_eq(dns_name_from_text(&nm, name), 0, "bad test name %s", name);
	dns_b_init(&b, qbuf, sizeof(qbuf), sizeof(qbuf), 0x4242, flags);
	dns_b_question(&b, NULL, 0, &nm, type, qclass);
	if (edns)
		dns_b_opt(&b, (uint16_t)edns, 0, 0);
	return dns_b_finish(&b);
}

static void respond(struct resp *r, size_t qlen, bool tcp)
{
	const char *why = NULL;

	r->len = dns__respond(&zone, qbuf, qlen, tcp, r->buf, sizeof(r->buf), &r->res);
	cr_assert_gt(r->len, 0, "no response");
	cr_assert_leq(r->len, tcp ? DNS_TCP_MAX : DNS_EDNS_MAX);
	cr_assert_eq(dns_msg_parse(r->buf, r->len, &r->m, &why), 0, "response does not parse back: %s", why);
	r->rcode = (r->m.flags & DNS_F_RCODE_MASK) | r->m.edns_ext_rcode << 4;
	cr_assert_eq(r->res.rcode, r->rcode);
	cr_assert_eq(r->m.id, 0x4242);
	cr_assert(r->m.flags & DNS_F_QR);
	cr_assert_not(r->m.flags & DNS_F_RA, "never recursive");
}

/* Asks <name> <type> over UDP without EDNS (edns 0) or with that buffer
 * size, or over TCP. */
static struct resp *ask_full(const char *name, uint16_t type, int edns, bool tcp)
{
	struct resp *r = xmalloc(sizeof(*r));

	respond(r, make_query(name, type, DNS_C_IN, edns, DNS_F_RD), tcp);
	cr_assert_eq(r->m.count[DNS_S_QD], 1);
	return r;
}

static struct resp *ask(const char *name, uint16_t type)
{
	return ask_full(name, type, 0, false);
}

static void done(struct resp *r)
{
	dns_msg_free(&r->m);
	free(r);
}

/* One line per record of section <sec>: "name TYPE data", sorted when
 * <sorted> (A/AAAA answers are rotated between queries). */
static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *section(const struct resp *r, int sec, bool sorted)
{
	char **lines = XNEWV(char *, r->m.count[sec] + 1);
	size_t total = 1;

	for (int i = 0; i < r->m.count[sec]; i++) {
		const struct dns_rr *rr = &r->m.rr[sec][i];
		char owner[DNS_NAME_TEXT_MAX], t1[DNS_NAME_TEXT_MAX], t2[DNS_NAME_TEXT_MAX], ip[64];
		dns_name_to_text(&rr->name, owner, sizeof(owner));
		switch (rr->type) {
		case DNS_T_A:
			inet_ntop(AF_INET, rr->d.a, ip, sizeof(ip));
			lines[i] = xasprintf("%s A %s", owner, ip);
			break;
		case DNS_T_AAAA:
			inet_ntop(AF_INET6, rr->d.aaaa, ip, sizeof(ip));
			lines[i] = xasprintf("%s AAAA %s", owner, ip);
			break;
		case DNS_T_SRV:
			dns_name_to_text(&rr->d.srv.target, t1, sizeof(t1));
			lines[i] = xasprintf("%s SRV %u %u %u %s", owner, rr->d.srv.prio, rr->d.srv.weight,
					     rr->d.srv.port, t1);
			break;
		case DNS_T_NS:
			dns_name_to_text(&rr->d.ns, t1, sizeof(t1));
			lines[i] = xasprintf("%s NS %s", owner, t1);
			break;
		case DNS_T_SOA:
			dns_name_to_text(&rr->d.soa.mname, t1, sizeof(t1));
			dns_name_to_text(&rr->d.soa.rname, t2, sizeof(t2));
			lines[i] = xasprintf("%s SOA %s %s %u %u %u %u %u", owner, t1, t2, rr->d.soa.serial,
					     rr->d.soa.refresh, rr->d.soa.retry, rr->d.soa.expire, rr->d.soa.minimum);
			break;
		case DNS_T_OPT:
			lines[i] = xasprintf("OPT %u", rr->rclass);
			break;
		default:
			lines[i] = xasprintf("%s TYPE%u", owner, rr->type);
		}
		total += strlen(lines[i]) + 1;
	}
	if (sorted)
		qsort(lines, r->m.count[sec], sizeof(char *), line_cmp);
	char *out = xmalloc(total);
	out[0] = 0;
	for (int i = 0; i < r->m.count[sec]; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
		free(lines[i]);
	}
	free(lines);
	return out;
}

static void expect_section(const struct resp *r, int sec, bool sorted, const char *want)
{
	char *got = section(r, sec, sorted);

	cr_assert_str_eq(got, want, "section %d:\n%s\nwanted:\n%s", sec, got, want);
	free(got);
}

/* A negative answer: <rcode>, no answer, the SOA alone in the authority
 * section with the negative TTL. */
static void expect_negative(const char *name, uint16_t type, int rcode)
{
	struct resp *r = ask(name, type);
	char want[256];

	cr_assert_eq(r->rcode, rcode, "%s: rcode %d, wanted %d", name, r->rcode, rcode);
	cr_assert(r->m.flags & DNS_F_AA, "%s: authoritative", name);
	cr_assert_eq(r->m.count[DNS_S_AN], 0, "%s: no answer", name);
	cr_assert_eq(r->res.nodata, rcode == DNS_R_NOERROR);
	snprintf(want, sizeof(want), "berth. SOA ns.berth. hostmaster.berth. %u 3600 600 86400 5\n",
		 (unsigned)catalog_index(cat));
	expect_section(r, DNS_S_NS, false, want);
	cr_assert_eq(r->m.rr[DNS_S_NS][0].ttl, 5);
	done(r);
}

/* ---- service names ---- */

Test(dns_answer, service_a_healthy_and_deduplicated)
{
	struct resp *r = ask("web.demo.berth", DNS_T_A);

	cr_assert_eq(r->rcode, DNS_R_NOERROR);
	cr_assert(r->m.flags & DNS_F_AA);
	cr_assert(r->m.flags & DNS_F_RD, "RD is copied");
	/* 1 and 3 share 10.0.0.1; 4 is unhealthy. */
	expect_section(r, DNS_S_AN, true, "web.demo.berth. A 10.0.0.1\nweb.demo.berth. A 10.0.0.2\n");
	cr_assert_eq(r->m.rr[DNS_S_AN][0].ttl, 5);
	cr_assert_eq(r->m.count[DNS_S_NS], 0);
	cr_assert_eq(r->m.count[DNS_S_AR], 0);
	done(r);
}

Test(dns_answer, service_a_rotates)
{
	struct resp *r1 = ask("web.demo.berth", DNS_T_A), *r2 = ask("web.demo.berth", DNS_T_A);

	cr_assert_neq(memcmp(r1->m.rr[DNS_S_AN][0].d.a, r2->m.rr[DNS_S_AN][0].d.a, 4), 0,
		      "consecutive answers start with different addresses");
	done(r1);
	done(r2);
}

Test(dns_answer, service_aaaa)
{
	struct resp *r = ask("v6.demo.berth", DNS_T_AAAA);

	expect_section(r, DNS_S_AN, false, "v6.demo.berth. AAAA fd00::1\n");
	done(r);
	r = ask("v6.demo.berth", DNS_T_A);
	expect_section(r, DNS_S_AN, false, "v6.demo.berth. A 10.0.0.5\n");
	done(r);
}

Test(dns_answer, service_aaaa_of_ipv4_only_is_nodata)
{
	expect_negative("web.demo.berth", DNS_T_AAAA, DNS_R_NOERROR);
}

Test(dns_answer, service_srv_with_additional)
{
	struct resp *r = ask("web.demo.berth", DNS_T_SRV);

	expect_section(r, DNS_S_AN, false,
		       "web.demo.berth. SRV 1 1 31001 1.web.demo.berth.\n"
		       "web.demo.berth. SRV 1 1 31002 2.web.demo.berth.\n"
		       "web.demo.berth. SRV 1 1 31003 3.web.demo.berth.\n");
	expect_section(r, DNS_S_AR, false,
		       "1.web.demo.berth. A 10.0.0.1\n"
		       "2.web.demo.berth. A 10.0.0.2\n"
		       "3.web.demo.berth. A 10.0.0.1\n");
	done(r);
	r = ask("v6.demo.berth", DNS_T_SRV);
	expect_section(r, DNS_S_AR, false, "1.v6.demo.berth. AAAA fd00::1\n2.v6.demo.berth. A 10.0.0.5\n");
	done(r);
}

Test(dns_answer, service_any)
{
	struct resp *r = ask("v6.demo.berth", DNS_T_ANY);

	expect_section(r, DNS_S_AN, true,
		       "v6.demo.berth. A 10.0.0.5\n"
		       "v6.demo.berth. AAAA fd00::1\n"
		       "v6.demo.berth. SRV 1 1 4001 1.v6.demo.berth.\n"
		       "v6.demo.berth. SRV 1 1 4002 2.v6.demo.berth.\n");
	cr_assert_eq(r->m.count[DNS_S_AR], 0, "ANY stays minimal");
	done(r);
}

Test(dns_answer, service_other_types_are_nodata)
{
	expect_negative("web.demo.berth", DNS_T_MX, DNS_R_NOERROR);
	expect_negative("web.demo.berth", DNS_T_TXT, DNS_R_NOERROR);
	expect_negative("web.demo.berth", DNS_T_CNAME, DNS_R_NOERROR);
}

Test(dns_answer, service_without_healthy_endpoint_is_nodata)
{
	expect_negative("down.demo.berth", DNS_T_A, DNS_R_NOERROR);
	expect_negative("down.demo.berth", DNS_T_SRV, DNS_R_NOERROR);
	expect_negative("empty.demo.berth", DNS_T_A, DNS_R_NOERROR);
	expect_negative("empty.demo.berth", DNS_T_SRV, DNS_R_NOERROR);
}

Test(dns_answer, unknown_names_are_nxdomain)
{
	expect_negative("nope.demo.berth", DNS_T_A, DNS_R_NXDOMAIN);
	expect_negative("web.nostack.berth", DNS_T_A, DNS_R_NXDOMAIN);
	expect_negative("nostack.berth", DNS_T_A, DNS_R_NXDOMAIN);
	expect_negative("a.b.c.d.web.demo.berth", DNS_T_A, DNS_R_NXDOMAIN);
	expect_negative("x.y._tcp.web.demo.berth", DNS_T_SRV, DNS_R_NXDOMAIN);
	expect_negative("nope.demo.berth", DNS_T_AAAA, DNS_R_NXDOMAIN);
}

Test(dns_answer, stack_name_is_nodata)
{
	expect_negative("demo.berth", DNS_T_A, DNS_R_NOERROR);
	expect_negative("demo.berth", DNS_T_SRV, DNS_R_NOERROR);
}

/* ---- tags, indexes, named ports ---- */

Test(dns_answer, tag)
{
	struct resp *r = ask("primary.web.demo.berth", DNS_T_A);

	expect_section(r, DNS_S_AN, false, "primary.web.demo.berth. A 10.0.0.1\n");
	done(r);
	r = ask("PRIMARY.web.demo.berth", DNS_T_SRV);
	expect_section(r, DNS_S_AN, false, "PRIMARY.web.demo.berth. SRV 1 1 31001 1.web.demo.berth.\n");
	expect_section(r, DNS_S_AR, false, "1.web.demo.berth. A 10.0.0.1\n");
	done(r);
	/* canary exists on an unhealthy endpoint only: NODATA, not NXDOMAIN. */
	expect_negative("canary.web.demo.berth", DNS_T_A, DNS_R_NOERROR);
	expect_negative("nosuchtag.web.demo.berth", DNS_T_A, DNS_R_NXDOMAIN);
}

Test(dns_answer, index)
{
	struct resp *r = ask("2.web.demo.berth", DNS_T_A);

	expect_section(r, DNS_S_AN, false, "2.web.demo.berth. A 10.0.0.2\n");
	done(r);
	r = ask("3.web.demo.berth", DNS_T_SRV);
	expect_section(r, DNS_S_AN, false, "3.web.demo.berth. SRV 1 1 31003 3.web.demo.berth.\n");
	done(r);
	/* Healthy only: 4 exists but is unhealthy. */
	expect_negative("4.web.demo.berth", DNS_T_A, DNS_R_NOERROR);
	expect_negative("9.web.demo.berth", DNS_T_A, DNS_R_NXDOMAIN);
	/* Not canonical decimals: tags, which do not exist. */
	expect_negative("02.web.demo.berth", DNS_T_A, DNS_R_NXDOMAIN);
	expect_negative("0.web.demo.berth", DNS_T_A, DNS_R_NXDOMAIN);
	expect_negative("1234567890.web.demo.berth", DNS_T_A, DNS_R_NXDOMAIN);
}

Test(dns_answer, named_port_srv)
{
	struct resp *r = ask("_http._tcp.web.demo.berth", DNS_T_SRV);

	/* Case-insensitive: 2 named it HTTP. */
	expect_section(r, DNS_S_AN, false,
		       "_http._tcp.web.demo.berth. SRV 1 1 31001 1.web.demo.berth.\n"
		       "_http._tcp.web.demo.berth. SRV 1 1 31002 2.web.demo.berth.\n");
	expect_section(r, DNS_S_AR, false, "1.web.demo.berth. A 10.0.0.1\n2.web.demo.berth. A 10.0.0.2\n");
	done(r);
	r = ask("_dns._udp.web.demo.berth", DNS_T_SRV);
	expect_section(r, DNS_S_AN, false, "_dns._udp.web.demo.berth. SRV 1 1 31053 1.web.demo.berth.\n");
	done(r);
	expect_negative("_dns._tcp.web.demo.berth", DNS_T_SRV, DNS_R_NXDOMAIN);
	expect_negative("_nope._tcp.web.demo.berth", DNS_T_SRV, DNS_R_NXDOMAIN);
	expect_negative("_http._sctp.web.demo.berth", DNS_T_SRV, DNS_R_NXDOMAIN);
	expect_negative("_http._tcp.web.demo.berth", DNS_T_A, DNS_R_NOERROR);
	/* The empty non-terminal above named ports exists. */
	expect_negative("_tcp.web.demo.berth", DNS_T_SRV, DNS_R_NOERROR);
	expect_negative("_udp.web.demo.berth", DNS_T_SRV, DNS_R_NOERROR);
	expect_negative("_tcp.v6.demo.berth", DNS_T_SRV, DNS_R_NXDOMAIN);
}

/* ---- the apex ---- */

Test(dns_answer, apex)
{
	struct resp *r = ask("berth", DNS_T_SOA);
	char want[256];

	snprintf(want, sizeof(want), "berth. SOA ns.berth. hostmaster.berth. %u 3600 600 86400 5\n",
		 (unsigned)catalog_index(cat));
	expect_section(r, DNS_S_AN, false, want);
	done(r);

	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	dns__zone_set_ns_addr(&zone, (struct sockaddr *)&sin);
	r = ask("BERTH", DNS_T_NS);
	/* The target's suffix points at the question: it reads back in the
	 * question's case, which is the same name. */
	expect_section(r, DNS_S_AN, false, "BERTH. NS ns.BERTH.\n");
	expect_section(r, DNS_S_AR, false, "ns.BERTH. A 127.0.0.1\n");
	done(r);
	r = ask("ns.berth", DNS_T_A);
	expect_section(r, DNS_S_AN, false, "ns.berth. A 127.0.0.1\n");
	done(r);
	expect_negative("ns.berth", DNS_T_AAAA, DNS_R_NOERROR);
	expect_negative("berth", DNS_T_A, DNS_R_NOERROR);
	r = ask("berth", DNS_T_ANY);
	cr_assert_eq(r->m.count[DNS_S_AN], 2, "SOA and NS");
	done(r);
}

Test(dns_answer, serial_follows_the_catalog)
{
	struct resp *r = ask("berth", DNS_T_SOA);
	uint32_t s1 = r->m.rr[DNS_S_AN][0].d.soa.serial;

	done(r);
	catalog_remove(cat, "demo", "web", 3);
	r = ask("berth", DNS_T_SOA);
	cr_assert_gt(r->m.rr[DNS_S_AN][0].d.soa.serial, s1);
	done(r);
}

/* ---- refusals and errors ---- */

Test(dns_answer, outside_the_domain_is_refused)
{
	const char *names[] = {"example.com", "xberth", "berth.example", "."};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct resp *r = ask(names[i], DNS_T_A);
		cr_assert_eq(r->rcode, DNS_R_REFUSED, "%s", names[i]);
		cr_assert_not(r->m.flags & DNS_F_AA, "%s: not authoritative", names[i]);
		cr_assert_eq(r->m.count[DNS_S_AN] + r->m.count[DNS_S_NS] + r->m.count[DNS_S_AR], 0);
		done(r);
	}
}

Test(dns_answer, class_other_than_in_is_refused)
{
	struct resp *r = xmalloc(sizeof(*r));

	respond(r, make_query("version.bind", DNS_T_TXT, DNS_C_CH, 0, 0), false);
	cr_assert_eq(r->rcode, DNS_R_REFUSED);
	done(r);
	r = xmalloc(sizeof(*r));
	respond(r, make_query("web.demo.berth", DNS_T_A, DNS_C_ANY, 0, 0), false);
	cr_assert_eq(r->rcode, DNS_R_REFUSED);
	done(r);
}

Test(dns_answer, meta_types)
{
	struct resp *r = ask("berth", DNS_T_AXFR);

	cr_assert_eq(r->rcode, DNS_R_NOTIMP);
	done(r);
	r = ask("berth", DNS_T_IXFR);
	cr_assert_eq(r->rcode, DNS_R_NOTIMP);
	done(r);
	r = ask("web.demo.berth", DNS_T_OPT);
	cr_assert_eq(r->rcode, DNS_R_FORMERR);
	done(r);
}

Test(dns_answer, opcode_is_notimp)
{
	struct resp *r = xmalloc(sizeof(*r));

	respond(r, make_query("web.demo.berth", DNS_T_A, DNS_C_IN, 0, 2 << 11), false);
	cr_assert_eq(r->rcode, DNS_R_NOTIMP);
	cr_assert_eq(DNS_OPCODE(r->m.flags), 2, "the opcode is echoed");
	cr_assert_eq(r->m.count[DNS_S_QD], 0);
	done(r);
}

Test(dns_answer, malformed)
{
	struct dns__result res;
	uint8_t out[600];
	struct resp *r = xmalloc(sizeof(*r));

	/* Readable header, broken body: FORMERR, header only. */
	size_t n = make_query("web.demo.berth", DNS_T_A, DNS_C_IN, 0, DNS_F_RD);
	respond(r, n - 3, false);
	cr_assert_eq(r->rcode, DNS_R_FORMERR);
	cr_assert_eq(r->m.count[DNS_S_QD], 0);
	cr_assert(r->m.flags & DNS_F_RD);
	cr_assert_eq(r->len, 12);
	done(r);
	/* No header: nothing. */
	cr_assert_eq(dns__respond(&zone, qbuf, 11, false, out, sizeof(out), &res), 0);
	cr_assert_eq(res.rcode, -1);
	/* A response: nothing (no loops between servers). */
	qbuf[2] |= 0x80;
	cr_assert_eq(dns__respond(&zone, qbuf, n, false, out, sizeof(out), &res), 0);
}

/* ---- EDNS0 ---- */

Test(dns_answer, edns_echoed)
{
	struct resp *r = ask_full("web.demo.berth", DNS_T_A, 1232, false);

	cr_assert(r->m.edns);
	cr_assert_eq(r->m.edns_udp, DNS_EDNS_MAX, "our own size");
	expect_section(r, DNS_S_AR, false, "OPT 4096\n");
	done(r);
	r = ask_full("nope.demo.berth", DNS_T_A, 1232, false);
	cr_assert_eq(r->rcode, DNS_R_NXDOMAIN);
	cr_assert(r->m.edns, "negative answers carry the OPT too");
	done(r);
}

Test(dns_answer, edns_badvers)
{
	struct dns_builder b;
	struct dns_name nm;
	struct resp *r = xmalloc(sizeof(*r));

	dns_name_from_text(&nm, "web.demo.berth");
	dns_b_init(&b, qbuf, sizeof(qbuf), sizeof(qbuf), 0x4242, 0);
	dns_b_question(&b, NULL, 0, &nm, DNS_T_A, DNS_C_IN);
	dns_b_opt(&b, 4096, 0, 0);
	size_t n = dns_b_finish(&b);
	qbuf[n - 11 + 6] = 1; /* the OPT TTL's version byte */
	respond(r, n, false);
	cr_assert_eq(r->rcode, DNS_R_BADVERS);
	cr_assert_eq(r->m.count[DNS_S_AN], 0);
	done(r);
}

/* ---- truncation ---- */

/* Adds <n> healthy endpoints of demo/big with distinct addresses. */
static void big_service(int n, bool v6)
{
	for (int i = 1; i <= n; i++) {
		char j[256];
		if (v6)
			snprintf(j, sizeof(j),
				 "{\"stack\":\"demo\",\"service\":\"big\",\"index\":%d,\"addr\":\"fd00::%x\","
				 "\"port\":%d,\"healthy\":true}",
				 i, i, 30000 + i);
		else
			snprintf(j, sizeof(j),
				 "{\"stack\":\"demo\",\"service\":\"big\",\"index\":%d,\"addr\":\"10.1.%d.%d\","
				 "\"port\":%d,\"healthy\":true}",
				 i, i / 256, i % 256, 30000 + i);
		put_json(j);
	}
}

Test(dns_answer, truncated_without_edns)
{
	big_service(40, false);
	/* 12 + 20 (question) + 40 * 16 = 672 > 512. */
	struct resp *r = ask("big.demo.berth", DNS_T_A);
	cr_assert(r->m.flags & DNS_F_TC);
	cr_assert(r->res.truncated);
	cr_assert_eq(r->rcode, DNS_R_NOERROR);
	cr_assert_eq(r->m.count[DNS_S_QD], 1, "the question stays");
	cr_assert_eq(r->m.count[DNS_S_AN] + r->m.count[DNS_S_NS] + r->m.count[DNS_S_AR], 0);
	cr_assert(r->m.flags & DNS_F_AA);
	done(r);
	/* 30 records make 12 + 20 + 480 = 512 exactly: no truncation. */
	catalog_free(cat);
	cat = catalog_new();
	dns__zone_set_catalog(&zone, cat);
	big_service(30, false);
	r = ask("big.demo.berth", DNS_T_A);
	cr_assert_not(r->m.flags & DNS_F_TC);
	cr_assert_eq(r->m.count[DNS_S_AN], 30);
	cr_assert_eq(r->len, 512);
	done(r);
	big_service(31, false);
	r = ask("big.demo.berth", DNS_T_A);
	cr_assert(r->m.flags & DNS_F_TC, "513 bytes");
	done(r);
}

Test(dns_answer, truncation_with_edns)
{
	big_service(40, false);
	struct resp *r = ask_full("big.demo.berth", DNS_T_A, 1232, false);
	cr_assert_not(r->m.flags & DNS_F_TC, "672 + 11 fits in 1232");
	cr_assert_eq(r->m.count[DNS_S_AN], 40);
	done(r);
	/* Below 512 counts as 512. */
	r = ask_full("big.demo.berth", DNS_T_A, 100, false);
	cr_assert(r->m.flags & DNS_F_TC);
	cr_assert(r->m.edns, "a truncated answer keeps the OPT");
	cr_assert_eq(r->m.count[DNS_S_AN], 0);
	cr_assert_leq(r->len, 512);
	done(r);
	/* 600 is honoured exactly: 12 + 20 + n * 16 + 11 <= 600 for n = 34. */
	r = ask_full("big.demo.berth", DNS_T_A, 600, false);
	cr_assert(r->m.flags & DNS_F_TC);
	done(r);
	catalog_free(cat);
	cat = catalog_new();
	dns__zone_set_catalog(&zone, cat);
	big_service(34, false);
	r = ask_full("big.demo.berth", DNS_T_A, 587, false);
	cr_assert_not(r->m.flags & DNS_F_TC);
	cr_assert_eq(r->len, 587);
	done(r);
	r = ask_full("big.demo.berth", DNS_T_A, 586, false);
	cr_assert(r->m.flags & DNS_F_TC);
	done(r);
}

Test(dns_answer, edns_capped_at_4096_and_tcp_never_truncated)
{
	big_service(300, true);
	/* 300 AAAA records: 300 * 28 = 8400 bytes. */
	struct resp *r = ask_full("big.demo.berth", DNS_T_AAAA, 65000, false);
	cr_assert(r->m.flags & DNS_F_TC, "capped at 4096");
	done(r);
	r = ask_full("big.demo.berth", DNS_T_AAAA, 0, true);
	cr_assert_not(r->m.flags & DNS_F_TC);
	cr_assert_eq(r->m.count[DNS_S_AN], 300);
	cr_assert_gt(r->len, 4096);
	done(r);
	r = ask_full("big.demo.berth", DNS_T_SRV, 4096, true);
	cr_assert_not(r->m.flags & DNS_F_TC);
	cr_assert_eq(r->m.count[DNS_S_AN], 300);
	cr_assert_eq(r->m.count[DNS_S_AR], 301, "every target's address, and the OPT");
	done(r);
}

Test(dns_answer, srv_additional_dropped_without_tc)
{
	big_service(12, false);
	/* 12 SRV fit in 512 (12 + 20 + 12 * 37 = 476); their 12 addresses do
	 * not all: some are dropped, no TC (RFC 2181 9). */
	struct resp *r = ask("big.demo.berth", DNS_T_SRV);
	cr_assert_not(r->m.flags & DNS_F_TC);
	cr_assert_eq(r->m.count[DNS_S_AN], 12);
	cr_assert_gt(r->m.count[DNS_S_AR], 0);
	cr_assert_lt(r->m.count[DNS_S_AR], 12);
	cr_assert_leq(r->len, 512);
	done(r);
}

/* ---- options, case, catalog changes ---- */

Test(dns_answer, case_insensitive_catalog_names)
{
	struct resp *r = ask("api.DEMO.berth", DNS_T_A);

	expect_section(r, DNS_S_AN, false, "api.DEMO.berth. A 10.0.0.7\n");
	done(r);
	r = ask("API.demo.berth", DNS_T_SRV);
	expect_section(r, DNS_S_AN, false, "API.demo.berth. SRV 1 1 6000 1.api.demo.berth.\n");
	done(r);
}

Test(dns_answer, catalog_changes_are_seen)
{
	struct resp *r = ask("new.demo.berth", DNS_T_A);

	cr_assert_eq(r->rcode, DNS_R_NXDOMAIN);
	done(r);
	put_json("{\"stack\":\"demo\",\"service\":\"new\",\"index\":1,\"addr\":\"10.9.9.9\",\"port\":1,"
		 "\"healthy\":true}");
	r = ask("new.demo.berth", DNS_T_A);
	expect_section(r, DNS_S_AN, false, "new.demo.berth. A 10.9.9.9\n");
	done(r);
	/* A new catalog with the same index as the old one is still seen. */
	struct catalog *c2 = catalog_new();
	catalog_free(cat);
	cat = c2;
	dns__zone_set_catalog(&zone, cat);
	r = ask("new.demo.berth", DNS_T_A);
	cr_assert_eq(r->rcode, DNS_R_NXDOMAIN);
	done(r);
}

Test(dns_answer, options)
{
	struct dns_opts o;
	char *err = NULL;

	dns__zone_free(&zone);
	dns_opts_init(&o);
	o.domain = "Svc.Cluster";
	o.ttl = 30;
	o.neg_ttl = 2;
	cr_assert_eq(dns__zone_init(&zone, &o, cat, &err), 0, "%s", err);
	struct resp *r = ask("web.demo.svc.cluster", DNS_T_A);
	cr_assert_eq(r->m.count[DNS_S_AN], 2);
	cr_assert_eq(r->m.rr[DNS_S_AN][0].ttl, 30);
	done(r);
	r = ask("nope.demo.svc.cluster.", DNS_T_A);
	cr_assert_eq(r->rcode, DNS_R_NXDOMAIN);
	cr_assert_eq(r->m.rr[DNS_S_NS][0].ttl, 2);
	cr_assert_eq(r->m.rr[DNS_S_NS][0].d.soa.minimum, 2);
	done(r);
	r = ask("web.demo.berth", DNS_T_A);
	cr_assert_eq(r->rcode, DNS_R_REFUSED);
	done(r);

	dns__zone_free(&zone);
	o.domain = ".";
	cr_assert_eq(dns__zone_init(&zone, &o, cat, &err), -1);
	cr_assert_not_null(strstr(err, "domain"));
	free(err);
	o.domain = "berth";
	o.udp_max = 100;
	cr_assert_eq(dns__zone_init(&zone, &o, cat, &err), -1);
	free(err);
	o.udp_max = 4096;
	cr_assert_eq(dns__zone_init(&zone, &o, cat, &err), 0);
}

Test(dns_answer, odd_bytes_in_labels_match_nothing)
{
	struct dns__result res;
	uint8_t out[600];
	const char *why = NULL;
	struct dns_msg m;
	/* "we\0b.demo.berth": a NUL inside a label must not match "we". */
	const uint8_t q[] = {0x42, 0x42, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,  4, 'w', 'e', 0, 'b',
			     4,    'd',  'e', 'm', 'o', 5, 'b', 'e', 'r', 't', 'h', 0, 0, 1, 0, 1};
	size_t n = dns__respond(&zone, q, sizeof(q), false, out, sizeof(out), &res);

	cr_assert_gt(n, 0);
	cr_assert_eq(dns_msg_parse(out, n, &m, &why), 0, "%s", why);
	cr_assert_eq(res.rcode, DNS_R_NXDOMAIN);
	dns_msg_free(&m);
}
