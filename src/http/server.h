/* A small HTTP/1.1 server on libuv, on the shared strict codec: the agent's
 * API (unix socket and TCP), later the dashboard and metrics.
 *
 * One request at a time per connection (pipelined requests wait their
 * turn), keep-alive, Content-Length and chunked request bodies (decoded),
 * responses with a length or streamed with chunked encoding.
 *
 * A request handed to the handler is owned by the server. The handler
 * answers at once or later (asynchronously, e.g. a blocking query) with
 * http_reply*() or a stream; after the reply, or after a stream ends, the
 * request is freed and must not be touched. If the client goes away first,
 * the server calls rq->on_abort (when set) and then frees the request:
 * whoever kept a pointer to it drops it there. */
#ifndef BERTH_HTTP_SERVER_H
#define BERTH_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "http/http1.h"

struct http_server;
struct http_conn;

struct http_req {
	struct http_server *srv;
	struct http_conn *conn;      /* private */
	enum http1_method method;
	const char *method_str;      /* NUL-terminated copies, owned by the request */
	const char *path;            /* percent-decoded path, no query */
	const char *query;           /* raw query string after '?', "" if none */
	const char *body;            /* decoded body (NUL-terminated), "" if none */
	size_t body_len;
	bool tcp;                    /* arrived on a TCP listener (not the unix socket) */
	char peer[64];               /* "unix" or the client's ip */
	struct http1_msg msg;        /* parsed head; slices point into the request's own copy */
	void *user;                  /* the handler's */
	/* Called once if the connection closes before the response ended. */
	void (*on_abort)(struct http_req *rq);
	/* private */
	char *raw;
	bool streaming, ended, keepalive;
};

typedef void http_handler_fn(struct http_req *rq, void *arg);

struct http_server_opts {
	size_t max_body;             /* request body limit; default 8 MiB */
	uint64_t head_timeout_ms;    /* a request head must arrive within; default 10 s */
	uint64_t idle_timeout_ms;    /* keep-alive idle; default 60 s */
	int max_conns;               /* beyond, new connections are closed; default 1024 */
	/* Called with each request's head before its body is read; false
	 * answers 401 and closes. <tcp>: it came on a TCP listener. NULL: all
	 * requests pass. */
	bool (*authorize)(const struct http1_msg *head, bool tcp, void *arg);
};

struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_opts *o, http_handler_fn *fn,
				    void *arg);
/* Listens on "HOST:PORT" (numeric; "[::1]:80" for IPv6). Returns 0 or a
 * negative libuv error with *err set (heap). */
int http_server_listen_tcp(struct http_server *s, const char *hostport, char **err);
/* Listens on a unix socket at <path> (a stale socket file is replaced) with
 * permissions <mode>. */
int http_server_listen_unix(struct http_server *s, const char *path, int mode, char **err);
/* Closes the listeners and every connection (pending requests are aborted);
 * <done> (may be NULL) runs when all handles are closed, then the server is
 * freed. */
void http_server_close(struct http_server *s, void (*done)(void *arg), void *arg);

/* ---- reading the request ---- */

/* The first header named <name> as a fresh NUL-terminated string in <buf>
 * (truncated to cap-1), or NULL when absent. */
const char *http_req_header(const struct http_req *rq, const char *name, char *buf, size_t cap);
/* The query parameter <name>, percent-decoded, in <buf>; NULL when absent
 * ("?a" gives ""). */
const char *http_req_query(const struct http_req *rq, const char *name, char *buf, size_t cap);
/* The body parsed as JSON; NULL with *err set (heap) when it is not. */
json_t *http_req_json(const struct http_req *rq, char **err);

/* ---- answering ---- */

/* <extra_headers> (may be NULL) are whole "Name: value\r\n" lines. */
void http_reply(struct http_req *rq, int status, const char *ctype, const char *extra_headers, const char *body,
		size_t len);
/* Takes ownership of <j> (a reference is stolen). */
void http_reply_json(struct http_req *rq, int status, json_t *j);
/* The same with <extra_headers> as in http_reply (e.g. an index header). */
void http_reply_json_hdr(struct http_req *rq, int status, const char *extra_headers, json_t *j);
/* {"error": "<message>"} with <status>. */
void http_reply_error(struct http_req *rq, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Streams: a chunked response written piece by piece. */
void http_stream_start(struct http_req *rq, int status, const char *ctype, const char *extra_headers);
/* Returns the bytes still queued on the connection after this write, so a
 * producer can slow down, or -1 if the connection is gone. */
ssize_t http_stream_write(struct http_req *rq, const char *p, size_t n);
/* Ends the stream; the request is freed. */
void http_stream_end(struct http_req *rq);

#endif
