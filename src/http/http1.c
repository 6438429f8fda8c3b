/* Strict HTTP/1.1 codec: request and response heads, body framing, chunked bodies. */
#include "http/http1.h"

#include <limits.h>
#include <string.h>

const struct http1_limits http1_default_limits = {
	.max_head = 16384,
	.max_headers = HTTP1_MAX_HEADERS,
};

/* Byte classes, one table lookup per byte in the hot loops. */
#define C_TOKEN  0x01 /* tchar (RFC 9110 5.6.2): methods, header names. */
#define C_FIELD  0x02 /* field value or reason phrase: HT, SP, VCHAR, obs-text. */
#define C_TARGET 0x04 /* request-target: VCHAR and obs-text, so no CTL and no SP. */

static const unsigned char cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
	2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 0x20 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0x30 */
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 0x50 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 0x70 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x80 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x90 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xa0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xb0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xc0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xd0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xe0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xf0 */
};

static inline bool is_class(char c, unsigned mask)
{
	return cls[(unsigned char)c] & mask;
}

static inline bool is_digit(char c)
{
	return (unsigned)(unsigned char)c - '0' < 10;
}

/* The value of hex digit <c>, or -1. */
static inline int hex_value(unsigned char c)
{
	if ((unsigned)c - '0' < 10)
		return c - '0';
	c |= 0x20;
	if ((unsigned)c - 'a' < 6)
		return c - 'a' + 10;
	return -1;
}

/* Case-insensitive match of <s> against the lowercase literal <lc>. OR-ing
 * 0x20 folds only letters here: the literals hold letters, '-', '/' and ':',
 * and the bytes that fold onto those three are CTLs, which the callers have
 * already refused. */
static bool name_is(struct slice s, const char *lc, size_t lclen)
{
	if (s.len != lclen)
		return false;
	for (size_t i = 0; i < lclen; i++)
		if (((unsigned char)s.ptr[i] | 0x20) != (unsigned char)lc[i])
			return false;
	return true;
}

#define NAME_IS(s, lit) name_is((s), (lit), sizeof(lit) - 1)

/* Pops the next element of the comma-separated list <l> into <item>, trimmed
 * and possibly empty. Returns false once the list is used up; an empty list
 * yields one empty element, so callers can refuse it. */
static bool list_next(struct slice *l, struct slice *item)
{
	if (!l->ptr)
		return false;
	const char *comma = memchr(l->ptr, ',', l->len);
	size_t n = comma ? (size_t)(comma - l->ptr) : l->len;

	*item = slice_trim((struct slice){l->ptr, n});
	if (comma) {
		l->ptr = comma + 1;
		l->len -= n + 1;
	} else {
		*l = SLICE_NULL;
	}
	return true;
}

/* What the header lines said, gathered in one pass and judged at the end. */
struct head_ctx {
	int max_headers;     /* effective header count limit */
	int nhost;           /* Host headers seen */
	struct slice host;   /* value of the first Host header */
	bool has_cl;         /* a Content-Length was seen */
	uint64_t cl;         /* its value (all of them agree) */
	bool has_te;         /* a Transfer-Encoding was seen */
	bool te_unknown;     /* ...listing a coding other than chunked */
	int te_codings;      /* codings listed over all Transfer-Encoding headers */
	bool conn_close;     /* Connection: close */
	bool conn_keepalive; /* Connection: keep-alive */
	bool conn_upgrade;   /* Connection: upgrade */
	bool upgrade;        /* an Upgrade header naming at least one protocol */
	bool websocket;      /* ...one of which is websocket */
	bool expect_100;     /* Expect: 100-continue */
};

static void msg_reset(struct http1_msg *msg)
{
	/* Not a memset: the header array is 3 KiB and only nheaders count. */
	msg->method = HTTP1_M_OTHER;
	msg->method_str = msg->target = msg->path = msg->host = msg->reason = SLICE_NULL;
	msg->status = 0;
	msg->version_minor = 0;
	msg->flags = 0;
	msg->body = HTTP1_BODY_NONE;
	msg->content_length = 0;
	msg->head_len = 0;
	msg->nheaders = 0;
}

