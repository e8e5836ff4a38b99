/* log.c -- stderr logging and file:line diagnostics */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static sk_log_level_t max_level = SK_LOG_INFO;
static atomic_ulong diag_errors;

static const char *const level_name[] = { "error", "warning", "info", "debug" };

void sk_log_set_level(sk_log_level_t level)
{
	max_level = level;
}

void sk_log(sk_log_level_t level, const char *fmt, ...)
{
	if (level > max_level)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio's own lock keeps lines from different threads whole. */
	fprintf(stderr, "%s.%03ldZ sinkholed[%d]: %s: %s\n", when, ts.tv_nsec / 1000000,
		(int)getpid(), level_name[level], msg);
}

void sk_diag(int warning, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!warning)
		atomic_fetch_add(&diag_errors, 1);
	if (line)
		fprintf(stderr, "%s:%u: %s%s\n", file, line, warning ? "warning: " : "", msg);
	else
		fprintf(stderr, "%s: %s%s\n", file, warning ? "warning: " : "", msg);
}

unsigned long sk_diag_errors(void)
{
	return atomic_load(&diag_errors);
}
