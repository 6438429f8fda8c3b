/* The elasticsearch output: each batch is one POST /_bulk of "index"
 * actions (NDJSON). Elasticsearch answers per item: items taken (2xx) are
 * done, items refused for now (429, 5xx) are sent again alone, items
 * refused for good (other 4xx: a mapping conflict, a bad document) are
 * dropped, counted and logged, as Logstash does without a dead letter
 * queue. A non-2xx answer to the whole request retries the whole batch. */
#include "logs/output.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

struct out_es {
	char *url;                   /* ".../_bulk" */
	char *index;                 /* with %Y %m %d from each event's @timestamp */
	char *userpwd;
	CURL *curl;
	struct curl_slist *hdrs;
};

static int check(const json_t *cfg, char **why, const char **at)
{
	const char *k;
	json_t *v;

	if (!json_object_get(cfg, "url")) {
		*why = xstrdup("an elasticsearch output needs a url (http://HOST:9200)");
		*at = NULL;
		return -1;
	}
	json_object_foreach((json_t *)cfg, k, v) {
		*at = k;
		if (!strcmp(k, "url")) {
			const char *u = json_string_value(v);
			if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))) {
				*why = xstrdup("expected an http:// or https:// URL");
				return -1;
			}
		} else if (!strcmp(k, "index") || !strcmp(k, "user") || !strcmp(k, "password")) {
			if (!json_string_value(v) || !*json_string_value(v)) {
				*why = xstrdup("expected a string");
				return -1;
			}
		} else {
			*why = xstrdup("unknown key (elasticsearch takes url, index, user, password)");
			return -1;
		}
	}
	if (json_object_get(cfg, "password") && !json_object_get(cfg, "user")) {
		*at = "password";
		*why = xstrdup("a password needs a user");
		return -1;
	}
	return 0;
}

static void *create(const json_t *cfg)
{
	struct out_es *o = xcalloc(1, sizeof(*o));
	const char *u = json_string_value(json_object_get(cfg, "url"));
	const char *ix = json_string_value(json_object_get(cfg, "index"));
	const char *user = json_string_value(json_object_get(cfg, "user"));
	const char *pw = json_string_value(json_object_get(cfg, "password"));
	size_t n = strlen(u);

	while (n && u[n - 1] == '/')
		n--;
	o->url = xasprintf("%.*s/_bulk", (int)n, u);
	o->index = xstrdup(ix ? ix : "berth-%Y.%m.%d");
	if (user)
		o->userpwd = xasprintf("%s:%s", user, pw ? pw : "");
	o->hdrs = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
	return o;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	if (b->data + size * n > (64u << 20))
		return 0; /* an answer this big is not a bulk answer */
	buf_append(b, p, size * n);
	return size * n;
}

/* The index name for an event: %Y %m %d from its @timestamp. */
static void index_name(const struct out_es *o, const char *ts, struct buf *b)
{
	for (const char *p = o->index; *p; p++) {
		if (*p == '%' && ts && strlen(ts) >= 10 && (p[1] == 'Y' || p[1] == 'm' || p[1] == 'd')) {
			buf_append(b, p[1] == 'Y' ? ts : p[1] == 'm' ? ts + 5 : ts + 8, p[1] == 'Y' ? 4 : 2);
			p++;
			continue;
		}
		if (*p == '"' || *p == '\\')
			buf_append(b, "\\", 1);
		buf_append(b, p, 1);
	}
}

int logs_es_bulk_verdicts(const char *body, size_t len, uint32_t n, unsigned char *v, char **first_error)
{
	json_t *j = json_loadb(body, len, 0, NULL), *items, *it;
	size_t i;

	*first_error = NULL;
	if (!json_is_object(j))
		goto bad;
	if (json_is_false(json_object_get(j, "errors"))) {
		memset(v, 0, n);
		json_decref(j);
		return 0;
	}
	items = json_object_get(j, "items");
	if (!json_is_array(items) || json_array_size(items) != n)
		goto bad;
	json_array_foreach(items, i, it) {
		const char *action;
		json_t *res;
		void *iter = json_object_iter(it);
		if (!iter)
			goto bad;
		action = json_object_iter_key(iter);
		(void)action;
		res = json_object_iter_value(iter);
		json_int_t st = json_integer_value(json_object_get(res, "status"));
		if (!json_is_integer(json_object_get(res, "status")))
			goto bad;
		v[i] = st >= 200 && st < 300 ? 0 : st == 429 || st >= 500 ? 1 : 2;
		if (v[i] && !*first_error) {
			json_t *e = json_object_get(res, "error");
			const char *reason = json_string_value(json_object_get(e, "reason"));
			const char *type = json_string_value(json_object_get(e, "type"));
			*first_error = xasprintf("status %d%s%s%s%s", (int)st, type ? " " : "", type ? type : "",
						 reason ? ": " : "", reason ? reason : "");
		}
	}
	json_decref(j);
	return 0;
bad:
	json_decref(j);
	free(*first_error);
	*first_error = NULL;
	return -1;
}

