/*
 * cutoverctl: sends one admin command to the proxy's unix socket, prints
 * the answer and exits 0 on success, 1 when the proxy answered an error,
 * 2 when it could not talk to the proxy (no socket, permission denied,
 * proxy not running, no answer).  The arguments are joined with spaces
 * into one command line; --json, wherever it is, becomes a final "json"
 * argument, which the show commands take for machine-readable output.
 * An answer is printed without the empty line that ends it: to stdout,
 * or to stderr when it is an error.
 *
 * `rollout status ROUTE --follow` asks `rollout status ROUTE json` every
 * 500 ms on one connection and draws a progress line from the answer:
 * redrawn in place on a terminal, one line per change otherwise.  It
 * exits 0 once the rollout is promoted and 1 once it is rolled back.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

#include <time.h>

#define CTL_MAXLINE	4096	/* the proxy's limit for a command line */
#define CTL_TIMEOUT	60	/* seconds to wait for the whole answer */
#define CTL_POLL_MS	500	/* --follow: between two questions */
#define CTL_BAR		20	/* --follow: the bar's width */

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
	struct stat		st;
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
		/* Linux refuses a connect to a path that is no socket too. */
		if (stat(ctl_path, &st) == 0 && !S_ISSOCK(st.st_mode))
			ctl_fail("not a socket");
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
			/*
			 * The proxy may have answered and closed before
			 * reading (too many admin clients): read the answer.
			 */
			if (errno == EPIPE || errno == ECONNRESET)
				return;
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

/* Finds "key": in json from where on; the value's start, or NULL. */
static const char *
ctl_json_find(const char *json, const char *key)
{
	char		 pat[64];
	const char	*p;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	if ((p = strstr(json, pat)) == NULL)
		return (NULL);
	return (p + strlen(pat));
}

/* Returns the number at "key", or def. */
static double
ctl_json_num(const char *json, const char *key, double def)
{
	const char	*p;
	char		*end;
	double		 v;

	if ((p = ctl_json_find(json, key)) == NULL)
		return (def);
	v = strtod(p, &end);
	return (end == p ? def : v);
}

/* Copies the string at "key" into buf, unescaped ("" when absent). */
static void
ctl_json_str(const char *json, const char *key, char *buf, size_t size)
{
	const char	*p;
	size_t		 n = 0;

	buf[0] = '\0';
	if ((p = ctl_json_find(json, key)) == NULL || *p != '"')
		return;
	for (p++; *p != '\0' && *p != '"' && n + 1 < size; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			if (*p == 'u' && strlen(p) >= 5) {
				p += 4;
				buf[n++] = '?';
				continue;
			}
		}
		buf[n++] = *p;
	}
	buf[n] = '\0';
}

/* Returns the terminal's width, 80 when unknown. */
static int
ctl_columns(void)
{
	struct winsize	ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return (ws.ws_col);
	return (80);
}

/* Formats the progress line of a rollout status answer. */
static void
ctl_follow_line(const char *json, char *line, size_t size)
{
	const char	*win;
	char		 route[64], state[32], decision[512], bar[CTL_BAR + 1];
	char		 next[32];
	double		 weight, next_in;
	int		 i, fill;

	ctl_json_str(json, "route", route, sizeof route);
	ctl_json_str(json, "state", state, sizeof state);
	ctl_json_str(json, "last_decision", decision, sizeof decision);
	weight = ctl_json_num(json, "weight", 0);
	next_in = ctl_json_num(json, "next_step_in", -1);
	fill = (int)(weight * CTL_BAR / 100 + 0.5);
	for (i = 0; i < CTL_BAR; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[CTL_BAR] = '\0';
	if ((win = ctl_json_find(json, "window")) == NULL)
		win = "";
	if (next_in >= 0)
		snprintf(next, sizeof next, "next step in %.1fs", next_in);
	else if (ctl_json_num(json, "awaiting_confirm", 0) != 0 ||
	    strstr(json, "\"awaiting_confirm\":true") != NULL)
		snprintf(next, sizeof next, "awaiting confirm");
	else
		snprintf(next, sizeof next, "%s", state);
	snprintf(line, size, "%s: %s step %.0f/%.0f canary %.0f%% [%s] "
	    "%.0f req, err %.1f%%, p95 %.0fms, %s | %s", route, state,
	    ctl_json_num(json, "step", 0), ctl_json_num(json, "steps", 0),
	    weight, bar, ctl_json_num(win, "requests", 0),
	    ctl_json_num(win, "error_rate", 0) * 100,
	    ctl_json_num(win, "p95", 0) * 1000, next, decision);
}

/*
 * rollout status ROUTE --follow: asks every CTL_POLL_MS and draws the
 * progress until the rollout ends; 0 on promotion, 1 on rollback.
 */
static int
ctl_follow(const char *route)
{
	struct timespec	 ts = { 0, CTL_POLL_MS * 1000000L };
	char		*cmd, *answer, line[1024], state[32], key[640];
	char		 last[640] = "";
	size_t		 len;
	int		 fd, complete, tty = isatty(STDOUT_FILENO), width;

	if (strlen(route) > 256 || strpbrk(route, " \t\r\n") != NULL) {
		fprintf(stderr, "cutoverctl: bad route name\n");
		return (CTL_FAIL);
	}
	cmd = malloc(strlen(route) + 32);
	if (cmd == NULL)
		ctl_fail("out of memory");
	sprintf(cmd, "rollout status %s json\n", route);
	fd = ctl_connect();
	for (;;) {
		ctl_send(fd, cmd);
		answer = ctl_answer(fd, &len, &complete);
		if (!complete)
			ctl_fail("the proxy closed the connection");
		if (strncmp(answer, "error: ", 7) == 0) {
			if (tty && last[0] != '\0')
				printf("\n");
			fwrite(answer, 1, len, stderr);
			free(answer);
			free(cmd);
			return (CTL_ERROR);
		}
		ctl_follow_line(answer, line, sizeof line);
		ctl_json_str(answer, "state", state, sizeof state);
		free(answer);
		if (tty) {
			width = ctl_columns() - 1;
			printf("\r\033[K%.*s", width, line);
		} else {
			/* A new line when the state, step or decision moved. */
			snprintf(key, sizeof key, "%s|%s", state,
			    strchr(line, '|') != NULL ? strchr(line, '|') :
			    "");
			if (strcmp(key, last) != 0)
				printf("%s\n", line);
		}
		fflush(stdout);
		snprintf(last, sizeof last, "%s|%s", state,
		    strchr(line, '|') != NULL ? strchr(line, '|') : "");
		if (strcmp(state, "promoted") == 0 ||
		    strcmp(state, "rolled_back") == 0 ||
		    strcmp(state, "idle") == 0)
			break;
		nanosleep(&ts, NULL);
	}
	if (tty)
		printf("\n");
	close(fd);
	free(cmd);
	if (strcmp(state, "idle") == 0)
		fprintf(stderr, "cutoverctl: rollout %s is not started\n",
		    route);
	return (strcmp(state, "promoted") == 0 ? CTL_OK : CTL_ERROR);
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
		if (argc == 3 && strcmp(argv[0], "rollout") == 0 &&
		    strcmp(argv[1], "status") == 0)
			return (ctl_follow(argv[2]));
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
