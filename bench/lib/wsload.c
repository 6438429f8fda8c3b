/* wsload: the WebSocket side of bench/lb.sh, in C so that neither the echo
 * backend nor the load generator is the bottleneck (a Python asyncio loop
 * spends ~20 us per message; this spends ~2-3 us, so the proxy in the
 * middle dominates the CPU cost of a message).
 *
 *   wsload serve PORT
 *       WebSocket echo server on 127.0.0.1:PORT (0 = any free port; prints
 *       "PORT n" on stdout). Answers the HTTP/1.1 Upgrade with a proper
 *       101 + Sec-WebSocket-Accept, then echoes every data frame back as an
 *       unmasked server frame (RFC 6455), answers ping with pong and close
 *       with close.
 *
 *   wsload client HOST PORT PATH CONNS WARMUP_S DURATION_S SIZE
 *       Opens CONNS WebSocket connections through HOST:PORT (the proxy),
 *       then on each connection sends one masked SIZE-byte binary message,
 *       waits for its echo, checks it byte for byte and sends the next
 *       (strict request/response, one message in flight per connection).
 *       Messages echoed during the first WARMUP_S seconds are not counted.
 *       Prints one JSON line: messages, seconds, rate, errors, conns.
 *
 * Build: cc -O2 -o wsload wsload.c -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define BUFSZ 65536

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* ------------------------------------------------------------ server -- */

struct sconn {
	int fd;
	int upgraded;
	size_t rlen, wlen, woff;
	unsigned char rbuf[BUFSZ];
	unsigned char wbuf[BUFSZ + 16];
};

