/* The DNS wire codec: strict query parsing, a bounded message reader and a
 * compressing response builder (see wire.h). */
#include "dns/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* ---- names ---- */

/* Appends one label to <nm>; -1 if the name would pass 255 bytes. <nm> is
 * kept terminated by the root. */
static int name_add_label(struct dns_name *nm, const uint8_t *p, size_t n)
{
	if (n == 0 || n > DNS_MAX_LABEL || (size_t)nm->len + 1 + n > DNS_MAX_NAME)
		return -1;
	size_t at = (size_t)nm->len - 1; /* over the root's 0 */
	nm->off[nm->nlabels++] = (uint8_t)at;
	nm->wire[at] = (uint8_t)n;
	memcpy(nm->wire + at + 1, p, n);
	nm->wire[at + 1 + n] = 0;
	nm->len = (uint8_t)(at + 2 + n);
	return 0;
}

static void name_root(struct dns_name *nm)
{
	nm->wire[0] = 0;
	nm->len = 1;
	nm->nlabels = 0;
}

int dns_name_from_text(struct dns_name *nm, const char *text)
{
	const char *s = text;

	name_root(nm);
	if (strcmp(s, ".") == 0)
		return 0;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (memchr(s, '\\', n) || name_add_label(nm, (const uint8_t *)s, n) < 0)
			return -1;
		s += n;
		if (*s == '.')
			s++;
	}
	return nm->nlabels ? 0 : -1;
}

void dns_name_to_text(const struct dns_name *nm, char *buf, size_t cap)
{
	size_t w = 0;

	if (!cap)
		return;
	if (!nm->nlabels) {
		snprintf(buf, cap, ".");
		return;
	}
	for (int i = 0; i < nm->nlabels; i++) {
		size_t n;
		const uint8_t *l = dns_name_label(nm, i, &n);
		for (size_t k = 0; k < n; k++) {
			uint8_t c = l[k];
			char tmp[5];
			bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				     c == '-' || c == '_';
			int tl = plain ? snprintf(tmp, sizeof(tmp), "%c", c) : snprintf(tmp, sizeof(tmp), "\\%03u", c);
			if (w + (size_t)tl + 2 > cap)
				goto out;
			memcpy(buf + w, tmp, (size_t)tl);
			w += (size_t)tl;
		}
		buf[w++] = '.';
	}
out:
	buf[w] = 0;
}

void dns_name_lower(struct dns_name *nm)
{
	for (int i = 0; i < nm->nlabels; i++) {
		uint8_t *l = nm->wire + nm->off[i];
		for (uint8_t k = 1; k <= l[0]; k++)
			l[k] = lower(l[k]);
	}
}

bool dns_name_is_under(const struct dns_name *nm, const struct dns_name *suffix)
{
	if (suffix->nlabels > nm->nlabels)
		return false;
	int skip = nm->nlabels - suffix->nlabels;
	size_t from = skip < nm->nlabels ? nm->off[skip] : (size_t)nm->len - 1;
	if ((size_t)nm->len - from != suffix->len)
		return false;
	for (size_t i = 0; i < suffix->len; i++)
		if (lower(nm->wire[from + i]) != lower(suffix->wire[i]))
			return false;
	return true;
}

int dns_name_prepend(struct dns_name *out, const char *label, size_t label_len, const struct dns_name *nm,
		     int from)
{
	name_root(out);
	if (label && name_add_label(out, (const uint8_t *)label, label_len) < 0)
		return -1;
	for (int i = from; i < nm->nlabels; i++) {
		size_t n;
		const uint8_t *l = dns_name_label(nm, i, &n);
		if (name_add_label(out, l, n) < 0)
			return -1;
	}
	return 0;
}

/* Reads the name at *offp of <p, n> into <out>. With <pointers> false a
 * compression pointer is an error (a query's question has nothing before it
 * to point at). With it true, every jump must land before the run of
 * labels it was reached from and after the header, so reading always ends;
 * the 255-byte limit applies to the decompressed name. On success *offp is
 * just past the name as stored (after the first pointer, if any). */
