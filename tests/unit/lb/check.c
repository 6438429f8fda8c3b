/* Unit tests of the active health checks, on a real loop against tiny HTTP servers on 127.0.0.1. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/lb-int.h"

/* Under ASan, leaks fail the test that made them (LeakSanitizer's report at
 * exit would not change a Criterion verdict). */
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

/* ---- a tiny HTTP server on the test loop ---- */

enum tsrv_mode {
	TS_200 = 0,   /* "200 OK" */
	TS_500,       /* "500 Internal Server Error" */
	TS_204,
	TS_302,
	TS_HANG,      /* reads the request, never answers */
	TS_GARBAGE,   /* answers something that is not HTTP */
	TS_CLOSE,     /* closes without answering */
	TS_HINTS_200, /* "103 Early Hints" then "200 OK" */
};

#define TS_MAX_REQ 256

struct tconn {
	uv_tcp_t tcp;
	struct tsrv *ts;
	struct tconn *next;      /* open connections of the server */
	struct tconn **pprev;
	char buf[2048];          /* request bytes so far */
	size_t len;
	bool answered;           /* a request was complete: ignore what follows */
	uv_write_t w;
};

struct tsrv {
	uv_loop_t *loop;
	uv_tcp_t listen;
	int port;
	enum tsrv_mode mode;     /* answer to requests past the script */
	const enum tsrv_mode *script; /* answer to request i (1-based) for i <= nscript */
	int nscript;
	int nreq;                /* complete requests received */
	int nconn;               /* connections accepted */
	struct lb_backend *be;   /* the checked server, to record its state */
	struct lb_server *srv;
	int state_at[TS_MAX_REQ + 1]; /* srv->state when request i arrived */
	uint64_t time_at[TS_MAX_REQ + 1]; /* uv_now when request i arrived */
	int down_at;             /* mark srv DOWN (as the proxy would) when this request arrives */
	char last_req[512];      /* the last request, NUL-terminated */
	struct tconn *conns;
};

static const char *answer(enum tsrv_mode m)
{
	switch (m) {
	case TS_200:
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	case TS_500:
		return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	case TS_204:
		return "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	case TS_302:
		return "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	case TS_GARBAGE:
		return "hello there\r\n\r\n";
	case TS_HINTS_200:
		return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
		       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	default:
		return NULL;
	}
}

static void tconn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void tconn_close(struct tconn *tc)
{
	if (uv_is_closing((uv_handle_t *)&tc->tcp))
		return;
	*tc->pprev = tc->next;
	if (tc->next)
		tc->next->pprev = tc->pprev;
	uv_close((uv_handle_t *)&tc->tcp, tconn_closed);
}

static void tconn_written(uv_write_t *w, int status)
{
	tconn_close(w->data);
}

static void tconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct tconn *tc = h->data;

	*b = uv_buf_init(tc->buf + tc->len, (unsigned)(sizeof(tc->buf) - 1 - tc->len));
}

static void tconn_request(struct tconn *tc)
{
	struct tsrv *ts = tc->ts;
	int n = ++ts->nreq;
	enum tsrv_mode m = n <= ts->nscript ? ts->script[n - 1] : ts->mode;

	tc->answered = true;
	snprintf(ts->last_req, sizeof(ts->last_req), "%.*s", (int)tc->len, tc->buf);
	if (ts->srv && n == ts->down_at)
		lb__server_set_state(ts->be, ts->srv, LB_SRV_DOWN, "test: passive failure");
	if (n <= TS_MAX_REQ) {
		ts->state_at[n] = ts->srv ? atomic_load(&ts->srv->state) : -1;
		ts->time_at[n] = uv_now(ts->loop);
	}
	if (m == TS_HANG)
		return;
	if (m == TS_CLOSE) {
		tconn_close(tc);
		return;
	}
	const char *a = answer(m);
	uv_buf_t b = uv_buf_init((char *)a, (unsigned)strlen(a));
	tc->w.data = tc;
	cr_assert_eq(uv_write(&tc->w, (uv_stream_t *)&tc->tcp, &b, 1, tconn_written), 0);
}