static void limits_resolve(const struct http1_limits *lim, size_t *max_head, int *max_headers)
{
	if (!lim)
		lim = &http1_default_limits;
	/* Zero means "default", so a zeroed config struct is usable. The head
	 * length must fit the int we return. */
	*max_head = lim->max_head ? lim->max_head : http1_default_limits.max_head;
	if (*max_head > INT_MAX)
		*max_head = INT_MAX;
	*max_headers = lim->max_headers;
	if (*max_headers <= 0 || *max_headers > HTTP1_MAX_HEADERS)
		*max_headers = HTTP1_MAX_HEADERS;
}

/* Finds the end of the head at the start of <p, len>. Returns the head length
 * (the first CRLF CRLF is the end: a valid head holds no empty line and no
 * bare CR or LF before it), or INCOMPLETE, or the error that is already
 * certain: TOO_LARGE, or BAD for a NUL, a bare LF or a bare CR. */
static int head_find(const char *p, size_t len, size_t max_head, int max_headers)
{
	size_t win = len < max_head ? len : max_head;
	const char *end, *e;
	int lines = 0;

	if (len == 0) /* <p> may then be NULL: no pointer arithmetic on it */
		return HTTP1_INCOMPLETE;
	end = p + len;
	e = memmem(p, win, "\r\n\r\n", 4);
	if (e)
		return (int)(e - p) + 4;
	if (len >= max_head)
		return HTTP1_ERR_TOO_LARGE;
	/* Incomplete: a few memchr passes (far faster than a parse) catch the
	 * garbage that would otherwise sit in our buffer up to max_head. */
	if (memchr(p, '\0', len))
		return HTTP1_ERR_BAD;
	for (const char *q = p; (q = memchr(q, '\n', (size_t)(end - q))); q++) {
		if (q == p || q[-1] != '\r')
			return HTTP1_ERR_BAD;
		/* Every complete line but the start line is a header. */
		if (++lines > max_headers + 1)
			return HTTP1_ERR_TOO_LARGE;
	}
	for (const char *q = p; (q = memchr(q, '\r', (size_t)(end - q))); q++)
		if (q + 1 < end && q[1] != '\n')
			return HTTP1_ERR_BAD;
	return HTTP1_INCOMPLETE;
}

/* Parses "HTTP/x.y" at <v>, which has at least 8 readable bytes. */
static int version_parse(const char *v, int *minor)
{
	if (memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]))
		return HTTP1_ERR_BAD;
	if (v[5] != '1' || v[7] > '1')
		return HTTP1_ERR_VERSION;
	*minor = v[7] - '0';
	return 0;
}

static enum http1_method method_lookup(struct slice m)
{
	/* Methods are case-sensitive (RFC 9110 9.1): "get" is some other token. */
	switch (m.len) {
	case 3:
		if (!memcmp(m.ptr, "GET", 3))
			return HTTP1_M_GET;
		if (!memcmp(m.ptr, "PUT", 3))
			return HTTP1_M_PUT;
		break;
	case 4:
		if (!memcmp(m.ptr, "POST", 4))
			return HTTP1_M_POST;
		if (!memcmp(m.ptr, "HEAD", 4))
			return HTTP1_M_HEAD;
		break;
	case 5:
		if (!memcmp(m.ptr, "PATCH", 5))
			return HTTP1_M_PATCH;
		if (!memcmp(m.ptr, "TRACE", 5))
			return HTTP1_M_TRACE;
		break;
	case 6:
		if (!memcmp(m.ptr, "DELETE", 6))
			return HTTP1_M_DELETE;
		break;
	case 7:
		if (!memcmp(m.ptr, "OPTIONS", 7))
			return HTTP1_M_OPTIONS;
		if (!memcmp(m.ptr, "CONNECT", 7))
			return HTTP1_M_CONNECT;
		break;
	}
	return HTTP1_M_OTHER;
}

/* Parses the request line of the head <p, end>; *pos is left on the first
 * header line. */
