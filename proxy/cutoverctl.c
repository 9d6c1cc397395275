/*
 * cutoverctl: sends one admin command to the proxy's unix socket, prints
 * the answer and exits 0 on success, 1 when the proxy answered an error,
 * 2 when it could not talk to the proxy.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cutover.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: cutoverctl [-s socket] command [arg ...]\n");
	exit(2);
}

/* Connects to the admin socket; exits 2 with a reason on failure. */
static int
ctl_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "cutoverctl: %s: socket path too long\n", path);
		exit(2);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "cutoverctl: socket: %s\n", strerror(errno));
		exit(2);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == ENOENT)
			fprintf(stderr, "cutoverctl: %s: no such socket (is "
			    "cutover running?)\n", path);
		else if (errno == ECONNREFUSED)
			fprintf(stderr, "cutoverctl: %s: connection refused "
			    "(cutover is not running)\n", path);
		else if (errno == EACCES)
			fprintf(stderr, "cutoverctl: %s: permission denied\n",
			    path);
		else
			fprintf(stderr, "cutoverctl: %s: %s\n", path,
			    strerror(errno));
		exit(2);
	}
	return (fd);
}

int
main(int argc, char **argv)
{
	const char	*path = CUTOVER_SOCK;
	char		 line[8192], *cmd;
	size_t		 len = 0;
	FILE		*fp;
	int		 ch, fd, i, error = 0, first = 1;

	while ((ch = getopt(argc, argv, "+s:")) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	cmd = malloc(len + 1);
	if (cmd == NULL)
		return (2);
	cmd[0] = '\0';
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			strcat(cmd, "json");
		else
			strcat(cmd, argv[i]);
		strcat(cmd, i + 1 < argc ? " " : "\n");
	}
	fd = ctl_connect(path);
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
		fprintf(stderr, "cutoverctl: write: %s\n", strerror(errno));
		return (2);
	}
	free(cmd);
	if ((fp = fdopen(fd, "r")) == NULL)
		return (2);
	while (fgets(line, sizeof line, fp) != NULL) {
		if (first && strncmp(line, "error: ", 7) == 0)
			error = 1;
		first = 0;
		if (strcmp(line, "\n") == 0)
			break;
		fputs(line, stdout);
	}
	if (first) {
		fprintf(stderr, "cutoverctl: %s: the proxy closed the "
		    "connection without answering\n", path);
		return (2);
	}
	fclose(fp);
	return (error);
}