static void tconn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct tconn *tc = s->data;

	if (nread < 0) {
		tconn_close(tc);
		return;
	}
	if (tc->answered)
		return;
	tc->len += (size_t)nread;
	tc->buf[tc->len] = '\0';
	if (strstr(tc->buf, "\r\n\r\n"))
		tconn_request(tc);
	else if (tc->len == sizeof(tc->buf) - 1)
		tconn_close(tc);
}

static void tsrv_accept(uv_stream_t *l, int status)
{
	struct tsrv *ts = l->data;
	struct tconn *tc = XNEW(struct tconn);

	cr_assert_eq(status, 0);
	tc->ts = ts;
	uv_tcp_init(ts->loop, &tc->tcp);
	tc->tcp.data = tc;
	tc->next = ts->conns;
	if (tc->next)
		tc->next->pprev = &tc->next;
	tc->pprev = &ts->conns;
	ts->conns = tc;
	if (uv_accept(l, (uv_stream_t *)&tc->tcp) != 0) {
		tconn_close(tc);
		return;
	}
	ts->nconn++;
	uv_read_start((uv_stream_t *)&tc->tcp, tconn_alloc, tconn_read);
}

static void tsrv_start(struct tsrv *ts, uv_loop_t *loop)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(ts, 0, sizeof(*ts));
	ts->loop = loop;
	uv_ip4_addr("127.0.0.1", 0, &sin);
	cr_assert_eq(uv_tcp_init(loop, &ts->listen), 0);
	ts->listen.data = ts;
	cr_assert_eq(uv_tcp_bind(&ts->listen, (struct sockaddr *)&sin, 0), 0);
	cr_assert_eq(uv_listen((uv_stream_t *)&ts->listen, 128, tsrv_accept), 0);
	cr_assert_eq(uv_tcp_getsockname(&ts->listen, (struct sockaddr *)&ss, &len), 0);
	ts->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void tsrv_stop(struct tsrv *ts)
{
	while (ts->conns)
		tconn_close(ts->conns);
	uv_close((uv_handle_t *)&ts->listen, NULL);
}

/* A port on 127.0.0.1 where nothing listens: bound, then closed. */
static int closed_port(uv_loop_t *loop)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_t t;

	uv_ip4_addr("127.0.0.1", 0, &sin);
	uv_tcp_init(loop, &t);
	cr_assert_eq(uv_tcp_bind(&t, (struct sockaddr *)&sin, 0), 0);
	cr_assert_eq(uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len), 0);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- configs and worlds built by hand ---- */

static struct lb_check_cfg http_check(int rise, int fall, uint64_t interval, uint64_t timeout)
{
	return (struct lb_check_cfg){
		.type = LB_CHECK_HTTP, .path = "/healthz", .interval = interval,
		.timeout = timeout, .rise = rise, .fall = fall,
	};
}

static struct lb_check_cfg tcp_check(int rise, int fall, uint64_t interval, uint64_t timeout)
{
	return (struct lb_check_cfg){
		.type = LB_CHECK_TCP, .interval = interval, .timeout = timeout, .rise = rise, .fall = fall,
	};
}

/* Fills <bc> as backend <name> checked with <ck> (strings copied), with one
 * server per port, named "p<port>" unless <names> says otherwise. */
static void be_cfg(struct lb_backend_cfg *bc, const char *name, struct lb_check_cfg ck, const int *ports,
		   int n, const char *const *names)
{
	bc->name = xstrdup(name);
	bc->check = ck;
	bc->check.path = ck.path ? xstrdup(ck.path) : NULL;
	bc->check.host = ck.host ? xstrdup(ck.host) : NULL;
	bc->retries = 2;
	bc->redispatch = true;
	bc->queue_max = 1024;
	bc->nservers = n;
	bc->servers = XNEWV(struct lb_server_cfg, n);
	for (int i = 0; i < n; i++) {
		struct lb_server_cfg *sc = &bc->servers[i];
		struct sockaddr_in sin;

		sc->name = names ? xstrdup(names[i]) : xasprintf("p%d", ports[i]);
		sc->addr.text = xasprintf("127.0.0.1:%d", ports[i]);
		uv_ip4_addr("127.0.0.1", ports[i], &sin);
		memcpy(&sc->addr.sa, &sin, sizeof(sin));
		sc->addr.salen = sizeof(sin);
		sc->weight = 1;
	}
}

