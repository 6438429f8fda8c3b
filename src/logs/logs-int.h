/* Private to src/logs: the pipeline's pieces and how they meet.
 *
 *   tail.c      a source: one tailed file, its identity, rotation, line
 *               splitting, CRI joins, multiline; it fills chunks
 *   event.c     one line -> one JSON event
 *   queue.c     an output: its queue of chunks (memory, then disk), its
 *               thread, retries with backoff, acknowledgements
 *   registry.c  saved read offsets
 *   config.c    checking and reading the configuration
 *   pipeline.c  the thread that owns the sources, routes chunks to the
 *               outputs and advances the offsets as outputs acknowledge
 *   outputs/    one file per output type, behind output.h
 *
 * A chunk is what one read of one source produced: whole events, JSON
 * lines, up to about LOGS_CHUNK_BYTES of input. It is the unit of
 * batching, buffering and acknowledgement: an output sends a chunk in one
 * go, spills it to disk whole, and acknowledges it whole. Because a chunk
 * comes from one source, an acknowledged prefix of a source's chunks maps
 * to one file offset, and that offset is what the registry saves. */
#ifndef BERTH_LOGS_INT_H
#define BERTH_LOGS_INT_H

#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "agent/logs.h"      /* the CRI record parser `berth logs` uses, and LOGS_MAX_LINE */
#include "core/buf.h"
#include "logs/logs.h"
#include "logs/output.h"

#define LOGS_CHUNK_BYTES  (1u << 20)   /* input read per chunk */
#define LOGS_CHUNK_OUT    (4u << 20)   /* a chunk's events stop growing past this (short lines) */
/* The most a chunk can weigh: LOGS_CHUNK_OUT plus one last event of a
 * LOGS_MAX_LINE message, every byte escaped to 6. */
#define LOGS_CHUNK_WORST  (LOGS_CHUNK_OUT + 6u * LOGS_MAX_LINE + 4096)
#define LOGS_FP_LEN       1024         /* bytes of a file's start that identify it */
#define LOGS_ML_MAX_LINES 500          /* a multiline event ends after this many lines */
#define LOGS_ML_TIMEOUT_MS 1000        /* ... or when no line came for this long */
#define LOGS_POLL_MS      100          /* how often idle files are looked at */
#define LOGS_GLOB_MS      1000         /* how often globs are expanded again */

/* ---- chunks ---- */

struct logs_chunk {
	atomic_int ref;
	uint64_t seq;                /* order of creation, across restarts */
	int src;                     /* source id; -1: read back from a disk buffer */
	off_t end;                   /* the source's safe offset after this chunk */
	char *data;                  /* JSON lines, each ended by '\n' */
	size_t len;
	uint32_t n;                  /* events */
	char *stack;                 /* for routing to stack outputs */
};

struct logs_chunk *logs__chunk_new(uint64_t seq, int src, off_t end, struct buf *b, uint32_t n, const char *stack);
void logs__chunk_unref(struct logs_chunk *c);

/* ---- events (event.c) ---- */

/* What every event of a source shares. */
struct logs__meta {
	const char *host, *stack, *service;
	char instance[96];           /* "web.1" */
	const char *type;            /* the event type, default "berth" */
	int json;                    /* 0: message kept as text; 1: a JSON object message's keys
				    * become fields; 2: ... go under <json_target> */
	const char *json_target;
};

/* Appends one event, as a JSON line, to <out>. <ts> is RFC 3339 UTC with
 * milliseconds; exactly one of <stream> and <path> is set. Invalid UTF-8 in
 * the message becomes U+FFFD; <truncated> adds "tags":["truncated"]. */
void logs__event_encode(struct buf *out, const struct logs__meta *m, const char *ts, const char *stream,
			const char *path, const char *msg, size_t len, bool truncated);
/* Appends <p, n> as a JSON string (quotes included), invalid UTF-8 replaced. */
void logs__json_str(struct buf *out, const char *p, size_t n);
/* The current time, RFC 3339 UTC with milliseconds (24 chars + NUL). */
void logs__now_ts(char ts[32]);
/* A CRI time ("2026-12-01T11:34:19.123456789Z") to the event's form. */
void logs__cri_ts(const char *cri, size_t n, char ts[32]);

/* ---- configuration (config.c) ---- */

struct logs__input_conf {
	regex_t ml;                  /* multiline start pattern */
	bool has_ml;
	int json;                    /* as in logs__meta */
	char *json_target;
	char *type;
};

