/* The Docker Engine API client: libcurl's multi interface driven from the
 * agent's libuv loop (curl tells which sockets to watch and when to time
 * out; libuv tells curl when they are ready), so no request ever blocks
 * the loop and a container's log stream is one more open transfer.
 *
 * The API version is negotiated once: GET /version (unversioned), then
 * every path is prefixed with /v<min(engine, DOCKER_API_VERSION)>. Calls
 * made meanwhile wait in a queue; a failed negotiation fails them all and
 * the next call tries again (the engine may come up later). */
#include "runner/drivers/docker.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/log.h"
#include "core/mem.h"

#define DOCKER_CONNECT_TIMEOUT_MS 5000
#define DOCKER_ERROR_BODY_MAX (1024 * 1024) /* bytes of a non-streamed answer kept */

enum client_state {
	CL_NEW = 0,      /* no version yet. Please keep at zero. */
	CL_NEGOTIATING,  /* GET /version under way */
	CL_READY,
};

/* A call that cannot even be tried (DOCKER_HOST is unusable) still
 * answers from the loop, never from inside docker__call. */
struct late_fail {
	uv_timer_t t;                /* first: the handle is the struct */
	struct docker__req *rq;      /* NULL once cancelled */
};

struct docker__req {
	struct docker__req *next;    /* in the client's list */
	struct docker__client *c;
	CURL *easy;
	struct curl_slist *hdrs;
	char *method, *path, *ctype;
	char *body;
	size_t blen;
	uint64_t timeout_ms;
	docker__data_fn *data;
	docker__done_fn *done;
	void *arg;
	struct buf resp;
	uint64_t t0;                 /* loop ms of the call, for the debug log */
	long status;                 /* known once the headers are in */
	bool started;                /* given to curl (else queued) */
	bool internal;               /* the version negotiation: an unversioned path */
	bool doomed;                 /* queued when a negotiation failed: fails next */
	struct late_fail *late;      /* the timer that fails it when DOCKER_HOST is unusable */
	char errbuf[CURL_ERROR_SIZE];
};

struct sock_ctx {
	uv_poll_t poll;              /* first: the handle is the struct */
	curl_socket_t fd;
	struct docker__client *c;
	struct sock_ctx *prev, *next; /* the client's open sockets */
};

struct docker__client {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	int handles;                 /* open libuv handles (timer, polls) */
	char *host;                  /* DOCKER_HOST as given, or the default */
	char *base, *sock;           /* from docker__parse_host */
	char *host_err;              /* DOCKER_HOST is unusable: why */
	enum client_state state;
	char version[16];            /* "1.41" */
	struct docker__req *reqs;    /* all live requests, queued or started */
	struct sock_ctx *socks;      /* sockets curl asked us to watch (idle pooled ones too) */
	bool closing;
	bool in_check;               /* check_done is running */
};

static struct docker__client *the_client;

static void check_done(struct docker__client *c);
static void start_req(struct docker__req *rq);

static void maybe_free_client(struct docker__client *c)
{
	if (!c->closing || c->handles > 0)
		return;
	curl_multi_cleanup(c->multi);
	free(c->host);
	free(c->base);
	free(c->sock);
	free(c->host_err);
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct docker__client *c = h->data;

	/* A poll is the first member of its sock_ctx. */
	if (h != (uv_handle_t *)&c->timer)
		free(h);
	c->handles--;
	maybe_free_client(c);
}

/* ---- requests ---- */

static void req_free(struct docker__req *rq)
{
	struct docker__client *c = rq->c;

	for (struct docker__req **pp = &c->reqs; *pp; pp = &(*pp)->next)
		if (*pp == rq) {
			*pp = rq->next;
			break;
		}
	if (rq->late)
		rq->late->rq = NULL;
	if (rq->easy) {
		curl_multi_remove_handle(c->multi, rq->easy);
		curl_easy_cleanup(rq->easy);
	}
	curl_slist_free_all(rq->hdrs);
	buf_free(&rq->resp);
	free(rq->method);
	free(rq->path);
	free(rq->ctype);
	free(rq->body);
	free(rq);
}

/* The engine's {"message": "..."} of an error answer, else the body. */
static char *resp_message(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *m = json_string_value(json_object_get(j, "message"));
	char *out;

	if (m) {
		out = xstrdup(m);
	} else {
		size_t n = len;
		while (n && (body[n - 1] == '\n' || body[n - 1] == '\r'))
			n--;
		out = xstrndup(body, n > 512 ? 512 : n);
	}
	json_decref(j);
	return out;
}

/* Ends <rq> with <error> (transport) or its answer: the callback runs,
 * then the request is freed. */