static int send_(void *priv, struct logs_batch *b, char **err)
{
	struct out_es *o = priv;
	struct buf body = {0}, resp = {0};
	const char **ev = xcalloc(b->n + 1, sizeof(*ev));
	size_t *evlen = xcalloc(b->n + 1, sizeof(*evlen));
	uint32_t n = 0;
	long status = 0;
	int rc = -1;

	const char *p = b->data, *end = b->data + b->len;
	size_t len;
	while (n < b->n && logs_batch_next(&p, end, &ev[n], &len)) {
		const char *line = ev[n];
		char tsbuf[16] = "";
		if (len > 40 && memcmp(line, "{\"@timestamp\":\"", 15) == 0) /* how event.c starts each event */
			memcpy(tsbuf, line + 15, 10);
		buf_appends(&body, "{\"index\":{\"_index\":\"");
		index_name(o, tsbuf, &body);
		buf_appends(&body, "\"}}\n");
		buf_append(&body, line, len);
		buf_append(&body, "\n", 1);
		evlen[n++] = len;
	}
	if (!o->curl) {
		o->curl = curl_easy_init();
		curl_easy_setopt(o->curl, CURLOPT_URL, o->url);
		curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, o->hdrs);
		curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
		curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, 60000L);
		curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, on_body);
		if (o->userpwd)
			curl_easy_setopt(o->curl, CURLOPT_USERPWD, o->userpwd);
	}
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, buf_ptr(&body));
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.data);
	curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, &resp);
	CURLcode cc = curl_easy_perform(o->curl);
	if (cc != CURLE_OK) {
		*err = xasprintf("POST %s: %s", o->url, curl_easy_strerror(cc));
		curl_easy_cleanup(o->curl);
		o->curl = NULL;
		goto out;
	}
	curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		*err = xasprintf("POST %s: HTTP %ld", o->url, status);
		goto out;
	}
	unsigned char *v = xcalloc(n + 1, 1);
	char *why = NULL;
	if (logs_es_bulk_verdicts(buf_ptr(&resp), resp.data, n, v, &why) < 0) {
		*err = xasprintf("POST %s: the answer is not a bulk answer for %u items", o->url, n);
		free(v);
		goto out;
	}
	struct buf again = {0};
	uint32_t nagain = 0, ndrop = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (v[i] == 1) {
			buf_append(&again, ev[i], evlen[i]);
			buf_append(&again, "\n", 1);
			nagain++;
		} else if (v[i] == 2) {
			ndrop++;
		}
	}
	if (ndrop)
		log_error("logs", "elasticsearch %s refused %u of %u events for good (first: %s); they are dropped",
			  o->url, ndrop, n, why ? why : "?");
	b->dropped += ndrop;
	if (nagain) {
		*err = xasprintf("elasticsearch took %u of %u events; %u are sent again (first: %s)", n - nagain - ndrop,
				 n, nagain, why ? why : "?");
		free(b->owned);
		b->owned = again.area; /* <again> has head 0: buf_append never consumes */
		b->data = again.area;
		b->len = again.data;
		b->n = nagain;
	} else {
		buf_free(&again);
		rc = 0;
	}
	free(why);
	free(v);
out:
	buf_free(&body);
	buf_free(&resp);
	free(ev);
	free(evlen);
	return rc;
}

static void destroy(void *priv)
{
	struct out_es *o = priv;
	if (o->curl)
		curl_easy_cleanup(o->curl);
	curl_slist_free_all(o->hdrs);
	free(o->url);
	free(o->index);
	free(o->userpwd);
	free(o);
}

const struct logs_output_ops logs_out_elasticsearch = {
	.type = "elasticsearch",
	.check = check,
	.create = create,
	.send = send_,
	.destroy = destroy,
};
