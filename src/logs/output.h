/* The output interface: one file per output type under logs/outputs/, one
 * row in the table in queue.c (STYLE.md 2). An output only sends: the
 * queue, the disk buffer, retries and backoff are the caller's (queue.c).
 *
 * send() runs on the output's own thread and may block, bounded by the
 * output's own timeouts. It gets a batch of events, JSON lines each ended
 * by '\n', and returns 0 once the receiver took all of them. It returns -1
 * (with *err, heap) when the whole batch must be tried again later; the
 * connection, if any, is then dropped and opened again on the next call.
 * An output whose receiver takes part of a batch (elasticsearch) replaces
 * the batch with what is left (set owned/data/len/n) and returns -1: only
 * that part is sent again. Events a receiver refuses for good are counted
 * in *dropped and not sent again. */
#ifndef BERTH_LOGS_OUTPUT_H
#define BERTH_LOGS_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

struct logs_batch {
	const char *data;
	size_t len;
	uint32_t n;
	char *owned;                 /* when the output replaced data: its buffer (freed by the caller) */
	uint64_t dropped;            /* events refused for good */
};

struct logs_output_ops {
	const char *type;
	/* Checks the output's own keys: <cfg> is the output's mapping without
	 * the common ones (type, name, queue), which config.c checks. Returns
	 * 0 or -1 with *why (heap) and *at (a key of <cfg> to blame, NULL for
	 * the whole output). */
	int (*check)(const json_t *cfg, char **why, const char **at);
	/* Builds the private state from a checked config. */
	void *(*create)(const json_t *cfg);
	int (*send)(void *priv, struct logs_batch *b, char **err);
	void (*destroy)(void *priv);
};

extern const struct logs_output_ops logs_out_stdout;
extern const struct logs_output_ops logs_out_file;
extern const struct logs_output_ops logs_out_syslog;
extern const struct logs_output_ops logs_out_redis;
extern const struct logs_output_ops logs_out_elasticsearch;

const struct logs_output_ops *logs_output_find(const char *type);

/* Walks a batch's events: *line and *len get the next one's JSON text
 * (without its '\n') and *p moves past it. False once at <end>. */
static inline bool logs_batch_next(const char **p, const char *end, const char **line, size_t *len)
{
	if (*p >= end)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*p += *len + 1;
	return true;
}

/* A size given as a number or a string with a unit ("64MiB"). 0 or -1.
 * (config.c) */
int logs__json_size(const json_t *v, uint64_t *out);

/* Helpers the outputs share (outputs/net.c). */
/* Connects to "HOST:PORT" over TCP (or UDP when <udp>), with send and
 * receive timeouts of <timeout_ms>. Returns the socket or -1 with *err. */
int logs_net_connect(const char *addr, int udp, int timeout_ms, char **err);
/* Writes all of <p, n>; 0 or -1 with *err. */
int logs_net_write_all(int fd, const char *p, size_t n, char **err);
/* Checks "HOST:PORT". */
int logs_net_check_addr(const char *addr, char **why);

/* An Elasticsearch _bulk answer for <n> items: v[i] = 0 taken, 1 refused
 * for now (429, 5xx: send again), 2 refused for good. Returns 0, or -1
 * when the answer is not a bulk answer for <n> items. *first_error (heap,
 * or NULL) describes the first refused item. Fuzzed. */
int logs_es_bulk_verdicts(const char *body, size_t len, uint32_t n, unsigned char *v, char **first_error);

#endif