static void finish(struct docker__req *rq, const char *error)
{
	struct docker__resp r = {0};
	char *msg = NULL;

	buf_append(&rq->resp, "", 1);
	r.status = error ? 0 : rq->status;
	r.body = buf_ptr(&rq->resp);
	r.len = rq->resp.data - 1;
	r.error = error;
	if (!error && (rq->status < 200 || rq->status >= 300))
		msg = resp_message(r.body, r.len);
	r.message = msg ? msg : "";
	log_debug("docker", "%s %s: %ld in %llums%s%s", rq->method, rq->path, r.status,
		  (unsigned long long)(uv_now(rq->c->loop) - rq->t0), error ? ": " : "", error ? error : "");
	docker__done_fn *done = rq->done;
	void *arg = rq->arg;
	/* Unlinked before the callback, which may call or cancel others. */
	rq->done = NULL;
	if (done)
		done(&r, arg);
	free(msg);
	req_free(rq);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct docker__req *rq = ud;
	size_t n = size * nmemb;

	if (!rq->status)
		curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &rq->status);
	if (rq->data && rq->status >= 200 && rq->status < 300) {
		rq->data(p, n, rq->arg);
		return n;
	}
	if (rq->resp.data + n <= DOCKER_ERROR_BODY_MAX)
		buf_append(&rq->resp, p, n);
	return n;
}