static int request_line_parse(const char *p, size_t end, struct http1_msg *msg, size_t *pos)
{
	size_t i = 0, t;
	int rc;

	/* The scans below need no bounds checks: the head ends in CRLF CRLF
	 * and CR is in none of the classes, so every scan stops by then. */
	while (is_class(p[i], C_TOKEN))
		i++;
	if (i == 0 || p[i] != ' ')
		return HTTP1_ERR_BAD;
	msg->method_str = (struct slice){p, i};
	msg->method = method_lookup(msg->method_str);
	t = ++i;
	while (is_class(p[i], C_TARGET))
		i++;
	if (i == t || p[i] != ' ')
		return HTTP1_ERR_BAD;
	msg->target = (struct slice){p + t, i - t};
	i++;
	if (end - i < 10) /* "HTTP/1.1" CRLF, and at least one more byte */
		return HTTP1_ERR_BAD;
	rc = version_parse(p + i, &msg->version_minor);
	if (rc)
		return rc;
	i += 8;
	if (p[i] != '\r' || p[i + 1] != '\n')
		return HTTP1_ERR_BAD;
	*pos = i + 2;
	return 0;
}

/* Parses the status line of the head <p, end>; *pos is left on the first
 * header line. */
static int status_line_parse(const char *p, size_t end, struct http1_msg *msg, size_t *pos)
{
	size_t i;
	int rc;

	if (end < 13) /* "HTTP/1.1 200" and one byte more are read at once */
		return HTTP1_ERR_BAD;
	rc = version_parse(p, &msg->version_minor);
	if (rc)
		return rc;
	if (p[8] != ' ' || !is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11]))
		return HTTP1_ERR_BAD;
	msg->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (msg->status < 100)
		return HTTP1_ERR_BAD;
	i = 12;
	/* The SP before an empty reason is often left out; that is harmless. */
	if (p[i] == ' ') {
		size_t r = ++i;
		while (is_class(p[i], C_FIELD))
			i++;
		msg->reason = (struct slice){p + r, i - r};
	} else {
		msg->reason = (struct slice){p + i, 0};
	}
	if (p[i] != '\r' || p[i + 1] != '\n')
		return HTTP1_ERR_BAD;
	*pos = i + 2;
	return 0;
}

static int content_length_apply(struct head_ctx *h, struct slice v)
{
	struct slice item;
	uint64_t n;

	/* "5, 5" is what a bad proxy makes of two equal headers: tolerated.
	 * Anything else that could be read two ways is refused. */
	while (list_next(&v, &item)) {
		if (slice_to_u64(item, &n) < 0)
			return HTTP1_ERR_BAD;
		if (h->has_cl && n != h->cl)
			return HTTP1_ERR_BAD;
		h->has_cl = true;
		h->cl = n;
	}
	return 0;
}

static int transfer_encoding_apply(struct head_ctx *h, struct slice v)
{
	struct slice item;

	/* Several headers form one list (RFC 9110 5.3); judged at the end. */
	h->has_te = true;
	while (list_next(&v, &item)) {
		if (item.len == 0)
			return HTTP1_ERR_BAD;
		h->te_codings++;
		if (!slice_eq_ci(item, SLICE_LIT("chunked")))
			h->te_unknown = true;
	}
	return 0;
}

static void connection_apply(struct head_ctx *h, struct slice v)
{
	struct slice item;

	while (list_next(&v, &item)) {
		if (slice_eq_ci(item, SLICE_LIT("close")))
			h->conn_close = true;
		else if (slice_eq_ci(item, SLICE_LIT("keep-alive")))
			h->conn_keepalive = true;
		else if (slice_eq_ci(item, SLICE_LIT("upgrade")))
			h->conn_upgrade = true;
	}
}

static void upgrade_apply(struct head_ctx *h, struct slice v)
{
	struct slice item;

	while (list_next(&v, &item)) {
		if (item.len == 0)
			continue;
		h->upgrade = true;
		/* protocol-name ["/" protocol-version] */
		const char *slash = memchr(item.ptr, '/', item.len);
		if (slash)
			item.len = (size_t)(slash - item.ptr);
		if (slice_eq_ci(item, SLICE_LIT("websocket")))
			h->websocket = true;
	}
}

