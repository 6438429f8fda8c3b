/* Unit tests of the DNS wire codec: names, strict query parsing (every
 * error), the message reader and the compressing builder. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/wire.h"

/* ---- helpers: raw messages, byte by byte ---- */

struct raw {
	uint8_t p[4096];
	size_t n;
};

static void put8(struct raw *r, unsigned v)
{
	r->p[r->n++] = (uint8_t)v;
}

static void put16(struct raw *r, unsigned v)
{
	put8(r, v >> 8);
	put8(r, v & 0xff);
}

static void put32(struct raw *r, uint32_t v)
{
	put16(r, v >> 16);
	put16(r, v & 0xffff);
}

static void put_bytes(struct raw *r, const void *p, size_t n)
{
	if (n)
		memcpy(r->p + r->n, p, n);
	r->n += n;
}

/* "web.demo.berth" as labels. */
static void put_name(struct raw *r, const char *text)
{
	const char *s = text;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		put8(r, (unsigned)n);
		put_bytes(r, s, n);
		s += n;
		if (*s == '.')
			s++;
	}
	put8(r, 0);
}

static void hdr(struct raw *r, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	r->n = 0;
	put16(r, 0x1234);
	put16(r, flags);
	put16(r, qd);
	put16(r, an);
	put16(r, ns);
	put16(r, ar);
}

/* A well-formed query for <name> A, with <ar> more records to follow. */
static void query(struct raw *r, const char *name, unsigned ar)
{
	hdr(r, DNS_F_RD, 1, 0, 0, ar);
	put_name(r, name);
	put16(r, DNS_T_A);
	put16(r, DNS_C_IN);
}

static void opt(struct raw *r, unsigned udp, uint32_t ttl, const uint8_t *rdata, size_t rdlen)
{
	put8(r, 0);
	put16(r, DNS_T_OPT);
	put16(r, udp);
	put32(r, ttl);
	put16(r, (unsigned)rdlen);
	put_bytes(r, rdata, rdlen);
}

static enum dns_parse_rc parse(const struct raw *r, struct dns_query *q, const char **why)
{
	*why = NULL;
	return dns_query_parse(r->p, r->n, q, why);
}

static void expect_formerr(const struct raw *r, const char *want)
{
	struct dns_query q;
	const char *why;

	cr_assert_eq(parse(r, &q, &why), DNS_PARSE_FORMERR, "expected FORMERR (%s)", want);
	cr_assert_str_eq(why, want);
	cr_assert_eq(q.id, 0x1234, "the header is readable: the id is kept for the answer");
}

/* ---- names ---- */

Test(dns_wire, name_text_round_trip)
{
	struct dns_name nm;
	char text[DNS_NAME_TEXT_MAX];

	cr_assert_eq(dns_name_from_text(&nm, "Web.demo.berth"), 0);
	cr_assert_eq(nm.nlabels, 3);
	cr_assert_eq(nm.len, 1 + 3 + 1 + 4 + 1 + 5 + 1);
	dns_name_to_text(&nm, text, sizeof(text));
	cr_assert_str_eq(text, "Web.demo.berth.");
	cr_assert_eq(dns_name_from_text(&nm, "web.demo.berth."), 0);
	cr_assert_eq(nm.nlabels, 3);
	dns_name_lower(&nm);
	cr_assert_eq(dns_name_from_text(&nm, "."), 0);
	cr_assert_eq(nm.nlabels, 0);
	cr_assert_eq(nm.len, 1);
	dns_name_to_text(&nm, text, sizeof(text));
	cr_assert_str_eq(text, ".");
}

