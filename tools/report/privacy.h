/* privacy.h -- how victim addresses appear in exported files: as they are, truncated, or keyed-hashed */
#ifndef RP_PRIVACY_H
#define RP_PRIVACY_H

#include <stddef.h>
#include <stdint.h>

typedef enum { RP_PRIV_NONE, RP_PRIV_TRUNCATE, RP_PRIV_HASH } rp_priv_mode_t;

typedef struct rp_privacy {
	rp_priv_mode_t mode;
	uint8_t key[256];      /* RP_PRIV_HASH: the key file's bytes */
	size_t keylen;
} rp_privacy_t;

/* Read a key file for RP_PRIV_HASH: its bytes (at least 16, at most 256; a trailing newline is
 * dropped). Returns 0 or -1 with a message on stderr. */
int rp_privacy_load_key(rp_privacy_t *p, const char *path);

/*
 * The exported form of an address ("192.0.2.7", "2001:db8::1") or subnet ("89.160.20.112/28"):
 *   none      unchanged
 *   truncate  the network: IPv4 to /24, IPv6 to /48 ("192.0.2.0/24", "2001:db8::/48"); a subnet
 *             already shorter keeps its length, its host bits cleared
 *   hash      "h:" and the first 32 hex digits (128 bits) of HMAC-SHA-256(key, text): the same
 *             text and key give the same value in every report, so files can still be joined
 * Text that is no address is hashed in hash mode and kept otherwise. Writes at most cap bytes.
 */
void rp_privacy_map(const rp_privacy_t *p, const char *text, char *out, size_t cap);

const char *rp_privacy_name(rp_priv_mode_t mode);

#endif