/* Notes what header <name: value> means for framing and the connection. */
static int header_apply(struct head_ctx *h, struct slice name, struct slice value)
{
	/* Dispatch on the length first: most headers match no known length. */
	switch (name.len) {
	case 4:
		if (NAME_IS(name, "host") && h->nhost++ == 0)
			h->host = value;
		break;
	case 6:
		if (NAME_IS(name, "expect") &&
		    slice_list_has_token(value, SLICE_LIT("100-continue")))
			h->expect_100 = true;
		break;
	case 7:
		if (NAME_IS(name, "upgrade"))
			upgrade_apply(h, value);
		break;
	case 10:
		if (NAME_IS(name, "connection"))
			connection_apply(h, value);
		break;
	case 14:
		if (NAME_IS(name, "content-length"))
			return content_length_apply(h, value);
		break;
	case 17:
		if (NAME_IS(name, "transfer-encoding"))
			return transfer_encoding_apply(h, value);
		break;
	}
	return 0;
}

/* Parses the header lines from <pos> to the end of the head <p, end>, which
 * head_find found to end in CRLF CRLF. Fills msg->headers and <h>. */
static int headers_parse(const char *p, size_t pos, size_t end, struct http1_msg *msg,
			 struct head_ctx *h)
{
	for (;;) {
		size_t start = pos, vstart, vend;
		int rc;

		if (p[pos] == '\r') {
			/* The empty line; by head_find it can only be the last one. */
			if (p[pos + 1] != '\n' || pos + 2 != end)
				return HTTP1_ERR_BAD;
			return 0;
		}
		/* As in the request line, CR stops every scan before <end>. */
		while (is_class(p[pos], C_TOKEN))
			pos++;
		/* Refuses an empty name, obs-fold (a line starting with SP or
		 * HT), a space before the colon and a line without a colon. */
		if (pos == start || p[pos] != ':')
			return HTTP1_ERR_BAD;
		struct slice name = {p + start, pos - start};
		pos++;
		while (p[pos] == ' ' || p[pos] == '\t')
			pos++;
		vstart = pos;
		while (is_class(p[pos], C_FIELD))
			pos++;
		/* Stopped on something else than CRLF: NUL, bare LF, bare CR or
		 * another CTL. */
		if (p[pos] != '\r' || p[pos + 1] != '\n')
			return HTTP1_ERR_BAD;
		vend = pos;
		while (vend > vstart && (p[vend - 1] == ' ' || p[vend - 1] == '\t'))
			vend--;
		pos += 2;
		if (msg->nheaders >= h->max_headers)
			return HTTP1_ERR_TOO_LARGE;
		struct http1_header *hd = &msg->headers[msg->nheaders++];
		hd->name = name;
		hd->value = (struct slice){p + vstart, vend - vstart};
		rc = header_apply(h, name, hd->value);
		if (rc)
			return rc;
	}
}

/* Judges Transfer-Encoding against the rest (RFC 9112 6.1, 6.3). */
static int framing_check(const struct head_ctx *h, int version_minor)
{
	if (!h->has_te)
		return 0;
	/* CL + TE is the classic smuggling vector; HTTP/1.0 has no TE. */
	if (h->has_cl || version_minor == 0)
		return HTTP1_ERR_BAD;
	if (h->te_unknown)
		return HTTP1_ERR_TE;
	/* Only "chunked" is left; more than once is malformed (6.1). */
	if (h->te_codings != 1)
		return HTTP1_ERR_BAD;
	return 0;
}

/* CONNECT's authority-form: uri-host ":" port, nothing else. */
static bool authority_form_ok(struct slice t)
{
	size_t i = t.len;

	while (i > 0 && is_digit(t.ptr[i - 1]))
		i--;
	if (i == t.len || i < 2 || t.ptr[i - 1] != ':')
		return false;
	for (size_t j = 0; j < i - 1; j++)
		if (t.ptr[j] == '/' || t.ptr[j] == '?' || t.ptr[j] == '#' || t.ptr[j] == '@')
			return false;
	return true;
}

/* Classifies the request-target (RFC 9112 3.2) and sets path, and host for
 * the absolute-form. */