static int read_name(const uint8_t *p, size_t n, size_t *offp, struct dns_name *out, bool pointers,
		     const char **why)
{
	size_t off = *offp, seg = *offp, end = 0;
	bool jumped = false;

	name_root(out);
	for (;;) {
		if (off >= n) {
			*why = "name cut short";
			return -1;
		}
		uint8_t c = p[off];
		if ((c & 0xc0) == 0xc0) {
			if (!pointers) {
				*why = "compression pointer in the question";
				return -1;
			}
			if (off + 1 >= n) {
				*why = "compression pointer cut short";
				return -1;
			}
			size_t to = (size_t)(c & 0x3f) << 8 | p[off + 1];
			if (to >= seg || to < DNS_HDR_LEN) {
				*why = "compression pointer not pointing backwards into the message";
				return -1;
			}
			if (!jumped)
				end = off + 2;
			jumped = true;
			off = seg = to;
			continue;
		}
		if (c & 0xc0) {
			*why = "unknown label type";
			return -1;
		}
		if (c == 0) {
			if (!jumped)
				end = off + 1;
			break;
		}
		if (off + 1 + c > n) {
			*why = "label cut short";
			return -1;
		}
		if (name_add_label(out, p + off + 1, c) < 0) {
			*why = "name longer than 255 bytes";
			return -1;
		}
		off += 1 + (size_t)c;
	}
	*offp = end;
	return 0;
}

/* ---- parsing queries ---- */

/* Checks an OPT record's options: code, length, data, filling RDATA exactly. */
static bool opt_options_ok(const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		if (off + 4 > n)
			return false;
		size_t olen = rd16(p + off + 2);
		if (off + 4 + olen > n)
			return false;
		off += 4 + olen;
	}
	return true;
}

enum dns_parse_rc dns_query_parse(const uint8_t *p, size_t n, struct dns_query *q, const char **why)
{
	size_t off = DNS_HDR_LEN;

	q->id = q->flags = 0;
	q->edns = false;
	q->edns_udp = 0;
	q->edns_version = 0;
	q->edns_flags = 0;
	q->question = NULL;
	q->question_len = 0;
	q->qtype = q->qclass = 0;
	name_root(&q->qname);
	if (n < DNS_HDR_LEN) {
		*why = "shorter than a header";
		return DNS_PARSE_DROP;
	}
	q->id = rd16(p);
	q->flags = rd16(p + 2);
	/* Answering a response could start a loop between two servers. */
	if (q->flags & DNS_F_QR) {
		*why = "a response, not a query";
		return DNS_PARSE_DROP;
	}
	if (DNS_OPCODE(q->flags) != 0) {
		*why = "opcode other than QUERY";
		return DNS_PARSE_NOTIMP;
	}
	uint16_t qd = rd16(p + 4), an = rd16(p + 6), ns = rd16(p + 8), ar = rd16(p + 10);
	if (qd != 1) {
		*why = "expected exactly one question";
		return DNS_PARSE_FORMERR;
	}
	if (an || ns) {
		*why = "a query carries no answer or authority records";
		return DNS_PARSE_FORMERR;
	}
	if (read_name(p, n, &off, &q->qname, false, why) < 0)
		return DNS_PARSE_FORMERR;
	if (off + 4 > n) {
		*why = "question cut short";
		return DNS_PARSE_FORMERR;
	}
	dns_name_lower(&q->qname);
	q->qtype = rd16(p + off);
	q->qclass = rd16(p + off + 2);
	off += 4;
	q->question = p + DNS_HDR_LEN;
	q->question_len = off - DNS_HDR_LEN;
	/* Each record takes at least 11 bytes, so <ar> is bounded by <n>:
	 * the loop below cannot run longer than the packet is. */
	for (uint16_t i = 0; i < ar; i++) {
		struct dns_name owner;
		if (read_name(p, n, &off, &owner, true, why) < 0)
			return DNS_PARSE_FORMERR;
		if (off + 10 > n) {
			*why = "additional record cut short";
			return DNS_PARSE_FORMERR;
		}
		uint16_t type = rd16(p + off), rclass = rd16(p + off + 2);
		uint32_t ttl = rd32(p + off + 4);
		size_t rdlen = rd16(p + off + 8);
		off += 10;
		if (off + rdlen > n) {
			*why = "additional record's data cut short";
			return DNS_PARSE_FORMERR;
		}
		if (type == DNS_T_OPT) {
			/* RFC 6891 6.1.1: one OPT at most, owned by the root. */
			if (q->edns) {
				*why = "more than one OPT record";
				return DNS_PARSE_FORMERR;
			}
			if (owner.nlabels) {
				*why = "OPT record not owned by the root";
				return DNS_PARSE_FORMERR;
			}
			if (!opt_options_ok(p + off, rdlen)) {
				*why = "malformed EDNS0 option";
				return DNS_PARSE_FORMERR;
			}
			q->edns = true;
			q->edns_udp = rclass;
			q->edns_version = (uint8_t)(ttl >> 16);
			q->edns_flags = (uint16_t)ttl;
		}
		/* Other records (TSIG, SIG(0)) are skipped: nothing is signed
		 * here, and the answer is the same without them. */
		off += rdlen;
	}
	if (off != n) {
		*why = "trailing bytes after the last record";
		return DNS_PARSE_FORMERR;
	}
	return DNS_PARSE_OK;
}