static struct lb_config *make_cfg(int nbes)
{
	struct lb_config *cfg = XNEW(struct lb_config);

	cfg->threads = 1;
	cfg->grace = 1000;
	cfg->nbes = nbes;
	cfg->bes = XNEWV(struct lb_backend_cfg, nbes);
	return cfg;
}

/* One backend named "be" checked with <ck> over servers at <ports>. */
static struct lb_config *one_backend(struct lb_check_cfg ck, const int *ports, int n)
{
	struct lb_config *cfg = make_cfg(1);

	be_cfg(&cfg->bes[0], "be", ck, ports, n, NULL);
	return cfg;
}

/* ---- the harness ---- */

struct harness {
	uv_loop_t loop;
	struct lb_proc p;
	struct tsrv ts;
	uv_timer_t deadline;  /* bounds each run */
	uv_timer_t poll;      /* evaluates the run's condition */
	bool (*cond)(struct harness *h);
	bool timed_out;
	uint64_t t0;          /* uv_now when the checks started */
};

static struct harness H;

static void quiet(void)
{
	log_setup(LOG_LVL_ERROR, LOG_FMT_TEXT);
}

TestSuite(check, .init = quiet, .timeout = 20);

static void h_init(void)
{
	cr_assert_eq(uv_loop_init(&H.loop), 0);
	uv_timer_init(&H.loop, &H.deadline);
	uv_timer_init(&H.loop, &H.poll);
	tsrv_start(&H.ts, &H.loop);
	pthread_mutex_init(&H.p.world_lock, NULL);
	H.p.loop = &H.loop;
	H.p.nthreads = 1;
}

static struct lb_backend *be_at(int i)
{
	return H.p.world->be[i];
}

static struct lb_server *srv_at(int b, int s)
{
	return H.p.world->be[b]->srv[s];
}

/* Builds the first world from <cfg> and starts the checks; the test
 * server watches server 0 of backend 0. */
static void h_start(struct lb_config *cfg)
{
	char *err = NULL;

	H.p.world = lb__world_build(cfg, NULL, 1, &err);
	cr_assert_not_null(H.p.world, "world: %s", err ? err : "?");
	H.p.generation = H.p.world->generation;
	H.ts.be = be_at(0);
	H.ts.srv = srv_at(0, 0);
	uv_update_time(&H.loop);
	H.t0 = uv_now(&H.loop);
	cr_assert_eq(lb__checks_start(&H.p), 0);
}

/* A SIGHUP as lb.c does it: new world, swap, sync, release the old one. */
static void h_reload(struct lb_config *cfg)
{
	char *err = NULL;
	struct lb_world *nw = lb__world_build(cfg, H.p.world, 1, &err), *old;

	cr_assert_not_null(nw, "world: %s", err ? err : "?");
	pthread_mutex_lock(&H.p.world_lock);
	old = H.p.world;
	H.p.world = nw;
	H.p.generation = nw->generation;
	pthread_mutex_unlock(&H.p.world_lock);
	lb__checks_sync(&H.p);
	lb__world_unref(old);
}

static void on_deadline(uv_timer_t *t)
{
	H.timed_out = true;
	uv_stop(&H.loop);
}

static void on_poll(uv_timer_t *t)
{
	if (H.cond(&H))
		uv_stop(&H.loop);
}

/* Runs the loop until <cond> holds (checked every millisecond) or <max_ms>
 * passed; returns whether <cond> came true. */
static bool run_until(bool (*cond)(struct harness *h), uint64_t max_ms)
{
	H.cond = cond;
	H.timed_out = false;
	if (cond(&H))
		return true;
	uv_timer_start(&H.deadline, on_deadline, max_ms, 0);
	uv_timer_start(&H.poll, on_poll, 1, 1);
	uv_run(&H.loop, UV_RUN_DEFAULT);
	uv_timer_stop(&H.deadline);
	uv_timer_stop(&H.poll);
	return !H.timed_out;
}

