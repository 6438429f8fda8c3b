/* Unit tests for placement (src/sched/sched.c): pure inputs, pure outputs. */
#include <criterion/criterion.h>
#include <string.h>

#include "sched/sched.h"

static int count_on(const struct sched_result *r, const char *node, const char *svc)
{
	int n = 0;

	for (int i = 0; i < r->nallocs; i++)
		if (strcmp(r->allocs[i].node, node) == 0 && (!svc || strcmp(r->allocs[i].service, svc) == 0))
			n++;
	return n;
}

static const char *node_of(const struct sched_result *r, const char *svc, int idx)
{
	for (int i = 0; i < r->nallocs; i++)
		if (strcmp(r->allocs[i].service, svc) == 0 && r->allocs[i].index == idx)
			return r->allocs[i].node;
	return NULL;
}

Test(sched, one_host_everything_local)
{
	struct sched_node nodes[] = {{.name = "n1", .up = true}};
	struct sched_service svcs[] = {{.stack = "s", .name = "web", .replicas = 3},
				       {.stack = "s", .name = "db", .replicas = 1}};
	struct sched_result r;

	sched_place(nodes, 1, svcs, 2, NULL, 0, &r);
	cr_assert_eq(r.nallocs, 4);
	cr_assert_eq(r.npending, 0);
	cr_assert_eq(count_on(&r, "n1", NULL), 4);
	/* Sorted by stack, service, index. */
	cr_assert_str_eq(r.allocs[0].service, "db");
	cr_assert_eq(r.allocs[1].index, 1);
	cr_assert_eq(r.allocs[3].index, 3);
	sched_result_free(&r);
}

Test(sched, spread_then_stable_on_scale)
{
	struct sched_node nodes[] = {{.name = "a", .up = true}, {.name = "b", .up = true}, {.name = "c", .up = true}};
	struct sched_service svc = {.stack = "s", .name = "web", .replicas = 6};
	struct sched_result r, r2;

	sched_place(nodes, 3, &svc, 1, NULL, 0, &r);
	cr_assert_eq(r.nallocs, 6);
	cr_assert_eq(count_on(&r, "a", "web"), 2);
	cr_assert_eq(count_on(&r, "b", "web"), 2);
	cr_assert_eq(count_on(&r, "c", "web"), 2);
	/* Scaling down keeps the low indexes where they were. */
	svc.replicas = 2;
	sched_place(nodes, 3, &svc, 1, r.allocs, r.nallocs, &r2);
	cr_assert_eq(r2.nallocs, 2);
	cr_assert_str_eq(node_of(&r2, "web", 1), node_of(&r, "web", 1));
	cr_assert_str_eq(node_of(&r2, "web", 2), node_of(&r, "web", 2));
	sched_result_free(&r2);
	/* Scaling up again adds on the emptiest nodes, existing ones stay. */
	svc.replicas = 7;
	sched_place(nodes, 3, &svc, 1, r.allocs, r.nallocs, &r2);
	cr_assert_eq(r2.nallocs, 7);
	for (int i = 1; i <= 6; i++)
		cr_assert_str_eq(node_of(&r2, "web", i), node_of(&r, "web", i));
	sched_result_free(&r2);
	sched_result_free(&r);
}

Test(sched, down_node_loses_its_instances)
{
	struct sched_node nodes[] = {{.name = "a", .up = true}, {.name = "b", .up = true}};
	struct sched_service svc = {.stack = "s", .name = "web", .replicas = 2};
	struct sched_result r, r2;

	sched_place(nodes, 2, &svc, 1, NULL, 0, &r);
	cr_assert_eq(count_on(&r, "a", "web"), 1);
	nodes[1].up = false;
	sched_place(nodes, 2, &svc, 1, r.allocs, r.nallocs, &r2);
	cr_assert_eq(r2.nallocs, 2);
	cr_assert_eq(count_on(&r2, "a", "web"), 2);
	cr_assert_eq(count_on(&r2, "b", "web"), 0);
	sched_result_free(&r2);
	sched_result_free(&r);
}

