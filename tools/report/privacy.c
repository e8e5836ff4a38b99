/* privacy.c -- truncation to /24 and /48, or HMAC-SHA-256 pseudonyms, for exported addresses */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "privacy.h"

const char *rp_privacy_name(rp_priv_mode_t mode)
{
	switch (mode) {
	case RP_PRIV_TRUNCATE: return "truncate";
	case RP_PRIV_HASH: return "hash";
	default: return "none";
	}
}

int rp_privacy_load_key(rp_privacy_t *p, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "sinkhole-report: --hash-key %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = fread(p->key, 1, sizeof p->key, f);
	int more = fgetc(f) != EOF;
	fclose(f);
	while (n && (p->key[n - 1] == '\n' || p->key[n - 1] == '\r'))
		n--;
	if (more || n < 16) {
		fprintf(stderr, "sinkhole-report: --hash-key %s: expected 16 to 256 bytes of secret (for "
			"example `head -c 32 /dev/urandom | base64 > %s`)\n", path, path);
		return -1;
	}
	p->keylen = n;
	return 0;
}

static bool truncate_addr(const char *text, char *out, size_t cap)
{
	char addr[64];
	unsigned char b[16];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	if (n >= sizeof addr)
		return false;
	memcpy(addr, text, n);
	addr[n] = '\0';
	bool v4 = inet_pton(AF_INET, addr, b) == 1;
	if (!v4 && inet_pton(AF_INET6, addr, b) != 1)
		return false;
	unsigned want = v4 ? 24 : 48, plen = slash ? (unsigned)atoi(slash + 1) : want;
	unsigned bits = plen < want ? plen : want, total = v4 ? 4 : 16;
	for (unsigned i = 0; i < total; i++) {
		unsigned keep = bits > 8 * i ? (bits - 8 * i >= 8 ? 8 : bits - 8 * i) : 0;
		b[i] &= (unsigned char)(0xFF00 >> keep);
	}
	char a[INET6_ADDRSTRLEN];
	inet_ntop(v4 ? AF_INET : AF_INET6, b, a, sizeof a);
	snprintf(out, cap, "%s/%u", a, bits);
	return true;
}

void rp_privacy_map(const rp_privacy_t *p, const char *text, char *out, size_t cap)
{
	if (p->mode == RP_PRIV_TRUNCATE && truncate_addr(text, out, cap))
		return;
	if (p->mode == RP_PRIV_HASH) {
		uint8_t mac[SK_HMAC_LEN];
		char hex[2 * SK_HMAC_LEN + 1];
		sk_hmac_sha256(mac, text, strlen(text), p->key, p->keylen);
		for (int i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		snprintf(out, cap, "h:%s", hex);
		return;
	}
	snprintf(out, cap, "%s", text);
}