/* ---- reading any message ---- */

static int read_rdata(const uint8_t *p, size_t n, struct dns_rr *rr, const char **why)
{
	size_t off = rr->rdoff, end = rr->rdoff + rr->rdlen;

	switch (rr->type) {
	case DNS_T_A:
		if (rr->rdlen != 4)
			goto bad;
		memcpy(rr->d.a, p + off, 4);
		return 0;
	case DNS_T_AAAA:
		if (rr->rdlen != 16)
			goto bad;
		memcpy(rr->d.aaaa, p + off, 16);
		return 0;
	case DNS_T_NS:
	case DNS_T_CNAME:
	case DNS_T_PTR:
		if (read_name(p, end, &off, &rr->d.ns, true, why) < 0)
			return -1;
		break;
	case DNS_T_SRV:
		if (rr->rdlen < 7)
			goto bad;
		rr->d.srv.prio = rd16(p + off);
		rr->d.srv.weight = rd16(p + off + 2);
		rr->d.srv.port = rd16(p + off + 4);
		off += 6;
		if (read_name(p, end, &off, &rr->d.srv.target, true, why) < 0)
			return -1;
		break;
	case DNS_T_SOA:
		if (read_name(p, end, &off, &rr->d.soa.mname, true, why) < 0 ||
		    read_name(p, end, &off, &rr->d.soa.rname, true, why) < 0)
			return -1;
		if (off + 20 != end)
			goto bad;
		rr->d.soa.serial = rd32(p + off);
		rr->d.soa.refresh = rd32(p + off + 4);
		rr->d.soa.retry = rd32(p + off + 8);
		rr->d.soa.expire = rd32(p + off + 12);
		rr->d.soa.minimum = rd32(p + off + 16);
		return 0;
	case DNS_T_OPT:
		if (!opt_options_ok(p + off, rr->rdlen)) {
			*why = "malformed EDNS0 option";
			return -1;
		}
		return 0;
	default:
		return 0;
	}
	/* A name in RDATA must end exactly where the RDATA does. */
	if (off != end)
		goto bad;
	return 0;
bad:
	*why = "record data does not match its type";
	return -1;
}