/* Reads a checked x-berth.logs into the stdout/stderr input's conf (<cri>)
 * and one conf per files entry (*files, *nfiles). */
void logs__conf_service(const json_t *xlogs, struct logs__input_conf *cri, struct logs__input_conf **files,
			int *nfiles);
void logs__conf_free(struct logs__input_conf *c);
/* Parses a size ("64MiB", "1g", "4096"). 0 or -1. */
int logs__size_parse(const char *s, uint64_t *out);

/* ---- sources (tail.c) ---- */

struct logs__inst;

/* A position in a file: the file (its identity) and an offset in it. */
struct logs__pos {
	dev_t dev;
	ino_t ino;
	uint64_t fp;
	uint32_t fplen;
	off_t off;
};

/* One stream's joining state: CRI partial records, then multiline. */
struct logs__join {
	struct buf part;             /* CRI: text of P records so far */
	char partts[32];
	off_t partstart;             /* file offset of the first P record, -1: none */
	bool parttrunc;
	uint64_t partlast;           /* monotonic ms of its last P record */
	struct buf ml;               /* multiline: the event being gathered */
	char mlts[32];
	off_t mlstart;               /* -1: nothing gathered */
	int mllines;
	bool mltrunc;
	uint64_t mllast;             /* monotonic ms of its last line */
};

struct logs__src {
	struct logs__src *next;
	int id;
	struct logs__inst *inst;
	char *path;
	char *key;                   /* registry key: "cri:PATH" or "file:PATH" */
	bool cri;
	struct logs__input_conf *conf; /* borrowed from the instance */
	struct logs__meta meta;
	int fd;                      /* -1: not open (missing file) */
	dev_t dev;
	ino_t ino;
	off_t off;                   /* file offset of the next byte to read */
	uint64_t fp;                 /* hash of the first fplen bytes */
	uint32_t fplen;
	struct buf rbuf;             /* bytes read but not yet a whole line */
	bool skipping;               /* dropping the rest of an over-long line */
	bool uncapped;               /* draining a file we let go: no chunk limit */
	bool globbed;                /* one match of a glob: the glob finds its files; at the end
				    * of a file renamed away or deleted, the source lets go of it
				    * instead of following the path */
	struct logs__join join[2];   /* [0] stdout (and plain files), [1] stderr */
	struct buf scratch;          /* a message NUL-terminated for regexec() */
	off_t end;                   /* safe offset: a restart resumes here */
	uint64_t seq_end;            /* seq of its last chunk */
	bool gone;                   /* let go once read to the end and acknowledged */
	bool drained;                /* gone, and read to the end */
	bool matched;                /* a glob matched it in the last expansion */
	/* acknowledgements: chunks not yet taken by every output */
	struct logs__pend *pend, *pend_tail;
	struct logs__pos committed;  /* what the registry has */
	/* files it read to their end and let go (rotated away), for the
	 * pipeline to remember: a glob that matches one later (app.log.1)
	 * must not read it again */
	struct logs__pos released[4];
	int nreleased;
	/* metrics */
	uint64_t ev_in, bytes_in, rotations, truncations;
};

struct logs__pend {
	struct logs__pend *next;
	uint64_t seq;
	struct logs__pos pos;        /* where the source stood after this chunk */
	int waiting;                 /* outputs that still hold it */
};

/* Opens <s> at <off> if its identity matches the saved one (dev, ino and
 * fingerprint; else the file was replaced and reading starts at 0, after
 * draining the rotated file if it is found). */
void logs__src_open(struct logs__src *s, const struct logs__pos *saved, struct buf *out, uint32_t *n);
/* The source's safe position now. */
void logs__src_pos(const struct logs__src *s, struct logs__pos *p);
/* Reads what is new, up to about LOGS_CHUNK_BYTES, appending events to
 * <out> (*n counts them). Notices rotation and truncation. Returns true
 * when more may be waiting. */
bool logs__src_poll(struct logs__src *s, struct buf *out, uint32_t *n);
/* Emits what multiline or CRI joining hold when they timed out (or
 * <force>: the source is let go). */
void logs__src_flush(struct logs__src *s, struct buf *out, uint32_t *n, bool force);
void logs__src_close(struct logs__src *s);
/* Hash used for fingerprints. */
uint64_t logs__fp_hash(const char *p, size_t n);

/* ---- outputs (queue.c) ---- */