Test(dns_wire, name_limits)
{
	struct dns_name nm;
	char label[80], name[400];

	memset(label, 'a', 63);
	label[63] = 0;
	cr_assert_eq(dns_name_from_text(&nm, label), 0, "63 bytes is a label");
	memset(label, 'a', 64);
	label[64] = 0;
	cr_assert_eq(dns_name_from_text(&nm, label), -1, "64 bytes is not");
	cr_assert_eq(dns_name_from_text(&nm, "a..b"), -1, "empty label");
	cr_assert_eq(dns_name_from_text(&nm, ""), -1);
	cr_assert_eq(dns_name_from_text(&nm, "a\\.b"), -1, "no escapes");
	/* 127 one-letter labels make 255 bytes; one more is too many. */
	name[0] = 0;
	for (int i = 0; i < 127; i++)
		strcat(name, "a.");
	cr_assert_eq(dns_name_from_text(&nm, name), 0);
	cr_assert_eq(nm.len, 255);
	strcat(name, "a");
	cr_assert_eq(dns_name_from_text(&nm, name), -1);
}

Test(dns_wire, name_text_escapes)
{
	struct dns_name nm;
	char text[DNS_NAME_TEXT_MAX];

	nm.wire[0] = 4;
	memcpy(nm.wire + 1, "a.b\0", 4);
	nm.wire[5] = 0;
	nm.len = 6;
	nm.nlabels = 1;
	nm.off[0] = 0;
	dns_name_to_text(&nm, text, sizeof(text));
	cr_assert_str_eq(text, "a\\046b\\000.");
	dns_name_to_text(&nm, text, 4);
	cr_assert_str_eq(text, "a", "truncated on a whole character");
}

Test(dns_wire, name_is_under)
{
	struct dns_name a, b;

	dns_name_from_text(&a, "WEB.Demo.berth");
	dns_name_from_text(&b, "BERTH.");
	cr_assert(dns_name_is_under(&a, &b));
	cr_assert(dns_name_is_under(&b, &b));
	dns_name_from_text(&a, "xberth");
	cr_assert_not(dns_name_is_under(&a, &b), "a suffix of bytes is not a suffix of labels");
	dns_name_from_text(&a, "berth.x");
	cr_assert_not(dns_name_is_under(&a, &b));
	dns_name_from_text(&a, ".");
	cr_assert_not(dns_name_is_under(&a, &b));
	cr_assert(dns_name_is_under(&b, &a), "everything is under the root");
}

Test(dns_wire, name_prepend)
{
	struct dns_name q, out;
	char text[DNS_NAME_TEXT_MAX];

	dns_name_from_text(&q, "_http._tcp.web.demo.berth");
	cr_assert_eq(dns_name_prepend(&out, "3", 1, &q, 2), 0);
	dns_name_to_text(&out, text, sizeof(text));
	cr_assert_str_eq(text, "3.web.demo.berth.");
	cr_assert_eq(dns_name_prepend(&out, NULL, 0, &q, 4), 0);
	dns_name_to_text(&out, text, sizeof(text));
	cr_assert_str_eq(text, "berth.");
	char big[64];
	memset(big, 'x', 64);
	cr_assert_eq(dns_name_prepend(&out, big, 64, &q, 0), -1);
}

/* ---- parsing queries ---- */

Test(dns_wire, query_plain)
{
	struct raw r;
	struct dns_query q;
	const char *why;

	hdr(&r, DNS_F_RD | DNS_F_CD, 1, 0, 0, 0);
	put_name(&r, "WEB.demo.Berth");
	put16(&r, DNS_T_SRV);
	put16(&r, DNS_C_IN);
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_OK, "%s", why);
	cr_assert_eq(q.id, 0x1234);
	cr_assert_eq(q.flags, DNS_F_RD | DNS_F_CD);
	cr_assert_eq(q.qtype, DNS_T_SRV);
	cr_assert_eq(q.qclass, DNS_C_IN);
	cr_assert_not(q.edns);
	char text[DNS_NAME_TEXT_MAX];
	dns_name_to_text(&q.qname, text, sizeof(text));
	cr_assert_str_eq(text, "web.demo.berth.", "lower-cased for matching");
	cr_assert_eq(q.question, r.p + 12);
	cr_assert_eq(q.question_len, r.n - 12);
	cr_assert_eq(memcmp(q.question + 1, "WEB", 3), 0, "the question as received keeps its case");
}