/* Stops everything and checks nothing is left: no handle on the loop, and
 * no ref on a server or backend but the world's. */
static void h_fini(void)
{
	lb__checks_stop(&H.p);
	cr_assert_null(H.p.checks);
	tsrv_stop(&H.ts);
	uv_close((uv_handle_t *)&H.deadline, NULL);
	uv_close((uv_handle_t *)&H.poll, NULL);
	uv_run(&H.loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&H.loop), 0, "handles left on the loop");
	for (int i = 0; i < H.p.world->cfg->nbes; i++) {
		struct lb_backend *be = H.p.world->be[i];

		cr_assert_eq(atomic_load(&be->refs), 1, "backend %s: refs left", be->name);
		for (int j = 0; j < be->nsrv; j++)
			cr_assert_eq(atomic_load(&be->srv[j]->refs), 1, "server %s: refs left", be->srv[j]->name);
	}
	lb__world_unref(H.p.world);
	pthread_mutex_destroy(&H.p.world_lock);
#ifdef CHECK_LEAKS
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the report above)");
#endif
}

static int state0(void)
{
	return atomic_load(&srv_at(0, 0)->state);
}

static int check_status0(void)
{
	return atomic_load(&srv_at(0, 0)->check_status);
}

static int want_nreq;
static bool nreq_reached(struct harness *h)
{
	return h->ts.nreq >= want_nreq;
}

static bool is_down(struct harness *h)
{
	return state0() == LB_SRV_DOWN;
}

static bool is_up(struct harness *h)
{
	return state0() == LB_SRV_UP;
}

/* ---- rise and fall ---- */

Test(check, http_fall_after_exactly_fall_failures_then_rise)
{
	static const enum tsrv_mode script[] = {TS_500, TS_500, TS_500, TS_200, TS_200, TS_200};

	h_init();
	H.ts.script = script;
	H.ts.nscript = 6;
	h_start(one_backend(http_check(2, 3, 20, 1000), &H.ts.port, 1));
	want_nreq = 7;
	cr_assert(run_until(nreq_reached, 3000));

	/* state_at[i] is the state when probe i arrives, i.e. after i - 1 results. */
	cr_expect_eq(H.ts.state_at[1], LB_SRV_UP);
	cr_expect_eq(H.ts.state_at[2], LB_SRV_UP);
	cr_expect_eq(H.ts.state_at[3], LB_SRV_UP, "down after only 2 failures");
	cr_expect_eq(H.ts.state_at[4], LB_SRV_DOWN, "still up after 3 failures");
	cr_expect_eq(H.ts.state_at[5], LB_SRV_DOWN, "up after 1 success (rise 2)");
	cr_expect_eq(H.ts.state_at[6], LB_SRV_UP, "still down after 2 successes");
	cr_expect_eq(H.ts.state_at[7], LB_SRV_UP);
	cr_expect_eq(check_status0(), 1);
	h_fini();
}

Test(check, failures_must_be_consecutive)
{
	static const enum tsrv_mode script[] = {TS_500, TS_500, TS_200, TS_500, TS_500, TS_200, TS_500, TS_500};

	h_init();
	H.ts.script = script;
	H.ts.nscript = 8;
	H.ts.mode = TS_200;
	h_start(one_backend(http_check(2, 3, 20, 1000), &H.ts.port, 1));
	want_nreq = 10;
	cr_assert(run_until(nreq_reached, 3000));
	for (int i = 1; i <= 10; i++)
		cr_expect_eq(H.ts.state_at[i], LB_SRV_UP, "down at probe %d", i);
	h_fini();
}

Test(check, server_taken_down_by_the_proxy_comes_back_after_rise)
{
	h_init();
	H.ts.mode = TS_200;
	h_start(one_backend(http_check(3, 2, 20, 1000), &H.ts.port, 1));
	lb__server_set_state(be_at(0), srv_at(0, 0), LB_SRV_DOWN, "test: passive failure");
	want_nreq = 4;
	cr_assert(run_until(nreq_reached, 3000));
	cr_expect_eq(H.ts.state_at[1], LB_SRV_DOWN);
	cr_expect_eq(H.ts.state_at[2], LB_SRV_DOWN);
	cr_expect_eq(H.ts.state_at[3], LB_SRV_DOWN, "up after 2 successes (rise 3)");
	cr_expect_eq(H.ts.state_at[4], LB_SRV_UP, "still down after 3 successes");
	h_fini();
}