struct logs__qent {
	struct logs__qent *next;
	uint64_t seq;
	int src;                     /* -1: from a previous run's disk buffer */
	struct logs_chunk *c;        /* NULL while on disk */
	size_t len;
	uint32_t n;
	bool on_disk;
	bool counted;                /* the source was told (spilled or sent) */
};

struct logs_out {
	struct logs_out *next;
	char *name;                  /* unique: "file", "archive", "stack/redis" */
	char *stack;                 /* NULL: agent-wide */
	const struct logs_output_ops *ops;
	void *priv;
	json_t *cfg;
	char *dir;                   /* disk buffer: DATA/logs/buffer/<name> */
	struct logs *l;
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct logs__qent *head, *tail;
	bool inflight;               /* head is being sent */
	bool spill_failed;           /* the last spill could not be written */
	bool stop;
	bool retire;                 /* a stack output no longer wanted: stops once empty */
	uint64_t mem_max, disk_max;
	uint64_t mem_bytes, disk_bytes, mem_events, disk_events;
	uint64_t ev_out, bytes_out, retries, dropped;
	int64_t backoff_ms;
	char *last_error;
};

/* Builds an output named <name> from its checked config; starts its
 * thread and loads its disk buffer. NULL with *err. */
struct logs_out *logs__out_new(struct logs *l, const char *name, const char *stack, const json_t *cfg, char **err);
/* Queues <c> (takes a reference). Spills to disk when memory is full.
 * Returns false when neither has room: the caller keeps <c>, reads nothing
 * more from that source until logs__out_room() says so. */
void logs__out_push(struct logs_out *o, struct logs_chunk *c);
bool logs__out_room(struct logs_out *o);
/* Writes every queued chunk not being sent to the disk buffer. */
void logs__out_spill_all(struct logs_out *o);
/* Spills the chunks of source <src> (it is going away). */
void logs__out_spill_src(struct logs_out *o, int src);
/* Asks the thread to stop and waits for it (at most <ms>). */
void logs__out_stop(struct logs_out *o, int ms);
void logs__out_free(struct logs_out *o);
bool logs__out_empty(struct logs_out *o);
/* Lowest seq in the disk buffers, for the next run's numbering. */
uint64_t logs__out_max_seq(const struct logs_out *o);

/* ---- the pipeline (pipeline.c) ---- */

struct logs__ack {
	int src;
	uint64_t seq;
};

struct logs__inst {
	struct logs__inst *next;
	char *stack, *service;
	int index;
	char *cri_path;
	json_t *xlogs;
	char **files;
	int nfiles;
	struct logs__input_conf cri_conf;
	struct logs__input_conf *file_conf;
	int nfile_conf;
	bool gone;
};

struct logs__stackouts {
	struct logs__stackouts *next;
	char *stack;
	json_t *outputs;             /* as configured (to notice a change) */
};

struct logs__regent {
	char *key;
	struct logs__pos pos;
};

struct logs {
	char *dir;                   /* DATA/logs */
	char *host;
	uv_loop_t loop;
	uv_thread_t th;
	uv_async_t wake;             /* commands and acknowledgements */
	uv_timer_t tick;
	pthread_mutex_t mu;          /* cmds, acks, metrics snapshot */
	struct logs__cmd *cmds, *cmds_tail;
	struct logs__ack *acks;
	int nacks, capacks;
	bool stopping;
	bool loop_closed;            /* wake may not be signalled any more (under mu) */
	/* owned by the pipeline thread */
	struct logs__inst *insts;
	struct logs__src *srcs;
	struct logs_out *outs;
	struct logs__stackouts *stackouts;
	struct logs__regent *reg;    /* registry as loaded, consumed as sources open */
	int nreg;
	struct logs__regent *done;   /* files read to their end and let go, newest last */
	int ndone;
	int next_src;
	uint64_t seq;
	bool reg_dirty;
	uint64_t last_glob;
	uint64_t last_metrics;       /* when the snapshot was last built */
	struct buf metrics;          /* the last snapshot, under mu */
	struct buf chunkbuf;
};

void logs__ack_post(struct logs *l, int src, uint64_t seq);

/* registry.c */
#define LOGS_DONE_MAX 256          /* let-go files remembered */
int logs__registry_load(const char *path, struct logs__regent **out, int *n, struct logs__regent **done, int *ndone,
			uint64_t *seq);
int logs__registry_save(const char *path, const struct logs__src *srcs, const struct logs__regent *keep, int nkeep,
			const struct logs__regent *done, int ndone, uint64_t seq);
void logs__registry_free(struct logs__regent *r, int n);

#endif
