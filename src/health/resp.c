/* RESP2 replies: a strict, bounded parser into a flat node array, and the command writer. */
#include "health/resp.h"

#include <stdbool.h>
#include <string.h>

struct pstate {
	const char *p;           /* the input */
	size_t len;
	size_t pos;              /* next byte to read */
	struct health_resp *r;
};

/* Finds the CRLF ending the line at st->pos, which may hold no other CR
 * or LF; *end is the offset of its CR. A line longer than <max> bytes is
 * over the limit (<limit_rc>) as soon as that is certain. */
static int line_end(const struct pstate *st, size_t max, int limit_rc, size_t *end)
{
	for (size_t i = st->pos; i < st->len; i++) {
		if (st->p[i] == '\n')
			return HEALTH_RESP_ERR_BAD;
		if (st->p[i] == '\r') {
			if (i + 1 == st->len)
				return HEALTH_RESP_INCOMPLETE;
			if (st->p[i + 1] != '\n')
				return HEALTH_RESP_ERR_BAD;
			if (i - st->pos > max)
				return limit_rc;
			*end = i;
			return 1;
		}
		if (i - st->pos >= max)
			return limit_rc;
	}
	return HEALTH_RESP_INCOMPLETE;
}

/* A canonical decimal line: "0", or an optional '-' then [1-9][0-9]*,
 * never "-0", within int64. Checked byte by byte, so that a prefix of a
 * valid number is never called bad. */
static int number(struct pstate *st, int64_t *out)
{
	const char *s = st->p + st->pos;
	size_t avail = st->len - st->pos, i = 0, first;
	bool neg = false;
	uint64_t v = 0, lim;

	if (avail > 0 && s[0] == '-') {
		neg = true;
		i++;
	}
	first = i;
	lim = neg ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
	for (; i < avail && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (i > first && s[first] == '0')
			return HEALTH_RESP_ERR_BAD; /* a leading zero */
		if (neg && d == 0 && i == first)
			return HEALTH_RESP_ERR_BAD; /* "-0" */
		if (v > (lim - d) / 10)
			return HEALTH_RESP_ERR_BAD;
		v = v * 10 + d;
	}
	if (i == avail)
		return HEALTH_RESP_INCOMPLETE;
	if (s[i] != '\r' || i == first)
		return HEALTH_RESP_ERR_BAD;
	if (i + 1 == avail)
		return HEALTH_RESP_INCOMPLETE;
	if (s[i + 1] != '\n')
		return HEALTH_RESP_ERR_BAD;
	*out = !neg ? (int64_t)v : v == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)v;
	st->pos += i + 2;
	return 1;
}

static int value(struct pstate *st, int depth)
{
	struct health_resp *r = st->r;
	struct health_resp_node *node;
	int idx, rc;
	size_t end;
	int64_t n;

	if (st->pos >= st->len)
		return HEALTH_RESP_INCOMPLETE;
	if (r->nnodes >= HEALTH_RESP_MAX_NODES)
		return HEALTH_RESP_ERR_LIMIT;
	idx = r->nnodes++;
	node = &r->nodes[idx];
	memset(node, 0, sizeof(*node));
	switch (st->p[st->pos++]) {
	case '+':
	case '-':
		node->type = st->p[st->pos - 1] == '+' ? HEALTH_RESP_SIMPLE : HEALTH_RESP_ERROR;
		rc = line_end(st, HEALTH_RESP_MAX_STR, HEALTH_RESP_ERR_LIMIT, &end);
		if (rc <= 0)
			return rc;
		node->str = (struct slice){st->p + st->pos, end - st->pos};
		st->pos = end + 2;
		break;
	case ':':
		node->type = HEALTH_RESP_INTEGER;
		if ((rc = number(st, &node->integer)) <= 0)
			return rc;
		break;
	case '$':
		node->type = HEALTH_RESP_BULK;
		if ((rc = number(st, &n)) <= 0)
			return rc;
		if (n == -1) {
			node->null = 1;
			break;
		}
		if (n < 0)
			return HEALTH_RESP_ERR_BAD;
		if (n > (int64_t)HEALTH_RESP_MAX_STR)
			return HEALTH_RESP_ERR_LIMIT;
		node->str = (struct slice){st->p + st->pos, (size_t)n};
		/* the bytes are opaque; what must follow them is CRLF */
		if (st->len - st->pos < (size_t)n + 2) {
			size_t have = st->len - st->pos;
			if (have > (size_t)n && st->p[st->pos + (size_t)n] != '\r')
				return HEALTH_RESP_ERR_BAD;
			return HEALTH_RESP_INCOMPLETE;
		}
		if (st->p[st->pos + (size_t)n] != '\r' || st->p[st->pos + (size_t)n + 1] != '\n')
			return HEALTH_RESP_ERR_BAD;
		st->pos += (size_t)n + 2;
		break;
	case '*':
		node->type = HEALTH_RESP_ARRAY;
		if ((rc = number(st, &n)) <= 0)
			return rc;
		if (n == -1) {
			node->null = 1;
			break;
		}
		if (n < 0)
			return HEALTH_RESP_ERR_BAD;
		if (n > HEALTH_RESP_MAX_NODES - r->nnodes)
			return HEALTH_RESP_ERR_LIMIT;
		if (n > 0 && depth >= HEALTH_RESP_MAX_DEPTH)
			return HEALTH_RESP_ERR_LIMIT;
		node->integer = n;
		for (int64_t i = 0; i < n; i++)
			if ((rc = value(st, depth + 1)) <= 0)
				return rc;
		break;
	default:
		/* RESP3's types, inline commands, junk */
		return HEALTH_RESP_ERR_BAD;
	}
	node->next = r->nnodes;
	return 1;
}

int health_resp_parse(const char *p, size_t len, struct health_resp *r)
{
	struct pstate st = {p, len, 0, r};
	int rc;

	r->nnodes = 0;
	/* lengths are returned as int: a reply is far smaller anyway */
	if (st.len > (size_t)HEALTH_RESP_MAX_NODES * (HEALTH_RESP_MAX_STR + 32))
		st.len = (size_t)HEALTH_RESP_MAX_NODES * (HEALTH_RESP_MAX_STR + 32);
	rc = value(&st, 0);
	if (rc <= 0)
		return rc;
	return (int)st.pos;
}

int health_resp_item(const struct health_resp *r, int at, int i)
{
	int k;

	if (at < 0 || at >= r->nnodes || r->nodes[at].type != HEALTH_RESP_ARRAY || i < 0 ||
	    i >= r->nodes[at].integer)
		return -1;
	k = at + 1;
	while (i-- > 0)
		k = r->nodes[k].next;
	return k;
}

static void append_len(struct buf *b, char type, size_t n)
{
	buf_append(b, &type, 1);
	buf_append_u64(b, n);
	buf_append(b, "\r\n", 2);
}

void health_resp_command(struct buf *b, int argc, const char *const *argv)
{
	append_len(b, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);
		append_len(b, '$', n);
		buf_append(b, argv[i], n);
		buf_append(b, "\r\n", 2);
	}
}
