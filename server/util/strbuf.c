/* strbuf.c -- a growable text buffer */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

/* Room for `more` bytes and the NUL; false (and nomem set) when it cannot be had. */
static bool reserve(sk_strbuf_t *b, size_t more)
{
	if (b->nomem)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->nomem = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void sk_strbuf_append(sk_strbuf_t *b, const char *s, size_t len)
{
	if (!reserve(b, len))
		return;
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}

void sk_strbuf_puts(sk_strbuf_t *b, const char *s)
{
	sk_strbuf_append(b, s, strlen(s));
}

void sk_strbuf_printf(sk_strbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sk_strbuf_free(sk_strbuf_t *b)
{
	free(b->s);
	*b = (sk_strbuf_t){ 0 };
}
