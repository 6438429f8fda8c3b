/* The logs and events streams of the agent API (docs/api.md).
 *
 * A logs stream merges the log files of the selected instances by time.
 * The past is read in bounded slices and merged like a k-way merge (each
 * file is in time order; the oldest head line goes next), written only
 * while the client keeps up: a stream never holds more than STREAM_HIGH
 * bytes in the connection's queue, whatever the size of the files, so a
 * slow or absent reader costs the agent neither memory nor its loop. With
 * follow, new lines are then sent as the files grow (polled), including
 * those of instances that appear later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/events.h"
#include "agent/logs.h"
#include "api/routes-int.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "http/server.h"
#include "runner/runner.h"

#define FOLLOW_POLL_MS 100          /* how often followed files are looked at */
#define HISTORY_TICK_MS 2           /* while the past is still being sent */
#define SLICE_BYTES (64 * 1024)     /* read per file and refill */
#define LIVE_BYTES (256 * 1024)     /* read per file and poll when following */
#define STREAM_HIGH (1024 * 1024)   /* queued bytes beyond which a stream waits */
#define EVENTS_DROP (8 * 1024 * 1024) /* an events client this far behind is cut off */

struct follow {
	struct log_reader rd;
	char *instance;                 /* "web.1" */
	char *service;
	int index;
	struct log_line *q;             /* lines read, not sent yet (a ring) */
	int qn, qhead, qcap;
	bool eof;                       /* history: nothing more to read for now */
	long skip;                      /* tail: lines to drop first */
};

struct stream {
	struct stream *next, *prev;
	struct agent *a;
	struct http_req *rq;
	char *stack;
	json_t *services;               /* names to show, or NULL: all */
	bool follow;
	bool history;                   /* the past is still being merged */
	int tail;                       /* per instance, -1: all */
	char since[64];
	struct follow *f;
	int nf;
	struct events_sub *sub;
	uv_timer_t timer;
	bool dead;
};

static struct stream *streams;

static void follow_clear_queue(struct follow *f)
{
	for (int i = 0; i < f->qn; i++)
		free(f->q[(f->qhead + i) % f->qcap].text);
	free(f->q);
	f->q = NULL;
	f->qn = f->qhead = f->qcap = 0;
}

static void on_stream_timer_closed(uv_handle_t *h)
{
	struct stream *s = h->data;

	for (int i = 0; i < s->nf; i++) {
		log_reader_free(&s->f[i].rd);
		follow_clear_queue(&s->f[i]);
		free(s->f[i].instance);
		free(s->f[i].service);
	}
	free(s->f);
	json_decref(s->services);
	free(s->stack);
	free(s);
}

/* Ends a stream's own resources; the request is answered or gone already.
 * Freed from the timer's close callback, never right here: a caller up the
 * stack (a failed write) may still look at the stream. */
static void stream_release(struct stream *s)
{
	if (s->dead)
		return;
	s->dead = true;
	if (s->prev)
		s->prev->next = s->next;
	else if (streams == s)
		streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	if (s->sub)
		events_unsubscribe(s->sub);
	s->sub = NULL;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, on_stream_timer_closed);
}

static void on_stream_abort(struct http_req *rq)
{
	struct stream *s = rq->user;

	s->rq = NULL;
	stream_release(s);
}

static void stream_end(struct stream *s)
{
	struct http_req *rq = s->rq;

	s->rq = NULL;
	if (rq) {
		rq->on_abort = NULL;
		http_stream_end(rq);
	}
	stream_release(s);
}

static struct stream *stream_new(struct agent *a, struct http_req *rq, const char *stack)
{
	struct stream *s = XNEW(struct stream);

	s->a = a;
	s->rq = rq;
	s->stack = stack ? xstrdup(stack) : NULL;
	s->tail = -1;
	rq->user = s;
	rq->on_abort = on_stream_abort;
	s->next = streams;
	if (streams)
		streams->prev = s;
	streams = s;
	uv_timer_init(a->loop, &s->timer);
	s->timer.data = s;
	http_stream_start(rq, 200, "application/x-ndjson", NULL);
	return s;
}

