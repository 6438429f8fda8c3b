/* The agent API's blocking client (see client.h). */
#include "api/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/mem.h"
#include "http/http1.h"

volatile int api_interrupted;

#define API_CLIENT_TIMEOUT_MS 60000 /* a plain call that gets no answer in this long fails */

int api_client_open(struct api_client *c, const char *data_dir, const char *addr, const char *token,
		    bool *refused, char **err)
{
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	*refused = false;
	if (addr) {
		struct sockaddr_storage ss;
		socklen_t sl;
		const char *why = NULL;
		if (addr_parse(addr, &ss, &sl, &why) < 0) {
			*err = xasprintf("--api-addr %s: %s", addr, why ? why : "expected HOST:PORT");
			return -1;
		}
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			*refused = e == ECONNREFUSED;
			*err = xasprintf("cannot reach the agent at %s: %s", addr, strerror(e));
			return -1;
		}
		c->where = xstrdup(addr);
		c->token = token ? xstrdup(token) : NULL;
	} else {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/berth.sock", data_dir);
		if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
			*err = xasprintf("data dir path too long for a unix socket: %s", data_dir);
			return -1;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			*refused = e == ECONNREFUSED || e == ENOENT;
			*err = xasprintf("cannot reach the agent at %s: %s", sun.sun_path, strerror(e));
			return -1;
		}
		c->where = xasprintf("unix:%s", sun.sun_path);
	}
	c->fd = fd;
	return 0;
}

int api_client_open_socket(struct api_client *c, const char *path, char **err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*err = xasprintf("%s: path too long for a unix socket", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		*err = xasprintf("cannot reach the agent at %s: %s", path, strerror(e));
		return -1;
	}
	c->fd = fd;
	c->where = xasprintf("unix:%s", path);
	return 0;
}

char *api_read_token(const char *path, const char **why)
{
	FILE *f = fopen(path, "r");
	char buf[512];

	if (!f) {
		*why = strerror(errno);
		return NULL;
	}
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		*why = "empty";
		return NULL;
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = 0;
	return xstrdup(buf);
}

const char *api_urlencode(const char *s, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s && n + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-_.~", ch)) {
			buf[n++] = (char)ch;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 15];
		}
	}
	buf[n] = 0;
	return buf;
}

void api_client_close(struct api_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->where);
	free(c->token);
	c->where = c->token = NULL;
	buf_free(&c->in);
}

static int send_all(struct api_client *c, const char *p, size_t n, char **err)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			*err = xasprintf("%s: send: %s", c->where, strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more bytes into c->in. <timeout_ms> < 0 waits forever. Returns the
 * count, 0 at EOF, -1 on error (*err set), -2 when interrupted. */
static ssize_t fill(struct api_client *c, int timeout_ms, char **err)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

	for (;;) {
		if (api_interrupted)
			return -2;
		int r = poll(&pfd, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			*err = xasprintf("%s: no answer from the agent within %d s", c->where, timeout_ms / 1000);
			return -1;
		}
		break;
	}
	buf_reserve(&c->in, 65536);
	ssize_t n;
	do {
		n = recv(c->fd, buf_tail(&c->in), buf_room(&c->in), 0);
	} while (n < 0 && errno == EINTR && !api_interrupted);
	if (n < 0) {
		if (api_interrupted)
			return -2;
		*err = xasprintf("%s: recv: %s", c->where, strerror(errno));
		return -1;
	}
	c->in.data += (size_t)n;
	return n;
}

static int send_request(struct api_client *c, const char *method, const char *path, json_t *body, char **err)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t blen = text ? strlen(text) : 0;
	struct buf b = {0};
	int rc;

	buf_appendf(&b, "%s %s HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli\r\n", method, path);
	if (c->token)
		buf_appendf(&b, "Authorization: Bearer %s\r\n", c->token);
	if (text)
		buf_appendf(&b, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
	buf_appends(&b, "\r\n");
	if (text)
		buf_append(&b, text, blen);
	rc = send_all(c, buf_ptr(&b), b.data, err);
	buf_free(&b);
	free(text);
	return rc;
}

/* Reads a response head into *m (slices into c->in; the head is consumed
 * by the caller). Returns the head length or -1/-2. */
static int read_head(struct api_client *c, struct http1_msg *m, enum http1_method method, int timeout_ms,
		     char **err)
{
	for (;;) {
		if (c->in.data) {
			int r = http1_parse_response(buf_ptr(&c->in), c->in.data, m, method, NULL);
			if (r > 0) {
				if (m->status == 100) {
					buf_consume(&c->in, (size_t)r);
					continue;
				}
				return r;
			}
			if (r != HTTP1_INCOMPLETE) {
				*err = xasprintf("%s: malformed response from the agent", c->where);
				return -1;
			}
		}
		ssize_t n = fill(c, timeout_ms, err);
		if (n == 0) {
			*err = xasprintf("%s: the agent closed the connection", c->where);
			return -1;
		}
		if (n < 0)
			return (int)n;
	}
}

static enum http1_method method_of(const char *m)
{
	return strcmp(m, "HEAD") == 0 ? HTTP1_M_HEAD : HTTP1_M_GET;
}