/* Failures counted while UP mean nothing once the proxy took the server
 * down: the successes are counted from the new state. */
Test(check, count_restarts_when_the_state_changes_elsewhere)
{
	static const enum tsrv_mode script[] = {TS_500, TS_500};

	h_init();
	H.ts.script = script;
	H.ts.nscript = 2;
	H.ts.mode = TS_200;
	H.ts.down_at = 3; /* two failures counted, then the proxy marks it down */
	h_start(one_backend(http_check(2, 3, 20, 1000), &H.ts.port, 1));
	want_nreq = 5;
	cr_assert(run_until(nreq_reached, 3000));
	cr_expect_eq(H.ts.state_at[3], LB_SRV_DOWN);
	cr_expect_eq(H.ts.state_at[4], LB_SRV_DOWN, "up after 1 success (rise 2)");
	cr_expect_eq(H.ts.state_at[5], LB_SRV_UP);
	h_fini();
}

/* ---- tcp checks ---- */

Test(check, tcp_check_detects_a_closed_port)
{
	h_init();
	int port = closed_port(&H.loop);
	h_start(one_backend(tcp_check(2, 2, 20, 500), &port, 1));
	cr_assert(run_until(is_down, 3000), "server still up");
	cr_expect_eq(check_status0(), -1);
	h_fini();
}

Test(check, tcp_check_brings_a_listening_server_up)
{
	h_init();
	h_start(one_backend(tcp_check(2, 2, 20, 500), &H.ts.port, 1));
	lb__server_set_state(be_at(0), srv_at(0, 0), LB_SRV_DOWN, "test: passive failure");
	cr_assert(run_until(is_up, 3000), "server still down");
	cr_expect_eq(check_status0(), 1);
	cr_expect_eq(H.ts.nreq, 0, "a tcp check sends nothing");
	h_fini();
}

/* ---- HTTP outcomes ---- */

static uint64_t down_time;
static bool is_down_timed(struct harness *h)
{
	if (state0() != LB_SRV_DOWN)
		return false;
	down_time = uv_now(&h->loop);
	return true;
}

Test(check, http_timeout_is_a_failure)
{
	h_init();
	H.ts.mode = TS_HANG;
	h_start(one_backend(http_check(1, 1, 20, 60), &H.ts.port, 1));
	cr_assert(run_until(is_down_timed, 3000), "server still up");
	cr_expect_eq(H.ts.nreq, 1);
	cr_expect_eq(check_status0(), -1);
	/* The probe started before its request arrived: at most a few ms. */
	cr_expect_geq(down_time - H.ts.time_at[1], 50, "down %llu ms after the request, before the timeout",
		      (unsigned long long)(down_time - H.ts.time_at[1]));
	h_fini();
}

/* Runs <nprobes> probes against a server answering <mode>, with rise and
 * fall 1, and returns the server state; the server starts <start>. */
static int outcome(int expect, enum tsrv_mode mode, int start, int nprobes)
{
	struct lb_check_cfg ck = http_check(1, 1, 20, 1000);

	ck.expect_status = expect;
	H.ts.mode = mode;
	h_start(one_backend(ck, &H.ts.port, 1));
	if (start == LB_SRV_DOWN)
		lb__server_set_state(be_at(0), srv_at(0, 0), LB_SRV_DOWN, "test");
	want_nreq = nprobes + 1;
	cr_assert(run_until(nreq_reached, 3000));
	cr_assert_eq(H.ts.state_at[nprobes + 1], state0());
	return state0();
}

Test(check, any_2xx_or_3xx_by_default)
{
	h_init();
	cr_expect_eq(outcome(0, TS_204, LB_SRV_DOWN, 1), LB_SRV_UP);
	cr_expect_eq(check_status0(), 1);
	h_fini();
	h_init();
	cr_expect_eq(outcome(0, TS_302, LB_SRV_DOWN, 1), LB_SRV_UP);
	h_fini();
	h_init();
	cr_expect_eq(outcome(0, TS_500, LB_SRV_UP, 1), LB_SRV_DOWN);
	cr_expect_eq(check_status0(), -1);
	h_fini();
}