static bool wanted_service(const struct stream *s, const char *svc)
{
	size_t i;
	json_t *v;

	if (!s->services || !json_array_size(s->services))
		return true;
	json_array_foreach(s->services, i, v)
		if (strcmp(json_string_value(v) ?: "", svc) == 0)
			return true;
	return false;
}

/* Writes one line of JSON; returns the bytes now queued, or -1. */
static ssize_t stream_send_text(struct stream *s, char *text)
{
	size_t n = strlen(text);

	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	ssize_t q = s->rq ? http_stream_write(s->rq, text, n) : -1;
	free(text);
	return q;
}

static ssize_t send_line(struct stream *s, const struct follow *f, const struct log_line *l)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s%}", "t", "log", "instance", f->instance, "service",
			      f->service, "index", f->index, "stream", l->stderr_ ? "stderr" : "stdout", "time", l->time,
			      "line", l->text, l->len);
	ssize_t q = stream_send_text(s, json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII));

	json_decref(j);
	return q;
}

/* ---- reading ---- */

static void on_count(const struct log_line *l, void *arg)
{
	(*(long *)arg)++;
}

static struct follow *add_follow(struct stream *s, const char *path, const char *name, const char *svc, int idx,
				 bool history)
{
	s->f = xrealloc(s->f, sizeof(*s->f) * (size_t)(s->nf + 1));
	struct follow *f = &s->f[s->nf];
	memset(f, 0, sizeof(*f));
	log_reader_init(&f->rd, path, s->nf);
	f->instance = xstrdup(name);
	f->service = xstrdup(svc);
	f->index = idx;
	if (history && s->tail >= 0) {
		/* Start near the end; count what is left, drop the excess. */
		log_reader_seek_tail(&f->rd, s->tail);
		struct log_reader probe;
		long n = 0;
		log_reader_init(&probe, f->rd.path, 0);
		probe.offset = f->rd.offset;
		probe.ino = f->rd.ino;
		log_reader_poll(&probe, 0, on_count, &n, NULL);
		log_reader_free(&probe);
		f->skip = n > s->tail ? n - s->tail : 0;
	}
	s->nf++;
	return f;
}

/* A service's hook output (hooks.log), shown as "<svc>.hook". */
static void add_hook_log(struct stream *s, const char *svc, bool history)
{
	char name[300];
	snprintf(name, sizeof(name), "%s.hook", svc);
	for (int k = 0; k < s->nf; k++)
		if (strcmp(s->f[k].instance, name) == 0)
			return;
	char *path = xasprintf("%s/instances/%s/%s/hooks.log", s->a->cfg->data_dir, s->stack, svc);
	if (access(path, F_OK) == 0)
		add_follow(s, path, name, svc, 0, history);
	free(path);
}

/* Adds a follower for every selected instance of this node not followed
 * yet. <history>: it joins the merge of the past (tail applies); else it
 * is new and read from its start. */
static void add_followers(struct stream *s, bool history)
{
	json_t *insts = api__instances(s->a, s->stack, NULL);
	size_t i;
	json_t *v;

	json_array_foreach(insts, i, v) {
		const char *svc = json_string_value(json_object_get(v, "service"));
		const char *inst = json_string_value(json_object_get(v, "instance"));
		const char *node = json_string_value(json_object_get(v, "node"));
		int idx = (int)json_integer_value(json_object_get(v, "index"));
		bool have = false;
		if (!svc || !inst || !wanted_service(s, svc))
			continue;
		/* Logs live on the instance's node; this agent serves its own. */
		if (node && strcmp(node, s->a->cfg->node) != 0)
			continue;
		add_hook_log(s, svc, history);
		for (int k = 0; k < s->nf && !have; k++)
			have = strcmp(s->f[k].instance, inst) == 0;
		if (have)
			continue;
		char *path = runner_log_path(s->a->cfg->data_dir, s->stack, svc, idx);
		add_follow(s, path, inst, svc, idx, history);
		free(path);
	}
	json_decref(insts);
}

