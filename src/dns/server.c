/* The DNS server on libuv: UDP and TCP on one address (see dns.h).
 *
 * UDP goes below libuv's uv_udp_t: a uv_poll_t watches our own socket and
 * each wake-up reads a batch of queries with one recvmmsg and sends the
 * batch of answers with one sendmmsg. A query costs a fraction of a system
 * call instead of two or three (docs/performance.md has the figures). A
 * socket bound to a wildcard address learns each query's destination
 * (IP_PKTINFO) and answers from it, or a multi-homed host would answer
 * from another address than the one asked, and the client would drop it.
 *
 * TCP (RFC 7766): 2-byte length framing, queries answered in order on a
 * connection, an idle timeout that only a complete query resets (a client
 * dripping bytes does not keep a slot), a cap on connections, and reading
 * paused while a client does not read its answers. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "dns/dns-int.h"

#define UDP_BATCH 32                 /* queries read per recvmmsg */
#define UDP_ROUNDS 8                 /* batches per wake-up before TCP gets a turn */
#define UDP_IN_MAX 4096              /* a larger query is not a query: dropped */
#define UDP_RCVBUF (1 << 20)         /* room for bursts while the loop is busy */
#define TCP_READ_CHUNK 16384
#define TCP_PAUSE_AT (256 * 1024)    /* queued answer bytes that pause reading */
#define CTL_LEN 64                   /* room for one IP_PKTINFO or IPV6_PKTINFO */

struct dns_tcp_conn {
	struct dns_tcp_conn *next, *prev;
	struct dns_server *srv;
	uv_tcp_t tcp;
	uv_timer_t timer;            /* idle: no complete query for tcp_idle_ms */
	int handles;                 /* open handles; freed when the last closes */
	bool closing;
	bool reading;
	bool eof;                    /* the client half-closed: close once answered */
	struct buf in;               /* bytes of messages not complete yet; < 2 + 65535 + a read */
};

/* One UDP query and its answer, slots of a batch. */
struct udp_slot {
	uint8_t in[UDP_IN_MAX];
	uint8_t out[DNS_EDNS_MAX + DNS_B_SLACK]; /* the slack: see DNS_B_SLACK */
	struct sockaddr_storage peer;
	union {
		char buf[CTL_LEN];
		size_t align;        /* a cmsghdr's alignment (it ends in a flexible array) */
	} ctl_in, ctl_out;
	struct iovec iov_in, iov_out;
};

struct dns_server {
	uv_loop_t *loop;
	struct dns_opts o;
	struct dns__zone zone;
	int udp_fd;                  /* -1 until listening */
	uv_poll_t udp_poll;
	uv_tcp_t tcp;
	bool listening;
	bool tcp_inited;             /* the TCP handle was initialised (listen is tried once) */
	bool pktinfo;                /* bound to a wildcard: answer from each query's destination */
	int port;                    /* bound port, 0 before listening */
	struct dns_tcp_conn *conns;
	int nconns;
	int handles;                 /* open handles: UDP poll, TCP listener, connections */
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
	struct dns_stats st;
	struct udp_slot *slots;      /* [UDP_BATCH] */
	struct mmsghdr in_msgs[UDP_BATCH], out_msgs[UDP_BATCH];
	uint8_t tcp_out[2 + DNS_TCP_MAX + DNS_B_SLACK];
};

static void count_result(struct dns_server *s, const struct dns__result *r)
{
	struct dns_stats *st = &s->st;

	st->truncated += r->truncated;
	switch (r->rcode) {
	case -1:
		st->dropped++;
		break;
	case DNS_R_NOERROR:
		st->noerror++;
		st->nodata += r->nodata;
		break;
	case DNS_R_NXDOMAIN:
		st->nxdomain++;
		break;
	case DNS_R_FORMERR:
		st->formerr++;
		break;
	case DNS_R_SERVFAIL:
		st->servfail++;
		break;
	case DNS_R_NOTIMP:
		st->notimp++;
		break;
	case DNS_R_REFUSED:
		st->refused++;
		break;
	case DNS_R_BADVERS:
		st->badvers++;
		break;
	}
}

/* ---- lifetime ---- */

