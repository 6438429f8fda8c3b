/* The agent's event ring and its subscribers (see events.h). */
#include "agent/events.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"

struct events_sub {
	struct events_sub *next, *prev;
	struct events *e;
	events_fn *fn;
	void *arg;
};

struct events {
	struct event_rec ring[EVENTS_RING];
	uint64_t seq;                /* of the last event */
	struct events_sub *subs;
	struct events_sub *cursor;   /* next subscriber to call, survives unsubscribe in a callback */
};

struct events *events_new(void)
{
	return XNEW(struct events);
}

void events_free(struct events *e)
{
	if (!e)
		return;
	for (int i = 0; i < EVENTS_RING; i++) {
		free(e->ring[i].text);
		free(e->ring[i].stack);
		free(e->ring[i].service);
	}
	while (e->subs)
		events_unsubscribe(e->subs);
	free(e);
}

void events_emit(struct events *e, const char *type, json_t *details)
{
	char ts[40];
	json_t *ev = details ? details : json_object();

	time_now_rfc3339(ts, sizeof(ts));
	e->seq++;
	json_object_set_new(ev, "seq", json_integer((json_int_t)e->seq));
	json_object_set_new(ev, "time", json_string(ts));
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "t", json_string("event"));
	struct event_rec *slot = &e->ring[e->seq % EVENTS_RING];
	free(slot->text);
	free(slot->stack);
	free(slot->service);
	const char *stack = json_string_value(json_object_get(ev, "stack"));
	const char *svc = json_string_value(json_object_get(ev, "service"));
	slot->seq = e->seq;
	slot->text = json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII);
	slot->len = strlen(slot->text);
	slot->stack = stack ? xstrdup(stack) : NULL;
	slot->service = svc ? xstrdup(svc) : NULL;
	json_decref(ev);
	/* A callback may unsubscribe itself or others: walk with a cursor
	 * that unsubscribe moves past the removed entry. */
	for (e->cursor = e->subs; e->cursor;) {
		struct events_sub *s = e->cursor;
		e->cursor = s->next;
		s->fn(s, slot, s->arg);
	}
}

struct events_sub *events_subscribe(struct events *e, uint64_t after, events_fn *fn, void *arg)
{
	struct events_sub *s = XNEW(struct events_sub);

	s->e = e;
	s->fn = fn;
	s->arg = arg;
	if (after < e->seq) {
		uint64_t first = e->seq >= EVENTS_RING ? e->seq - EVENTS_RING + 1 : 1;
		if (after + 1 > first)
			first = after + 1;
		for (uint64_t q = first; q <= e->seq; q++)
			fn(s, &e->ring[q % EVENTS_RING], arg);
	}
	s->next = e->subs;
	if (e->subs)
		e->subs->prev = s;
	e->subs = s;
	return s;
}

void events_unsubscribe(struct events_sub *s)
{
	struct events *e = s->e;

	if (e->cursor == s)
		e->cursor = s->next;
	if (s->prev)
		s->prev->next = s->next;
	else
		e->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

uint64_t events_last_seq(const struct events *e)
{
	return e->seq;
}