Test(check, expect_status_is_honoured)
{
	h_init();
	cr_expect_eq(outcome(500, TS_500, LB_SRV_DOWN, 1), LB_SRV_UP, "500 expected and received");
	cr_expect_eq(check_status0(), 1);
	h_fini();
	h_init();
	cr_expect_eq(outcome(200, TS_204, LB_SRV_UP, 1), LB_SRV_DOWN, "204 is not the 200 expected");
	h_fini();
	h_init();
	cr_expect_eq(outcome(200, TS_200, LB_SRV_DOWN, 2), LB_SRV_UP);
	h_fini();
}

Test(check, bad_responses_are_failures)
{
	h_init();
	cr_expect_eq(outcome(0, TS_GARBAGE, LB_SRV_UP, 1), LB_SRV_DOWN, "garbage accepted");
	h_fini();
	h_init();
	cr_expect_eq(outcome(0, TS_CLOSE, LB_SRV_UP, 1), LB_SRV_DOWN, "close before the head accepted");
	h_fini();
}

Test(check, interim_responses_are_skipped)
{
	h_init();
	cr_expect_eq(outcome(0, TS_HINTS_200, LB_SRV_DOWN, 1), LB_SRV_UP);
	h_fini();
}

Test(check, request_format)
{
	struct lb_check_cfg ck = http_check(1, 1, 20, 1000);
	char want[256];

	h_init();
	h_start(one_backend(ck, &H.ts.port, 1));
	want_nreq = 1;
	cr_assert(run_until(nreq_reached, 3000));
	snprintf(want, sizeof(want),
		 "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: berth-lb-check\r\n"
		 "Connection: close\r\n\r\n", H.ts.port);
	cr_expect_str_eq(H.ts.last_req, want);
	h_fini();

	h_init();
	ck.host = "app.example";
	ck.path = "/ready?full=1";
	h_start(one_backend(ck, &H.ts.port, 1));
	cr_assert(run_until(nreq_reached, 3000));
	cr_expect_str_eq(H.ts.last_req, "GET /ready?full=1 HTTP/1.1\r\nHost: app.example\r\n"
					"User-Agent: berth-lb-check\r\nConnection: close\r\n\r\n");
	h_fini();
}

/* Eight servers (same address, different names) all get their first probe
 * within the first interval: a server's second probe comes at least one
 * interval after its first, so eight requests before then are eight firsts. */
Test(check, first_probes_are_spread_within_the_interval)
{
	int ports[8];

	h_init();
	for (int i = 0; i < 8; i++)
		ports[i] = H.ts.port;
	const char *names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	struct lb_config *cfg = make_cfg(1);
	be_cfg(&cfg->bes[0], "be", http_check(2, 3, 400, 1000), ports, 8, names);
	h_start(cfg);
	want_nreq = 8;
	cr_assert(run_until(nreq_reached, 3000));
	cr_expect_lt(H.ts.time_at[8] - H.t0, 400 + 100, "8th request after %llu ms",
		     (unsigned long long)(H.ts.time_at[8] - H.t0));
	/* Eight uniform delays in [0, 400) all within 20 ms: about 1e-8. */
	cr_expect_gt(H.ts.time_at[8] - H.ts.time_at[1], 20, "first probes not spread");
	h_fini();
}

/* ---- reloads ---- */

static struct tsrv ts2;
static int ts2_want;
static bool both_probed(struct harness *h)
{
	return h->ts.nreq >= want_nreq && ts2.nreq >= ts2_want;
}

