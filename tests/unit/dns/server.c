/* Unit tests of the DNS server on a real loop: UDP and TCP on 127.0.0.1,
 * framing, several queries per connection, the idle timeout, the
 * connection cap, garbage, counters, and a clean close. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "dns/dns-int.h"

#if defined(__SANITIZE_ADDRESS__)
#define CHECK_LEAKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_LEAKS 1
#endif
#endif
#ifdef CHECK_LEAKS
#include <sanitizer/lsan_interface.h>
#endif

static uv_loop_t loop;
static struct catalog *cat;
static struct dns_server *srv;
static int port;
static int closed;

static void put_ep(const char *svc, int idx, const char *addr)
{
	struct catalog_endpoint ep = {.stack = "demo", .service = (char *)svc, .index = idx, .addr = (char *)addr,
				      .port = 31000 + idx, .healthy = true};
	catalog_put(cat, &ep);
}

static void start(const struct dns_opts *o)
{
	char *err = NULL;

	uv_loop_init(&loop);
	cat = catalog_new();
	put_ep("web", 1, "10.0.0.1");
	put_ep("web", 2, "10.0.0.2");
	srv = dns_server_new(&loop, o, cat, &err);
	cr_assert_not_null(srv, "%s", err);
	cr_assert_eq(dns_server_listen(srv, "127.0.0.1:0", &err), 0, "%s", err);
	port = dns_server_port(srv);
	cr_assert_gt(port, 0);
}

static void on_closed(void *arg)
{
	(*(int *)arg)++;
}

static void stop(void)
{
	closed = 0;
	dns_server_close(srv, on_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(closed, 1, "the done callback runs once");
	cr_assert_eq(uv_loop_close(&loop), 0, "no handle left behind");
	catalog_free(cat);
#ifdef CHECK_LEAKS
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the report above)");
#endif
}

static size_t make_query(uint8_t *buf, size_t cap, const char *name, uint16_t type, uint16_t id)
{
	struct dns_builder b;
	struct dns_name nm;

	dns_name_from_text(&nm, name);
	dns_b_init(&b, buf, cap, cap, id, DNS_F_RD);
	dns_b_question(&b, NULL, 0, &nm, type, DNS_C_IN);
	return dns_b_finish(&b);
}

static struct sockaddr_in server_addr(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	return sin;
}

static int udp_client(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin = server_addr();

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int tcp_client(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = server_addr();

	cr_assert_geq(fd, 0);
	/* The listener is ours and open: connect completes in the kernel. */
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "%s", strerror(errno));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Runs the loop until <fd> has <want> bytes (or, with want 0, any) or
 * <ms> pass. Returns the bytes read, or -1 on EOF/reset before any. */
