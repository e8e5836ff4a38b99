/* log.c -- stderr logging and file:line diagnostics */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static sk_log_level_t max_level = SK_LOG_INFO;
static atomic_ulong diag_errors;

static const char *const level_name[] = { "error", "warning", "info", "debug" };

static __thread sk_log_capture_t *capture;

void sk_log_capture(sk_log_capture_t *c)
{
	capture = c;
	if (c && c->cap) {
		c->len = 0;
		c->buf[0] = '\0';
		c->truncated = false;
	}
}

/* Append "<a><b>\n" to this thread's capture, whole or not at all. */
static void capture_line(const char *a, const char *b)
{
	sk_log_capture_t *c = capture;
	if (!c || !c->cap)
		return;
	size_t la = strlen(a), lb = strlen(b);
	if (c->len + la + lb + 2 > c->cap) {
		c->truncated = true;
		return;
	}
	memcpy(c->buf + c->len, a, la);
	memcpy(c->buf + c->len + la, b, lb);
	c->len += la + lb;
	c->buf[c->len++] = '\n';
	c->buf[c->len] = '\0';
}

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
	if (level <= SK_LOG_WARN)
		capture_line(level == SK_LOG_ERR ? "error: " : "warning: ", msg);
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
	char where[1100];
	if (line)
		snprintf(where, sizeof where, "%s:%u: %s", file, line, warning ? "warning: " : "");
	else
		snprintf(where, sizeof where, "%s: %s", file, warning ? "warning: " : "");
	fprintf(stderr, "%s%s\n", where, msg);
	capture_line(where, msg);
}

unsigned long sk_diag_errors(void)
{
	return atomic_load(&diag_errors);
}
