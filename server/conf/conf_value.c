/* conf_value.c -- the text of single config values: numbers, address@port, domain names, paths */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf_internal.h"

#define DEFAULT_PORT 53

/* No leading zero because YAML 1.1 reads 010 as octal 8: we would rather refuse than guess.
 * Checking against max at every digit also rules out overflow. */
bool sk_conf_parse_number(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return false;
	}
	if (v < min)
		return false;
	*out = (unsigned)v;
	return true;
}

/* An IPv6 address never contains '@', so the last '@' splits address from port without
 * needing the brackets. Brackets are for IPv6 only, as in URLs. */
bool sk_conf_parse_listen(const char *text, sk_listen_t *l, bool *bad_port)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *at = strrchr(text, '@');
	size_t hlen = at ? (size_t)(at - text) : strlen(text);
	unsigned port = DEFAULT_PORT;
	bool bracket = false;

	*bad_port = false;
	if (at && !sk_conf_parse_number(at + 1, 1, 65535, &port)) {
		*bad_port = true;
		return false;
	}
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
		bracket = true;
		text++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof host)
		return false;
	memcpy(host, text, hlen);
	host[hlen] = '\0';

	memset(&l->addr, 0, sizeof l->addr);
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;
	if (!bracket && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		l->addrlen = sizeof *sin;
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		l->addrlen = sizeof *sin6;
	} else {
		return false;
	}
	return true;
}

bool sk_conf_same_listen(const sk_listen_t *a, const sk_listen_t *b)
{
	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)&b->addr;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)&b->addr;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
}

/* `wire` counts what the name would take on the wire: a length byte per label, the final zero. */
bool sk_conf_valid_domain(const char *s)
{
	size_t wire = 1, label = 0;
	if (!strcmp(s, "."))
		return true;
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '.') {
			if (label == 0)
				return false;
			wire += label + 1;
			label = 0;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (c == '\\') {
			if (isdigit((unsigned char)s[1])) {
				if (!isdigit((unsigned char)s[2]) || !isdigit((unsigned char)s[3]) ||
				    (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') > 255)
					return false;
				s += 3;
			} else if (s[1] > 0x20 && s[1] < 0x7f) {
				s++;
			} else {
				return false;
			}
		}
		if (++label > 63)
			return false;
	}
	if (label)
		wire += label + 1;
	return wire <= 255;
}

/*
 * Lexical only: symbolic links are not followed, because the files need not exist yet (telemetry)
 * and because what matters is the text the chroot prefix is compared with.
 */
char *sk_conf_path_normalize(const char *path)
{
	char cwd[PATH_MAX] = "";
	if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
		cwd[0] = '\0';
	size_t cap = strlen(cwd) + strlen(path) + 3;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t n = 0;
	/* Components are appended one at a time; ".." removes the last one. */
	for (int part = path[0] == '/' ? 1 : 0; part < 2; part++) {
		const char *p = part ? path : cwd;
		while (*p) {
			while (*p == '/')
				p++;
			const char *end = strchrnul(p, '/');
			size_t len = (size_t)(end - p);
			if (len == 0 || (len == 1 && p[0] == '.')) {
				/* nothing */
			} else if (len == 2 && p[0] == '.' && p[1] == '.') {
				while (n && out[n - 1] != '/')
					n--;
				if (n)
					n--;
			} else {
				out[n++] = '/';
				memcpy(out + n, p, len);
				n += len;
			}
			p = end;
		}
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

const char *sk_conf_path_under(const char *root, const char *path)
{
	size_t len = strlen(root);
	if (!strcmp(root, "/"))
		return path;
	if (strncmp(root, path, len))
		return NULL;
	if (path[len] == '\0')
		return "/";
	return path[len] == '/' ? path + len : NULL;
}

/* The length after '/' is digits only, as every number here; without it the prefix is one host.
 * Brackets are not taken: a prefix is not an address@port. */
bool sk_conf_parse_prefix(const char *text, sk_prefix_t *p, bool *host_bits)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);

	*host_bits = false;
	if (hlen == 0 || hlen >= sizeof host)
		return false;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	memset(p, 0, sizeof *p);
	unsigned max;
	if (inet_pton(AF_INET, host, p->addr) == 1) {
		p->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, p->addr) == 1) {
		p->family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	p->len = max;
	if (slash && !sk_conf_parse_number(slash + 1, 0, max, &p->len))
		return false;
	for (unsigned bit = p->len; bit < max; bit++) {
		if (p->addr[bit / 8] & (0x80u >> (bit % 8))) {
			*host_bits = true;
			return false;
		}
	}
	return true;
}

size_t sk_conf_host_wire(const char *s, uint8_t out[255])
{
	size_t n = strlen(s), lab = 0, len = 0;
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n + 2 > 255)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (len == 0)
				return 0;
			out[lab] = (uint8_t)len;
			lab += len + 1;
			len = 0;
			continue;
		}
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (++len > 63)
			return 0;
		out[lab + len] = (uint8_t)tolower(c);
	}
	out[lab] = 0;
	return lab + 1;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

long sk_conf_base64(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s), o = 0;
	if (n == 0 || n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_value(s[i + k])) < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		for (int k = 0; k < 3 - pad; k++) {
			if (o == cap)
				return -1;
			out[o++] = (uint8_t)(w >> (16 - 8 * k));
		}
	}
	return (long)o;
}
