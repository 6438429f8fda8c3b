/* Private to the docker driver (drivers/docker*.c) and its tests: the
 * Engine API client on the agent's loop (docker_api.c) and the pure parts
 * (docker_wire.c): the log stream's frame demuxer, the JSON progress
 * stream of pulls and builds, the tar writer for build contexts, and the
 * mapping of a service to a container's create body. */
#ifndef BERTH_RUNNER_DRIVERS_DOCKER_H
#define BERTH_RUNNER_DRIVERS_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "core/buf.h"
#include "runner/driver.h"
#include "runner/shim-int.h"
#include "spec/spec.h"

#define DOCKER_API_VERSION "1.41"       /* what berth speaks; older engines down to 1.25 are used at theirs */
#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
#define DOCKER_FRAME_MAX (64 * 1024)    /* a frame payload up to this is delivered whole */
#define DOCKER_PROGRESS_LINE_MAX (1024 * 1024) /* longer JSON lines of a progress stream are dropped */
#define DOCKER_TAR_MAX ((size_t)512 * 1024 * 1024) /* largest build context berth sends */

/* ---- the multiplexed stream (docker_wire.c) ---- */

/* Logs of a container without a TTY come as frames: an 8-byte header
 * {stream, 0, 0, 0, size (big-endian u32)} and <size> payload bytes. */
struct docker__demux {
	unsigned char hdr[8];        /* the header being read */
	size_t hlen;                 /* header bytes read */
	uint32_t left;               /* payload bytes of the current frame still to come */
	int stream;                  /* of the current frame: 1 stdout, 2 stderr (0 stdin is taken as stdout) */
	bool first;                  /* the next piece delivered starts its frame */
	struct buf frame;            /* payload gathered while it fits DOCKER_FRAME_MAX */
	bool broken;                 /* a bad header was seen: everything after is ignored */
};

/* One frame's payload, or a piece of one longer than DOCKER_FRAME_MAX:
 * <first> on the piece that starts the frame. <p> is borrowed. */
typedef void docker__frame_fn(void *ctx, int stream, bool first, const char *p, size_t n);

void docker__demux_init(struct docker__demux *d);
void docker__demux_free(struct docker__demux *d);
/* Takes <n> more bytes of the stream. Returns 0, or -1 once a header is not
 * a frame header (stream > 2 or non-zero padding): the stream is not
 * multiplexed (a TTY) or is damaged, and is not read further. */
int docker__demux_feed(struct docker__demux *d, const char *p, size_t n, docker__frame_fn *fn, void *ctx);

/* Docker's RFC 3339 timestamps ("2026-01-02T03:04:05.123456789Z", the
 * fraction of any length, or an offset "+01:00"). Returns 0, or -1. */
int docker__parse_time(const char *s, size_t n, struct timespec *out);

/* ---- container output to CRI records (docker_wire.c) ---- */

/* Turns the frames of `GET /containers/{id}/logs?timestamps=1` into the
 * records the shim writes (shim_cri.c), one write() each, so that readers
 * of the log file cannot tell a container from a process. */
struct docker__logw {
	int fd;                      /* the instance's log file (O_APPEND); -1: records are only counted */
	struct shim__cri_line out, err;
	char ts[SHIM_TIME_LEN + 1];  /* the current frame's time, formatted */
	struct timespec since;       /* frames at or before this time are skipped (adoption); 0: none */
	struct timespec last;        /* the time of the last frame written; 0: none yet */
	bool skipping;               /* the current frame is skipped */
	bool in_ts;                  /* reading the current frame's timestamp */
	char tsbuf[48];              /* its bytes so far */
	size_t tslen;
	uint64_t records;            /* written */
};

void docker__logw_init(struct docker__logw *w, int fd, const struct timespec *since);
/* A docker__frame_fn: <ctx> is the struct docker__logw. */
void docker__logw_frame(void *ctx, int stream, bool first, const char *p, size_t n);
/* The stream ended: unfinished lines become F records. */
void docker__logw_finish(struct docker__logw *w);

/* The time of the last record of the log file at <path>, for an adopted
 * container's logs to resume after it. Returns 0, or -1 (no record). */
int docker__log_last_time(const char *path, struct timespec *out);

/* ---- JSON progress streams: pull, build (docker_wire.c) ---- */

struct docker__progress {
	struct buf line;             /* the unfinished line */
	char *error;                 /* the first "error" (or errorDetail.message), heap; NULL */
	char *id;                    /* build: aux.ID, the image built; NULL */
	bool dropping;               /* the current line is over DOCKER_PROGRESS_LINE_MAX */
	unsigned lines;              /* objects seen */
};

/* Each "status" (pull) or "stream" (build) text of the stream, trimmed. */
typedef void docker__progress_fn(void *ctx, const char *text);

