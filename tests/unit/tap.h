/* tap.h -- a minimal TAP producer for the unit tests (one executable per module, run by meson) */
#ifndef SK_TAP_H
#define SK_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

/* Record one assertion: prints "ok N - what" or "not ok N - what" with the place it failed. */
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline void tap_ok(int pass, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static inline void tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
}

/* Equality of two integers, printing both when they differ. */
#define is_int(got, want, ...) do { long long g_ = (long long)(got), w_ = (long long)(want); \
	ok(g_ == w_, __VA_ARGS__); if (g_ != w_) printf("#   got %lld, want %lld\n", g_, w_); } while (0)

/* Print the plan and return the exit status: call as `return tap_done();` at the end of main. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
