/* Host ports of one node: the range instances get their PORT from, and the
 * fixed ports ("8080:3000") they claim. A port is handed out only if it is
 * free in our books and nothing else on the host listens on it (a test
 * bind), so an instance never starts on a port it cannot have. */
#ifndef BERTH_RUNNER_PORTS_H
#define BERTH_RUNNER_PORTS_H

#include <stdbool.h>
#include <stdint.h>

struct ports {
	int min, max;                /* the range, inclusive */
	int next;                    /* where the next search starts (spreads reuse) */
	uint8_t used[65536];         /* 1: held by an instance of ours */
};

void ports_init(struct ports *p, int min, int max);
/* A free port of the range, marked used; -1 when none is left. */
int ports_take_any(struct ports *p);
/* Claims a fixed port; false if one of ours holds it or the host has it in use. */
bool ports_take_fixed(struct ports *p, int port);
/* Marks a port ours without checking (re-adoption of a running instance). */
void ports_mark(struct ports *p, int port);
void ports_release(struct ports *p, int port);
bool ports_in_use_here(const struct ports *p, int port);

#endif
