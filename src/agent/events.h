/* The agent's event log: what happened to stacks and instances, in order,
 * kept in a bounded ring for the events stream of the API (`berth up`
 * shows instances coming up from it). Each event is one JSON object:
 *   {"seq": N, "time": "RFC3339", "type": "instance.started" | ...,
 *    "stack": ..., "service": ..., "index": N, ...details}
 * Subscribers get every event appended after they subscribed. */
#ifndef BERTH_AGENT_EVENTS_H
#define BERTH_AGENT_EVENTS_H

#include <stdint.h>

#include <jansson.h>

#define EVENTS_RING 1024 /* events kept for late readers */

struct events;
struct events_sub;

/* An event as kept: its JSON text (with "t":"event" added, ready for a
 * stream) and the fields subscribers filter on. A jansson object costs
 * about 2 KB; the text a tenth of that, so the ring stays small. */
struct event_rec {
	uint64_t seq;
	char *text;                  /* one line of JSON, no newline */
	size_t len;
	char *stack;                 /* NULL when the event has none */
	char *service;
};

typedef void events_fn(struct events_sub *sub, const struct event_rec *ev, void *arg);

struct events *events_new(void);
void events_free(struct events *e);
/* Appends an event of <type>; takes ownership of <details> (an object, may
 * be NULL) and adds seq, time and type to it. */
void events_emit(struct events *e, const char *type, json_t *details);
/* Subscribes: first replays kept events with seq > <after> (0: none; use
 * UINT64_MAX to skip the past), then live ones. */
struct events_sub *events_subscribe(struct events *e, uint64_t after, events_fn *fn, void *arg);
void events_unsubscribe(struct events_sub *sub);
uint64_t events_last_seq(const struct events *e);

#endif
