/* berth docker-exec CONTAINER -- PROGRAM [ARGS...]: runs a program in a
 * container of the Docker engine (DOCKER_HOST) and exits with its code.
 * berth runs a docker instance's exec health check this way, so the
 * check sees the container, not the host (docs/docker.md). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runner/driver.h"

int cli_docker_exec(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: berth docker-exec CONTAINER -- PROGRAM [ARGS...]\n"
		       "Runs PROGRAM in CONTAINER through the Docker engine at DOCKER_HOST and exits with its code.\n");
		return 0;
	}
	if (argc < 4 || strcmp(argv[2], "--") != 0) {
		fprintf(stderr, "usage: berth docker-exec CONTAINER -- PROGRAM [ARGS...]\n");
		return 2;
	}
	return driver_docker_exec(argv[1], argv + 3);
}