Test(dns_wire, query_edns)
{
	struct raw r;
	struct dns_query q;
	const char *why;
	const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};

	query(&r, "web.demo.berth", 1);
	opt(&r, 1232, DNS_EDNS_DO, cookie, sizeof(cookie));
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_OK, "%s", why);
	cr_assert(q.edns);
	cr_assert_eq(q.edns_udp, 1232);
	cr_assert_eq(q.edns_version, 0);
	cr_assert_eq(q.edns_flags, DNS_EDNS_DO);

	query(&r, "web.demo.berth", 1);
	opt(&r, 100, 1u << 16, NULL, 0);
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_OK, "%s", why);
	cr_assert_eq(q.edns_udp, 100, "kept raw: the answer code clamps it");
	cr_assert_eq(q.edns_version, 1);
}

Test(dns_wire, query_other_additional_records_skipped)
{
	struct raw r;
	struct dns_query q;
	const char *why;

	/* A TSIG-like record whose owner points at the question name: a
	 * backward pointer outside the question is fine. */
	query(&r, "web.demo.berth", 2);
	put16(&r, 0xc000 | 12);
	put16(&r, 250);
	put16(&r, 255);
	put32(&r, 0);
	put16(&r, 3);
	put_bytes(&r, "abc", 3);
	opt(&r, 4096, 0, NULL, 0);
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_OK, "%s", why);
	cr_assert(q.edns);
}

Test(dns_wire, query_drop)
{
	struct raw r;
	struct dns_query q;
	const char *why;

	hdr(&r, 0, 1, 0, 0, 0);
	r.n = 11;
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_DROP);
	cr_assert_str_eq(why, "shorter than a header");
	cr_assert_eq(dns_query_parse(r.p, 0, &q, &why), DNS_PARSE_DROP);
	query(&r, "web.demo.berth", 0);
	r.p[2] |= 0x80;
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_DROP);
	cr_assert_str_eq(why, "a response, not a query");
}

Test(dns_wire, query_notimp)
{
	struct raw r;
	struct dns_query q;
	const char *why;

	query(&r, "web.demo.berth", 0);
	r.p[2] |= 5 << 3; /* UPDATE */
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_NOTIMP);
	cr_assert_eq(DNS_OPCODE(q.flags), 5);
	cr_assert_eq(q.id, 0x1234);
}

Test(dns_wire, query_counts)
{
	struct raw r;

	hdr(&r, 0, 0, 0, 0, 0);
	expect_formerr(&r, "expected exactly one question");
	hdr(&r, 0, 2, 0, 0, 0);
	put_name(&r, "a.berth");
	put16(&r, 1);
	put16(&r, 1);
	put_name(&r, "b.berth");
	put16(&r, 1);
	put16(&r, 1);
	expect_formerr(&r, "expected exactly one question");
	query(&r, "a.berth", 0);
	r.p[7] = 1;
	expect_formerr(&r, "a query carries no answer or authority records");
	query(&r, "a.berth", 0);
	r.p[9] = 1;
	expect_formerr(&r, "a query carries no answer or authority records");
}

Test(dns_wire, query_name_errors)
{
	struct raw r;

	hdr(&r, 0, 1, 0, 0, 0);
	put16(&r, 0xc000 | 12);
	put16(&r, 1);
	put16(&r, 1);
	expect_formerr(&r, "compression pointer in the question");

	hdr(&r, 0, 1, 0, 0, 0);
	put8(&r, 0x40);
	put8(&r, 0);
	put16(&r, 1);
	put16(&r, 1);
	expect_formerr(&r, "unknown label type");
	hdr(&r, 0, 1, 0, 0, 0);
	put8(&r, 0x80);
	put8(&r, 0);
	expect_formerr(&r, "unknown label type");

	hdr(&r, 0, 1, 0, 0, 0);
	for (int i = 0; i < 5; i++) {
		put8(&r, 63);
		for (int k = 0; k < 63; k++)
			put8(&r, 'a');
	}
	put8(&r, 0);
	put16(&r, 1);
	put16(&r, 1);
	expect_formerr(&r, "name longer than 255 bytes");

	hdr(&r, 0, 1, 0, 0, 0);
	put8(&r, 10);
	put_bytes(&r, "abc", 3);
	expect_formerr(&r, "label cut short");

	hdr(&r, 0, 1, 0, 0, 0);
	put8(&r, 3);
	put_bytes(&r, "abc", 3);
	expect_formerr(&r, "name cut short");

	hdr(&r, 0, 1, 0, 0, 0);
	put_name(&r, "a.berth");
	put16(&r, 1);
	put8(&r, 0);
	expect_formerr(&r, "question cut short");
}

