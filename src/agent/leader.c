/* The scheduler loop of the agent that leads (DESIGN.md 9).
 *
 * Leadership is the key /berth/leader, created by a txn only when absent
 * and bound to the creator's node lease: when that agent dies its lease
 * expires, the key goes, and another agent takes it. The leader mirrors
 * stacks, nodes and allocations; after any change it runs the placement
 * function (sched/) over them and writes the difference in one txn that
 * also checks it still leads, so a deposed leader cannot write. */
#include "agent/leader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/mirror.h"
#include "core/log.h"
#include "core/mem.h"
#include "sched/sched.h"
#include "spec/spec.h"
#include "store/store.h"

#define LEADER_KEY "/berth/leader"
#define SCHED_DEBOUNCE_MS 20 /* changes that arrive together are placed together */

struct agent_sched {
	uv_loop_t *loop;
	struct store *st;
	char *node;
	int64_t lease;
	struct mirror *leader, *stacks, *nodes, *allocs;
	bool leading;
	int64_t leader_mod_rev;      /* of our leader key: the guard of every write */
	bool campaigning;
	bool writing;                /* a placement txn is in flight */
	bool again;                  /* something changed while writing */
	uv_timer_t timer;
	bool closing;
	int pending;
	void (*done)(void *);
	void *done_arg;
};

static void campaign(struct agent_sched *s);
static void kick(struct agent_sched *s);

static void maybe_finish(struct agent_sched *s)
{
	if (!s->closing || s->pending > 0)
		return;
	void (*done)(void *) = s->done;
	void *a = s->done_arg;
	free(s->node);
	free(s);
	if (done)
		done(a);
}

/* ---- leadership ---- */

static void on_campaign(const struct store_result *r, void *arg)
{
	struct agent_sched *s = arg;

	s->pending--;
	s->campaigning = false;
	if (s->closing) {
		maybe_finish(s);
		return;
	}
	if (r->err) {
		log_warn("agent", "leader election: %s", r->errmsg ? r->errmsg : store_strerror(r->err));
		return;
	}
	if (r->succeeded) {
		s->leading = true;
		s->leader_mod_rev = r->revision;
		log_info("agent", "this node leads the scheduling");
		kick(s);
	}
}

static void campaign(struct agent_sched *s)
{
	struct store_cmp cmp = {.key = LEADER_KEY, .key_len = strlen(LEADER_KEY), .target = STORE_CMP_CREATE_REV,
				.op = STORE_CMP_EQ, .num = 0};

	if (s->campaigning || s->leading || !s->lease || s->closing)
		return;
	json_t *j = json_pack("{s:s}", "node", s->node);
	char *val = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct store_op put = {.type = STORE_OP_PUT, .keys = {LEADER_KEY, strlen(LEADER_KEY), false}, .value = val,
			       .value_len = strlen(val), .lease = s->lease};
	struct store_txn t = {.cmps = &cmp, .ncmps = 1, .success = &put, .nsuccess = 1};
	if (store_txn(s->st, &t, on_campaign, s) == 0) {
		s->pending++;
		s->campaigning = true;
	}
	free(val);
}

static void on_leader_change(struct mirror *m, void *arg)
{
	struct agent_sched *s = arg;
	const struct mirror_entry *e = mirror_get(m, LEADER_KEY);

	if (!e) {
		if (s->leading)
			log_warn("agent", "lost the scheduling lead");
		s->leading = false;
		campaign(s);
		return;
	}
	const char *who = json_string_value(json_object_get(e->json, "node"));
	bool mine = who && strcmp(who, s->node) == 0 && e->lease == s->lease;
	if (mine && !s->leading) {
		/* Ours from before (same lease): lead again. */
		s->leading = true;
		s->leader_mod_rev = e->mod_rev;
		kick(s);
	} else if (!mine && s->leading) {
		log_warn("agent", "lost the scheduling lead to %s", who ? who : "?");
		s->leading = false;
	} else if (mine) {
		s->leader_mod_rev = e->mod_rev;
	}
}

/* ---- placement ---- */

struct inputs {
	struct sched_node *nodes;
	int nnodes;
	struct sched_label *labels;  /* all nodes' labels */
	struct sched_service *svcs;
	int nsvcs, capsvcs;
	struct sched_alloc *cur;
	int ncur;
	struct spec_stack **specs;   /* parsed stacks, freed after the pass */
	int nspecs;
	char **strs;                 /* strings owned by the pass */
	int nstrs, capstrs;
};

static const char *own(struct inputs *in, char *s)
{
	if (in->nstrs == in->capstrs) {
		in->capstrs = in->capstrs ? in->capstrs * 2 : 64;
		in->strs = xrealloc(in->strs, sizeof(char *) * (size_t)in->capstrs);
	}
	in->strs[in->nstrs++] = s;
	return s;
}

