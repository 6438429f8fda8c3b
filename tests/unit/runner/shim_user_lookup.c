/* Unit tests for "user" resolution (src/runner/shim_user.c, which only
 * berth-shim links: included here, STYLE.md 7). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/shim_user.c"

static char passwd[] = "/tmp/berth-unit-passwd-XXXXXX";
static char group[] = "/tmp/berth-unit-group-XXXXXX";

static void write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void setup(void)
{
	write_tmp(passwd,
		  "root:x:0:0:root:/root:/bin/sh\n"
		  "alice:x:1000:1000::/home/alice:/bin/sh\n"
		  "bob:x:1001:100::/home/bob:/bin/sh\n");
	write_tmp(group,
		  "root:x:0:\n"
		  "alice:x:1000:\n"
		  "users:x:100:bob\n"
		  "docker:x:999:alice,bob\n"
		  "wheel:x:10:alice\n");
}

static void teardown(void)
{
	unlink(passwd);
	unlink(group);
}

TestSuite(shim_user, .init = setup, .fini = teardown, .timeout = 10);

static struct shim__user resolve_ok(const char *spec)
{
	struct shim__user u;
	char *err = NULL;
	cr_assert_eq(shim__user_resolve(spec, passwd, group, &u, &err), 0, "%s: %s", spec, err);
	return u;
}

static void assert_groups(const struct shim__user *u, size_t n, const gid_t *want)
{
	cr_assert_eq(u->ngroups, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(u->groups[i], want[i], "group %zu", i);
}

Test(shim_user, by_name_and_uid)
{
	struct shim__user u = resolve_ok("alice");
	cr_assert_eq(u.uid, 1000);
	cr_assert_eq(u.gid, 1000);
	assert_groups(&u, 3, (gid_t[]){1000, 999, 10});

	u = resolve_ok("1000");
	cr_assert_eq(u.uid, 1000);
	assert_groups(&u, 3, (gid_t[]){1000, 999, 10});

	u = resolve_ok("bob");
	cr_assert_eq(u.uid, 1001);
	cr_assert_eq(u.gid, 100);
	assert_groups(&u, 2, (gid_t[]){100, 999}); /* users lists bob too: once */

	u = resolve_ok("root");
	cr_assert_eq(u.uid, 0);
	assert_groups(&u, 1, (gid_t[]){0});
}

Test(shim_user, with_group)
{
	struct shim__user u = resolve_ok("alice:users");
	cr_assert_eq(u.uid, 1000);
	cr_assert_eq(u.gid, 100);
	assert_groups(&u, 3, (gid_t[]){100, 999, 10});

	u = resolve_ok("alice:50");
	cr_assert_eq(u.gid, 50);
	assert_groups(&u, 3, (gid_t[]){50, 999, 10});
}

Test(shim_user, unknown_uid)
{
	/* A uid without a passwd entry: its own number as group, no others. */
	struct shim__user u = resolve_ok("4242");
	cr_assert_eq(u.uid, 4242);
	cr_assert_eq(u.gid, 4242);
	assert_groups(&u, 1, (gid_t[]){4242});

	u = resolve_ok("4242:7");
	cr_assert_eq(u.gid, 7);
	assert_groups(&u, 1, (gid_t[]){7});

	u = resolve_ok("4242:docker");
	cr_assert_eq(u.gid, 999);
}

Test(shim_user, errors)
{
	const char *bad[][2] = {
		{"carol", "no such user"},
		{"alice:nogroup", "no such group"},
		{"4294967295", "no such user"}, /* (uid_t)-1 is not a uid: read as a name */
		{"-1", "no such user"},
		{"", "expected USER or USER:GROUP"},
		{"alice:", "expected USER or USER:GROUP"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct shim__user u;
		char *err = NULL;
		cr_assert_eq(shim__user_resolve(bad[i][0], passwd, group, &u, &err), -1, "accepted %s", bad[i][0]);
		cr_assert(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
		free(err);
	}
	struct shim__user u;
	char *err = NULL;
	cr_assert_eq(shim__user_resolve("alice", "/nonexistent/passwd", group, &u, &err), -1);
	cr_assert(strstr(err, "/nonexistent/passwd"), "%s", err);
	free(err);
	cr_assert_eq(shim__user_resolve("alice:users", passwd, "/nonexistent/group", &u, &err), -1);
	cr_assert(strstr(err, "/nonexistent/group"), "%s", err);
	free(err);
	/* Without a group file a named user still resolves, with its primary group only. */
	cr_assert_eq(shim__user_resolve("alice", passwd, "/nonexistent/group", &u, &err), 0);
	cr_assert_eq(u.ngroups, 1);
}