Test(dns_wire, query_additional_errors)
{
	struct raw r;
	uint8_t bad_opt[] = {0, 10, 0, 9, 1, 2};

	query(&r, "a.berth", 1);
	put8(&r, 0);
	put16(&r, DNS_T_OPT);
	expect_formerr(&r, "additional record cut short");

	query(&r, "a.berth", 1);
	put8(&r, 0);
	put16(&r, DNS_T_OPT);
	put16(&r, 4096);
	put32(&r, 0);
	put16(&r, 10);
	put16(&r, 0);
	expect_formerr(&r, "additional record's data cut short");

	query(&r, "a.berth", 2);
	opt(&r, 4096, 0, NULL, 0);
	opt(&r, 4096, 0, NULL, 0);
	expect_formerr(&r, "more than one OPT record");

	query(&r, "a.berth", 1);
	put16(&r, 0xc000 | 12);
	put16(&r, DNS_T_OPT);
	put16(&r, 4096);
	put32(&r, 0);
	put16(&r, 0);
	expect_formerr(&r, "OPT record not owned by the root");

	query(&r, "a.berth", 1);
	opt(&r, 4096, 0, bad_opt, sizeof(bad_opt));
	expect_formerr(&r, "malformed EDNS0 option");
	query(&r, "a.berth", 1);
	opt(&r, 4096, 0, bad_opt, 3);
	expect_formerr(&r, "malformed EDNS0 option");

	query(&r, "a.berth", 0);
	put8(&r, 0);
	expect_formerr(&r, "trailing bytes after the last record");

	query(&r, "a.berth", 1);
	opt(&r, 4096, 0, NULL, 0);
	r.n--; /* cuts the RDLENGTH */
	expect_formerr(&r, "additional record cut short");

	/* Pointers outside the question are bounded: forwards, to itself,
	 * into the header. */
	size_t at;
	query(&r, "a.berth", 1);
	at = r.n;
	put16(&r, 0xc000 | (unsigned)at);
	expect_formerr(&r, "compression pointer not pointing backwards into the message");
	query(&r, "a.berth", 1);
	put16(&r, 0xc000 | 500);
	expect_formerr(&r, "compression pointer not pointing backwards into the message");
	query(&r, "a.berth", 1);
	put16(&r, 0xc000 | 4);
	expect_formerr(&r, "compression pointer not pointing backwards into the message");
	query(&r, "a.berth", 1);
	put8(&r, 0xc0);
	expect_formerr(&r, "compression pointer cut short");
}

Test(dns_wire, query_pointer_chain_is_bounded)
{
	struct raw r;
	struct dns_query q;
	const char *why;

	/* A chain of labels each pointing to the one before: it ends,
	 * because each jump goes strictly backwards, and the decompressed
	 * name stays within 255 bytes. */
	query(&r, "a.berth", 200);
	size_t prev = 12;
	for (int i = 0; i < 200; i++) {
		size_t here = r.n;
		put8(&r, 1);
		put8(&r, 'x');
		put16(&r, 0xc000 | (unsigned)prev);
		put16(&r, 99);
		put16(&r, 1);
		put32(&r, 0);
		put16(&r, 0);
		prev = here;
		if (r.n > sizeof(r.p) - 20)
			break;
	}
	r.p[11] = 0;
	r.p[10] = 0;
	/* Recount what fits. */
	unsigned count = 0;
	for (size_t off = 12 + 9 + 4; off < r.n; off += 14)
		count++;
	r.p[10] = (uint8_t)(count >> 8);
	r.p[11] = (uint8_t)count;
	enum dns_parse_rc rc = parse(&r, &q, &why);
	cr_assert(rc == DNS_PARSE_FORMERR && strcmp(why, "name longer than 255 bytes") == 0,
		  "a chain of %u labels must stop at 255 bytes (rc %d, %s)", count, rc, why ? why : "");
}