static int target_parse(struct http1_msg *msg)
{
	static const char root[] = "/";
	struct slice t = msg->target;
	const char *e = t.ptr + t.len, *a, *q;

	if (t.ptr[0] == '/') {
		if (msg->method == HTTP1_M_CONNECT)
			return HTTP1_ERR_BAD;
		q = memchr(t.ptr, '?', t.len);
		msg->path = (struct slice){t.ptr, q ? (size_t)(q - t.ptr) : t.len};
		return 0;
	}
	if (msg->method == HTTP1_M_CONNECT)
		return authority_form_ok(t) ? 0 : HTTP1_ERR_BAD;
	if (t.len == 1 && t.ptr[0] == '*') {
		if (msg->method != HTTP1_M_OPTIONS)
			return HTTP1_ERR_BAD;
		msg->path = t;
		return 0;
	}
	if (t.len > 7 && NAME_IS(((struct slice){t.ptr, 7}), "http://"))
		a = t.ptr + 7;
	else if (t.len > 8 && NAME_IS(((struct slice){t.ptr, 8}), "https://"))
		a = t.ptr + 8;
	else
		return HTTP1_ERR_BAD;
	for (q = a; q < e && *q != '/' && *q != '?' && *q != '#'; q++)
		;
	/* Userinfo is deprecated and a classic way to confuse host checks. */
	if (q == a || memchr(a, '@', (size_t)(q - a)))
		return HTTP1_ERR_BAD;
	msg->host = (struct slice){a, (size_t)(q - a)};
	if (q < e && *q == '/') {
		const char *qm = memchr(q, '?', (size_t)(e - q));
		msg->path = (struct slice){q, (size_t)((qm ? qm : e) - q)};
	} else {
		/* "http://h" or "http://h?x": the path is "/" (RFC 9110 4.2.3). */
		msg->path = (struct slice){root, 1};
	}
	return 0;
}

/* Whether the connection may carry another message after this one. */
static bool keepalive(const struct head_ctx *h, int version_minor)
{
	if (h->conn_close)
		return false;
	return version_minor == 1 || h->conn_keepalive;
}

int http1_parse_request(const char *p, size_t len, struct http1_msg *msg,
			const struct http1_limits *lim)
{
	struct head_ctx h = {0};
	size_t max_head, pos;
	int n, rc;

	limits_resolve(lim, &max_head, &h.max_headers);
	n = head_find(p, len, max_head, h.max_headers);
	if (n < 0)
		return n;
	msg_reset(msg);
	rc = request_line_parse(p, (size_t)n, msg, &pos);
	if (rc)
		return rc;
	rc = headers_parse(p, pos, (size_t)n, msg, &h);
	if (rc)
		return rc;
	rc = target_parse(msg);
	if (rc)
		return rc;
	if (h.nhost > 1 || (msg->version_minor == 1 && h.nhost == 0))
		return HTTP1_ERR_BAD;
	rc = framing_check(&h, msg->version_minor);
	if (rc)
		return rc;

	/* RFC 9112 3.2.2: the authority of an absolute-form target wins. */
	if (!msg->host.ptr && h.nhost)
		msg->host = h.host;
	if (h.has_cl) {
		msg->flags |= HTTP1_F_HAS_CL;
		msg->content_length = h.cl;
	}
	if (h.has_te) {
		msg->flags |= HTTP1_F_CHUNKED;
		msg->body = HTTP1_BODY_CHUNKED;
	} else if (h.cl > 0) {
		msg->body = HTTP1_BODY_LENGTH;
	}
	if (h.conn_close)
		msg->flags |= HTTP1_F_CONN_CLOSE;
	if (keepalive(&h, msg->version_minor))
		msg->flags |= HTTP1_F_KEEPALIVE;
	/* HTTP/1.0 has neither Upgrade nor 100-continue: ignored (RFC 9110
	 * 7.8, 10.1.1). */
	if (msg->version_minor == 1) {
		if (h.conn_upgrade && h.upgrade) {
			msg->flags |= HTTP1_F_UPGRADE;
			if (h.websocket)
				msg->flags |= HTTP1_F_WEBSOCKET;
		}
		if (h.expect_100)
			msg->flags |= HTTP1_F_EXPECT_100;
	}
	msg->head_len = (size_t)n;
	return n;
}

int http1_parse_response(const char *p, size_t len, struct http1_msg *msg,
			 enum http1_method req_method, const struct http1_limits *lim)
{
	struct head_ctx h = {0};
	size_t max_head, pos;
	int n, rc;

