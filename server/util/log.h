/* log.h -- one line per event on stderr; diagnostics about input files as "file:line: message" */
#ifndef SK_LOG_H
#define SK_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { SK_LOG_ERR = 0, SK_LOG_WARN, SK_LOG_INFO, SK_LOG_DEBUG } sk_log_level_t;

/* Messages above this level are not printed. Default SK_LOG_INFO. Set once at start-up. */
void sk_log_set_level(sk_log_level_t level);

/* Print "<time> sinkholed[pid]: <level>: <message>" to stderr. Thread-safe; never blocks on a lock
 * held across I/O of another thread for longer than one line. */
void sk_log(sk_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sk_err(...) sk_log(SK_LOG_ERR, __VA_ARGS__)
#define sk_warn(...) sk_log(SK_LOG_WARN, __VA_ARGS__)
#define sk_info(...) sk_log(SK_LOG_INFO, __VA_ARGS__)
#define sk_debug(...) sk_log(SK_LOG_DEBUG, __VA_ARGS__)

/*
 * Report a problem in an input file: "file:line: message" on stderr (line 0 omits the line).
 * `warning` selects "warning: " before the message; errors are counted so that a loader can
 * report "N errors" at the end. Thread-safe.
 */
void sk_diag(int warning, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * A copy of what one thread reports, for whoever asked for the work it does (the control
 * socket's `reload` prints the file:line messages of the reload it asked for). While a capture
 * is set on a thread, each sk_diag() line and each sk_log() line at warning or error level that
 * the thread prints is also appended to buf (NUL-terminated, one line each: "file:line: message",
 * "error: message", "warning: message"); what does not fit sets `truncated`. The caller owns buf.
 */
typedef struct sk_log_capture {
	char *buf;
	size_t cap, len;
	bool truncated;
} sk_log_capture_t;

/* Start capturing the calling thread's lines into c (NULL: stop). */
void sk_log_capture(sk_log_capture_t *c);

/* Number of error diagnostics (not warnings) printed since start. */
unsigned long sk_diag_errors(void);

#endif