static void server_maybe_done(struct dns_server *s)
{
	if (!s->closing || s->handles > 0)
		return;
	void (*done)(void *) = s->done;
	void *arg = s->done_arg;
	dns__zone_free(&s->zone);
	free(s->slots);
	free(s);
	if (done)
		done(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct dns_server *s = h->data;

	s->handles--;
	server_maybe_done(s);
}

static void on_udp_closed(uv_handle_t *h)
{
	struct dns_server *s = h->data;

	/* The fd outlives its poll handle: closing it under an active
	 * watcher would leave epoll with a stale entry. */
	close(s->udp_fd);
	s->udp_fd = -1;
	on_handle_closed(h);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct dns_tcp_conn *c = h->data;
	struct dns_server *s = c->srv;

	if (--c->handles > 0)
		return;
	buf_free(&c->in);
	free(c);
	s->handles--;
	server_maybe_done(s);
}

static void conn_close(struct dns_tcp_conn *c)
{
	struct dns_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

/* ---- UDP ---- */

/* Finds the destination of a query in its control data and prepares the
 * control data of the answer so that it leaves from that address. Returns
 * the control length to send (0: none, the kernel picks). */
static size_t pktinfo_reply(struct msghdr *in, char *out, size_t cap)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(in); cm; cm = CMSG_NXTHDR(in, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memset(out, 0, cap);
			struct msghdr m = {.msg_control = out, .msg_controllen = CMSG_SPACE(sizeof(pi))};
			struct cmsghdr *o = CMSG_FIRSTHDR(&m);
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			/* The source is the query's destination; the
			 * interface is left to the routing table. */
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memset(out, 0, cap);
			struct msghdr m = {.msg_control = out, .msg_controllen = CMSG_SPACE(sizeof(pi))};
			struct cmsghdr *o = CMSG_FIRSTHDR(&m);
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			/* The interface is kept: a link-local source needs it. */
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
	}
	return 0;
}

/* Reads up to one batch of queries and sends their answers. Returns how
 * many were read (0: none waiting). */
static int udp_batch(struct dns_server *s)
{
	int n, m = 0;

	for (int i = 0; i < UDP_BATCH; i++) {
		struct udp_slot *sl = &s->slots[i];
		struct msghdr *h = &s->in_msgs[i].msg_hdr;
		sl->iov_in = (struct iovec){sl->in, sizeof(sl->in)};
		*h = (struct msghdr){.msg_name = &sl->peer, .msg_namelen = sizeof(sl->peer), .msg_iov = &sl->iov_in,
				     .msg_iovlen = 1};
		if (s->pktinfo) {
			h->msg_control = sl->ctl_in.buf;
			h->msg_controllen = sizeof(sl->ctl_in.buf);
		}
	}
	do
		n = recvmmsg(s->udp_fd, s->in_msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			log_errno(LOG_LVL_WARN, "dns", errno, "recvmmsg");
		return 0;
	}
	for (int i = 0; i < n; i++) {
		struct udp_slot *sl = &s->slots[i];
		struct msghdr *h = &s->in_msgs[i].msg_hdr;
		struct dns__result res = {.rcode = -1};
		size_t len = 0;

		s->st.queries++;
		if (h->msg_flags & MSG_TRUNC)
			res.rcode = -1;
		else
			len = dns__respond(&s->zone, sl->in, s->in_msgs[i].msg_len, false, sl->out, sizeof(sl->out),
					   &res);
		count_result(s, &res);
		if (!len)
			continue;
		struct msghdr *o = &s->out_msgs[m].msg_hdr;
		sl->iov_out = (struct iovec){sl->out, len};
		*o = (struct msghdr){.msg_name = &sl->peer, .msg_namelen = h->msg_namelen, .msg_iov = &sl->iov_out,
				     .msg_iovlen = 1};
		if (s->pktinfo) {
			size_t cl = pktinfo_reply(h, sl->ctl_out.buf, sizeof(sl->ctl_out.buf));
			if (cl) {
				o->msg_control = sl->ctl_out.buf;
				o->msg_controllen = cl;
			}
		}
		m++;
	}
	for (int sent = 0; sent < m;) {
		int r = sendmmsg(s->udp_fd, s->out_msgs + sent, (unsigned)(m - sent), MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* A full socket buffer: UDP may lose these, the
			 * clients retry. Any other error is the client's
			 * (an unreachable address): skip that one answer. */
			if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				log_errno(LOG_LVL_DEBUG, "dns", errno, "sendmmsg");
				s->st.dropped++;
				sent++;
				continue;
			}
			s->st.dropped += (uint64_t)(m - sent);
			break;
		}
		sent += r;
	}
	return n;
}

static void on_udp_readable(uv_poll_t *h, int status, int events)
{
	struct dns_server *s = h->data;

	if (status < 0) {
		/* libuv stops a poll handle on POLLERR: take the socket's
		 * pending error, then watch it again, or one stray error
		 * would end UDP service for good. */
		int e = 0;
		socklen_t el = sizeof(e);
		getsockopt(s->udp_fd, SOL_SOCKET, SO_ERROR, &e, &el);
		log_errno(LOG_LVL_WARN, "dns", e ? e : status, "udp socket");
		if (!s->closing)
			uv_poll_start(&s->udp_poll, UV_READABLE, on_udp_readable);
		return;
	}
	for (int r = 0; r < UDP_ROUNDS && !s->closing; r++)
		if (udp_batch(s) < UDP_BATCH)
			break;
}