int dns_msg_parse(const uint8_t *p, size_t n, struct dns_msg *m, const char **why)
{
	size_t off = DNS_HDR_LEN;

	memset(m, 0, sizeof(*m));
	if (n < DNS_HDR_LEN) {
		*why = "shorter than a header";
		return -1;
	}
	m->id = rd16(p);
	m->flags = rd16(p + 2);
	for (int s = 0; s < 4; s++)
		m->count[s] = rd16(p + 4 + 2 * s);
	for (uint16_t i = 0; i < m->count[DNS_S_QD]; i++) {
		struct dns_name nm;
		if (read_name(p, n, &off, &nm, i > 0, why) < 0)
			return -1;
		if (off + 4 > n) {
			*why = "question cut short";
			return -1;
		}
		if (i == 0) {
			m->qname = nm;
			m->qtype = rd16(p + off);
			m->qclass = rd16(p + off + 2);
		}
		off += 4;
	}
	for (int s = DNS_S_AN; s <= DNS_S_AR; s++) {
		/* Bounded by the packet: a record takes 11 bytes at least. */
		if ((size_t)m->count[s] * 11 > n) {
			*why = "more records announced than the message can hold";
			return -1;
		}
		m->rr[s] = XNEWV(struct dns_rr, m->count[s] ? m->count[s] : 1);
		for (uint16_t i = 0; i < m->count[s]; i++) {
			struct dns_rr *rr = &m->rr[s][i];
			if (read_name(p, n, &off, &rr->name, true, why) < 0)
				return -1;
			if (off + 10 > n) {
				*why = "record cut short";
				return -1;
			}
			rr->type = rd16(p + off);
			rr->rclass = rd16(p + off + 2);
			rr->ttl = rd32(p + off + 4);
			rr->rdlen = rd16(p + off + 8);
			rr->rdoff = off + 10;
			off += 10;
			if (off + rr->rdlen > n) {
				*why = "record data cut short";
				return -1;
			}
			if (read_rdata(p, n, rr, why) < 0)
				return -1;
			off += rr->rdlen;
			if (rr->type == DNS_T_OPT) {
				if (s != DNS_S_AR || m->edns || rr->name.nlabels) {
					*why = "misplaced OPT record";
					return -1;
				}
				m->edns = true;
				m->edns_udp = rr->rclass;
				m->edns_ext_rcode = (uint8_t)(rr->ttl >> 24);
				m->edns_version = (uint8_t)(rr->ttl >> 16);
				m->edns_flags = (uint16_t)rr->ttl;
			}
		}
	}
	if (off != n) {
		*why = "trailing bytes after the last record";
		return -1;
	}
	return 0;
}

void dns_msg_free(struct dns_msg *m)
{
	for (int s = 0; s < 4; s++) {
		free(m->rr[s]);
		m->rr[s] = NULL;
	}
}

/* ---- building responses ---- */

void dns_b_init(struct dns_builder *b, uint8_t *p, size_t cap, size_t limit, uint16_t id, uint16_t flags)
{
	BUG_ON(cap < DNS_HDR_LEN);
	b->p = p;
	b->cap = cap;
	b->limit = limit < cap ? limit : cap;
	b->len = DNS_HDR_LEN;
	b->flags = flags;
	memset(b->count, 0, sizeof(b->count));
	b->section = DNS_S_QD;
	b->ncomp = 0;
	wr16(p, id);
	memset(p + 2, 0, DNS_HDR_LEN - 2);
}

struct dns_b_mark dns_b_mark(const struct dns_builder *b)
{
	struct dns_b_mark m = {.len = b->len, .section = b->section, .ncomp = b->ncomp};

	memcpy(m.count, b->count, sizeof(m.count));
	return m;
}

void dns_b_rollback(struct dns_builder *b, const struct dns_b_mark *m)
{
	b->len = m->len;
	b->section = m->section;
	b->ncomp = m->ncomp;
	memcpy(b->count, m->count, sizeof(b->count));
}

size_t dns_b_finish(struct dns_builder *b)
{
	wr16(b->p + 2, b->flags);
	for (int s = 0; s < 4; s++)
		wr16(b->p + 4 + 2 * s, b->count[s]);
	return b->len;
}

/* Whether the name stored at <off> in the message equals the labels of
 * <wire> from <from> on, ASCII case-insensitively. The message holds only
 * what the builder wrote, so its pointers are sound; the hop bound is a
 * belt for the braces. */
