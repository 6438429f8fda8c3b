/* Private to src/dns/: the DNS wire format (RFC 1035, 2782, 3596, 6891).
 *
 * Three parts:
 * - a strict parser for the queries the server answers: one question, no
 *   compression pointer in it, label and name limits, EDNS0 OPT in the
 *   additional section; every length is checked before it is used, and
 *   nothing is copied but the bounded question name;
 * - a general message reader that follows compression pointers (bounded:
 *   each jump goes strictly backwards, never into the header), for the
 *   tests, the fuzz harness and any future client;
 * - a response builder with name compression and a size limit, so that
 *   the answer code can ask "does this record fit?" and truncate.
 *
 * Names are kept in wire form, uncompressed: length-prefixed labels ending
 * with the root's zero byte. */
#ifndef BERTH_DNS_WIRE_H
#define BERTH_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_MAX_NAME 255             /* wire bytes, root label included (RFC 1035 3.1) */
#define DNS_MAX_LABEL 63
#define DNS_MAX_LABELS 127           /* 255 bytes of one-letter labels */
#define DNS_NAME_TEXT_MAX 1024       /* worst case of dns_name_to_text: every byte as \DDD */
#define DNS_UDP_MIN 512              /* the classic UDP limit, and the floor of an EDNS0 size */
#define DNS_EDNS_MAX 4096            /* the most we answer over UDP, whatever the client offers */
#define DNS_TCP_MAX 65535            /* a TCP message's length is 16 bits */
#define DNS_OPT_LEN 11               /* an OPT record without options */

enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
	DNS_T_OPT = 41,
	DNS_T_IXFR = 251,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
};

enum dns_class {
	DNS_C_IN = 1,
	DNS_C_CH = 3,
	DNS_C_ANY = 255,
};

enum dns_rcode {
	DNS_R_NOERROR = 0,           /* success, or NODATA when the answer is empty */
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
	DNS_R_BADVERS = 16,          /* extended: 4 bits in the header, the rest in the OPT TTL */
};

/* Header flags (the 16 bits after the ID). */
#define DNS_F_QR 0x8000u
#define DNS_F_OPCODE_MASK 0x7800u
#define DNS_F_AA 0x0400u
#define DNS_F_TC 0x0200u
#define DNS_F_RD 0x0100u
#define DNS_F_RA 0x0080u
#define DNS_F_AD 0x0020u
#define DNS_F_CD 0x0010u
#define DNS_F_RCODE_MASK 0x000fu
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xfu)
#define DNS_EDNS_DO 0x8000u          /* "DNSSEC OK", in the OPT TTL's low 16 bits */

enum dns_section {
	DNS_S_QD = 0,                /* question */
	DNS_S_AN,                    /* answer */
	DNS_S_NS,                    /* authority */
	DNS_S_AR,                    /* additional */
};

/* A name in wire form, uncompressed. */
struct dns_name {
	uint8_t wire[DNS_MAX_NAME];  /* labels, then the root's 0 */
	uint8_t len;                 /* bytes used in wire, >= 1 */
	uint8_t nlabels;             /* labels before the root */
	uint8_t off[DNS_MAX_LABELS]; /* offset in wire of each label's length byte */
};

/* ---- names ---- */

/* Parses a dotted name ("web.demo.berth", trailing dot optional, "." is the
 * root). No escapes; labels 1..63 bytes, 255 in all. Returns 0 or -1. */
int dns_name_from_text(struct dns_name *nm, const char *text);
/* Writes <nm> dotted with a trailing dot; bytes other than letters, digits,
 * '-' and '_' are written \DDD. <cap> >= DNS_NAME_TEXT_MAX never truncates. */
void dns_name_to_text(const struct dns_name *nm, char *buf, size_t cap);
/* ASCII lower-casing in place. */
void dns_name_lower(struct dns_name *nm);
/* Whether <nm> is <suffix> or under it, ASCII case-insensitively. */
bool dns_name_is_under(const struct dns_name *nm, const struct dns_name *suffix);
/* Label <i> (0 is the leftmost) of <nm>: its bytes and length. */
static inline const uint8_t *dns_name_label(const struct dns_name *nm, int i, size_t *len)
{
	*len = nm->wire[nm->off[i]];
	return nm->wire + nm->off[i] + 1;
}
/* Builds <out> from <label> (may be NULL: none) followed by the labels of
 * <nm> from index <from> on. Returns 0, or -1 if the result is too long. */
int dns_name_prepend(struct dns_name *out, const char *label, size_t label_len, const struct dns_name *nm,
		     int from);

/* ---- parsing queries ---- */

enum dns_parse_rc {
	DNS_PARSE_OK = 0,            /* <q> is filled */
	DNS_PARSE_DROP,              /* no answer possible or wanted: no header, or a response */
	DNS_PARSE_FORMERR,           /* the header is readable (q->id, q->flags), the rest is not */
	DNS_PARSE_NOTIMP,            /* an opcode other than QUERY (q->id, q->flags are set) */
};