static void inputs_free(struct inputs *in)
{
	for (int i = 0; i < in->nspecs; i++)
		spec_stack_free(in->specs[i]);
	for (int i = 0; i < in->nstrs; i++)
		free(in->strs[i]);
	free(in->specs);
	free(in->strs);
	free(in->nodes);
	free(in->labels);
	free(in->svcs);
	free(in->cur);
}

static void gather(struct agent_sched *s, struct inputs *in)
{
	const size_t np = strlen("/berth/nodes/"), sp = strlen("/berth/stacks/"), ap = strlen("/berth/alloc/");
	int nlabels = 0;

	memset(in, 0, sizeof(*in));
	in->nodes = XNEWV(struct sched_node, (size_t)s->nodes->n + 1);
	for (int i = 0; i < s->nodes->n; i++)
		nlabels += (int)json_object_size(json_object_get(s->nodes->e[i].json, "labels"));
	in->labels = XNEWV(struct sched_label, (size_t)nlabels + 1);
	nlabels = 0;
	for (int i = 0; i < s->nodes->n; i++) {
		const struct mirror_entry *e = &s->nodes->e[i];
		struct sched_node *n = &in->nodes[in->nnodes++];
		const char *k;
		json_t *v;
		n->name = e->key + np;
		n->up = true; /* the key exists: its lease is alive */
		n->labels = &in->labels[nlabels];
		json_object_foreach(json_object_get(e->json, "labels"), k, v) {
			if (!json_is_string(v))
				continue;
			in->labels[nlabels++] = (struct sched_label){k, json_string_value(v)};
			n->nlabels++;
		}
	}
	in->specs = XNEWV(struct spec_stack *, (size_t)s->stacks->n + 1);
	for (int i = 0; i < s->stacks->n; i++) {
		const struct mirror_entry *e = &s->stacks->e[i];
		struct spec_stack *st = NULL;
		char *err = NULL;
		if (strchr(e->key + sp, '/'))
			continue;
		if (spec_from_json(json_object_get(e->json, "spec"), &st, &err) < 0) {
			log_error("agent", "stack %s: unreadable record, not placed: %s", e->key + sp, err);
			free(err);
			continue;
		}
		in->specs[in->nspecs++] = st;
		json_t *state = json_object_get(json_object_get(e->json, "state"), "services");
		for (int j = 0; j < st->nservices; j++) {
			const struct spec_service *sv = &st->services[j];
			if (in->nsvcs == in->capsvcs) {
				in->capsvcs = in->capsvcs ? in->capsvcs * 2 : 16;
				in->svcs = xrealloc(in->svcs, sizeof(*in->svcs) * (size_t)in->capsvcs);
			}
			struct sched_service *ss = &in->svcs[in->nsvcs++];
			memset(ss, 0, sizeof(*ss));
			ss->stack = st->name;
			ss->name = sv->name;
			ss->global = sv->deploy.mode == SPEC_MODE_GLOBAL;
			ss->replicas = sv->deploy.replicas;
			json_t *over = json_object_get(json_object_get(state, sv->name), "replicas");
			if (json_is_integer(over))
				ss->replicas = (int)json_integer_value(over);
			ss->constraints = (const char *const *)sv->deploy.placement.constraints;
			ss->nconstraints = sv->deploy.placement.nconstraints;
			ss->max_per_node = sv->deploy.placement.max_replicas_per_node;
		}
	}
	in->cur = XNEWV(struct sched_alloc, (size_t)s->allocs->n + 1);
	for (int i = 0; i < s->allocs->n; i++) {
		char node[256], stack[256], svc[256];
		int idx;
		if (sscanf(s->allocs->e[i].key + ap, "%255[^/]/%255[^/]/%255[^/]/%d", node, stack, svc, &idx) != 4)
			continue;
		in->cur[in->ncur++] = (struct sched_alloc){own(in, xstrdup(node)), own(in, xstrdup(stack)),
							   own(in, xstrdup(svc)), idx};
	}
}

static char *alloc_key(const struct sched_alloc *a)
{
	return xasprintf("/berth/alloc/%s/%s/%s/%d", a->node, a->stack, a->service, a->index);
}

static void on_placed(const struct store_result *r, void *arg)
{
	struct agent_sched *s = arg;

	s->pending--;
	s->writing = false;
	if (s->closing) {
		maybe_finish(s);
		return;
	}
	if (r->err)
		log_warn("agent", "writing allocations: %s", r->errmsg ? r->errmsg : store_strerror(r->err));
	else if (!r->succeeded)
		log_warn("agent", "allocations not written: this node no longer leads");
	if (s->again || r->err) {
		s->again = false;
		kick(s);
	}
}