static bool msg_name_eq(const struct dns_builder *b, size_t off, const uint8_t *wire, size_t from)
{
	size_t w = from;
	int hops = 0;

	for (;;) {
		uint8_t c = b->p[off];
		if ((c & 0xc0) == 0xc0) {
			if (++hops > DNS_MAX_LABELS)
				return false;
			off = (size_t)(c & 0x3f) << 8 | b->p[off + 1];
			continue;
		}
		if (c != wire[w])
			return false;
		if (c == 0)
			return true;
		for (size_t k = 1; k <= c; k++)
			if (lower(b->p[off + k]) != lower(wire[w + k]))
				return false;
		off += 1 + (size_t)c;
		w += 1 + (size_t)c;
	}
}

/* Writes <nm> at the end of the message, pointing at an earlier copy of its
 * longest known suffix when <compress>. Every label written becomes a
 * pointer target for later names (offsets past 0x3fff cannot be pointed
 * at). The caller has checked the room for the whole, uncompressed name. */
static void put_name(struct dns_builder *b, const struct dns_name *nm, bool compress)
{
	int i = 0;
	int hit = -1;

	if (compress) {
		for (i = 0; i < nm->nlabels && hit < 0; i++)
			for (int k = 0; k < b->ncomp && hit < 0; k++)
				if (msg_name_eq(b, b->comp[k], nm->wire, nm->off[i]))
					hit = k;
		if (hit >= 0)
			i--; /* the loop went one past the suffix that matched */
	} else {
		i = nm->nlabels;
	}
	int upto = hit >= 0 ? i : nm->nlabels;
	for (int l = 0; l < upto; l++) {
		size_t n = nm->wire[nm->off[l]];
		if (b->len <= 0x3fff && b->ncomp < DNS_COMP_MAX)
			b->comp[b->ncomp++] = (uint16_t)b->len;
		memcpy(b->p + b->len, nm->wire + nm->off[l], 1 + n);
		b->len += 1 + n;
	}
	if (hit >= 0) {
		wr16(b->p + b->len, (uint16_t)(0xc000 | b->comp[hit]));
		b->len += 2;
	} else {
		b->p[b->len++] = 0;
	}
}

int dns_b_question(struct dns_builder *b, const uint8_t *raw, size_t raw_len, const struct dns_name *name,
		   uint16_t qtype, uint16_t qclass)
{
	struct dns_name tmp;

	BUG_ON(b->section != DNS_S_QD || b->count[DNS_S_AN] || b->count[DNS_S_NS] || b->count[DNS_S_AR]);
	if (raw) {
		/* A question as received: our parser has checked it is a plain
		 * name (no pointers) plus type and class. */
		size_t off = 0;
		const char *why;
		if (raw_len < 5)
			return -1;
		if (read_name(raw, raw_len, &off, &tmp, false, &why) < 0 || off + 4 != raw_len)
			return -1;
		/* <tmp> keeps the client's spelling: resolvers that randomise
		 * the case of their questions (0x20) check it. */
		name = &tmp;
		qtype = rd16(raw + off);
		qclass = rd16(raw + off + 2);
	}
	if (b->len + name->len + 4 > b->cap)
		return -1;
	struct dns_b_mark mk = dns_b_mark(b);
	put_name(b, name, b->count[DNS_S_QD] > 0);
	wr16(b->p + b->len, qtype);
	wr16(b->p + b->len + 2, qclass);
	b->len += 4;
	if (b->len > b->limit) {
		dns_b_rollback(b, &mk);
		return -1;
	}
	b->count[DNS_S_QD]++;
	return 0;
}

/* Starts a record: checks the order of sections and that the record,
 * at its worst (names uncompressed, <rdmax> bytes of data), cannot pass
 * the buffer's end, then writes the owner, type, class and TTL. Returns
 * the offset of RDLENGTH, or 0 when there is no room. */
