/*
 * Replays a harness of t/fuzz without libFuzzer: each argument is a file
 * or a directory of files (seeds, or reproducers of fixed crashes), and
 * each file is passed once to LLVMFuzzerTestOneInput(), in name order so
 * that a failure is found again at the same place.  A broken invariant
 * aborts; otherwise the count of inputs is printed, for t/fuzz_replay.t.
 * Each input gets a buffer of its exact size, as under libFuzzer, so that
 * a read past its end is one a sanitizer build sees.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int	replay_file(const char *);
static int	replay_dir(const char *);

/* Passes the contents of path to the harness; -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	FILE		*fp;
	struct stat	 st;
	uint8_t		*data = NULL;
	size_t		 len;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &st) == -1)
		goto fail;
	len = (size_t)st.st_size;
	/* malloc(0) may give NULL: ask for a byte, pass none. */
	if ((data = malloc(len > 0 ? len : 1)) == NULL ||
	    fread(data, 1, len, fp) != len)
		goto fail;
	fclose(fp);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return (0);
fail:
	fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
	if (fp != NULL)
		fclose(fp);
	free(data);
	return (-1);
}

/* Compares directory entries by name, for scandir(). */
static int
replay_cmp(const struct dirent **a, const struct dirent **b)
{
	return (strcmp((*a)->d_name, (*b)->d_name));
}

/* Skips dot files: every other file is an input. */
static int
replay_filter(const struct dirent *d)
{
	return (d->d_name[0] != '.');
}

/* Replays every file of a directory; returns the count, -1 on error. */
static int
replay_dir(const char *dir)
{
	struct dirent	**names;
	char		 *path;
	int		  i, n, count = 0, failed = 0;

	if ((n = scandir(dir, &names, replay_filter, replay_cmp)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (asprintf(&path, "%s/%s", dir, names[i]->d_name) == -1) {
			perror("asprintf");
			exit(2);
		}
		if (replay_file(path) == 0)
			count++;
		else
			failed = 1;
		free(path);
		free(names[i]);
	}
	free(names);
	return (failed ? -1 : count);
}

int
main(int argc, char **argv)
{
	struct stat	st;
	int		i, n, total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR ...\n", argv[0]);
		return (2);
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return (1);
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) :
		    replay_file(argv[i]) == 0 ? 1 : -1;
		if (n == -1)
			return (1);
		total += n;
	}
	printf("replayed %d inputs\n", total);
	return (0);
}
