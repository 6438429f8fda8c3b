/* Strict HTTP/1.1 message codec: request and response heads, body framing,
 * chunked validation. Shared by the load balancer, the agent API and tests.
 *
 * The parser works on a contiguous buffer holding the start of a message. It
 * never copies: names and values are slices into the caller's buffer and stay
 * valid while those bytes do. It is strict on purpose (request smuggling):
 * anything ambiguous is an error, never "fixed up". */
#ifndef BERTH_HTTP_HTTP1_H
#define BERTH_HTTP_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define HTTP1_MAX_HEADERS 100 /* hard cap of the header array */

/* Results of the head parsers. A positive value is the size of the head in
 * bytes (request/status line + headers + the empty line). */
enum http1_status {
	HTTP1_OK = 0,
	HTTP1_INCOMPLETE = -1,   /* need more bytes */
	HTTP1_ERR_BAD = -2,      /* malformed: answer 400 */
	HTTP1_ERR_TOO_LARGE = -3, /* head over the size or count limit: answer 431 */
	HTTP1_ERR_TE = -4,       /* unknown transfer coding: answer 501 */
	HTTP1_ERR_VERSION = -5,  /* not HTTP/1.x: answer 505 */
};

enum http1_method {
	HTTP1_M_OTHER = 0, /* a valid token we do not know by name */
	HTTP1_M_GET,
	HTTP1_M_HEAD,
	HTTP1_M_POST,
	HTTP1_M_PUT,
	HTTP1_M_DELETE,
	HTTP1_M_OPTIONS,
	HTTP1_M_TRACE,
	HTTP1_M_CONNECT,
	HTTP1_M_PATCH,
};

enum http1_body {
	HTTP1_BODY_NONE = 0,    /* no body at all */
	HTTP1_BODY_LENGTH,      /* exactly content_length bytes */
	HTTP1_BODY_CHUNKED,     /* chunked; validate with struct http1_chunked */
	HTTP1_BODY_UNTIL_CLOSE, /* responses only: body ends when the server closes */
};

struct http1_header {
	struct slice name;  /* as received, never empty */
	struct slice value; /* leading and trailing whitespace trimmed */
};

/* Flags gathered while parsing, so callers do not rescan headers. */
#define HTTP1_F_KEEPALIVE   0x0001 /* connection persists after this message */
#define HTTP1_F_UPGRADE     0x0002 /* "Connection: upgrade" + Upgrade header */
#define HTTP1_F_EXPECT_100  0x0004 /* "Expect: 100-continue" (requests) */
#define HTTP1_F_CHUNKED     0x0008 /* Transfer-Encoding: chunked (final coding) */
#define HTTP1_F_HAS_CL      0x0010 /* a Content-Length header was present */
#define HTTP1_F_CONN_CLOSE  0x0020 /* "Connection: close" was present */
#define HTTP1_F_WEBSOCKET   0x0040 /* Upgrade: websocket */

struct http1_msg {
	/* request line */
	enum http1_method method;
	struct slice method_str;
	struct slice target;   /* request-target as sent */
	struct slice path;     /* target up to '?' (origin-form) */
	struct slice host;     /* Host header value, or authority of an absolute-form target */
	/* status line */
	int status;            /* 100..999 */
	struct slice reason;
	/* both */
	int version_minor;     /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */
	unsigned flags;        /* HTTP1_F_* */
	enum http1_body body;
	uint64_t content_length; /* when body == HTTP1_BODY_LENGTH */
	size_t head_len;         /* bytes of the head, including the final CRLF CRLF */
	int nheaders;
	struct http1_header headers[HTTP1_MAX_HEADERS];
};

struct http1_limits {
	size_t max_head;    /* total head bytes; default 16384 */
	int max_headers;    /* default 100, at most HTTP1_MAX_HEADERS */
};

extern const struct http1_limits http1_default_limits;