Test(check, sync_follows_removed_servers_and_changed_config)
{
	h_init();
	tsrv_start(&ts2, &H.loop);
	int ports[2] = {H.ts.port, ts2.port};
	h_start(one_backend(http_check(2, 3, 20, 1000), ports, 2));
	want_nreq = 1;
	ts2_want = 1;
	cr_assert(run_until(both_probed, 3000));

	/* Server B goes away and the path changes. */
	struct lb_server *b = srv_at(0, 1);
	lb__server_ref(b);
	struct lb_check_cfg ck = http_check(2, 3, 20, 1000);
	ck.path = "/v2";
	h_reload(one_backend(ck, &H.ts.port, 1));
	int b_seen = ts2.nreq;
	int a_seen = H.ts.nreq;
	want_nreq = a_seen + 5;
	cr_assert(run_until(nreq_reached, 3000));
	cr_expect(strncmp(H.ts.last_req, "GET /v2 ", 8) == 0, "old path still used: %s", H.ts.last_req);
	/* A probe already on the wire may still land, no more. */
	cr_expect_leq(ts2.nreq, b_seen + 1, "removed server still checked");
	cr_expect(b->removed);
	cr_expect_eq(atomic_load(&b->refs), 1, "the check still holds the removed server");
	lb__server_unref(b);

	tsrv_stop(&ts2);
	h_fini();
}

Test(check, sync_picks_up_a_shorter_interval)
{
	h_init();
	h_start(one_backend(http_check(2, 3, 10000, 1000), &H.ts.port, 1));
	/* Give the first (spread) probe no chance: reload right away. */
	h_reload(one_backend(http_check(2, 3, 20, 1000), &H.ts.port, 1));
	want_nreq = 4;
	cr_assert(run_until(nreq_reached, 2000), "the old 10 s interval is still used");
	h_fini();
}

Test(check, sync_stops_checks_of_gone_backends_and_disabled_checks)
{
	h_init();
	tsrv_start(&ts2, &H.loop);
	struct lb_config *cfg = make_cfg(2);
	be_cfg(&cfg->bes[0], "a", http_check(1, 1, 20, 1000), &H.ts.port, 1, NULL);
	be_cfg(&cfg->bes[1], "b", http_check(1, 1, 20, 1000), &ts2.port, 1, NULL);
	H.ts.mode = TS_500;
	h_start(cfg);
	want_nreq = 1;
	ts2_want = 1;
	cr_assert(run_until(both_probed, 3000));
	cr_assert(run_until(is_down, 3000));

	/* Backend "a" stays without checks; backend "b" is gone. */
	struct lb_backend *gone = be_at(1);
	lb__backend_ref(gone);
	cfg = make_cfg(1);
	be_cfg(&cfg->bes[0], "a", (struct lb_check_cfg){.type = LB_CHECK_NONE}, &H.ts.port, 1, NULL);
	h_reload(cfg);
	cr_expect_eq(state0(), LB_SRV_UP, "a server its checks took down stays down without them");
	cr_expect_eq(check_status0(), 0);
	int a_seen = H.ts.nreq, b_seen = ts2.nreq;
	/* Let several intervals pass. */
	want_nreq = 1000;
	run_until(nreq_reached, 150);
	cr_expect_leq(H.ts.nreq, a_seen + 1, "unchecked server still checked");
	cr_expect_leq(ts2.nreq, b_seen + 1, "gone backend still checked");
	cr_expect_eq(atomic_load(&gone->refs), 1, "the check still holds the gone backend");
	lb__backend_unref(gone);

	tsrv_stop(&ts2);
	h_fini();
}

static bool no_server_conns(struct harness *h)
{
	return !h->ts.conns && !ts2.conns;
}

Test(check, stop_with_probes_in_flight)
{
	h_init();
	tsrv_start(&ts2, &H.loop);
	int ports[2] = {H.ts.port, ts2.port};
	H.ts.mode = TS_HANG;
	ts2.mode = TS_HANG;
	h_start(one_backend(http_check(2, 3, 20, 10000), ports, 2));
	want_nreq = 1;
	ts2_want = 1;
	cr_assert(run_until(both_probed, 3000));
	/* Both probes now wait for an answer: stopping must close their
	 * connections, which the servers then see closed. */
	lb__checks_stop(&H.p);
	cr_assert(run_until(no_server_conns, 2000), "probe connections left open");
	tsrv_stop(&ts2);
	h_fini();
}

Test(check, stop_before_the_first_probe)
{
	h_init();
	h_start(one_backend(tcp_check(2, 3, 10000, 1000), &H.ts.port, 1));
	h_fini();
}