Test(sched, constraints_and_pending)
{
	struct sched_label la[] = {{"zone", "a"}}, lb[] = {{"zone", "b"}};
	struct sched_node nodes[] = {{.name = "n1", .labels = la, .nlabels = 1, .up = true},
				     {.name = "n2", .labels = lb, .nlabels = 1, .up = true}};
	const char *in_b[] = {"node.labels.zone == b"};
	const char *not_n2[] = {"node.hostname != n2", "node.role == manager"};
	const char *nowhere[] = {"node.labels.zone == c"};
	struct sched_service svcs[] = {
		{.stack = "s", .name = "b", .replicas = 2, .constraints = in_b, .nconstraints = 1},
		{.stack = "s", .name = "x", .replicas = 1, .constraints = not_n2, .nconstraints = 2},
		{.stack = "s", .name = "z", .replicas = 1, .constraints = nowhere, .nconstraints = 1},
	};
	struct sched_result r;

	sched_place(nodes, 2, svcs, 3, NULL, 0, &r);
	cr_assert_eq(count_on(&r, "n2", "b"), 2);
	cr_assert_str_eq(node_of(&r, "x", 1), "n1");
	cr_assert_null(node_of(&r, "z", 1));
	cr_assert_eq(r.npending, 1);
	cr_assert_str_eq(r.pending[0].service, "z");
	cr_assert(strstr(r.pending[0].why, "constraints"));
	sched_result_free(&r);
}

Test(sched, max_per_node)
{
	struct sched_node nodes[] = {{.name = "a", .up = true}, {.name = "b", .up = true}};
	struct sched_service svc = {.stack = "s", .name = "web", .replicas = 3, .max_per_node = 1};
	struct sched_result r;

	sched_place(nodes, 2, &svc, 1, NULL, 0, &r);
	cr_assert_eq(r.nallocs, 2);
	cr_assert_eq(r.npending, 1);
	cr_assert_eq(r.pending[0].index, 3);
	sched_result_free(&r);
}

Test(sched, global_one_per_node_and_joiners)
{
	struct sched_node nodes[] = {{.name = "a", .up = true}, {.name = "b", .up = true}, {.name = "c", .up = false}};
	struct sched_service svc = {.stack = "s", .name = "agent", .global = true};
	struct sched_result r, r2;

	sched_place(nodes, 3, &svc, 1, NULL, 0, &r);
	cr_assert_eq(r.nallocs, 2);
	cr_assert_eq(count_on(&r, "a", NULL), 1);
	cr_assert_eq(count_on(&r, "b", NULL), 1);
	/* c joins: it gets the next index, the others keep theirs. */
	nodes[2].up = true;
	sched_place(nodes, 3, &svc, 1, r.allocs, r.nallocs, &r2);
	cr_assert_eq(r2.nallocs, 3);
	cr_assert_str_eq(node_of(&r2, "agent", 1), node_of(&r, "agent", 1));
	cr_assert_str_eq(node_of(&r2, "agent", 2), node_of(&r, "agent", 2));
	cr_assert_str_eq(node_of(&r2, "agent", 3), "c");
	sched_result_free(&r2);
	sched_result_free(&r);
}

Test(sched, removed_service_dropped)
{
	struct sched_node nodes[] = {{.name = "a", .up = true}};
	struct sched_alloc cur[] = {{"a", "s", "gone", 1}, {"a", "s", "web", 1}};
	struct sched_service svc = {.stack = "s", .name = "web", .replicas = 1};
	struct sched_result r;

	sched_place(nodes, 1, &svc, 1, cur, 2, &r);
	cr_assert_eq(r.nallocs, 1);
	cr_assert_str_eq(r.allocs[0].service, "web");
	sched_result_free(&r);
}

Test(sched, constraint_syntax)
{
	cr_assert_null(sched_constraint_check("node.labels.zone == a"));
	cr_assert_null(sched_constraint_check("node.hostname!=x"));
	cr_assert_not_null(sched_constraint_check("node.hostname = x"));
	cr_assert_not_null(sched_constraint_check("engine.labels.x == y"));
	cr_assert_not_null(sched_constraint_check("node.labels. == y"));
	cr_assert_not_null(sched_constraint_check(" == y"));
}