/* Parses a request head from <p, len>. Returns the head length (> 0) when a
 * complete, valid head is present, or an enum http1_status (< 0).
 * <lim> may be NULL for the defaults. On error, <msg> is unspecified.
 *
 * Rules (each violation is HTTP1_ERR_BAD unless said otherwise):
 * - method is a token; one SP; target has no CTL/SP; one SP; "HTTP/1.0" or
 *   "HTTP/1.1" (other HTTP/x.y: HTTP1_ERR_VERSION); lines end in CRLF (a bare
 *   LF is refused, as is a bare CR anywhere).
 * - header name is a token, immediately followed by ':' (no space before it);
 *   a line starting with SP/HT (obs-fold) is refused; values may not hold NUL
 *   or other CTLs except HT.
 * - Content-Length: digits only, comma lists allowed only when every member
 *   is equal; several headers must agree; overflow refused.
 * - Transfer-Encoding with Content-Length: refused. Transfer-Encoding in
 *   HTTP/1.0: refused. Any coding other than a single final "chunked"
 *   (e.g. "gzip, chunked" is refused too, we do not decode): HTTP1_ERR_TE.
 * - HTTP/1.1 requires exactly one Host header; several Host headers refused.
 * - head over lim->max_head or more than lim->max_headers headers:
 *   HTTP1_ERR_TOO_LARGE, reported as soon as it is certain, even while
 *   incomplete.
 * - body: CHUNKED, LENGTH (when Content-Length > 0) or NONE. Requests never
 *   get UNTIL_CLOSE.
 * - keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
 *   "Connection: keep-alive". */
int http1_parse_request(const char *p, size_t len, struct http1_msg *msg,
			const struct http1_limits *lim);

/* Parses a response head, the same way. <req_method> is the method of the
 * request it answers (HEAD responses and 2xx to CONNECT have no body); 1xx,
 * 204 and 304 have no body either. Without Content-Length or chunked, the
 * body runs until close (and the connection cannot be kept alive). */
int http1_parse_response(const char *p, size_t len, struct http1_msg *msg,
			 enum http1_method req_method, const struct http1_limits *lim);

/* First header named <name> (case-insensitive), or NULL. */
const struct http1_header *http1_find_header(const struct http1_msg *msg, struct slice name);

/* Whether the method is idempotent (RFC 9110 9.2.2): safe to retry. */
bool http1_method_idempotent(enum http1_method m);

/* Reason phrase for a status code ("Bad Request"); "Unknown" if none. */
const char *http1_reason(int status);

/* Chunked body validator/decoder, incremental over any split of the input.
 * It does not copy or rewrite: the caller forwards the raw bytes it was told
 * were consumed, and may use the data spans if it wants the decoded body. */
struct http1_chunked {
	int state;          /* private */
	uint64_t remaining; /* private: bytes left in the current chunk */
	size_t line_len;    /* private: length of the current size/trailer line */
	size_t trailer_bytes; /* private: total trailer bytes, limited */
};

enum http1_chunk_result {
	HTTP1_CHUNK_MORE = 0,  /* all input consumed, body not finished */
	HTTP1_CHUNK_DONE = 1,  /* body finished (last chunk + trailers + CRLF) */
	HTTP1_CHUNK_DATA = 2,  /* a span of chunk data is reported in *data */
	HTTP1_CHUNK_ERROR = -1, /* bad chunk size, missing CRLF, oversize line... */
};

void http1_chunked_init(struct http1_chunked *c);
/* Consumes bytes from <p, len>; *consumed says how many (always set). When
 * it returns HTTP1_CHUNK_DATA, *data is the span of decoded data inside the
 * consumed bytes (the caller calls again with the rest). Chunk sizes are hex
 * without sign or whitespace (chunk extensions ";..." are allowed and
 * ignored); a size over 2^62, a size line over 1024 bytes, or trailers over
 * 16 KiB are errors. */
enum http1_chunk_result http1_chunked_feed(struct http1_chunked *c, const char *p, size_t len,
					   size_t *consumed, struct slice *data);

/* Skips through <p, len> and reports only the end: returns DONE with
 * *consumed = bytes up to and including the end of the body, MORE with
 * *consumed = len, or ERROR. Convenience for proxies that forward raw. */
enum http1_chunk_result http1_chunked_skip(struct http1_chunked *c, const char *p, size_t len,
					   size_t *consumed);

#endif