void docker__progress_init(struct docker__progress *p);
void docker__progress_feed(struct docker__progress *p, const char *data, size_t n, docker__progress_fn *fn,
			   void *ctx);
/* At the end of the stream: the last line, if it had no newline. */
void docker__progress_finish(struct docker__progress *p, docker__progress_fn *fn, void *ctx);
void docker__progress_free(struct docker__progress *p);

/* ---- build contexts (docker_wire.c) ---- */

/* Appends one ustar entry: a regular file of <size> bytes at <data>, a
 * directory ('5') or a symlink ('2', to <link>). <name> is relative with
 * '/' separators. Returns 0, or -1 when <name> or <link> do not fit ustar's
 * fields. */
int docker__tar_entry(struct buf *out, const char *name, char type, unsigned mode, uint64_t size,
		      int64_t mtime, const char *link, const void *data);
/* The two zero blocks that end an archive. */
void docker__tar_end(struct buf *out);
/* A whole directory, sorted by name so the same tree is the same tar.
 * Returns 0, or -1 with *err (heap). */
int docker__tar_dir(const char *dir, struct buf *out, char **err);

/* ---- names and mapping (docker_wire.c) ---- */

/* What the container of one run is made from: the service, resolved. */
struct docker__create {
	const char *image;
	char *const *entrypoint;     /* NULL-terminated; NULL: the image's */
	char *const *command;        /* NULL-terminated; NULL: the image's */
	char *const *env;            /* NULL-terminated "K=V" */
	const struct driver_port *ports;
	int nports;
	const struct spec_service *svc; /* working_dir, user, volumes, limits, init, stop_signal, labels */
	const struct spec_volume_decl *volumes; /* the stack's named volumes */
	int nvolumes;
	const char *stack, *service;
	int index;
	const char *node;
	const char *data_dir;
	int run;                     /* the run's number under the instance's runs/ */
};

/* The body of POST /containers/create (a new reference). */
json_t *docker__create_body(const struct docker__create *c);
/* "berth-<stack>-<svc>-<idx>-<8 hex of node and data dir>": one name per
 * instance per agent, so two agents on one engine never meet, and a
 * restarted agent finds its containers again by name. Heap. */
char *docker__container_name(const char *stack, const char *svc, int index, const char *node,
			     const char *data_dir);
/* The image a service runs: its image, else "<stack>_<service>" (what it
 * builds, as docker-compose names it). Heap. */
char *docker__image_name(const char *stack, const struct spec_service *svc);
/* Splits an image reference for POST /images/create: *repo and *tag
 * (heap; *tag "latest" when there is none, NULL for a digest reference,
 * which stays in *repo). */
void docker__split_ref(const char *ref, char **repo, char **tag);
/* DOCKER_HOST (NULL or "": the default) to what curl needs: *base is the
 * URL prefix ("http://docker" for a unix socket), *sock the socket path
 * or NULL. Returns 0, or -1 with *err (heap). */
int docker__parse_host(const char *host, char **base, char **sock, char **err);
/* A container's exit status as berth reports a process's: 128+N from a
 * signal becomes (-1, N) when berth had signalled it or N is SIGKILL. */
void docker__exit_status(long status, bool signalled, int *code, int *sig);
/* Percent-encodes <s> for a query string. Heap. */
char *docker__urlenc(const char *s);

/* ---- the Engine API client (docker_api.c) ---- */

struct docker__client;
struct docker__req;

struct docker__resp {
	long status;                 /* HTTP status; 0 when no answer came */
	const char *body;            /* the body (not the streamed part), NUL-terminated */
	size_t len;
	const char *error;           /* why no answer came (transport); NULL */
	const char *message;         /* the engine's {"message": ...} of an error answer, or the body; "" */
};

typedef void docker__done_fn(const struct docker__resp *r, void *arg);
/* Body bytes of a 2xx answer when the request streams. */
typedef void docker__data_fn(const char *p, size_t n, void *arg);

/* The process's client for <loop> (created at the first call, from
 * DOCKER_HOST). */
struct docker__client *docker__client_get(uv_loop_t *loop);
/* Ends every request (no callbacks) and frees the client once its
 * handles have closed. */
void docker__client_close(void);
/* "unix:///var/run/docker.sock", as the user wrote it, for messages. */
const char *docker__client_host(const struct docker__client *c);
/* One request to the engine; <path> without the version prefix, which the
 * client adds once negotiated. <body> is copied. <data> NULL: the whole
 * body comes to <done>. <timeout_ms> 0: none (streams, waits). <done> is
 * called exactly once, never from inside this call, unless the request is
 * cancelled first. */
struct docker__req *docker__call(struct docker__client *c, const char *method, const char *path, const char *ctype,
				 const void *body, size_t len, uint64_t timeout_ms, docker__data_fn *data,
				 docker__done_fn *done, void *arg);
/* Ends a request without its callback. */
void docker__cancel(struct docker__req *rq);

#endif
