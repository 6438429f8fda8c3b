/* Loop tests of the health checks: bounded waits on conditions, a callback recorder, process helpers. */
#ifndef BERTH_TESTS_HEALTH_HARNESS_H
#define BERTH_TESTS_HEALTH_HARNESS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <uv.h>

#include "core/mem.h"
#include "health/health-int.h"

/* Under ASan, leaks fail the test that made them (LeakSanitizer's report at
 * exit would not change a Criterion verdict). */
#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_LEAKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARNESS_LEAKS 1
#endif
#endif
#ifdef HARNESS_LEAKS
#include <sanitizer/lsan_interface.h>
#endif

/* ---- bounded waits ---- */

struct waiter {
	uv_timer_t t;
	uint64_t deadline;   /* loop time */
	bool expired;
	bool closed;
};

static inline void waiter_closed(uv_handle_t *h)
{
	((struct waiter *)h->data)->closed = true;
}

static inline void waiter_poll(uv_timer_t *t)
{
	struct waiter *w = t->data;

	if (uv_now(t->loop) >= w->deadline)
		w->expired = true;
}

/* The timer also wakes the loop every few ms, so that conditions on the
 * world outside the loop (files, processes) are looked at promptly. */
static inline void waiter_start(struct waiter *w, uv_loop_t *loop, uint64_t ms)
{
	w->expired = w->closed = false;
	uv_update_time(loop);
	w->deadline = uv_now(loop) + ms;
	uv_timer_init(loop, &w->t);
	w->t.data = w;
	uv_timer_start(&w->t, waiter_poll, 5, 5);
}

static inline void waiter_stop(struct waiter *w)
{
	uv_close((uv_handle_t *)&w->t, waiter_closed);
	while (!w->closed)
		uv_run(w->t.loop, UV_RUN_NOWAIT);
}

/* Runs <loop> until <cond> holds or <ms> have passed; the value of <cond>. */
#define WAIT_FOR(loop, ms, cond)                                             \
	({                                                                   \
		struct waiter w_;                                            \
		waiter_start(&w_, (loop), (ms));                             \
		while (!(cond) && !w_.expired)                               \
			uv_run((loop), UV_RUN_ONCE);                         \
		waiter_stop(&w_);                                            \
		(bool)(cond);                                                \
	})

/* Runs the loop dry (every handle closed, every process reaped) and
 * closes it: a leaked handle fails the test. */
static inline void finish_loop(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(loop), 0, "handles left on the loop");
#ifdef HARNESS_LEAKS
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
#endif
}

/* ---- what the callback saw ---- */

#define REC_MAX 64

struct rec {
	int n;                              /* callbacks */
	enum health_state states[REC_MAX];  /* state at each */
	char tags[REC_MAX][128];            /* tags at each, joined by ',' */
	char msgs[REC_MAX][512];            /* message at each */
	enum health_state state;            /* the last */
	bool stop_in_cb;                    /* stop the check from the callback */
};

static inline void rec_cb(struct health_check *c, enum health_state st, const char *const *tags, int ntags,
			  const char *msg, void *arg)
{
	struct rec *r = arg;
	int i = r->n < REC_MAX ? r->n : REC_MAX - 1;
	size_t o = 0;

	r->states[i] = st;
	r->tags[i][0] = '\0';
	for (int k = 0; k < ntags; k++)
		o += (size_t)snprintf(r->tags[i] + o, sizeof(r->tags[i]) - o, "%s%s", k ? "," : "", tags[k]);
	snprintf(r->msgs[i], sizeof(r->msgs[i]), "%s", msg);
	r->state = st;
	r->n++;
	if (r->stop_in_cb)
		health_check_stop(c);
}

static inline const char *rec_last_tags(const struct rec *r)
{
	return r->n ? r->tags[(r->n < REC_MAX ? r->n : REC_MAX) - 1] : "";
}

static inline const char *rec_last_msg(const struct rec *r)
{
	return r->n ? r->msgs[(r->n < REC_MAX ? r->n : REC_MAX) - 1] : "";
}

/* ---- configs ---- */

static inline struct health_config cfg_base(enum health_kind k)
{
	struct health_config c = {
		.kind = k,
		.interval = 50,
		.timeout = 1000,
		.start_interval = 50,
		.rise = 1,
		.fall = 1,
		.restart_on_unhealthy = true,
	};
	return c;
}

/* An exec config running <line> with /bin/sh -c; the caller frees it. */
static inline struct health_config cfg_shell(const char *line)
{
	struct health_config c = cfg_base(HEALTH_KIND_EXEC);

	c.argv = calloc(4, sizeof(char *));
	c.argv[0] = strdup("/bin/sh");
	c.argv[1] = strdup("-c");
	c.argv[2] = strdup(line);
	c.argc = 3;
	c.shell = true;
	return c;
}

/* ---- processes and ports ---- */

/* Whether <pid> is a live process (a zombie counts as gone). */
static inline bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Reads a pid written by a check's script; 0 when not there yet. */
static inline pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/* A TCP port of 127.0.0.1 that was free a moment ago. */
static inline int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

#endif