static void start_req(struct docker__req *rq)
{
	struct docker__client *c = rq->c;
	char *url = rq->internal ? xasprintf("%s%s", c->base, rq->path)
				 : xasprintf("%s/v%s%s", c->base, c->version, rq->path);

	rq->started = true;
	rq->easy = curl_easy_init();
	BUG_ON(!rq->easy);
	curl_easy_setopt(rq->easy, CURLOPT_URL, url);
	free(url);
	if (c->sock)
		curl_easy_setopt(rq->easy, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(rq->easy, CURLOPT_PRIVATE, rq);
	curl_easy_setopt(rq->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(rq->easy, CURLOPT_WRITEDATA, rq);
	curl_easy_setopt(rq->easy, CURLOPT_ERRORBUFFER, rq->errbuf);
	curl_easy_setopt(rq->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(rq->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)DOCKER_CONNECT_TIMEOUT_MS);
	if (rq->timeout_ms)
		curl_easy_setopt(rq->easy, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
	curl_easy_setopt(rq->easy, CURLOPT_CUSTOMREQUEST, rq->method);
	if (strcmp(rq->method, "POST") == 0 || rq->body) {
		curl_easy_setopt(rq->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(rq->easy, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(rq->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->blen);
	}
	if (strcmp(rq->method, "HEAD") == 0)
		curl_easy_setopt(rq->easy, CURLOPT_NOBODY, 1L);
	if (rq->ctype) {
		char *h = xasprintf("Content-Type: %s", rq->ctype);
		rq->hdrs = curl_slist_append(rq->hdrs, h);
		free(h);
	}
	/* No "Expect: 100-continue" round trip before a build context. */
	rq->hdrs = curl_slist_append(rq->hdrs, "Expect:");
	curl_easy_setopt(rq->easy, CURLOPT_HTTPHEADER, rq->hdrs);
	CURLMcode mc = curl_multi_add_handle(c->multi, rq->easy);
	BUG_ON(mc != CURLM_OK);
}

/* ---- version negotiation ---- */

static void fail_queued(struct docker__client *c, const char *why)
{
	/* A callback may cancel other requests or make new ones (which wait
	 * for the next attempt): only those queued now fail, found again in
	 * the list each time. */
	for (struct docker__req *rq = c->reqs; rq; rq = rq->next)
		rq->doomed = !rq->started;
	for (;;) {
		struct docker__req *rq = c->reqs;
		while (rq && !rq->doomed)
			rq = rq->next;
		if (!rq)
			break;
		finish(rq, why);
	}
}

static void on_version(const struct docker__resp *r, void *arg)
{
	struct docker__client *c = arg;
	char why[1024];

	if (r->error || r->status != 200) {
		snprintf(why, sizeof(why), "no Docker engine answers at %s: %s", c->host,
			 r->error ? r->error : r->message);
		c->state = CL_NEW;
		fail_queued(c, why);
		return;
	}
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *v = json_string_value(json_object_get(j, "ApiVersion"));
	int maj = 0, min = 0;
	if (!v || sscanf(v, "%d.%d", &maj, &min) != 2 || maj != 1 || min < 25) {
		snprintf(why, sizeof(why), "the Docker engine at %s speaks API %s; berth needs 1.25 or newer", c->host,
			 v ? v : "(unknown)");
		json_decref(j);
		c->state = CL_NEW;
		fail_queued(c, why);
		return;
	}
	snprintf(c->version, sizeof(c->version), "%s", min > 41 ? DOCKER_API_VERSION : v);
	json_decref(j);
	c->state = CL_READY;
	log_debug("docker", "engine at %s, API %s", c->host, c->version);
	for (struct docker__req *rq = c->reqs; rq; rq = rq->next)
		if (!rq->started)
			start_req(rq);
}

static void negotiate(struct docker__client *c)
{
	struct docker__req *rq = XNEW(struct docker__req);

	c->state = CL_NEGOTIATING;
	rq->c = c;
	rq->method = xstrdup("GET");
	rq->path = xstrdup("/version");
	rq->timeout_ms = 10000;
	rq->t0 = uv_now(c->loop);
	rq->done = on_version;
	rq->arg = c;
	rq->internal = true;
	rq->next = c->reqs;
	c->reqs = rq;
	start_req(rq);
}

/* ---- curl <-> libuv ---- */

static void check_done(struct docker__client *c)
{
	CURLMsg *m;
	int left;

	if (c->in_check)
		return;
	c->in_check = true;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct docker__req *rq = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&rq);
		CURLcode res = m->data.result;
		if (!rq->status)
			curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &rq->status);
		if (res != CURLE_OK) {
			char why[CURL_ERROR_SIZE + 64];
			snprintf(why, sizeof(why), "%s", rq->errbuf[0] ? rq->errbuf : curl_easy_strerror(res));
			finish(rq, why);
		} else {
			finish(rq, NULL);
		}
	}
	c->in_check = false;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sock_ctx *s = (struct sock_ctx *)h;
	struct docker__client *c = s->c;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	check_done(c);
}

static void on_timer(uv_timer_t *t)
{
	struct docker__client *c = t->data;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static void sock_close(struct docker__client *c, struct sock_ctx *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct docker__client *c = userp;
	struct sock_ctx *s = socketp;

	/* Closing: docker__client_close closes every watch itself. */
	if (c->closing)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_close(c, s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = XNEW(struct sock_ctx);
		s->fd = fd;
		s->c = c;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = c;
		c->handles++;
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	}
	int ev = (what == CURL_POLL_IN ? UV_READABLE : 0) | (what == CURL_POLL_OUT ? UV_WRITABLE : 0) |
		 (what == CURL_POLL_INOUT ? UV_READABLE | UV_WRITABLE : 0);
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static int on_timeout(CURLM *m, long ms, void *userp)
{
	struct docker__client *c = userp;

	if (c->closing)
		return 0;
	if (ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
	return 0;
}

/* ---- the client ---- */

struct docker__client *docker__client_get(uv_loop_t *loop)
{
	static bool curl_ready;
	struct docker__client *c = the_client;
	char *err = NULL;

	if (c)
		return c;
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = true;
	}
	c = XNEW(struct docker__client);
	c->loop = loop;
	const char *h = getenv("DOCKER_HOST");
	c->host = xstrdup(h && h[0] ? h : DOCKER_DEFAULT_HOST);
	if (docker__parse_host(c->host, &c->base, &c->sock, &err) < 0)
		c->host_err = err;
	c->multi = curl_multi_init();
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	/* An idle client must not keep the agent's loop alive. */
	uv_unref((uv_handle_t *)&c->timer);
	c->handles = 1;
	the_client = c;
	return c;
}

const char *docker__client_host(const struct docker__client *c)
{
	return c->host;
}

void docker__client_close(void)
{
	struct docker__client *c = the_client;

	if (!c)
		return;
	the_client = NULL;
	c->closing = true;
	while (c->reqs) {
		c->reqs->done = NULL;
		req_free(c->reqs);
	}
	/* Idle pooled connections stay watched until curl_multi_cleanup
	 * (in maybe_free_client, once these handles have closed). */
	while (c->socks)
		sock_close(c, c->socks);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_late_closed(uv_handle_t *h)
{
	free(h);
}

static void on_late(uv_timer_t *t)
{
	struct late_fail *lf = (struct late_fail *)t;
	struct docker__req *rq = lf->rq;

	uv_close((uv_handle_t *)t, on_late_closed);
	if (rq) {
		rq->late = NULL;
		finish(rq, rq->c->host_err);
	}
}

struct docker__req *docker__call(struct docker__client *c, const char *method, const char *path, const char *ctype,
				 const void *body, size_t len, uint64_t timeout_ms, docker__data_fn *data,
				 docker__done_fn *done, void *arg)
{
	struct docker__req *rq = XNEW(struct docker__req);

	rq->c = c;
	rq->method = xstrdup(method);
	rq->path = xstrdup(path);
	rq->ctype = ctype ? xstrdup(ctype) : NULL;
	if (body) {
		rq->body = xmalloc(len + 1);
		memcpy(rq->body, body, len);
		rq->blen = len;
	}
	rq->timeout_ms = timeout_ms;
	rq->t0 = uv_now(c->loop);
	rq->data = data;
	rq->done = done;
	rq->arg = arg;
	rq->next = c->reqs;
	c->reqs = rq;
	if (c->host_err) {
		struct late_fail *lf = XNEW(struct late_fail);
		uv_timer_init(c->loop, &lf->t);
		lf->rq = rq;
		rq->late = lf;
		rq->started = true; /* never queued for a negotiation */
		uv_timer_start(&lf->t, on_late, 0, 0);
		return rq;
	}
	if (c->state == CL_READY)
		start_req(rq);
	else if (c->state == CL_NEW)
		negotiate(c);
	return rq;
}

void docker__cancel(struct docker__req *rq)
{
	if (!rq)
		return;
	rq->done = NULL;
	req_free(rq);
}
