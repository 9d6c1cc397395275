/*
 * What the libFuzzer harnesses in t/fuzz share: the entry point they
 * define, and a check that aborts with the failed condition, so that an
 * invariant broken by an input is a crash libFuzzer saves and minimises,
 * and a failure of t/fuzz_replay.t.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* Runs one input; libFuzzer's and t/fuzz/replay.c's entry point. */
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#endif