/* ---- TCP ---- */

struct wreq {
	uv_write_t req;
	struct dns_tcp_conn *c;
	char data[];
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

static size_t queued(struct dns_tcp_conn *c)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct dns_tcp_conn *c = w->c;

	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->eof && queued(c) == 0) {
		conn_close(c);
		return;
	}
	if (!c->reading && !c->eof && queued(c) < TCP_PAUSE_AT / 2) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	}
}

/* Sends <p, n> as far as possible now, queueing a copy of the rest. */
static void conn_send(struct dns_tcp_conn *c, const uint8_t *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int sent = 0;

	if (queued(c) == 0) {
		sent = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (sent == UV_EAGAIN || sent == UV_ENOSYS)
			sent = 0;
		if (sent < 0) {
			conn_close(c);
			return;
		}
		if ((size_t)sent == n)
			return;
	}
	struct wreq *w = xmalloc(sizeof(*w) + n - (size_t)sent);
	w->c = c;
	memcpy(w->data, p + sent, n - (size_t)sent);
	b = uv_buf_init(w->data, (unsigned)(n - (size_t)sent));
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
		free(w);
		conn_close(c);
	}
}

static void on_idle(uv_timer_t *t)
{
	struct dns_tcp_conn *c = t->data;

	c->srv->st.tcp_timeouts++;
	conn_close(c);
}

static void conn_arm(struct dns_tcp_conn *c)
{
	uv_timer_start(&c->timer, on_idle, c->srv->o.tcp_idle_ms, 0);
}

/* Answers every complete message in c->in, in order. */
static void conn_process(struct dns_tcp_conn *c)
{
	struct dns_server *s = c->srv;

	while (!c->closing && c->in.data >= 2) {
		const uint8_t *p = (const uint8_t *)buf_ptr(&c->in);
		size_t len = (size_t)p[0] << 8 | p[1];
		struct dns__result res;

		if (c->in.data < 2 + len)
			break;
		s->st.queries++;
		s->st.tcp_queries++;
		size_t rlen = dns__respond(&s->zone, p + 2, len, true, s->tcp_out + 2, sizeof(s->tcp_out) - 2, &res);
		count_result(s, &res);
		buf_consume(&c->in, 2 + len);
		if (!rlen) {
			/* No header to answer: the stream is not DNS. */
			conn_close(c);
			return;
		}
		s->tcp_out[0] = (uint8_t)(rlen >> 8);
		s->tcp_out[1] = (uint8_t)rlen;
		conn_send(c, s->tcp_out, 2 + rlen);
		if (!c->closing)
			conn_arm(c);
	}
	if (!c->closing && c->reading && queued(c) > TCP_PAUSE_AT) {
		/* The client does not read its answers: stop reading its
		 * queries until it does (on_written resumes). */
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct dns_tcp_conn *c = h->data;

	buf_reserve(&c->in, TCP_READ_CHUNK);
	*b = uv_buf_init(buf_tail(&c->in), (unsigned)buf_room(&c->in));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct dns_tcp_conn *c = st->data;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && queued(c) > 0) {
			/* Half-closed after its queries: they still get
			 * their answers. */
			c->eof = true;
			c->reading = false;
			uv_read_stop(st);
			return;
		}
		conn_close(c);
		return;
	}
	c->in.data += (size_t)nread;
	conn_process(c);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct dns_server *s = ls->data;

	if (status < 0 || s->closing)
		return;
	struct dns_tcp_conn *c = XNEW(struct dns_tcp_conn);
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	s->handles++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (s->nconns > s->o.max_tcp_conns) {
		s->st.tcp_conns_refused++;
		conn_close(c);
		return;
	}
	s->st.tcp_conns++;
	uv_tcp_nodelay(&c->tcp, 1);
	conn_arm(c);
	c->reading = true;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- the server ---- */

struct dns_server *dns_server_new(uv_loop_t *loop, const struct dns_opts *o, struct catalog *cat, char **err)
{
	struct dns_server *s = XNEW(struct dns_server);