static size_t rr_begin(struct dns_builder *b, int sec, const struct dns_name *name, uint16_t type, uint16_t rclass,
		       uint32_t ttl, size_t rdmax)
{
	BUG_ON(sec < DNS_S_AN || sec > DNS_S_AR || sec < b->section);
	if (b->len + name->len + 10 + rdmax > b->cap || b->count[sec] == UINT16_MAX)
		return 0;
	b->section = sec;
	put_name(b, name, true);
	wr16(b->p + b->len, type);
	wr16(b->p + b->len + 2, rclass);
	wr32(b->p + b->len + 4, ttl);
	b->len += 10;
	return b->len - 2;
}

/* Ends a record begun at <mk>: compressed, it may fit where its worst
 * case would not, so the limit is checked on what was written. Returns 0,
 * or -1 after undoing the record. */
static int rr_end(struct dns_builder *b, int sec, size_t rdlen_at, const struct dns_b_mark *mk)
{
	if (b->len > b->limit) {
		dns_b_rollback(b, mk);
		return -1;
	}
	wr16(b->p + rdlen_at, (uint16_t)(b->len - rdlen_at - 2));
	b->count[sec]++;
	return 0;
}

int dns_b_a(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl, const uint8_t ip[4])
{
	struct dns_b_mark mk = dns_b_mark(b);
	size_t at = rr_begin(b, sec, name, DNS_T_A, DNS_C_IN, ttl, 4);

	if (!at)
		return -1;
	memcpy(b->p + b->len, ip, 4);
	b->len += 4;
	return rr_end(b, sec, at, &mk);
}

int dns_b_aaaa(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl, const uint8_t ip[16])
{
	struct dns_b_mark mk = dns_b_mark(b);
	size_t at = rr_begin(b, sec, name, DNS_T_AAAA, DNS_C_IN, ttl, 16);

	if (!at)
		return -1;
	memcpy(b->p + b->len, ip, 16);
	b->len += 16;
	return rr_end(b, sec, at, &mk);
}

int dns_b_ns(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl,
	     const struct dns_name *target)
{
	struct dns_b_mark mk = dns_b_mark(b);
	size_t at = rr_begin(b, sec, name, DNS_T_NS, DNS_C_IN, ttl, target->len);

	if (!at)
		return -1;
	put_name(b, target, true);
	return rr_end(b, sec, at, &mk);
}

int dns_b_srv(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl, uint16_t prio,
	      uint16_t weight, uint16_t port, const struct dns_name *target)
{
	struct dns_b_mark mk = dns_b_mark(b);
	size_t at = rr_begin(b, sec, name, DNS_T_SRV, DNS_C_IN, ttl, 6 + (size_t)target->len);

	if (!at)
		return -1;
	wr16(b->p + b->len, prio);
	wr16(b->p + b->len + 2, weight);
	wr16(b->p + b->len + 4, port);
	b->len += 6;
	put_name(b, target, false);
	return rr_end(b, sec, at, &mk);
}

int dns_b_soa(struct dns_builder *b, int sec, const struct dns_name *name, uint32_t ttl,
	      const struct dns_name *mname, const struct dns_name *rname, const uint32_t times[5])
{
	struct dns_b_mark mk = dns_b_mark(b);
	size_t at = rr_begin(b, sec, name, DNS_T_SOA, DNS_C_IN, ttl, (size_t)mname->len + rname->len + 20);

	if (!at)
		return -1;
	put_name(b, mname, true);
	put_name(b, rname, true);
	for (int i = 0; i < 5; i++)
		wr32(b->p + b->len + 4 * (size_t)i, times[i]);
	b->len += 20;
	return rr_end(b, sec, at, &mk);
}

int dns_b_opt(struct dns_builder *b, uint16_t udp, uint8_t ext_rcode, uint16_t flags)
{
	static const struct dns_name root = {.wire = {0}, .len = 1};
	/* The OPT TTL: extended rcode, version 0, flags. */
	struct dns_b_mark mk = dns_b_mark(b);
	size_t at = rr_begin(b, DNS_S_AR, &root, DNS_T_OPT, udp, (uint32_t)ext_rcode << 24 | flags, 0);

	if (!at)
		return -1;
	return rr_end(b, DNS_S_AR, at, &mk);
}