static ssize_t pump_read(int fd, uint8_t *buf, size_t cap, size_t want, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	size_t got = 0;

	while (time_mono_ms() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		ssize_t n = recv(fd, buf + got, cap - got, 0);
		if (n > 0) {
			got += (size_t)n;
			if (!want || got >= want)
				return (ssize_t)got;
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return got ? (ssize_t)got : -1;
		usleep(1000);
	}
	return (ssize_t)got;
}

static void expect_answer(const uint8_t *p, size_t n, uint16_t id, int rcode, int nan)
{
	struct dns_msg m;
	const char *why = NULL;

	cr_assert_eq(dns_msg_parse(p, n, &m, &why), 0, "%s", why);
	cr_assert_eq(m.id, id);
	cr_assert_eq(m.flags & DNS_F_RCODE_MASK, rcode);
	cr_assert_eq(m.count[DNS_S_AN], nan);
	dns_msg_free(&m);
}

Test(dns_server, udp_query, .timeout = 10)
{
	uint8_t q[512], r[4096];
	struct dns_stats st;

	start(NULL);
	int fd = udp_client();
	size_t n = make_query(q, sizeof(q), "web.demo.berth", DNS_T_A, 7);
	cr_assert_eq(send(fd, q, n, 0), (ssize_t)n);
	ssize_t got = pump_read(fd, r, sizeof(r), 0, 3000);
	cr_assert_gt(got, 0, "no answer");
	expect_answer(r, (size_t)got, 7, DNS_R_NOERROR, 2);
	n = make_query(q, sizeof(q), "nope.demo.berth", DNS_T_A, 8);
	send(fd, q, n, 0);
	got = pump_read(fd, r, sizeof(r), 0, 3000);
	expect_answer(r, (size_t)got, 8, DNS_R_NXDOMAIN, 0);
	dns_server_stats(srv, &st);
	cr_assert_eq(st.queries, 2);
	cr_assert_eq(st.noerror, 1);
	cr_assert_eq(st.nxdomain, 1);
	cr_assert_eq(st.tcp_queries, 0);
	close(fd);
	stop();
}

Test(dns_server, udp_garbage_then_service_goes_on, .timeout = 10)
{
	uint8_t q[512], r[4096];
	struct dns_stats st;

	start(NULL);
	int fd = udp_client();
	/* Too short for a header: no answer. */
	send(fd, "\x01\x02\x03", 3, 0);
	/* A header and junk: FORMERR. */
	memcpy(q, "\x00\x09\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff", 15);
	send(fd, q, 15, 0);
	ssize_t got = pump_read(fd, r, sizeof(r), 0, 3000);
	cr_assert_eq(got, 12);
	expect_answer(r, 12, 9, DNS_R_FORMERR, 0);
	/* A burst of queries: all answered, in one or more batches. */
	for (int i = 0; i < 50; i++) {
		size_t n = make_query(q, sizeof(q), "web.demo.berth", DNS_T_A, (uint16_t)(100 + i));
		send(fd, q, n, 0);
	}
	int answered = 0;
	while (answered < 50 && (got = pump_read(fd, r, sizeof(r), 0, 3000)) > 0)
		answered++;
	cr_assert_eq(answered, 50);
	dns_server_stats(srv, &st);
	cr_assert_eq(st.queries, 52);
	cr_assert_eq(st.dropped, 1);
	cr_assert_eq(st.formerr, 1);
	close(fd);
	stop();
}

Test(dns_server, udp_truncation_counted, .timeout = 10)
{
	uint8_t q[512], r[4096];
	struct dns_stats st;

	start(NULL);
	for (int i = 3; i <= 60; i++) {
		char a[32];
		snprintf(a, sizeof(a), "10.0.1.%d", i);
		put_ep("web", i, a);
	}
	int fd = udp_client();
	size_t n = make_query(q, sizeof(q), "web.demo.berth", DNS_T_A, 1);
	send(fd, q, n, 0);
	ssize_t got = pump_read(fd, r, sizeof(r), 0, 3000);
	cr_assert_gt(got, 0);
	cr_assert(r[2] & 0x02, "TC");
	dns_server_stats(srv, &st);
	cr_assert_eq(st.truncated, 1);
	close(fd);
	stop();
}

Test(dns_server, tcp_several_queries_per_connection, .timeout = 10)
{
	uint8_t q[1024], r[8192];
	struct dns_stats st;

	start(NULL);
	int fd = tcp_client();
	/* Two framed queries in one write, then a third split in two. */
	size_t n1 = make_query(q + 2, 500, "web.demo.berth", DNS_T_A, 1);
	q[0] = 0;
	q[1] = (uint8_t)n1;
	size_t n2 = make_query(q + 4 + n1, 500, "1.web.demo.berth", DNS_T_A, 2);
	q[2 + n1] = 0;
	q[3 + n1] = (uint8_t)n2;
	cr_assert_eq(send(fd, q, 4 + n1 + n2, 0), (ssize_t)(4 + n1 + n2));
	ssize_t got = pump_read(fd, r, sizeof(r), 0, 3000);
	cr_assert_gt(got, 2);
	/* Read until both answers are in. */
	size_t have = (size_t)got;
	size_t l1 = (size_t)r[0] << 8 | r[1];
	while (have < 2 + l1 + 2)
		have += (size_t)pump_read(fd, r + have, sizeof(r) - have, 0, 3000);
	size_t l2 = (size_t)r[2 + l1] << 8 | r[3 + l1];
	while (have < 4 + l1 + l2)
		have += (size_t)pump_read(fd, r + have, sizeof(r) - have, 0, 3000);
	expect_answer(r + 2, l1, 1, DNS_R_NOERROR, 2);
	expect_answer(r + 4 + l1, l2, 2, DNS_R_NOERROR, 1);

	size_t n3 = make_query(q + 2, 500, "web.demo.berth", DNS_T_SRV, 3);
	q[0] = 0;
	q[1] = (uint8_t)n3;
	send(fd, q, 5, 0);
	cr_assert_eq(pump_read(fd, r, sizeof(r), 0, 100), 0, "nothing until the message is whole");
	send(fd, q + 5, n3 + 2 - 5, 0);
	got = pump_read(fd, r, sizeof(r), 0, 3000);
	cr_assert_gt(got, 2);
	size_t l3 = (size_t)r[0] << 8 | r[1];
	while ((size_t)got < 2 + l3)
		got += pump_read(fd, r + got, sizeof(r) - (size_t)got, 0, 3000);
	expect_answer(r + 2, l3, 3, DNS_R_NOERROR, 2);
	dns_server_stats(srv, &st);
	cr_assert_eq(st.tcp_queries, 3);
	cr_assert_eq(st.tcp_conns, 1);
	close(fd);
	stop();
}

Test(dns_server, tcp_large_answer_not_truncated, .timeout = 10)
{
	uint8_t q[512], r[65600];

	start(NULL);
	for (int i = 3; i <= 400; i++) {
		char a[32];
		snprintf(a, sizeof(a), "10.0.%d.%d", i / 256, i % 256);
		put_ep("web", i, a);
	}
	int fd = tcp_client();
	size_t n = make_query(q + 2, sizeof(q) - 2, "web.demo.berth", DNS_T_SRV, 5);
	q[0] = 0;
	q[1] = (uint8_t)n;
	send(fd, q, n + 2, 0);
	ssize_t got = pump_read(fd, r, sizeof(r), 2, 3000);
	cr_assert_geq(got, 2);
	size_t len = (size_t)r[0] << 8 | r[1];
	cr_assert_gt(len, 4096);
	got = pump_read(fd, r + got, sizeof(r) - (size_t)got, 2 + len - (size_t)got, 3000) + got;
	cr_assert_eq((size_t)got, 2 + len);
	expect_answer(r + 2, len, 5, DNS_R_NOERROR, 400);
	close(fd);
	stop();
}

Test(dns_server, tcp_idle_timeout, .timeout = 10)
{
	struct dns_opts o;
	uint8_t r[64];
	struct dns_stats st;

	dns_opts_init(&o);
	o.tcp_idle_ms = 100;
	start(&o);
	int fd = tcp_client();
	/* Half a message does not reset the timer. */
	send(fd, "\x00\x20\x00", 3, 0);
	uint64_t t0 = time_mono_ms();
	cr_assert_eq(pump_read(fd, r, sizeof(r), 0, 3000), -1, "closed by the server");
	cr_assert_geq(time_mono_ms() - t0, 50);
	dns_server_stats(srv, &st);
	cr_assert_eq(st.tcp_timeouts, 1);
	close(fd);
	stop();
}

Test(dns_server, tcp_connection_cap, .timeout = 10)
{
	struct dns_opts o;
	uint8_t q[512], r[4096];
	struct dns_stats st;

	dns_opts_init(&o);
	o.max_tcp_conns = 1;
	start(&o);
	int a = tcp_client();
	uv_run(&loop, UV_RUN_NOWAIT);
	int b = tcp_client();
	cr_assert_eq(pump_read(b, r, sizeof(r), 0, 3000), -1, "the second is closed at once");
	/* The first still works. */
	size_t n = make_query(q + 2, sizeof(q) - 2, "web.demo.berth", DNS_T_A, 4);
	q[0] = 0;
	q[1] = (uint8_t)n;
	send(a, q, n + 2, 0);
	ssize_t got = pump_read(a, r, sizeof(r), 0, 3000);
	cr_assert_gt(got, 2);
	dns_server_stats(srv, &st);
	cr_assert_eq(st.tcp_conns_refused, 1);
	cr_assert_eq(st.tcp_conns, 1);
	close(a);
	close(b);
	stop();
}

Test(dns_server, tcp_garbage_closes_the_connection, .timeout = 10)
{
	uint8_t r[64];

	start(NULL);
	int fd = tcp_client();
	/* A 3-byte message has no header to answer. */
	send(fd, "\x00\x03\x01\x02\x03", 5, 0);
	cr_assert_eq(pump_read(fd, r, sizeof(r), 0, 3000), -1);
	close(fd);
	fd = tcp_client();
	/* A readable header with junk after it: FORMERR, and the connection stays. */
	send(fd, "\x00\x0e\x00\x05\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff", 16, 0);
	ssize_t got = pump_read(fd, r, sizeof(r), 14, 3000);
	cr_assert_eq(got, 14);
	expect_answer(r + 2, 12, 5, DNS_R_FORMERR, 0);
	close(fd);
	stop();
}

Test(dns_server, close_with_open_connections, .timeout = 10)
{
	start(NULL);
	int a = tcp_client(), b = tcp_client();
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	stop();
	close(a);
	close(b);
}

Test(dns_server, listen_errors, .timeout = 10)
{
	char *err = NULL;

	start(NULL);
	cr_assert_lt(dns_server_listen(srv, "127.0.0.1:0", &err), 0, "once only");
	free(err);
	err = NULL;
	/* The port is taken (by us): a second server cannot have it. */
	struct dns_server *s2 = dns_server_new(&loop, NULL, cat, &err);
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	cr_assert_eq(dns_server_listen(s2, addr, &err), UV_EADDRINUSE);
	cr_assert_not_null(strstr(err, "cannot listen"), "%s", err);
	free(err);
	cr_assert_eq(dns_server_listen(s2, "nonsense", &err), UV_EINVAL, "tried once already");
	free(err);
	dns_server_close(s2, NULL, NULL);
	struct dns_server *s3 = dns_server_new(&loop, NULL, cat, &err);
	cr_assert_eq(dns_server_listen(s3, "nonsense", &err), UV_EINVAL);
	free(err);
	dns_server_close(s3, NULL, NULL);
	struct dns_opts o;
	dns_opts_init(&o);
	o.domain = "a..b";
	cr_assert_null(dns_server_new(&loop, &o, cat, &err));
	free(err);
	stop();
}

Test(dns_server, set_catalog, .timeout = 10)
{
	uint8_t q[512], r[4096];

	start(NULL);
	struct catalog *c2 = catalog_new();
	struct catalog_endpoint ep = {.stack = "other", .service = "db", .index = 1, .addr = "10.5.5.5",
				      .port = 5432, .healthy = true};
	catalog_put(c2, &ep);
	dns_server_set_catalog(srv, c2);
	catalog_free(cat);
	cat = c2;
	int fd = udp_client();
	size_t n = make_query(q, sizeof(q), "db.other.berth", DNS_T_A, 11);
	send(fd, q, n, 0);
	ssize_t got = pump_read(fd, r, sizeof(r), 0, 3000);
	expect_answer(r, (size_t)got, 11, DNS_R_NOERROR, 1);
	n = make_query(q, sizeof(q), "web.demo.berth", DNS_T_A, 12);
	send(fd, q, n, 0);
	got = pump_read(fd, r, sizeof(r), 0, 3000);
	expect_answer(r, (size_t)got, 12, DNS_R_NXDOMAIN, 0);
	close(fd);
	stop();
}

Test(dns_server, wildcard_answers_from_the_address_asked, .timeout = 10)
{
	char *err = NULL;
	uint8_t q[512], r[4096];

	uv_loop_init(&loop);
	cat = catalog_new();
	put_ep("web", 1, "10.0.0.1");
	srv = dns_server_new(&loop, NULL, cat, &err);
	cr_assert_eq(dns_server_listen(srv, "0.0.0.0:0", &err), 0, "%s", err);
	port = dns_server_port(srv);
	/* A connected UDP socket only accepts datagrams from the address it
	 * sent to: the answer must come from 127.0.0.1 (IP_PKTINFO). */
	int fd = udp_client();
	size_t n = make_query(q, sizeof(q), "web.demo.berth", DNS_T_A, 13);
	send(fd, q, n, 0);
	ssize_t got = pump_read(fd, r, sizeof(r), 0, 3000);
	cr_assert_gt(got, 0);
	expect_answer(r, (size_t)got, 13, DNS_R_NOERROR, 1);
	close(fd);
	stop();
}
