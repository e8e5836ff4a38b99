/* json.c -- JSON string escaping that always yields valid UTF-8 */
#include <stdint.h>
#include <string.h>

#include "util/json.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Bytes copied as they are: printable ASCII but the quote and the backslash. */
static const uint8_t plain[256] = {
	[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1, /* not '"' (0x22), '\\' (0x5c) */
};

size_t sk_json_escape(char *out, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	for (size_t i = 0; i < len; ) {
		unsigned char c = p[i];
		char esc = 0;
		/* Most text (names, addresses, tags) is plain printable ASCII: copy it in one run. */
		if (plain[c]) {
			size_t k = i + 1;
			while (k < len && plain[p[k]])
				k++;
			if (cap - o < k - i)
				return (size_t)-1;
			memcpy(out + o, p + i, k - i);
			o += k - i;
			i = k;
			continue;
		}
		switch (c) {
		case '"': esc = '"'; break;
		case '\\': esc = '\\'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		case '\b': esc = 'b'; break;
		case '\f': esc = 'f'; break;
		}
		if (esc) {
			if (cap - o < 2)
				return (size_t)-1;
			out[o++] = '\\';
			out[o++] = esc;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			if (cap - o < 6)
				return (size_t)-1;
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
			i++;
		} else {
			size_t n = utf8_seq(p + i, len - i);
			if (n == 0) {
				/* U+FFFD REPLACEMENT CHARACTER for each byte that is not valid UTF-8. */
				if (cap - o < 3)
					return (size_t)-1;
				out[o++] = (char)0xef;
				out[o++] = (char)0xbf;
				out[o++] = (char)0xbd;
				i++;
				continue;
			}
			if (cap - o < n)
				return (size_t)-1;
			for (size_t k = 0; k < n; k++)
				out[o++] = (char)p[i++];
		}
	}
	if (o < cap)
		out[o] = '\0';
	return o;
}
