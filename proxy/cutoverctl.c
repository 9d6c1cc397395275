/*
 * cutoverctl: sends one admin command to the proxy's unix socket, prints
 * the answer and exits 0 on success, 1 when the proxy answered an error,
 * 2 when it could not talk to the proxy (no socket, permission denied,
 * proxy not running, no answer).  The arguments are joined with spaces
 * into one command line; --json, wherever it is, becomes a final "json"
 * argument, which the show commands take for machine-readable output.
 * An answer is printed without the empty line that ends it: to stdout,
 * or to stderr when it is an error.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cutover.h"

#define CTL_MAXLINE	4096	/* the proxy's limit for a command line */
#define CTL_TIMEOUT	60	/* seconds to wait for the whole answer */

enum {
	CTL_OK,
	CTL_ERROR,		/* the proxy answered with an error */
	CTL_FAIL		/* no answer from the proxy */
};

static const char	*ctl_path = CUTOVER_SOCK;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: cutoverctl [-s socket] [--json] command "
	    "[argument ...]\n       cutoverctl help\n");
	exit(CTL_FAIL);
}

/* Prints a message about the socket and exits 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
ctl_fail(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "cutoverctl: %s: ", ctl_path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(CTL_FAIL);
}

/* Connects to the admin socket; exits 2 with the reason on failure. */
static int
ctl_connect(void)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(ctl_path) >= sizeof sun.sun_path)
		ctl_fail("socket path too long");
	memcpy(sun.sun_path, ctl_path, strlen(ctl_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ctl_fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return (fd);
	switch (errno) {
	case ENOENT:
		ctl_fail("no such socket (is cutover running? is this its "
		    "admin_socket?)");
	case ECONNREFUSED:
		ctl_fail("connection refused (cutover is not running)");
	case EACCES:
	case EPERM:
		ctl_fail("permission denied (run as the proxy's user or "
		    "root)");
	case ENOTSOCK:
		ctl_fail("not a socket");
	default:
		ctl_fail("%s", strerror(errno));
	}
}

/* Joins the arguments into one command line ending in a newline. */
static char *
ctl_command(int argc, char **argv, int json)
{
	size_t	len = 1;
	char	*cmd;
	int	i;

	for (i = 0; i < argc; i++) {
		if (argv[i][0] == '\0' || strpbrk(argv[i], "\r\n") != NULL) {
			fprintf(stderr, "cutoverctl: argument %d: empty or "
			    "with a line break\n", i + 1);
			exit(CTL_FAIL);
		}
		len += strlen(argv[i]) + 1;
	}
	len += json ? 5 : 0;
	if (len > CTL_MAXLINE) {
		fprintf(stderr, "cutoverctl: command longer than %d bytes\n",
		    CTL_MAXLINE);
		exit(CTL_FAIL);
	}
	if ((cmd = malloc(len + 1)) == NULL) {
		fprintf(stderr, "cutoverctl: out of memory\n");
		exit(CTL_FAIL);
	}
	cmd[0] = '\0';
	for (i = 0; i < argc; i++) {
		if (i > 0)
			strcat(cmd, " ");
		strcat(cmd, argv[i]);
	}
	if (json)
		strcat(cmd, " json");
	strcat(cmd, "\n");
	return (cmd);
}

/* Writes the whole command. */
static void
ctl_send(int fd, const char *cmd)
{
	size_t	len = strlen(cmd);
	ssize_t	n;

	while (len > 0) {
		if ((n = send(fd, cmd, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			ctl_fail("write: %s", strerror(errno));
		}
		cmd += n;
		len -= (size_t)n;
	}
}

/*
 * Reads the answer up to its empty line; returns it without that line,
 * NUL-terminated, and sets *complete when the empty line came.
 */
static char *
ctl_answer(int fd, size_t *lenp, int *complete)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		*buf = NULL, *nbuf;
	size_t		 len = 0, size = 0;
	ssize_t		 n;
	int		 rc;

	*complete = 0;
	for (;;) {
		if (len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n') {
			*complete = 1;
			len--;
			break;
		}
		if (len == 1 && buf[0] == '\n') {
			*complete = 1;
			len = 0;
			break;
		}
		if ((rc = poll(&pfd, 1, CTL_TIMEOUT * 1000)) == -1) {
			if (errno == EINTR)
				continue;
			ctl_fail("poll: %s", strerror(errno));
		}
		if (rc == 0)
			ctl_fail("no answer within %d s", CTL_TIMEOUT);
		if (size - len < 4096) {
			size = size * 2 + 8192;
			if ((nbuf = realloc(buf, size)) == NULL)
				ctl_fail("out of memory");
			buf = nbuf;
		}
		if ((n = read(fd, buf + len, size - len - 1)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				break;
			ctl_fail("read: %s", strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL)
		ctl_fail("out of memory");
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

int
main(int argc, char **argv)
{
	char	*cmd, *answer;
	size_t	 len;
	int	 ch, fd, i, j, json = 0, follow = 0, complete;

	/* --json and --follow may stand anywhere: take them out first. */
	for (i = j = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--follow") == 0)
			follow = 1;
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	argc = j;

	while ((ch = getopt(argc, argv, "+s:")) != -1) {
		switch (ch) {
		case 's':
			ctl_path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	if (follow) {
		if (argc >= 2 && strcmp(argv[0], "rollout") == 0 &&
		    strcmp(argv[1], "status") == 0) {
			fprintf(stderr, "cutoverctl: rollout status --follow: "
			    "not available yet\n");
			return (CTL_FAIL);
		}
		fprintf(stderr, "cutoverctl: --follow goes with rollout "
		    "status ROUTE\n");
		return (CTL_FAIL);
	}

	cmd = ctl_command(argc, argv, json);
	fd = ctl_connect();
	ctl_send(fd, cmd);
	free(cmd);
	answer = ctl_answer(fd, &len, &complete);
	close(fd);

	if (len == 0 && !complete)
		ctl_fail("the proxy closed the connection without answering");
	if (strcmp(answer, "error: permission denied\n") == 0)
		ctl_fail("permission denied (the proxy takes only its own "
		    "user and root)");
	if (strcmp(answer, "error: too many admin clients\n") == 0)
		ctl_fail("too many admin clients at once; try again");
	if (strncmp(answer, "error: ", 7) == 0) {
		fwrite(answer, 1, len, stderr);
		free(answer);
		return (CTL_ERROR);
	}
	fwrite(answer, 1, len, stdout);
	free(answer);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "cutoverctl: stdout: %s\n", strerror(errno));
		return (CTL_FAIL);
	}
	if (!complete)
		ctl_fail("the answer was cut short");
	return (CTL_OK);
}
