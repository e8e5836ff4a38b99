/* name.h -- domain names in uncompressed wire format: length-prefixed labels ending in the root */
#ifndef SK_NAME_H
#define SK_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/wire.h"

/*
 * Names here are always uncompressed and valid unless a function says it validates:
 * labels of 1..63 bytes, total <= 255 bytes including the final zero byte.
 * Inside the server every stored name is lowercased (ASCII only, RFC 4343), so equality is memcmp.
 */

/* Wire length of a valid uncompressed name, the final zero byte included. */
size_t sk_name_len(const uint8_t *name);

/* Number of labels, root not counted ("www.example." has 2). */
unsigned sk_name_labels(const uint8_t *name);

/*
 * Byte offsets of each label of a valid name, first label first: off[0] == 0, off[k] is where the
 * k-th suffix starts; off[count] is the offset of the root byte. `off` must hold SK_LABELS_MAX
 * entries. Returns the label count.
 */
unsigned sk_name_label_offsets(const uint8_t *name, uint8_t *off);

/* ASCII-lowercase `len` bytes of wire name (length bytes are < 64 and are never changed). */
void sk_name_lower(uint8_t *dst, const uint8_t *src, size_t len);

/* Case-insensitive equality of two valid names. */
bool sk_name_equal_nocase(const uint8_t *a, const uint8_t *b);

/* True when `name` is `parent` or below it. Both lowercased. */
bool sk_name_is_below(const uint8_t *name, const uint8_t *parent);

/*
 * Parse presentation format ("www.Example.org", "\\046" and "\\." escapes, a trailing dot optional:
 * every name is taken as absolute) into `out`, lowercased when `lower`. Returns the wire length,
 * or -EINVAL for an invalid name, SK_ETOOBIG when it exceeds 255 bytes or `cap`.
 */
int sk_name_from_text(const char *text, uint8_t *out, size_t cap, bool lower);

/*
 * Write a valid name as presentation text with a trailing dot ("." for the root), escaping
 * '.', '\\', '"' , ';', '(' , ')' , '@', '$' and bytes outside 0x21..0x7e as RFC 1035 does.
 * Returns the text length, or SK_ETOOBIG if `cap` (including the NUL) is too small.
 */
int sk_name_to_text(const uint8_t *name, char *out, size_t cap);

/* Room that always suffices for sk_name_to_text(): a 255-byte name, every byte as \DDD, the dots
 * and the NUL. */
#define SK_NAME_TEXT_MAX 1024

#endif
