/* A strict, bounded RESP2 reply parser (Redis's protocol) and a command writer, for the redis check. Fuzzed. */
#ifndef BERTH_HEALTH_RESP_H
#define BERTH_HEALTH_RESP_H

/*
 * health_resp_parse() reads one complete reply from the start of a buffer
 * into a flat array of nodes (no allocation, no copy: strings are slices of
 * the buffer). Strict: every line ends in CRLF, integers and lengths are
 * canonical decimals ("0", "-1", "42"; no "+", no leading zeros, no "-0"),
 * bulk strings are followed by exactly CRLF, simple strings and errors hold
 * no CR or LF, and only RESP2's five types exist. Bounded: nesting, node
 * count and string sizes have limits, and a reply that is certain to break
 * one is an error even before it is complete. The canonical form means a
 * parsed reply written back byte for byte equals its input.
 */

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"

#define HEALTH_RESP_MAX_NODES 256      /* nodes of one reply */
#define HEALTH_RESP_MAX_DEPTH 8        /* arrays within arrays */
#define HEALTH_RESP_MAX_STR   (64u << 10) /* bytes of one string (bulk, simple or error) */

enum health_resp_type {
	HEALTH_RESP_SIMPLE = 0, /* +OK */
	HEALTH_RESP_ERROR,      /* -ERR message */
	HEALTH_RESP_INTEGER,    /* :42 */
	HEALTH_RESP_BULK,       /* $3 foo; null: $-1 */
	HEALTH_RESP_ARRAY,      /* *2 ...; null: *-1 */
};

/* Results of health_resp_parse() when not a length (> 0). */
enum health_resp_status {
	HEALTH_RESP_INCOMPLETE = 0,  /* valid so far: need more bytes */
	HEALTH_RESP_ERR_BAD = -1,    /* not RESP, or not canonical */
	HEALTH_RESP_ERR_LIMIT = -2,  /* over a limit above */
};

struct health_resp_node {
	enum health_resp_type type;
	int null;                    /* BULK, ARRAY: the null form ($-1, *-1) */
	struct slice str;            /* SIMPLE, ERROR, BULK: the bytes (not NUL-terminated) */
	int64_t integer;             /* INTEGER: the value; ARRAY: item count */
	int next;                    /* index of the node after this one's subtree */
};

struct health_resp {
	int nnodes;                  /* nodes[0] is the reply; items follow in pre-order */
	struct health_resp_node nodes[HEALTH_RESP_MAX_NODES];
};

/* Parses one reply from <p, len> into <r>. Returns its length in bytes
 * (> 0), or an enum health_resp_status; <r> is meaningful only after a
 * length. */
int health_resp_parse(const char *p, size_t len, struct health_resp *r);

/* The index of item <i> of the array at node <at>, or -1 when <at> is no
 * array or <i> is out of range. */
int health_resp_item(const struct health_resp *r, int at, int i);

/* Appends a command (an array of bulk strings) to <b>. */
void health_resp_command(struct buf *b, int argc, const char *const *argv);

#endif