static void push_line(const struct log_line *l, void *arg)
{
	struct follow *f = arg;

	if (f->skip > 0) {
		f->skip--;
		return;
	}
	if (f->qn == f->qcap) {
		int ncap = f->qcap ? f->qcap * 2 : 64;
		struct log_line *nq = XNEWV(struct log_line, (size_t)ncap);
		for (int i = 0; i < f->qn; i++)
			nq[i] = f->q[(f->qhead + i) % f->qcap];
		free(f->q);
		f->q = nq;
		f->qhead = 0;
		f->qcap = ncap;
	}
	struct log_line *d = &f->q[(f->qhead + f->qn) % f->qcap];
	*d = *l;
	d->text = xstrndup(l->text, l->len);
	f->qn++;
}

/* ---- pumping ---- */

/* The past, merged: sends while the client keeps up. Returns true when
 * the past is all sent. */
static bool pump_history(struct stream *s)
{
	for (;;) {
		/* Every file must have its next line in hand (or be done) before
		 * the oldest can be chosen. */
		for (int i = 0; i < s->nf; i++) {
			struct follow *f = &s->f[i];
			while (!f->qn && !f->eof) {
				bool more = false;
				if (log_reader_poll(&f->rd, SLICE_BYTES, push_line, f, &more) < 0 || (!f->qn && !more))
					f->eof = true;
			}
		}
		int best = -1;
		for (int i = 0; i < s->nf; i++) {
			struct follow *f = &s->f[i];
			if (!f->qn)
				continue;
			if (best < 0 || logs_time_cmp(f->q[f->qhead].time, s->f[best].q[s->f[best].qhead].time) < 0)
				best = i;
		}
		if (best < 0)
			return true;
		struct follow *f = &s->f[best];
		struct log_line l = f->q[f->qhead];
		f->qhead = (f->qhead + 1) % f->qcap;
		f->qn--;
		ssize_t q = 0;
		if (!s->since[0] || logs_time_cmp(l.time, s->since) >= 0)
			q = send_line(s, f, &l);
		free(l.text);
		if (q < 0)
			return false; /* the client is gone: on_abort follows */
		if (q > STREAM_HIGH)
			return false;
	}
}

static void on_tick(uv_timer_t *t)
{
	struct stream *s = t->data;

	if (s->dead || !s->rq)
		return;
	/* A client that does not read: wait for it, buffer nothing more. */
	if (http_stream_write(s->rq, NULL, 0) > STREAM_HIGH)
		return;
	if (s->history) {
		if (!pump_history(s)) {
			uv_timer_start(&s->timer, on_tick, HISTORY_TICK_MS, 0);
			return;
		}
		s->history = false;
		if (!s->follow) {
			stream_end(s);
			return;
		}
		for (int i = 0; i < s->nf; i++)
			s->f[i].eof = false;
		uv_timer_start(&s->timer, on_tick, FOLLOW_POLL_MS, FOLLOW_POLL_MS);
		return;
	}
	/* Live: new instances, then what every file gained. */
	add_followers(s, false);
	for (int i = 0; i < s->nf && s->rq; i++) {
		struct follow *f = &s->f[i];
		log_reader_poll(&f->rd, LIVE_BYTES, push_line, f, NULL);
		while (f->qn && s->rq) {
			struct log_line l = f->q[f->qhead];
			f->qhead = (f->qhead + 1) % f->qcap;
			f->qn--;
			send_line(s, f, &l);
			free(l.text);
		}
	}
}

static void on_stream_event(struct events_sub *sub, const struct event_rec *ev, void *arg)
{
	struct stream *s = arg;

	if (s->dead || !s->rq || (s->stack && (!ev->stack || strcmp(ev->stack, s->stack) != 0)))
		return;
	if (ev->service && !wanted_service(s, ev->service))
		return;
	if (http_stream_write(s->rq, NULL, 0) > EVENTS_DROP) {
		/* Too far behind to catch up: cut off rather than buffer. */
		stream_end(s);
		return;
	}
	char *line = xmalloc(ev->len + 1);
	memcpy(line, ev->text, ev->len);
	line[ev->len] = '\n';
	http_stream_write(s->rq, line, ev->len + 1);
	free(line);
}

