/* The log pipeline (DESIGN.md 8): tails every instance's CRI log and the
 * files its service declares, turns each line into a Logstash-style JSON
 * event, and delivers the events to the configured outputs, each with a
 * bounded memory queue backed by an on-disk buffer. Read offsets are saved
 * (DATA_DIR/logs/registry.json) only once every output has taken the
 * events, so a restart resumes where delivery stopped.
 *
 * The pipeline runs on a thread of its own (and each output on one more),
 * so a burst of log lines never delays the agent's API or health checks.
 * Every function here may be called from the agent's loop thread. */
#ifndef BERTH_LOGS_LOGS_H
#define BERTH_LOGS_LOGS_H

#include <stdbool.h>

#include <jansson.h>

#include "core/buf.h"

struct logs;

struct logs_opts {
	const char *data_dir;        /* DATA_DIR: logs/ under it holds the registry and buffers */
	const char *host;            /* the events' "host" */
	const json_t *outputs;       /* the agent-wide outputs (agent.yml logs.outputs), checked
				    * with logs_check_outputs(); NULL: none */
};

/* Starts the pipeline. Returns NULL with *err (heap) when an output cannot
 * be built or the data dir cannot be used. */
struct logs *logs_new(const struct logs_opts *o, char **err);

/* Stops reading, gives the outputs a moment to finish what they are
 * sending, writes what they still hold to their disk buffers and saves the
 * registry. Blocks (bounded, a few seconds at most). */
void logs_free(struct logs *l);

/* One instance's inputs. Every pointer is borrowed for the call. */
struct logs_instance {
	const char *stack, *service;
	int index;
	const char *cri_path;        /* the instance's stdout/stderr log (CRI lines) */
	const json_t *xlogs;         /* the service's x-berth.logs (checked), or NULL */
	const char *const *files;    /* x-berth.logs.files with the instance's variables expanded, */
	int nfiles;                  /* in the same order as xlogs's list */
	const json_t *stack_outputs; /* the stack's x-berth.logs.outputs (checked), or NULL */
};

/* Adds an instance's inputs, or updates them when the instance is known.
 * Nothing is read while no output takes the instance's stack. */
void logs_instance_add(struct logs *l, const struct logs_instance *in);
/* The instance is gone: its inputs are read to their end, then let go. */
void logs_instance_remove(struct logs *l, const char *stack, const char *service, int index);

/* Appends the pipeline's metrics, Prometheus text format. */
void logs_metrics(struct logs *l, struct buf *out);

/* A copy of <outputs> (checked) in which a file output's relative path is
 * made absolute from <dir> (the compose file's, or agent.yml's). A new
 * reference; NULL when <outputs> is NULL. */
json_t *logs_outputs_resolve(const json_t *outputs, const char *dir);

/* Validation, for the compose loader and the agent config. Each returns 0,
 * or -1 with *why (heap) and *at (heap): the key path of the culprit below
 * the value given ("outputs[1].path", "files[0].multiline.pattern"), "" for
 * the value itself; *at_key tells whether the key itself is wrong (unknown)
 * rather than its value. */
int logs_check_outputs(const json_t *outputs, char **why, char **at, bool *at_key);
/* A service's x-berth.logs: files, multiline, json, type. */
int logs_check_service(const json_t *xlogs, char **why, char **at, bool *at_key);
/* A stack's top-level x-berth.logs: outputs. */
int logs_check_stack(const json_t *xlogs, char **why, char **at, bool *at_key);

#endif