/* ---- building, and reading back ---- */

static const uint32_t soa_times[5] = {7, 3600, 600, 86400, 5};

Test(dns_wire, builder_round_trip_and_compression)
{
	uint8_t buf[1024];
	struct dns_builder b;
	struct dns_name q, t1, t2, ns, hm, apex;
	const uint8_t ip4[4] = {10, 0, 0, 1}, ip6[16] = {0xfd, 0, [15] = 1};
	struct dns_msg m;
	const char *why = NULL;
	char text[DNS_NAME_TEXT_MAX];

	dns_name_from_text(&q, "Web.Demo.berth");
	dns_name_from_text(&t1, "1.web.demo.berth");
	dns_name_from_text(&t2, "2.web.demo.berth");
	dns_name_from_text(&ns, "ns.berth");
	dns_name_from_text(&hm, "hostmaster.berth");
	dns_name_from_text(&apex, "berth");
	dns_b_init(&b, buf, sizeof(buf), sizeof(buf), 42, DNS_F_QR | DNS_F_AA);
	cr_assert_eq(dns_b_question(&b, NULL, 0, &q, DNS_T_SRV, DNS_C_IN), 0);
	size_t qend = b.len;
	cr_assert_eq(qend, 12 + q.len + 4);
	cr_assert_eq(dns_b_srv(&b, DNS_S_AN, &q, 5, 1, 1, 31001, &t1), 0);
	/* The owner is a 2-byte pointer to the question; the target is
	 * written whole (RFC 2782). */
	cr_assert_eq(b.len, qend + 2 + 10 + 6 + t1.len);
	cr_assert_eq(buf[qend], 0xc0);
	cr_assert_eq(buf[qend + 1], 12);
	size_t before = b.len;
	cr_assert_eq(dns_b_srv(&b, DNS_S_AN, &q, 5, 1, 1, 31002, &t2), 0);
	cr_assert_eq(b.len, before + 2 + 10 + 6 + t2.len);
	before = b.len;
	cr_assert_eq(dns_b_soa(&b, DNS_S_NS, &apex, 5, &ns, &hm, soa_times), 0);
	/* berth. -> pointer; ns. + pointer; hostmaster. + pointer. */
	cr_assert_eq(b.len, before + 2 + 10 + (1 + 2 + 2) + (1 + 10 + 2) + 20);
	before = b.len;
	cr_assert_eq(dns_b_a(&b, DNS_S_AR, &t1, 5, ip4), 0);
	cr_assert_eq(b.len, before + 2 + 10 + 4, "the owner points into the first SRV's target");
	cr_assert_eq(dns_b_aaaa(&b, DNS_S_AR, &t2, 5, ip6), 0);
	cr_assert_eq(dns_b_ns(&b, DNS_S_AR, &apex, 5, &ns), 0);
	cr_assert_eq(dns_b_opt(&b, 4096, 1, DNS_EDNS_DO), 0);
	size_t len = dns_b_finish(&b);

	cr_assert_eq(dns_msg_parse(buf, len, &m, &why), 0, "%s", why);
	cr_assert_eq(m.id, 42);
	cr_assert_eq(m.flags, DNS_F_QR | DNS_F_AA);
	cr_assert_eq(m.count[DNS_S_QD], 1);
	cr_assert_eq(m.count[DNS_S_AN], 2);
	cr_assert_eq(m.count[DNS_S_NS], 1);
	cr_assert_eq(m.count[DNS_S_AR], 4);
	dns_name_to_text(&m.qname, text, sizeof(text));
	cr_assert_str_eq(text, "Web.Demo.berth.");
	cr_assert_eq(m.qtype, DNS_T_SRV);
	struct dns_rr *rr = &m.rr[DNS_S_AN][1];
	cr_assert_eq(rr->type, DNS_T_SRV);
	cr_assert_eq(rr->ttl, 5);
	cr_assert_eq(rr->d.srv.port, 31002);
	cr_assert_eq(rr->d.srv.prio, 1);
	cr_assert_eq(rr->d.srv.weight, 1);
	dns_name_to_text(&rr->d.srv.target, text, sizeof(text));
	cr_assert_str_eq(text, "2.web.demo.berth.");
	dns_name_to_text(&rr->name, text, sizeof(text));
	cr_assert_str_eq(text, "Web.Demo.berth.", "decompressed from the question");
	rr = &m.rr[DNS_S_NS][0];
	cr_assert_eq(rr->type, DNS_T_SOA);
	dns_name_to_text(&rr->d.soa.mname, text, sizeof(text));
	cr_assert_str_eq(text, "ns.berth.");
	dns_name_to_text(&rr->d.soa.rname, text, sizeof(text));
	cr_assert_str_eq(text, "hostmaster.berth.");
	cr_assert_eq(rr->d.soa.serial, 7);
	cr_assert_eq(rr->d.soa.minimum, 5);
	rr = &m.rr[DNS_S_AR][0];
	cr_assert_eq(rr->type, DNS_T_A);
	cr_assert_eq(memcmp(rr->d.a, ip4, 4), 0);
	dns_name_to_text(&rr->name, text, sizeof(text));
	cr_assert_str_eq(text, "1.web.demo.berth.");
	cr_assert_eq(memcmp(m.rr[DNS_S_AR][1].d.aaaa, ip6, 16), 0);
	dns_name_to_text(&m.rr[DNS_S_AR][2].d.ns, text, sizeof(text));
	cr_assert_str_eq(text, "ns.berth.");
	cr_assert(m.edns);
	cr_assert_eq(m.edns_udp, 4096);
	cr_assert_eq(m.edns_ext_rcode, 1);
	cr_assert_eq(m.edns_flags, DNS_EDNS_DO);
	dns_msg_free(&m);
}

