/*
 * A tiny TAP producer for the C unit tests: ok(), is_int(), is_str(),
 * done_testing().  Output goes to stdout for prove.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) do {					\
	long long tap_g_ = (got), tap_w_ = (want);			\
	if (!ok(tap_g_ == tap_w_, __VA_ARGS__))				\
		printf("#   got %lld, expected %lld\n", tap_g_, tap_w_);	\
} while (0)
#define is_str(got, want, ...) do {					\
	const char *tap_g_ = (got), *tap_w_ = (want);			\
	if (!ok(tap_g_ != NULL && tap_w_ != NULL ?			\
	    strcmp(tap_g_, tap_w_) == 0 : tap_g_ == tap_w_, __VA_ARGS__))	\
		printf("#   got '%s', expected '%s'\n",			\
		    tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)");	\
} while (0)

__attribute__((format(printf, 4, 5), unused)) static int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	tap_n++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s line %d\n", file, line);
	}
	return (pass);
}

/* Prints the plan and returns the exit status for main(). */
__attribute__((unused)) static int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return (tap_failed != 0);
}

#endif
