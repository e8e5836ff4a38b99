/* name.c -- uncompressed wire-format domain names: lengths, labels, case, text */
#include <errno.h>

#include "dns/name.h"
#include "util/err.h"

size_t sk_name_len(const uint8_t *name)
{
	const uint8_t *p = name;
	while (*p)
		p += *p + 1;
	return (size_t)(p - name) + 1;
}

unsigned sk_name_labels(const uint8_t *name)
{
	unsigned n = 0;
	for (const uint8_t *p = name; *p; p += *p + 1)
		n++;
	return n;
}

unsigned sk_name_label_offsets(const uint8_t *name, uint8_t *off)
{
	unsigned n = 0;
	size_t pos = 0;
	while (name[pos]) {
		off[n++] = (uint8_t)pos;
		pos += name[pos] + 1u;
	}
	off[n] = (uint8_t)pos;
	return n;
}

/* ASCII only (RFC 4343): bytes >= 0x80 keep their value. */
static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

void sk_name_lower(uint8_t *dst, const uint8_t *src, size_t len)
{
	/* Length bytes are at most 63, below 'A', so the whole name can be mapped byte by byte. */
	for (size_t i = 0; i < len; i++)
		dst[i] = lower(src[i]);
}

bool sk_name_equal_nocase(const uint8_t *a, const uint8_t *b)
{
	size_t la = sk_name_len(a);
	if (la != sk_name_len(b))
		return false;
	for (size_t i = 0; i < la; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

bool sk_name_is_below(const uint8_t *name, const uint8_t *parent)
{
	size_t ln = sk_name_len(name), lp = sk_name_len(parent);
	if (lp > ln)
		return false;
	/* Only a label boundary of `name` can start a match, so walk labels rather than bytes. */
	for (size_t pos = 0; ln - pos >= lp; pos += name[pos] + 1u) {
		if (ln - pos == lp)
			return memcmp(name + pos, parent, lp) == 0;
		if (!name[pos])
			break;
	}
	return false;
}

int sk_name_from_text(const char *text, uint8_t *out, size_t cap, bool lower_case)
{
	size_t len = 0;        /* bytes written to out */
	size_t label = 0;      /* where the current label's length byte sits */
	const char *p = text;

	if (cap < 1)
		return SK_ETOOBIG;
	if (p[0] == '.' && p[1] == '\0') {
		out[0] = 0;
		return 1;
	}
	out[len++] = 0;
	while (*p) {
		uint8_t c;
		if (*p == '.') {
			if (len == label + 1)
				return -EINVAL;           /* empty label: "a..b" or a leading dot */
			label = len;
			if (len >= cap)
				return SK_ETOOBIG;
			out[len++] = 0;
			p++;
			continue;
		}
		if (*p == '\\') {
			p++;
			if (p[0] >= '0' && p[0] <= '9') {
				if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
					return -EINVAL;
				int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
				if (v > 255)
					return -EINVAL;
				c = (uint8_t)v;
				p += 3;
			} else if (*p) {
				c = (uint8_t)*p++;
			} else {
				return -EINVAL;
			}
		} else {
			c = (uint8_t)*p++;
		}
		if (len - label > SK_LABEL_MAX)
			return -EINVAL;
		if (len >= cap)
			return SK_ETOOBIG;
		out[len++] = lower_case ? lower(c) : c;
		out[label]++;
	}
	/* A trailing dot already opened an empty label that now serves as the root; otherwise add it. */
	if (len != label + 1) {
		if (len >= cap)
			return SK_ETOOBIG;
		out[len++] = 0;
	}
	return len > SK_NAME_MAX ? SK_ETOOBIG : (int)len;
}

/* How each byte is written in presentation form: 0 as it is, 1 after a backslash, 2 as \DDD. */
static const uint8_t text_class[256] = {
	[0x00 ... 0x20] = 2, [0x7f ... 0xff] = 2,
	['.'] = 1, ['\\'] = 1, ['"'] = 1, [';'] = 1, ['('] = 1, [')'] = 1, ['@'] = 1, ['$'] = 1,
};

int sk_name_to_text(const uint8_t *name, char *out, size_t cap)
{
	size_t n = 0;
	if (!*name) {
		if (cap < 2)
			return SK_ETOOBIG;
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	for (const uint8_t *p = name; *p; p += *p + 1) {
		unsigned len = *p;
		/* Room for the label at its worst (every byte \DDD), its dot and the final NUL: then no
		 * byte needs a check of its own. Only a name near `cap` takes the checked path. */
		bool roomy = n + 4 * (size_t)len + 2 <= cap;
		for (unsigned i = 1; i <= len; i++) {
			uint8_t c = p[i];
			unsigned cls = text_class[c];
			if (!roomy && n + (cls == 0 ? 1 : cls == 1 ? 2 : 4) + 2 > cap)
				return SK_ETOOBIG;
			if (cls == 0) {
				out[n++] = (char)c;
			} else if (cls == 1) {
				out[n++] = '\\';
				out[n++] = (char)c;
			} else {
				out[n++] = '\\';
				out[n++] = (char)('0' + c / 100);
				out[n++] = (char)('0' + c / 10 % 10);
				out[n++] = (char)('0' + c % 10);
			}
		}
		out[n++] = '.';
	}
	out[n] = '\0';
	return (int)n;
}
