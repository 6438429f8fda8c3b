/* libFuzzer harness: lb.yml through lb_config_load, with invariants on the config or the error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lb/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

static void check_timeouts(const struct lb_timeouts *t)
{
	/* the loader fills every one in */
	CHECK(t->connect && t->client && t->server && t->http_request && t->keep_alive &&
	      t->tunnel && t->queue);
}

static void check_config(const struct lb_config *c)
{
	CHECK(c->threads >= 1 && c->threads <= 64);
	CHECK(c->nfes >= 1);
	CHECK(!c->stats.enabled || c->stats.bind.text);
	for (int i = 0; i < c->nfes; i++) {
		const struct lb_frontend_cfg *fe = &c->fes[i];
		CHECK(fe->name && fe->nbinds >= 1);
		CHECK(fe->default_idx >= -1 && fe->default_idx < c->nbes);
		CHECK((fe->default_idx >= 0) == (fe->default_backend != NULL));
		CHECK(fe->default_idx >= 0 || fe->nrules > 0);
		CHECK(fe->mode != LB_MODE_TCP || (fe->nrules == 0 && fe->default_idx >= 0));
		check_timeouts(&fe->to);
		for (int k = 0; k < fe->nbinds; k++)
			CHECK(fe->binds[k].text && fe->binds[k].salen > 0);
		for (int k = 0; k < fe->nrules; k++) {
			int idx = fe->rules[k].backend_idx;
			CHECK(idx >= 0 && idx < c->nbes);
			CHECK(strcmp(c->bes[idx].name, fe->rules[k].backend) == 0);
			CHECK(!fe->rules[k].path || fe->rules[k].path[0] == '/');
		}
		for (int k = 0; k < fe->tls.ncerts; k++)
			CHECK(fe->tls.certs[k] && fe->tls.certs[k][0]);
	}
	for (int i = 0; i < c->nbes; i++) {
		const struct lb_backend_cfg *be = &c->bes[i];
		CHECK(be->name && lb_config_backend_index(c, be->name) == i);
		CHECK((be->algo == LB_ALGO_HASH_HEADER || be->algo == LB_ALGO_HASH_COOKIE) ==
		      (be->hash_key != NULL));
		CHECK(be->sticky.mode != LB_STICKY_INSERT || be->sticky.cookie);
		CHECK(be->sticky.mode != LB_STICKY_APP || (be->sticky.app_cookie && be->sticky.app_ttl));
		CHECK(be->check.type != LB_CHECK_HTTP || (be->check.path && be->check.path[0] == '/'));
		CHECK(be->check.type == LB_CHECK_NONE ||
		      (be->check.timeout && be->check.interval && be->check.rise && be->check.fall));
		check_timeouts(&be->to);
		for (int k = 0; k < be->nservers; k++) {
			const struct lb_server_cfg *s = &be->servers[k];
			CHECK(s->name && s->cookie && s->addr.text && s->addr.salen > 0);
			CHECK(s->weight >= 0 && s->weight <= 256 && s->maxconn >= 0);
			for (int j = 0; j < k; j++)
				CHECK(strcmp(be->servers[j].name, s->name) != 0);
		}
	}
}

static void check_error(const char *err, const char *path)
{
	size_t n = strlen(path);

	/* "PATH:LINE:COL: message" or "PATH: message", on one line */
	CHECK(strncmp(err, path, n) == 0 && err[n] == ':');
	for (const char *p = err; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A memfd is a file with a path (/proc/self/fd/N) and no disk. */
	int fd = memfd_create("lb.yml", MFD_CLOEXEC);
	char path[64];
	struct lb_config *c = NULL;
	char *err = NULL;

	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (lb_config_load(path, &c, &err) == 0) {
		CHECK(c && !err);
		check_config(c);
		lb_config_free(c);
	} else {
		CHECK(!c && err);
		check_error(err, path);
		free(err);
	}
	close(fd);
	return 0;
}