	limits_resolve(lim, &max_head, &h.max_headers);
	n = head_find(p, len, max_head, h.max_headers);
	if (n < 0)
		return n;
	msg_reset(msg);
	rc = status_line_parse(p, (size_t)n, msg, &pos);
	if (rc)
		return rc;
	rc = headers_parse(p, pos, (size_t)n, msg, &h);
	if (rc)
		return rc;
	/* Framing headers are judged even where they do not frame (HEAD, 304):
	 * a server that sends contradictory ones is not to be trusted. */
	rc = framing_check(&h, msg->version_minor);
	if (rc)
		return rc;

	if (h.has_cl) {
		msg->flags |= HTTP1_F_HAS_CL;
		msg->content_length = h.cl;
	}
	if (h.has_te)
		msg->flags |= HTTP1_F_CHUNKED;
	/* RFC 9112 6.3, in its order. */
	if (req_method == HTTP1_M_HEAD || msg->status < 200 || msg->status == 204 ||
	    msg->status == 304)
		msg->body = HTTP1_BODY_NONE;
	else if (req_method == HTTP1_M_CONNECT && msg->status < 300)
		msg->body = HTTP1_BODY_NONE;
	else if (h.has_te)
		msg->body = HTTP1_BODY_CHUNKED;
	else if (h.has_cl)
		msg->body = h.cl > 0 ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
	else
		msg->body = HTTP1_BODY_UNTIL_CLOSE;
	if (h.conn_close)
		msg->flags |= HTTP1_F_CONN_CLOSE;
	if (keepalive(&h, msg->version_minor) && msg->body != HTTP1_BODY_UNTIL_CLOSE)
		msg->flags |= HTTP1_F_KEEPALIVE;
	/* Only a 101 switches; a 426 or a 200 may advertise Upgrade too. */
	if (msg->status == 101 && h.upgrade) {
		msg->flags |= HTTP1_F_UPGRADE;
		if (h.websocket)
			msg->flags |= HTTP1_F_WEBSOCKET;
	}
	msg->head_len = (size_t)n;
	return n;
}

const struct http1_header *http1_find_header(const struct http1_msg *msg, struct slice name)
{
	for (int i = 0; i < msg->nheaders; i++)
		if (slice_eq_ci(msg->headers[i].name, name))
			return &msg->headers[i];
	return NULL;
}

bool http1_method_idempotent(enum http1_method m)
{
	switch (m) {
	case HTTP1_M_GET:
	case HTTP1_M_HEAD:
	case HTTP1_M_PUT:
	case HTTP1_M_DELETE:
	case HTTP1_M_OPTIONS:
	case HTTP1_M_TRACE:
		return true;
	default:
		return false;
	}
}

const char *http1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* Chunked decoder states (struct http1_chunked.state). */
enum chunk_state {
	CS_SIZE_FIRST = 0, /* first hex digit of a chunk size. Keep zero: the initial state. */
	CS_SIZE,           /* more hex digits, ';' or CR */
	CS_EXT,            /* a chunk extension, up to CR */
	CS_SIZE_LF,        /* the LF ending the size line */
	CS_DATA,           /* <remaining> bytes of chunk data */
	CS_DATA_CR,        /* the CR after the data */
	CS_DATA_LF,        /* the LF after the data */
	CS_TRAILER,        /* the start of a trailer line, or of the final CRLF */
	CS_TRAILER_NAME,   /* a trailer field name, up to ':' */
	CS_TRAILER_VALUE,  /* a trailer field value, up to CR */
	CS_TRAILER_LF,     /* the LF ending a trailer line */
	CS_LAST_LF,        /* the LF of the final empty line */
	CS_DONE,           /* body finished */
	CS_ERROR,          /* body refused; sticky */
};

#define CHUNK_SIZE_MAX    (UINT64_C(1) << 62)
#define CHUNK_LINE_MAX    1024  /* size line bytes, CRLF excluded */
#define CHUNK_TRAILER_MAX 16384 /* trailer section bytes, final CRLF included */

void http1_chunked_init(struct http1_chunked *c)
{
	c->state = CS_SIZE_FIRST;
	c->remaining = 0;
	c->line_len = 0;
	c->trailer_bytes = 0;
}