Test(dns_wire, builder_compression_is_case_insensitive)
{
	uint8_t buf[512];
	struct dns_builder b;
	struct dns_name q, t;
	const uint8_t ip4[4] = {1, 2, 3, 4};

	dns_name_from_text(&q, "WEB.DEMO.BERTH");
	dns_name_from_text(&t, "1.web.demo.berth");
	dns_b_init(&b, buf, sizeof(buf), sizeof(buf), 1, DNS_F_QR);
	dns_b_question(&b, NULL, 0, &q, DNS_T_A, DNS_C_IN);
	size_t before = b.len;
	cr_assert_eq(dns_b_a(&b, DNS_S_AN, &t, 5, ip4), 0);
	cr_assert_eq(b.len, before + 2 + 2 + 10 + 4, "'1' then a pointer to WEB.DEMO.BERTH");
}

Test(dns_wire, builder_raw_question)
{
	struct raw r;
	uint8_t buf[512];
	struct dns_builder b;
	struct dns_query q;
	const char *why;

	hdr(&r, 0, 1, 0, 0, 0);
	put_name(&r, "MiXeD.berth");
	put16(&r, DNS_T_AAAA);
	put16(&r, DNS_C_IN);
	cr_assert_eq(parse(&r, &q, &why), DNS_PARSE_OK);
	dns_b_init(&b, buf, sizeof(buf), sizeof(buf), q.id, DNS_F_QR);
	cr_assert_eq(dns_b_question(&b, q.question, q.question_len, NULL, 0, 0), 0);
	cr_assert_eq(b.len, r.n);
	cr_assert_eq(memcmp(buf + 12, r.p + 12, r.n - 12), 0, "copied as received");
	/* A raw question that is not one is refused. */
	dns_b_init(&b, buf, sizeof(buf), sizeof(buf), q.id, DNS_F_QR);
	cr_assert_eq(dns_b_question(&b, q.question, q.question_len - 1, NULL, 0, 0), -1);
}