static void place(struct agent_sched *s)
{
	struct inputs in;
	struct sched_result res;
	struct store_op *ops;
	int nops = 0;
	char **keys;

	if (!s->leading || !s->stacks->ready || !s->nodes->ready || !s->allocs->ready)
		return;
	if (s->writing) {
		s->again = true;
		return;
	}
	gather(s, &in);
	sched_place(in.nodes, in.nnodes, in.svcs, in.nsvcs, in.cur, in.ncur, &res);
	for (int i = 0; i < res.npending; i++)
		log_warn("agent", "%s/%s.%d cannot be placed: %s", res.pending[i].stack, res.pending[i].service,
			 res.pending[i].index, res.pending[i].why);
	ops = XNEWV(struct store_op, (size_t)(res.nallocs + in.ncur + 1));
	keys = XNEWV(char *, (size_t)(res.nallocs + in.ncur + 1));
	/* Deletions: current allocations not in the result. */
	for (int i = 0; i < in.ncur; i++) {
		bool keep = false;
		for (int j = 0; j < res.nallocs && !keep; j++)
			keep = res.allocs[j].index == in.cur[i].index && !strcmp(res.allocs[j].node, in.cur[i].node) &&
			       !strcmp(res.allocs[j].service, in.cur[i].service) &&
			       !strcmp(res.allocs[j].stack, in.cur[i].stack);
		if (keep)
			continue;
		keys[nops] = alloc_key(&in.cur[i]);
		ops[nops] = (struct store_op){.type = STORE_OP_DELETE, .keys = {keys[nops], strlen(keys[nops]), false}};
		nops++;
	}
	/* Additions: result allocations not current. */
	for (int j = 0; j < res.nallocs; j++) {
		bool have = false;
		for (int i = 0; i < in.ncur && !have; i++)
			have = res.allocs[j].index == in.cur[i].index && !strcmp(res.allocs[j].node, in.cur[i].node) &&
			       !strcmp(res.allocs[j].service, in.cur[i].service) &&
			       !strcmp(res.allocs[j].stack, in.cur[i].stack);
		if (have)
			continue;
		keys[nops] = alloc_key(&res.allocs[j]);
		json_t *av = json_pack("{s:s, s:s, s:i, s:s}", "stack", res.allocs[j].stack, "service",
				       res.allocs[j].service, "index", res.allocs[j].index, "node", res.allocs[j].node);
		char *val = json_dumps(av, JSON_COMPACT);
		json_decref(av);
		own(&in, val);
		ops[nops] = (struct store_op){.type = STORE_OP_PUT, .keys = {keys[nops], strlen(keys[nops]), false},
					      .value = val, .value_len = strlen(val)};
		nops++;
	}
	if (nops) {
		struct store_cmp guard = {.key = LEADER_KEY, .key_len = strlen(LEADER_KEY),
					  .target = STORE_CMP_LEASE, .op = STORE_CMP_EQ, .num = s->lease};
		struct store_txn t = {.cmps = &guard, .ncmps = 1, .success = ops, .nsuccess = nops};
		if (store_txn(s->st, &t, on_placed, s) == 0) {
			s->pending++;
			s->writing = true;
		}
	}
	for (int i = 0; i < nops; i++)
		free(keys[i]);
	free(keys);
	free(ops);
	sched_result_free(&res);
	inputs_free(&in);
}

static void on_timer(uv_timer_t *t)
{
	struct agent_sched *s = t->data;

	if (!s->closing)
		place(s);
}

static void kick(struct agent_sched *s)
{
	if (!s->closing && s->leading)
		uv_timer_start(&s->timer, on_timer, SCHED_DEBOUNCE_MS, 0);
}

static void on_change(struct mirror *m, void *arg)
{
	kick(arg);
}

/* ---- lifetime ---- */

struct agent_sched *agent_sched_new(uv_loop_t *loop, struct store *st, const char *node)
{
	struct agent_sched *s = XNEW(struct agent_sched);

	s->loop = loop;
	s->st = st;
	s->node = xstrdup(node);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->pending = 1; /* the timer handle */
	s->leader = mirror_new(st, LEADER_KEY, on_leader_change, s);
	s->stacks = mirror_new(st, "/berth/stacks/", on_change, s);
	s->nodes = mirror_new(st, "/berth/nodes/", on_change, s);
	s->allocs = mirror_new(st, "/berth/alloc/", on_change, s);
	return s;
}

void agent_sched_set_lease(struct agent_sched *s, int64_t lease)
{
	if (s->lease != lease)
		s->leading = false;
	s->lease = lease;
	if (s->leader->ready)
		on_leader_change(s->leader, s);
	campaign(s);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct agent_sched *s = h->data;

	s->pending--;
	maybe_finish(s);
}

void agent_sched_free(struct agent_sched *s, void (*done)(void *), void *arg)
{
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	mirror_free(s->leader);
	mirror_free(s->stacks);
	mirror_free(s->nodes);
	mirror_free(s->allocs);
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