/* Reads a whole body (length, chunked or until close) into <out>. */
static int read_body(struct api_client *c, const struct http1_msg *m, struct buf *out, char **err)
{
	if (m->body == HTTP1_BODY_NONE)
		return 0;
	if (m->body == HTTP1_BODY_LENGTH) {
		while (c->in.data < m->content_length) {
			ssize_t n = fill(c, API_CLIENT_TIMEOUT_MS, err);
			if (n == 0) {
				*err = xasprintf("%s: truncated response", c->where);
				return -1;
			}
			if (n < 0)
				return -1;
		}
		buf_append(out, buf_ptr(&c->in), m->content_length);
		buf_consume(&c->in, m->content_length);
		return 0;
	}
	if (m->body == HTTP1_BODY_UNTIL_CLOSE) {
		for (;;) {
			buf_append(out, buf_ptr(&c->in), c->in.data);
			buf_reset(&c->in);
			ssize_t n = fill(c, API_CLIENT_TIMEOUT_MS, err);
			if (n == 0)
				return 0;
			if (n < 0)
				return -1;
		}
	}
	struct http1_chunked ch;
	http1_chunked_init(&ch);
	for (;;) {
		while (c->in.data) {
			size_t used;
			struct slice d;
			enum http1_chunk_result r = http1_chunked_feed(&ch, buf_ptr(&c->in), c->in.data, &used, &d);
			if (r == HTTP1_CHUNK_ERROR) {
				*err = xasprintf("%s: bad chunked response", c->where);
				return -1;
			}
			if (r == HTTP1_CHUNK_DATA)
				buf_append(out, d.ptr, d.len);
			buf_consume(&c->in, used);
			if (r == HTTP1_CHUNK_DONE)
				return 0;
		}
		ssize_t n = fill(c, API_CLIENT_TIMEOUT_MS, err);
		if (n == 0) {
			*err = xasprintf("%s: truncated response", c->where);
			return -1;
		}
		if (n < 0)
			return -1;
	}
}

int api_call(struct api_client *c, const char *method, const char *path, json_t *body, int *status, json_t **resp,
	     char **err)
{
	struct http1_msg *m = XNEW(struct http1_msg);
	struct buf b = {0};
	int rc = -1;

	*resp = NULL;
	*err = NULL;
	if (send_request(c, method, path, body, err) < 0)
		goto out;
	int hl = read_head(c, m, method_of(method), API_CLIENT_TIMEOUT_MS, err);
	if (hl < 0) {
		if (hl == -2)
			*err = xstrdup("interrupted");
		goto out;
	}
	*status = m->status;
	const struct http1_header *ix = http1_find_header(m, SLICE_LIT("x-berth-index"));
	uint64_t iv = 0;
	c->last_index = ix && slice_to_u64(ix->value, &iv) == 0 ? (long long)iv : 0;
	/* Copy what we need from the head before consuming it. */
	struct http1_msg head = *m;
	buf_consume(&c->in, (size_t)hl);
	if (read_body(c, &head, &b, err) < 0) {
		if (!*err)
			*err = xstrdup("interrupted");
		goto out;
	}
	if (b.data)
		*resp = json_loadb(buf_ptr(&b), b.data, 0, NULL);
	rc = 0;
out:
	buf_free(&b);
	free(m);
	return rc;
}

int api_stream(struct api_client *c, const char *method, const char *path, json_t *body,
	       int (*on_line)(const char *line, size_t len, void *arg), void *arg, char **err)
{
	struct http1_msg *m = XNEW(struct http1_msg);
	struct buf line = {0};
	struct http1_chunked ch;
	int rc = -1;

	if (send_request(c, method, path, body, err) < 0)
		goto out;
	int hl = read_head(c, m, method_of(method), -1, err);
	if (hl == -2) {
		rc = 1;
		goto out;
	}
	if (hl < 0)
		goto out;
	struct http1_msg head = *m;
	buf_consume(&c->in, (size_t)hl);
	if (head.status < 200 || head.status > 299 || head.body != HTTP1_BODY_CHUNKED) {
		struct buf b = {0};
		char tmp[512];
		if (read_body(c, &head, &b, err) == 0) {
			json_t *j = b.data ? json_loadb(buf_ptr(&b), b.data, 0, NULL) : NULL;
			*err = xstrdup(api_error_text(j, head.status, tmp, sizeof(tmp)));
			json_decref(j);
		}
		buf_free(&b);
		goto out;
	}
	http1_chunked_init(&ch);
	for (;;) {
		while (c->in.data) {
			size_t used;
			struct slice d;
			enum http1_chunk_result r = http1_chunked_feed(&ch, buf_ptr(&c->in), c->in.data, &used, &d);
			if (r == HTTP1_CHUNK_ERROR) {
				*err = xasprintf("%s: bad chunked response", c->where);
				goto out;
			}
			if (r == HTTP1_CHUNK_DATA) {
				/* Split into lines; a partial line waits. */
				const char *p = d.ptr, *end = d.ptr + d.len;
				while (p < end) {
					const char *nl = memchr(p, '\n', (size_t)(end - p));
					if (!nl) {
						buf_append(&line, p, (size_t)(end - p));
						break;
					}
					buf_append(&line, p, (size_t)(nl - p));
					buf_append(&line, "", 1);
					int lr = on_line(buf_ptr(&line), line.data - 1, arg);
					buf_reset(&line);
					if (lr) {
						rc = lr;
						goto out;
					}
					p = nl + 1;
				}
			}
			buf_consume(&c->in, used);
			if (r == HTTP1_CHUNK_DONE) {
				rc = 0;
				goto out;
			}
		}
		ssize_t n = fill(c, -1, err);
		if (n == -2) {
			rc = 1;
			goto out;
		}
		if (n == 0) {
			*err = xasprintf("%s: the agent closed the stream", c->where);
			goto out;
		}
		if (n < 0)
			goto out;
	}
out:
	buf_free(&line);
	free(m);
	return rc;
}

const char *api_error_text(json_t *resp, int status, char *buf, size_t cap)
{
	const char *e = json_string_value(json_object_get(resp, "error"));

	if (e)
		snprintf(buf, cap, "%s", e);
	else
		snprintf(buf, cap, "the agent answered %d %s", status, http1_reason(status));
	return buf;
}
