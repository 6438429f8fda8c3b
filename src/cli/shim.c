/* berth shim: runs berth-shim, the small libc-only executable that
 * supervises one instance (src/runner/shim.c, docs/shim.md). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* Where berth-shim is, relative to the running berth: beside it once
 * installed, under src/runner/ in a build tree. */
static const char *const shim_places[] = {"berth-shim", "src/runner/berth-shim"};

int cli_shim(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0) {
		fprintf(stderr, "berth shim: /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		slash[1] = '\0';
	for (size_t i = 0; i < sizeof(shim_places) / sizeof(shim_places[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", slash ? self : "./", shim_places[i]);
		if (access(path, X_OK) != 0)
			continue;
		/* exec, not spawn: the agent's pid for the shim stays the shim's,
		 * and nothing of berth stays resident next to the instance. */
		argv[0] = path;
		execv(path, argv);
		fprintf(stderr, "berth shim: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(stderr, "berth shim: no berth-shim beside %s\n", self);
	return 1;
}