static const char *find_header(const char *head, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			const char *v = p + 3 + n;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

static int handshake(struct sconn *c)
{
	unsigned char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (!end)
		return c->rlen >= sizeof c->rbuf - 1 ? -1 : 0;
	size_t hlen = (size_t)(end - c->rbuf) + 4;
	char head[BUFSZ + 1];
	memcpy(head, c->rbuf, hlen);
	head[hlen] = 0;
	const char *key = find_header(head, "sec-websocket-key");
	if (!key)
		return -1;
	size_t klen = strcspn(key, " \t\r\n");
	char kg[256];
	if (klen > 128)
		return -1;
	memcpy(kg, key, klen);
	memcpy(kg + klen, WS_GUID, sizeof WS_GUID);
	unsigned char sha[SHA_DIGEST_LENGTH];
	SHA1((unsigned char *)kg, strlen(kg), sha);
	unsigned char acc[64];
	EVP_EncodeBlock(acc, sha, SHA_DIGEST_LENGTH);
	c->wlen = (size_t)snprintf((char *)c->wbuf, sizeof c->wbuf,
	                           "HTTP/1.1 101 Switching Protocols\r\n"
	                           "Upgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	c->woff = 0;
	memmove(c->rbuf, c->rbuf + hlen, c->rlen - hlen);
	c->rlen -= hlen;
	c->upgraded = 1;
	return 1;
}

/* Parses whole frames out of rbuf, appends the echoes to wbuf. Returns -1 to
 * close the connection. */
static int echo_frames(struct sconn *c)
{
	size_t off = 0;
	while (c->rlen - off >= 2) {
		unsigned char *f = c->rbuf + off;
		int op = f[0] & 0x0f, masked = f[1] & 0x80;
		uint64_t len = f[1] & 0x7f;
		size_t h = 2;
		if (len == 126) {
			if (c->rlen - off < 4)
				break;
			len = ((uint64_t)f[2] << 8) | f[3];
			h = 4;
		} else if (len == 127) {
			return -1; /* no 64-bit lengths in this benchmark */
		}
		if (masked)
			h += 4;
		if (len > BUFSZ / 2)
			return -1;
		if (c->rlen - off < h + len)
			break;
		if (c->wlen + 4 + len > sizeof c->wbuf)
			break; /* output full: finish later */
		unsigned char *m = f + h - 4, *p = f + h;
		unsigned char *o = c->wbuf + c->wlen;
		int rop = op == 0x9 ? 0xA : op;
		o[0] = (unsigned char)(0x80 | rop);
		size_t oh = 2;
		if (len < 126) {
			o[1] = (unsigned char)len;
		} else {
			o[1] = 126;
			o[2] = (unsigned char)(len >> 8);
			o[3] = (unsigned char)len;
			oh = 4;
		}
		for (uint64_t i = 0; i < len; i++)
			o[oh + i] = masked ? p[i] ^ m[i & 3] : p[i];
		if (op != 0xA) /* never answer a pong */
			c->wlen += oh + len;
		off += h + len;
		if (op == 0x8)
			return -1;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	return 0;
}

static int serve(int port)
{
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(ls, 4096) < 0)
		die("listen");
	socklen_t sl = sizeof sa;
	getsockname(ls, (struct sockaddr *)&sa, &sl);
	printf("PORT %d\n", ntohs(sa.sin_port));
	fflush(stdout);

	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	struct epoll_event evs[256];
	while (ls >= 0) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno == EINTR)
			continue;
		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct sconn *nc = calloc(1, sizeof *nc);
					nc->fd = fd;
					struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
				}
				continue;
			}
			int closeit = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				ssize_t r = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
				if (r == 0 || (r < 0 && errno != EAGAIN))
					closeit = 1;
				else if (r > 0) {
					c->rlen += (size_t)r;
					if (!c->upgraded && handshake(c) < 0)
						closeit = 1;
					if (c->upgraded && echo_frames(c) < 0)
						closeit = c->wlen == 0 ? 1 : 2;
				}
			}
			if (!closeit || closeit == 2) {
				while (c->woff < c->wlen) {
					ssize_t w = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
					if (w < 0) {
						if (errno != EAGAIN)
							closeit = 1;
						break;
					}
					c->woff += (size_t)w;
				}
				if (c->woff == c->wlen)
					c->woff = c->wlen = 0;
				struct epoll_event e = {.events = c->wlen ? EPOLLOUT : EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
			}
			if (closeit) {
				close(c->fd);
				free(c);
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------ client -- */

struct cconn {
	int fd;
	size_t rlen;
	unsigned char rbuf[4096];
};

static int client(const char *host, int port, const char *path, int nconns, double warm,
                  double dur, int size)
{
	if (size < 1 || size > 125) {
		fprintf(stderr, "wsload: SIZE must be 1..125\n");
		return 2;
	}
	unsigned char frame[2 + 4 + 125], expect[2 + 125];
	unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
	frame[0] = 0x82;
	frame[1] = (unsigned char)(0x80 | size);
	memcpy(frame + 2, mask, 4);
	expect[0] = 0x82;
	expect[1] = (unsigned char)size;
	for (int i = 0; i < size; i++) {
		unsigned char b = (unsigned char)('a' + i % 26);
		expect[2 + i] = b;
		frame[6 + i] = b ^ mask[i & 3];
	}
	size_t flen = 6 + (size_t)size, elen = 2 + (size_t)size;

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "wsload: bad host %s\n", host);
		return 2;
	}
	struct cconn *cs = calloc((size_t)nconns, sizeof *cs);
	int ep = epoll_create1(0), ok = 0, one = 1;
	long errors = 0;
	for (int i = 0; i < nconns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct timeval tv = {5, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			close(fd);
			errors++;
			continue;
		}
		char req[512];
		int rl = snprintf(req, sizeof req,
		                  "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		                  "Sec-WebSocket-Version: 13\r\n\r\n", path, host, port);
		if (write(fd, req, (size_t)rl) != rl) {
			close(fd);
			errors++;
			continue;
		}
		/* Read the response head byte-wise-safe: stop at the blank line. */
		char head[4096];
		size_t hl = 0;
		int good = 0;
		while (hl < sizeof head - 1) {
			ssize_t r = read(fd, head + hl, 1);
			if (r <= 0)
				break;
			hl++;
			if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0) {
				head[hl] = 0;
				good = strncmp(head, "HTTP/1.1 101", 12) == 0 &&
				       strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL;
				break;
			}
		}
		if (!good) {
			head[hl] = 0;
			fprintf(stderr, "wsload: handshake failed: %.200s\n", head);
			close(fd);
			errors++;
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		cs[ok].fd = fd;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[ok]};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
		ok++;
	}
	if (ok == 0) {
		printf("{\"messages\": 0, \"seconds\": 0, \"rate\": 0, \"errors\": %ld, \"conns\": 0}\n", errors);
		return 1;
	}
	for (int i = 0; i < ok; i++)
		if (write(cs[i].fd, frame, flen) != (ssize_t)flen)
			errors++;
	double t0 = now(), tstart = t0 + warm, tend = tstart + dur;
	long count = 0, counted = 0;
	int started = warm <= 0;
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, 50);
		double t = now();
		if (t >= tend)
			break;
		if (!started && t >= tstart) {
			started = 1;
			counted = 0;
			tstart = t;
			tend = t + dur;
		}
		for (int i = 0; i < n; i++) {
			struct cconn *c = evs[i].data.ptr;
			ssize_t r = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			c->rlen += (size_t)r;
			while (c->rlen >= elen) {
				if (memcmp(c->rbuf, expect, elen) != 0) {
					errors++;
					c->rlen = 0;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					break;
				}
				memmove(c->rbuf, c->rbuf + elen, c->rlen - elen);
				c->rlen -= elen;
				count++;
				counted++;
				if (write(c->fd, frame, flen) != (ssize_t)flen)
					errors++;
			}
		}
	}
	double secs = now() - tstart;
	if (!started)
		counted = 0;
	printf("{\"messages\": %ld, \"seconds\": %.3f, \"rate\": %.1f, \"errors\": %ld, \"conns\": %d, \"total_messages\": %ld}\n",
	       counted, secs, counted / secs, errors, ok, count);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc == 9 && strcmp(argv[1], "client") == 0)
		return client(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]), atof(argv[6]),
		              atof(argv[7]), atoi(argv[8]));
	fprintf(stderr, "usage: wsload serve PORT\n"
	                "       wsload client HOST PORT PATH CONNS WARMUP_S DURATION_S SIZE\n");
	return 2;
}