Test(dns_wire, builder_limit_and_rollback)
{
	uint8_t buf[512];
	struct dns_builder b;
	struct dns_name q;
	const uint8_t ip4[4] = {1, 2, 3, 4};

	dns_name_from_text(&q, "web.demo.berth");
	dns_b_init(&b, buf, sizeof(buf), 60, 1, DNS_F_QR);
	dns_b_question(&b, NULL, 0, &q, DNS_T_A, DNS_C_IN); /* 12 + 16 + 4 = 32 */
	struct dns_b_mark mk = dns_b_mark(&b);
	/* 30 bytes uncompressed, 16 with a pointer: it fits in 60. */
	cr_assert_eq(dns_b_a(&b, DNS_S_AN, &q, 5, ip4), 0); /* 48 */
	size_t len = b.len;
	cr_assert_eq(len, 48);
	cr_assert_eq(dns_b_a(&b, DNS_S_AN, &q, 5, ip4), -1, "64 > 60");
	cr_assert_eq(b.len, len, "nothing written");
	cr_assert_eq(b.count[DNS_S_AN], 1);
	dns_b_rollback(&b, &mk);
	cr_assert_eq(b.len, 32);
	cr_assert_eq(b.count[DNS_S_AN], 0);
	cr_assert_eq(dns_b_finish(&b), 32);
	cr_assert_eq(buf[7], 0, "ANCOUNT back to 0");
	/* Never past the buffer, even under a larger limit. */
	dns_b_init(&b, buf, 40, 40, 1, DNS_F_QR);
	dns_b_question(&b, NULL, 0, &q, DNS_T_A, DNS_C_IN);
	cr_assert_eq(dns_b_a(&b, DNS_S_AN, &q, 5, ip4), -1, "the worst case (62) passes the buffer (40)");
	/* The header alone always fits. */
	dns_b_init(&b, buf, 12, 12, 1, DNS_F_QR);
	cr_assert_eq(dns_b_question(&b, NULL, 0, &q, DNS_T_A, DNS_C_IN), -1);
	cr_assert_eq(dns_b_finish(&b), 12);
}

Test(dns_wire, builder_many_names_past_the_table)
{
	/* More distinct names than the compression table holds: later ones
	 * are written whole, and the message stays readable. */
	static uint8_t buf[65535];
	struct dns_builder b;
	struct dns_name q, t;
	const uint8_t ip4[4] = {1, 2, 3, 4};
	struct dns_msg m;
	const char *why = NULL;

	dns_name_from_text(&q, "web.demo.berth");
	dns_b_init(&b, buf, sizeof(buf), sizeof(buf), 1, DNS_F_QR);
	dns_b_question(&b, NULL, 0, &q, DNS_T_SRV, DNS_C_IN);
	for (int i = 1; i <= 300; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%d.web.demo.berth", i);
		dns_name_from_text(&t, name);
		cr_assert_eq(dns_b_srv(&b, DNS_S_AN, &q, 5, 1, 1, (uint16_t)i, &t), 0);
	}
	for (int i = 1; i <= 300; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%d.web.demo.berth", i);
		dns_name_from_text(&t, name);
		cr_assert_eq(dns_b_a(&b, DNS_S_AR, &t, 5, ip4), 0);
	}
	size_t len = dns_b_finish(&b);
	cr_assert_eq(dns_msg_parse(buf, len, &m, &why), 0, "%s", why);
	char text[DNS_NAME_TEXT_MAX];
	dns_name_to_text(&m.rr[DNS_S_AR][299].name, text, sizeof(text));
	cr_assert_str_eq(text, "300.web.demo.berth.");
	dns_name_to_text(&m.rr[DNS_S_AN][150].d.srv.target, text, sizeof(text));
	cr_assert_str_eq(text, "151.web.demo.berth.");
	dns_msg_free(&m);
}

