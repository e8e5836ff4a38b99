/* strbuf.h -- a growable text buffer for replies built off the hot path (control socket, /metrics) */
#ifndef SK_STRBUF_H
#define SK_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Text appended piece by piece, always NUL-terminated. Growth failures are remembered rather than
 * returned at every call: after one, appends do nothing and `nomem` stays set, so a caller checks
 * once at the end. Zero-initialised is an empty buffer; sk_strbuf_free releases it.
 */
typedef struct sk_strbuf {
	char *s;
	size_t len, cap;
	bool nomem;
} sk_strbuf_t;

void sk_strbuf_printf(sk_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sk_strbuf_append(sk_strbuf_t *b, const char *s, size_t len);
void sk_strbuf_puts(sk_strbuf_t *b, const char *s);
void sk_strbuf_free(sk_strbuf_t *b);

#endif
