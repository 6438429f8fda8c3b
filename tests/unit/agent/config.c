/* Unit tests for the agent's configuration layering (src/agent/config.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/berth-agentcfg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static int source_of(const struct agent_config *c, const char *name, char *out, size_t cap)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	agent_config_print(c, f);
	fclose(f);
	int found = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == ' ') {
			char *open = strrchr(line, '(');
			snprintf(out, cap, "%.*s", (int)(strlen(open) - 2), open + 1);
			found = 1;
		}
	}
	free(buf);
	return found;
}

TestSuite(agent_config, .init = setup, .fini = teardown, .timeout = 10);

Test(agent_config, defaults)
{
	char *env[] = {NULL};
	struct agent_flag flags[] = {{"data-dir", dir}};
	struct agent_config c;
	char *err = NULL;
	char src[128], want[128];

	cr_assert_eq(agent_config_resolve(flags, 1, env, &c, &err), 0, "%s", err);
	cr_assert_str_eq(c.data_dir, dir);
	snprintf(want, sizeof(want), "sqlite:%s/store.db", dir);
	cr_assert_str_eq(c.store, want);
	cr_assert_eq(c.port_min, 31000);
	cr_assert_eq(c.port_max, 32767);
	cr_assert_eq(c.lease_ttl_ms, 10000);
	cr_assert_str_eq(c.addr, "127.0.0.1");
	cr_assert(source_of(&c, "node", src, sizeof(src)));
	cr_assert_str_eq(src, "default");
	cr_assert(source_of(&c, "data-dir", src, sizeof(src)));
	cr_assert_str_eq(src, "--data-dir");
	agent_config_free(&c);
}

Test(agent_config, layers_in_order)
{
	char envdd[128];
	snprintf(envdd, sizeof(envdd), "BERTH_DATA_DIR=%s", dir);
	write_file("agent.yml", "node: from-file\nport-range: 40000-40100\nlog-level: debug\nlabels: {zone: a}\n");
	write_file("agent.prod.yml", "node: from-env-file\n");
	char *env[] = {envdd, "BERTH_ENV=prod", "BERTH_LOG_LEVEL=warn", "BERTH_ADDR=10.0.0.5", NULL};
	struct agent_flag flags[] = {{"addr", "10.0.0.9"}, {"label", "rack=r1"}, {"label", "ssd=yes"}};
	struct agent_config c;
	char *err = NULL;
	char src[128], want[160];

	cr_assert_eq(agent_config_resolve(flags, 3, env, &c, &err), 0, "%s", err);
	cr_assert_str_eq(c.node, "from-env-file");         /* agent.prod.yml over agent.yml */
	cr_assert_eq(c.port_min, 40000);                     /* agent.yml over default */
	cr_assert_str_eq(c.log_level, "warn");              /* variable over file */
	cr_assert_str_eq(c.addr, "10.0.0.9");               /* flag over variable */
	cr_assert_eq(c.nlabels, 2);                          /* flags replace the file's labels, and add up */
	cr_assert_str_eq(c.labels[0], "rack=r1");
	cr_assert_str_eq(c.labels[1], "ssd=yes");
	cr_assert(source_of(&c, "node", src, sizeof(src)));
	snprintf(want, sizeof(want), "%s/agent.prod.yml:1:1", dir);
	cr_assert_str_eq(src, want);
	cr_assert(source_of(&c, "port-range", src, sizeof(src)));
	snprintf(want, sizeof(want), "%s/agent.yml:2:1", dir);
	cr_assert_str_eq(src, want);
	cr_assert(source_of(&c, "log-level", src, sizeof(src)));
	cr_assert_str_eq(src, "BERTH_LOG_LEVEL");
	cr_assert(source_of(&c, "addr", src, sizeof(src)));
	cr_assert_str_eq(src, "--addr");
	agent_config_free(&c);
}

Test(agent_config, bad_values_name_their_source)
{
	char *env[] = {NULL};
	struct agent_flag flags[] = {{"data-dir", dir}};
	struct agent_config c;
	char *err = NULL;

	write_file("agent.yml", "node: n\nport-range: 5-1\n");
	cr_assert_eq(agent_config_resolve(flags, 1, env, &c, &err), -1);
	cr_assert(strstr(err, "agent.yml:2:13"), "%s", err);
	cr_assert(strstr(err, "MIN-MAX"), "%s", err);
	free(err);
	agent_config_free(&c);

	write_file("agent.yml", "nod: n\n");
	err = NULL;
	cr_assert_eq(agent_config_resolve(flags, 1, env, &c, &err), -1);
	cr_assert(strstr(err, "agent.yml:1:1"), "%s", err);
	cr_assert(strstr(err, "unknown agent option"), "%s", err);
	free(err);
	agent_config_free(&c);

	unlink("/nonexistent");
	write_file("agent.yml", "");
	char *env2[] = {"BERTH_LEASE_TTL=forever", NULL};
	err = NULL;
	cr_assert_eq(agent_config_resolve(flags, 1, env2, &c, &err), -1);
	cr_assert(strstr(err, "BERTH_LEASE_TTL=forever"), "%s", err);
	free(err);
	agent_config_free(&c);

	struct agent_flag flags2[] = {{"data-dir", dir}, {"api-addr", "127.0.0.1:9999"}};
	err = NULL;
	cr_assert_eq(agent_config_resolve(flags2, 2, env, &c, &err), -1);
	cr_assert(strstr(err, "token"), "%s", err);
	free(err);
	agent_config_free(&c);
}
