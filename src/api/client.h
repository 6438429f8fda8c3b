/* The agent API's client, used by the CLI: blocking HTTP/1.1 over the unix
 * socket in the data dir (or TCP with a token), JSON in and out, and
 * streamed (chunked) responses read line by line. */
#ifndef BERTH_API_CLIENT_H
#define BERTH_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"

struct api_client {
	int fd;                      /* -1 when closed */
	char *where;                 /* "unix:/var/lib/berth/berth.sock" or "HOST:PORT", for messages */
	char *token;                 /* bearer token for TCP, or NULL */
	struct buf in;               /* bytes read, not yet used */
	long long last_index;        /* X-Berth-Index of the last answer, or 0 */
};

/* Where the agent listens: <addr> ("HOST:PORT", TCP, needs <token>) when
 * not NULL, else the unix socket DATA_DIR/berth.sock. Returns 0, or -1 with
 * *err set (heap); *refused tells "nothing listens there" (no agent) apart
 * from other failures. */
int api_client_open(struct api_client *c, const char *data_dir, const char *addr, const char *token,
		    bool *refused, char **err);
/* Connects to the agent's unix socket at <path> itself (not a data dir). */
int api_client_open_socket(struct api_client *c, const char *path, char **err);
void api_client_close(struct api_client *c);
/* The API token in the file at <path>: its first line, without the line
 * end (heap). NULL when it cannot be read, with *why "empty" or the
 * errno's message. */
char *api_read_token(const char *path, const char **why);
/* Percent-encodes <s> for a query string into <buf>; returns <buf>. */
const char *api_urlencode(const char *s, char *buf, size_t cap);

/* One request: <body> (may be NULL; borrowed) is sent as JSON. On return 0,
 * *status is the HTTP status and *resp the parsed JSON body (NULL if the
 * body was empty or not JSON; the caller decrefs). -1: transport failure,
 * *err set. */
int api_call(struct api_client *c, const char *method, const char *path, json_t *body, int *status, json_t **resp,
	     char **err);

/* A streamed response: <on_line> gets each line (without its newline) as
 * it arrives, until the stream ends (returns 0), <on_line> returns
 * non-zero (returns that), the connection fails, or the process is
 * interrupted by a signal while waiting (returns 1 with api_interrupted
 * set). A non-2xx answer: -1 with *err holding the server's error. */
int api_stream(struct api_client *c, const char *method, const char *path, json_t *body,
	       int (*on_line)(const char *line, size_t len, void *arg), void *arg, char **err);

/* Set from a signal handler (SIGINT) to make a waiting api_stream return. */
extern volatile int api_interrupted;

/* The server's error message from a JSON error body, or a generic one. */
const char *api_error_text(json_t *resp, int status, char *buf, size_t cap);

#endif