	if (o)
		s->o = *o;
	else
		dns_opts_init(&s->o);
	/* Zero or NULL means the default, except for the TTLs (0 is one). */
	struct dns_opts def;
	dns_opts_init(&def);
	if (!s->o.domain)
		s->o.domain = def.domain;
	if (!s->o.udp_max)
		s->o.udp_max = def.udp_max;
	if (!s->o.tcp_idle_ms)
		s->o.tcp_idle_ms = def.tcp_idle_ms;
	if (s->o.max_tcp_conns <= 0)
		s->o.max_tcp_conns = def.max_tcp_conns;
	if (dns__zone_init(&s->zone, &s->o, cat, err) < 0) {
		free(s);
		return NULL;
	}
	s->o.domain = NULL; /* the caller's string is not kept: the zone has its copy */
	s->loop = loop;
	s->udp_fd = -1;
	return s;
}

int dns_server_port(const struct dns_server *s)
{
	return s->port;
}

void dns_server_set_catalog(struct dns_server *s, struct catalog *cat)
{
	dns__zone_set_catalog(&s->zone, cat);
}

void dns_server_stats(const struct dns_server *s, struct dns_stats *out)
{
	*out = s->st;
}

static int set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	return port;
}

static int get_port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
					: ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* Opens a socket of <type> bound to <ss> (its port updated when it was
 * 0). Returns the fd, or a negative errno. */
static int sock_open(int type, struct sockaddr_storage *ss, socklen_t sl, bool pktinfo)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM) {
		/* A restart must not wait for the last run's TIME_WAITs. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	} else {
		int rcvbuf = UDP_RCVBUF;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (pktinfo && ss->ss_family == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		else if (pktinfo)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)ss, sl) < 0 || (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		int e = -errno;
		close(fd);
		return e;
	}
	socklen_t len = sizeof(*ss);
	getsockname(fd, (struct sockaddr *)ss, &len);
	return fd;
}

int dns_server_listen(struct dns_server *s, const char *hostport, char **err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *why = NULL;
	int ufd = -1, tfd = -1;

	if (s->listening || s->closing || s->tcp_inited) {
		*err = xasprintf("%s: the server listens on one address only", hostport);
		return UV_EINVAL;
	}
	if (addr_parse(hostport, &ss, &sl, &why) < 0) {
		*err = xasprintf("%s: %s", hostport, why ? why : "expected a numeric HOST:PORT");
		return UV_EINVAL;
	}
	bool any_port = get_port(&ss) == 0;
	s->pktinfo = is_wildcard(&ss);
	/* With port 0 the kernel picks UDP's port, which TCP then needs too:
	 * if another socket holds it on TCP, try another. */
	for (int attempt = 0; attempt < (any_port ? 16 : 1); attempt++) {
		if (any_port)
			set_port(&ss, 0);
		ufd = sock_open(SOCK_DGRAM, &ss, sl, s->pktinfo);
		if (ufd < 0)
			break;
		tfd = sock_open(SOCK_STREAM, &ss, sl, false);
		if (tfd >= 0 || tfd != -EADDRINUSE)
			break;
		close(ufd);
		ufd = -1;
	}
	if (ufd < 0 || tfd < 0) {
		int e = ufd < 0 ? ufd : tfd;
		*err = xasprintf("cannot listen on %s (%s): %s", hostport, ufd < 0 ? "udp" : "tcp", strerror(-e));
		if (ufd >= 0)
			close(ufd);
		return uv_translate_sys_error(-e);
	}
	uv_tcp_init(s->loop, &s->tcp);
	s->tcp.data = s;
	s->handles++;
	s->tcp_inited = true;
	int rc = uv_tcp_open(&s->tcp, tfd);
	if (rc < 0)
		close(tfd);
	else
		rc = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection);
	if (rc < 0) {
		*err = xasprintf("cannot listen on %s (tcp): %s", hostport, uv_strerror(rc));
		/* Once opened, the fd is the handle's: closing it closes both. */
		uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
		close(ufd);
		return rc;
	}
	s->udp_fd = ufd;
	uv_poll_init_socket(s->loop, &s->udp_poll, ufd);
	s->udp_poll.data = s;
	s->handles++;
	s->slots = XNEWV(struct udp_slot, UDP_BATCH);
	uv_poll_start(&s->udp_poll, UV_READABLE, on_udp_readable);
	s->listening = true;
	s->port = get_port(&ss);
	dns__zone_set_ns_addr(&s->zone, (struct sockaddr *)&ss);
	char text[80];
	addr_format((struct sockaddr *)&ss, text, sizeof(text));
	log_info("dns", "listening on %s (udp, tcp)", text);
	return 0;
}

void dns_server_close(struct dns_server *s, void (*done)(void *arg), void *arg)
{
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	if (s->listening) {
		s->listening = false;
		uv_close((uv_handle_t *)&s->udp_poll, on_udp_closed);
		uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
	}
	while (s->conns)
		conn_close(s->conns);
	server_maybe_done(s);
}
