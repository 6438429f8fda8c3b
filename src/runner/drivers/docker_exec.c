/* A health check's command inside a container (`berth docker-exec`, which
 * berth runs as the check's program for a docker instance): an exec
 * through the Engine API, its output demultiplexed onto our stdout and
 * stderr, its exit code ours. It runs in the check's own process, so
 * blocking calls (curl's easy interface) are what it wants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/mem.h"
#include "runner/drivers/docker.h"

struct call {
	struct buf body;
	struct docker__demux dmx;
	bool stream;                 /* the body is the exec's multiplexed output */
};

static void to_fd(void *ctx, int stream, bool first, const char *p, size_t n)
{
	int fd = stream == 2 ? 2 : 1;

	while (n) {
		ssize_t k = write(fd, p, n);
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct call *c = ud;

	if (c->stream)
		docker__demux_feed(&c->dmx, p, size * nmemb, to_fd, NULL);
	else
		buf_append(&c->body, p, size * nmemb);
	return size * nmemb;
}

/* One request; returns the HTTP status (0: no answer, *err says why). */
static long call(const char *base, const char *sock, const char *method, const char *path, const char *json,
		 struct call *c, char **err)
{
	CURL *e = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	long status = 0;
	char *url = xasprintf("%s%s", base, path);

	curl_easy_setopt(e, CURLOPT_URL, url);
	if (sock)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (json) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	}
	CURLcode rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	else
		*err = xstrdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	free(url);
	return status;
}

int driver_docker_exec(const char *container, char *const *argv)
{
	char *base = NULL, *sock = NULL, *err = NULL, path[512];
	struct call c = {0};
	int code = 126;

	if (docker__parse_host(getenv("DOCKER_HOST"), &base, &sock, &err) < 0) {
		fprintf(stderr, "berth docker-exec: %s\n", err);
		goto out;
	}
	json_t *cmd = json_array();
	for (; *argv; argv++)
		json_array_append_new(cmd, json_string(*argv));
	json_t *req = json_pack("{s:o, s:b, s:b}", "Cmd", cmd, "AttachStdout", 1, "AttachStderr", 1);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	snprintf(path, sizeof(path), "/v" DOCKER_API_VERSION "/containers/%s/exec", container);
	long st = call(base, sock, "POST", path, body, &c, &err);
	free(body);
	buf_append(&c.body, "", 1);
	json_t *j = json_loads(buf_ptr(&c.body), 0, NULL);
	const char *id = json_string_value(json_object_get(j, "Id"));
	if (st != 201 || !id) {
		fprintf(stderr, "berth docker-exec: cannot exec in %s: %s\n", container,
			err ? err : json_string_value(json_object_get(j, "message")) ?: buf_ptr(&c.body));
		json_decref(j);
		goto out;
	}
	char *eid = xstrdup(id);
	json_decref(j);
	c.stream = true;
	docker__demux_init(&c.dmx);
	snprintf(path, sizeof(path), "/v" DOCKER_API_VERSION "/exec/%s/start", eid);
	st = call(base, sock, "POST", path, "{\"Detach\":false,\"Tty\":false}", &c, &err);
	docker__demux_free(&c.dmx);
	c.stream = false;
	buf_reset(&c.body);
	if (st == 200) {
		snprintf(path, sizeof(path), "/v" DOCKER_API_VERSION "/exec/%s/json", eid);
		st = call(base, sock, "GET", path, NULL, &c, &err);
		buf_append(&c.body, "", 1);
		j = json_loads(buf_ptr(&c.body), 0, NULL);
		json_t *ec = json_object_get(j, "ExitCode");
		if (st == 200 && json_is_integer(ec))
			code = (int)json_integer_value(ec);
		else
			fprintf(stderr, "berth docker-exec: no exit code from the engine\n");
		json_decref(j);
	} else {
		fprintf(stderr, "berth docker-exec: cannot start the exec in %s: %s\n", container, err ? err : "refused");
	}
	free(eid);
out:
	buf_free(&c.body);
	free(err);
	free(base);
	free(sock);
	return code;
}

char *driver_docker_container_name(const char *stack, const char *svc, int index, const char *node,
				   const char *data_dir)
{
	return docker__container_name(stack, svc, index, node, data_dir);
}