/* ---- the message reader's errors ---- */

static void expect_msg_error(const struct raw *r, const char *want)
{
	struct dns_msg m;
	const char *why = NULL;

	cr_assert_eq(dns_msg_parse(r->p, r->n, &m, &why), -1, "expected: %s", want);
	cr_assert_str_eq(why, want);
	dns_msg_free(&m);
}

static void answer_hdr(struct raw *r, unsigned an)
{
	hdr(r, DNS_F_QR, 1, an, 0, 0);
	put_name(r, "a.berth");
	put16(r, DNS_T_A);
	put16(r, DNS_C_IN);
}

static void rr_head(struct raw *r, unsigned type, unsigned rdlen)
{
	put16(r, 0xc000 | 12);
	put16(r, type);
	put16(r, DNS_C_IN);
	put32(r, 5);
	put16(r, rdlen);
}

Test(dns_wire, msg_errors)
{
	struct raw r;

	r.n = 5;
	expect_msg_error(&r, "shorter than a header");
	answer_hdr(&r, 1);
	rr_head(&r, DNS_T_A, 5);
	put_bytes(&r, "\1\2\3\4\5", 5);
	expect_msg_error(&r, "record data does not match its type");
	answer_hdr(&r, 1);
	rr_head(&r, DNS_T_AAAA, 4);
	put_bytes(&r, "\1\2\3\4", 4);
	expect_msg_error(&r, "record data does not match its type");
	answer_hdr(&r, 1);
	rr_head(&r, DNS_T_SRV, 6);
	put_bytes(&r, "\0\1\0\1\0\1", 6);
	expect_msg_error(&r, "record data does not match its type");
	/* An SRV whose target runs past its RDATA. */
	answer_hdr(&r, 1);
	rr_head(&r, DNS_T_SRV, 8);
	put_bytes(&r, "\0\1\0\1\0\1\3ab", 9);
	expect_msg_error(&r, "label cut short");
	/* A SOA with the wrong number of trailing bytes. */
	answer_hdr(&r, 1);
	rr_head(&r, DNS_T_SOA, 2 + 2 + 19);
	put16(&r, 0xc000 | 12);
	put16(&r, 0xc000 | 12);
	for (int i = 0; i < 19; i++)
		put8(&r, 0);
	expect_msg_error(&r, "record data does not match its type");
	/* An NS whose name ends before its RDATA does. */
	answer_hdr(&r, 1);
	rr_head(&r, DNS_T_NS, 3);
	put16(&r, 0xc000 | 12);
	put8(&r, 0);
	expect_msg_error(&r, "record data does not match its type");
	answer_hdr(&r, 1);
	rr_head(&r, DNS_T_A, 4);
	expect_msg_error(&r, "record data cut short");
	answer_hdr(&r, 1);
	put16(&r, 0xc000 | 12);
	put16(&r, DNS_T_A);
	expect_msg_error(&r, "record cut short");
	answer_hdr(&r, 0);
	put8(&r, 0);
	expect_msg_error(&r, "trailing bytes after the last record");
	answer_hdr(&r, 0);
	r.p[6] = 0xff;
	expect_msg_error(&r, "more records announced than the message can hold");
	/* A pointer loop: a name pointing at itself. */
	answer_hdr(&r, 1);
	size_t at = r.n;
	put16(&r, 0xc000 | (unsigned)at);
	expect_msg_error(&r, "compression pointer not pointing backwards into the message");
	/* An OPT in the answer section. */
	answer_hdr(&r, 1);
	put8(&r, 0);
	put16(&r, DNS_T_OPT);
	put16(&r, 4096);
	put32(&r, 0);
	put16(&r, 0);
	expect_msg_error(&r, "misplaced OPT record");
	hdr(&r, DNS_F_QR, 1, 0, 0, 0);
	put_name(&r, "a.berth");
	put8(&r, 0);
	expect_msg_error(&r, "question cut short");
}