enum http1_chunk_result http1_chunked_feed(struct http1_chunked *c, const char *p, size_t len,
					   size_t *consumed, struct slice *data)
{
	size_t i;

	if (c->state == CS_DONE || c->state == CS_ERROR) {
		*consumed = 0;
		return c->state == CS_DONE ? HTTP1_CHUNK_DONE : HTTP1_CHUNK_ERROR;
	}
	/* Framing bytes go one by one through the switch; data goes in spans.
	 * Everything lives in <c>, so a split anywhere changes nothing. */
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];
		int hex;

		switch (c->state) {
		case CS_DATA: {
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			data->ptr = p + i;
			data->len = n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CS_DATA_CR;
			*consumed = i + n;
			return HTTP1_CHUNK_DATA;
		}
		case CS_SIZE_FIRST:
			/* No sign, no whitespace, no empty size. */
			hex = hex_value(ch);
			if (hex < 0)
				goto fail;
			c->remaining = (uint64_t)hex;
			c->line_len = 1;
			c->state = CS_SIZE;
			break;
		case CS_SIZE:
			if (ch == '\r') {
				c->state = CS_SIZE_LF;
				break;
			}
			if (ch == ';') {
				c->state = CS_EXT;
			} else {
				/* "0x5" stops here too, on the 'x'. */
				hex = hex_value(ch);
				if (hex < 0 || c->remaining > CHUNK_SIZE_MAX >> 4)
					goto fail;
				c->remaining = c->remaining << 4 | (uint64_t)hex;
				if (c->remaining > CHUNK_SIZE_MAX)
					goto fail;
			}
			if (++c->line_len > CHUNK_LINE_MAX)
				goto fail;
			break;
		case CS_EXT:
			if (ch == '\r') {
				c->state = CS_SIZE_LF;
				break;
			}
			/* A bare LF here is a known smuggling vector. */
			if (!is_class((char)ch, C_FIELD) || ++c->line_len > CHUNK_LINE_MAX)
				goto fail;
			break;
		case CS_SIZE_LF:
			if (ch != '\n')
				goto fail;
			c->state = c->remaining ? CS_DATA : CS_TRAILER;
			break;
		case CS_DATA_CR:
			if (ch != '\r')
				goto fail;
			c->state = CS_DATA_LF;
			break;
		case CS_DATA_LF:
			if (ch != '\n')
				goto fail;
			c->state = CS_SIZE_FIRST;
			break;
		case CS_TRAILER:
			if (ch == '\r')
				c->state = CS_LAST_LF;
			else if (is_class((char)ch, C_TOKEN))
				c->state = CS_TRAILER_NAME;
			else
				goto fail; /* obs-fold, or an empty name */
			goto trailer_byte;
		case CS_TRAILER_NAME:
			if (ch == ':')
				c->state = CS_TRAILER_VALUE;
			else if (!is_class((char)ch, C_TOKEN))
				goto fail;
			goto trailer_byte;
		case CS_TRAILER_VALUE:
			if (ch == '\r')
				c->state = CS_TRAILER_LF;
			else if (!is_class((char)ch, C_FIELD))
				goto fail;
			goto trailer_byte;
		case CS_TRAILER_LF:
			if (ch != '\n')
				goto fail;
			c->state = CS_TRAILER;
			goto trailer_byte;
		case CS_LAST_LF:
			if (ch != '\n' || ++c->trailer_bytes > CHUNK_TRAILER_MAX)
				goto fail;
			c->state = CS_DONE;
			*consumed = i + 1;
			return HTTP1_CHUNK_DONE;
		default:
			goto fail; /* a corrupt state: refuse rather than guess */
		}
		continue;
trailer_byte:
		if (++c->trailer_bytes > CHUNK_TRAILER_MAX)
			goto fail;
	}
	*consumed = len;
	return HTTP1_CHUNK_MORE;
fail:
	c->state = CS_ERROR;
	*consumed = i;
	return HTTP1_CHUNK_ERROR;
}

enum http1_chunk_result http1_chunked_skip(struct http1_chunked *c, const char *p, size_t len,
					   size_t *consumed)
{
	size_t off = 0, n;
	struct slice data;
	enum http1_chunk_result r;

	/* Each DATA result consumes at least one byte, so this ends. */
	while ((r = http1_chunked_feed(c, p, len - off, &n, &data)) == HTTP1_CHUNK_DATA) {
		p += n;
		off += n;
	}
	*consumed = off + n;
	return r;
}
