/* json.h -- JSON string escaping that always yields valid UTF-8, shared by tag sets and sinks */
#ifndef SK_JSON_H
#define SK_JSON_H

#include <stddef.h>

/*
 * Write `len` bytes of `s` as the inside of a JSON string (no quotes) into `out`: '"' and '\\'
 * escaped, control bytes as \uXXXX (\n, \t ... in their short forms), valid UTF-8 copied as it
 * is, and every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD, so the
 * result is valid UTF-8 whatever the input. Returns the length written, or (size_t)-1 when
 * `cap` is too small; a NUL is written after the text when room remains. Never allocates.
 * At most 6 output bytes per input byte are ever needed.
 */
size_t sk_json_escape(char *out, size_t cap, const char *s, size_t len);

#define SK_JSON_ESCAPE_MAX(len) ((len) * 6)

#endif