struct dns_query {
	uint16_t id;
	uint16_t flags;              /* as received */
	struct dns_name qname;       /* lower-cased copy */
	uint16_t qtype;
	uint16_t qclass;
	const uint8_t *question;     /* the question as received (name, type, class), borrowed */
	size_t question_len;
	bool edns;                   /* an OPT record came in the additional section */
	uint16_t edns_udp;           /* the client's UDP payload size (raw, unclamped) */
	uint8_t edns_version;
	uint16_t edns_flags;         /* DO and the reserved Z bits */
};

/* Parses the query in <p, n>. On DNS_PARSE_FORMERR or _DROP, *why (static
 * text) says what is wrong. <q>'s borrowed pointer is valid while <p> is. */
enum dns_parse_rc dns_query_parse(const uint8_t *p, size_t n, struct dns_query *q, const char **why);

/* ---- reading any message ---- */

struct dns_rr {
	struct dns_name name;        /* owner, decompressed, case kept */
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	uint16_t rdlen;
	size_t rdoff;                /* offset of the RDATA in the message */
	union {
		uint8_t a[4];
		uint8_t aaaa[16];
		struct dns_name ns;  /* NS, CNAME, PTR */
		struct {
			uint16_t prio, weight, port;
			struct dns_name target;
		} srv;
		struct {
			struct dns_name mname, rname;
			uint32_t serial, refresh, retry, expire, minimum;
		} soa;
	} d;                         /* decoded RDATA of the types above; other types: raw only */
};

struct dns_msg {
	uint16_t id;
	uint16_t flags;
	uint16_t count[4];           /* as in the header */
	struct dns_name qname;       /* the first question, if any */
	uint16_t qtype, qclass;
	struct dns_rr *rr[4];        /* [DNS_S_AN..DNS_S_AR]: count[s] records each; [DNS_S_QD] unused */
	bool edns;                   /* an OPT record was found (it is in rr[DNS_S_AR] too) */
	uint16_t edns_udp;
	uint8_t edns_ext_rcode;      /* upper 8 bits of the 12-bit rcode */
	uint8_t edns_version;
	uint16_t edns_flags;
};

/* Reads a whole message: every name (pointers followed, bounded), every
 * record's framing, and the RDATA of A, AAAA, NS, CNAME, PTR, SRV, SOA and
 * OPT checked against its length. Returns 0, or -1 with *why; free <m> with
 * dns_msg_free in both cases. */
int dns_msg_parse(const uint8_t *p, size_t n, struct dns_msg *m, const char **why);
void dns_msg_free(struct dns_msg *m);

/* ---- building responses ---- */

#define DNS_COMP_MAX 64              /* names remembered for compression; later ones are written whole */

/* The builder never writes past <cap>, and undoes any record that takes
 * the message past <limit>. A record is checked against <cap> at its worst
 * (uncompressed), so give <cap> DNS_B_SLACK bytes more than <limit> and
 * whatever fits compressed under the limit gets in. */
#define DNS_B_SLACK 1024

struct dns_builder {
	uint8_t *p;                  /* the message, borrowed */
	size_t cap;                  /* bytes at p */
	size_t limit;                /* the message must stay within this (<= cap) */
	size_t len;                  /* bytes written */
	uint16_t flags;              /* header flags, written by dns_b_finish */
	uint16_t count[4];           /* records per section */
	int section;                 /* last section written: records go in order */
	uint16_t comp[DNS_COMP_MAX]; /* offsets of written labels that later names may point at */
	int ncomp;
};

/* A point to roll back to when what follows does not fit. */
struct dns_b_mark {
	size_t len;
	uint16_t count[4];
	int section;
	int ncomp;
};

/* Starts a message with header <id, flags> in <p, cap>, limited to <limit>
 * bytes (cap >= DNS_HDR_LEN). */
void dns_b_init(struct dns_builder *b, uint8_t *p, size_t cap, size_t limit, uint16_t id, uint16_t flags);
/* Writes a question; <raw, raw_len> is a question as received (name,
 * type, class) and is copied as is, or <raw> NULL to build one from
 * <name, qtype, qclass>. */
int dns_b_question(struct dns_builder *b, const uint8_t *raw, size_t raw_len, const struct dns_name *name,
		   uint16_t qtype, uint16_t qclass);
/* Record writers: 0, or -1 when the record would pass the limit (then
 * nothing was written). Sections must come in order (answer, authority,
 * additional). */
int dns_b_a(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl, const uint8_t ip[4]);
int dns_b_aaaa(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl, const uint8_t ip[16]);
int dns_b_ns(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl,
	     const struct dns_name *target);
/* The target is written whole: RFC 2782 forbids compressing it. */
int dns_b_srv(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl, uint16_t prio,
	      uint16_t weight, uint16_t port, const struct dns_name *target);
int dns_b_soa(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl,
	      const struct dns_name *mname, const struct dns_name *rname, const uint32_t times[5]);
/* The OPT pseudo-record (RFC 6891 6.1.2), always in the additional
 * section: <udp> our payload size, <ext_rcode> the rcode's upper 8 bits. */
int dns_b_opt(struct dns_builder *b, uint16_t udp, uint8_t ext_rcode, uint16_t flags);

struct dns_b_mark dns_b_mark(const struct dns_builder *b);
void dns_b_rollback(struct dns_builder *b, const struct dns_b_mark *m);
/* Writes the flags and counts into the header; returns the length. */
size_t dns_b_finish(struct dns_builder *b);

#endif