/* Parses --since: an RFC 3339 time, or a duration ago ("10m"). */
static bool since_param(const char *v, char *out, size_t cap)
{
	uint64_t ms;

	if (!v || !*v) {
		out[0] = 0;
		return true;
	}
	if (duration_parse(v, &ms) == 0) {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		time_t t = tv.tv_sec - (time_t)(ms / 1000);
		gmtime_r(&t, &tm);
		strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
		return true;
	}
	if (strlen(v) < 10 || strlen(v) >= cap || v[4] != '-')
		return false;
	snprintf(out, cap, "%s", v);
	return true;
}

void api__get_logs(struct agent *a, struct http_req *rq)
{
	char stack[128], svcs[1024], tail_s[32], since_s[64], follow_s[8], events_s[8], after_s[32];
	const char *stk = http_req_query(rq, "stack", stack, sizeof(stack));
	const char *sv = http_req_query(rq, "services", svcs, sizeof(svcs));
	const char *tl = http_req_query(rq, "tail", tail_s, sizeof(tail_s));
	const char *sn = http_req_query(rq, "since", since_s, sizeof(since_s));
	const char *fl = http_req_query(rq, "follow", follow_s, sizeof(follow_s));
	const char *ev = http_req_query(rq, "events", events_s, sizeof(events_s));
	const char *af = http_req_query(rq, "after", after_s, sizeof(after_s));
	uint64_t after = af && *af ? strtoull(af, NULL, 10) : UINT64_MAX;
	bool follow = fl && strcmp(fl, "1") == 0;
	int tail = -1;
	char since[64];

	if (!stk || !api__valid_name(stk)) {
		http_reply_error(rq, 400, "logs need ?stack=NAME");
		return;
	}
	if (tl && *tl && strcmp(tl, "all") != 0) {
		char *end;
		long t = strtol(tl, &end, 10);
		if (*end || t < 0 || t > 10000000) {
			http_reply_error(rq, 400, "tail: expected a number of lines or \"all\"");
			return;
		}
		tail = (int)t;
	}
	if (!since_param(sn, since, sizeof(since))) {
		http_reply_error(rq, 400, "since: expected an RFC 3339 time or a duration (10m, 2h)");
		return;
	}
	if (!api__stack_exists(a, stk) && !follow) {
		http_reply_error(rq, 404, "no stack \"%s\"", stk);
		return;
	}
	struct stream *s = stream_new(a, rq, stk);
	if (!s->rq)
		return;
	s->follow = follow;
	s->tail = tail;
	snprintf(s->since, sizeof(s->since), "%s", since);
	if (sv && *sv) {
		s->services = json_array();
		char *dup = xstrdup(sv), *save = NULL;
		for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(s->services, json_string(t));
		free(dup);
	}
	add_followers(s, true);
	s->history = true;
	if (follow && ev && strcmp(ev, "1") == 0) {
		struct events_sub *sub = events_subscribe(a->events, after, on_stream_event, s);
		if (s->dead) {
			events_unsubscribe(sub);
			return;
		}
		s->sub = sub;
	}
	/* The first slice at once, the rest from the loop. */
	on_tick(&s->timer);
}

void api__get_events(struct agent *a, struct http_req *rq)
{
	char stack[128], after_s[32];
	const char *stk = http_req_query(rq, "stack", stack, sizeof(stack));
	const char *af = http_req_query(rq, "after", after_s, sizeof(after_s));
	uint64_t after = af && *af ? strtoull(af, NULL, 10) : UINT64_MAX;

	struct stream *s = stream_new(a, rq, stk && *stk ? stk : NULL);
	if (!s->rq)
		return;
	struct events_sub *sub = events_subscribe(a->events, after, on_stream_event, s);
	if (s->dead) {
		/* The replay found the client gone or too slow. */
		events_unsubscribe(sub);
		return;
	}
	s->sub = sub;
}

void api__streams_stop(struct agent *a)
{
	while (streams)
		stream_end(streams);
}
