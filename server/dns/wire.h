/* wire.h -- DNS wire-format constants and accessors, each one line */
#ifndef SK_WIRE_H
#define SK_WIRE_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SK_HDR_LEN 12        /* fixed header */
#define SK_NAME_MAX 255      /* wire name, root label included */
#define SK_LABEL_MAX 63
#define SK_LABELS_MAX 128    /* a 255-byte name holds at most 127 labels plus the root */
#define SK_UDP_MIN 512       /* RFC 1035 limit without EDNS */
#define SK_MSG_MAX 65535     /* TCP frame */

/* Header flag bits, in the 16-bit flags word (bytes 2..3). */
#define SK_FLAG_QR 0x8000
#define SK_FLAG_AA 0x0400
#define SK_FLAG_TC 0x0200
#define SK_FLAG_RD 0x0100
#define SK_FLAG_RA 0x0080
#define SK_FLAG_AD 0x0020
#define SK_FLAG_CD 0x0010

enum sk_opcode { SK_OPCODE_QUERY = 0, SK_OPCODE_IQUERY = 1, SK_OPCODE_STATUS = 2,
	SK_OPCODE_NOTIFY = 4, SK_OPCODE_UPDATE = 5 };

enum sk_rcode { SK_RCODE_NOERROR = 0, SK_RCODE_FORMERR = 1, SK_RCODE_SERVFAIL = 2,
	SK_RCODE_NXDOMAIN = 3, SK_RCODE_NOTIMP = 4, SK_RCODE_REFUSED = 5, SK_RCODE_NOTAUTH = 9,
	SK_RCODE_BADVERS = 16, SK_RCODE_BADCOOKIE = 23 };

enum sk_class { SK_CLASS_IN = 1, SK_CLASS_CH = 3, SK_CLASS_NONE = 254, SK_CLASS_ANY = 255 };

enum sk_type { SK_TYPE_A = 1, SK_TYPE_NS = 2, SK_TYPE_MD = 3, SK_TYPE_MF = 4, SK_TYPE_CNAME = 5,
	SK_TYPE_SOA = 6, SK_TYPE_MB = 7, SK_TYPE_MG = 8, SK_TYPE_MR = 9, SK_TYPE_PTR = 12,
	SK_TYPE_MINFO = 14, SK_TYPE_MX = 15, SK_TYPE_TXT = 16, SK_TYPE_AAAA = 28, SK_TYPE_SRV = 33,
	SK_TYPE_DNAME = 39, SK_TYPE_OPT = 41, SK_TYPE_DS = 43, SK_TYPE_RRSIG = 46, SK_TYPE_TSIG = 250,
	SK_TYPE_IXFR = 251, SK_TYPE_AXFR = 252, SK_TYPE_MAILB = 253, SK_TYPE_MAILA = 254,
	SK_TYPE_ANY = 255 };

/* EDNS option codes */
enum sk_edns_opt { SK_EDNS_NSID = 3, SK_EDNS_ECS = 8, SK_EDNS_COOKIE = 10 };

static inline uint16_t sk_get16(const uint8_t *p) { assert(p); return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t sk_get32(const uint8_t *p) { assert(p); return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void sk_put16(uint8_t *p, uint16_t v) { assert(p); p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sk_put32(uint8_t *p, uint32_t v) { assert(p); p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* Header fields of a message of at least SK_HDR_LEN bytes. */
static inline uint16_t sk_hdr_id(const uint8_t *m) { return sk_get16(m); }
static inline uint16_t sk_hdr_flags(const uint8_t *m) { return sk_get16(m + 2); }
static inline uint8_t sk_hdr_opcode(const uint8_t *m) { assert(m); return (m[2] >> 3) & 0x0f; }
static inline uint8_t sk_hdr_rcode(const uint8_t *m) { assert(m); return m[3] & 0x0f; }
static inline uint16_t sk_hdr_qdcount(const uint8_t *m) { return sk_get16(m + 4); }
static inline uint16_t sk_hdr_ancount(const uint8_t *m) { return sk_get16(m + 6); }
static inline uint16_t sk_hdr_nscount(const uint8_t *m) { return sk_get16(m + 8); }
static inline uint16_t sk_hdr_arcount(const uint8_t *m) { return sk_get16(m + 10); }
static inline void sk_hdr_set_flags(uint8_t *m, uint16_t f) { sk_put16(m + 2, f); }
static inline void sk_hdr_set_rcode(uint8_t *m, uint8_t rc) { assert(m); m[3] = (uint8_t)((m[3] & 0xf0) | (rc & 0x0f)); }
static inline void sk_hdr_set_counts(uint8_t *m, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) { sk_put16(m + 4, qd); sk_put16(m + 6, an); sk_put16(m + 8, ns); sk_put16(m + 10, ar); }

/* A compression pointer's two bytes: top bits 11, then a 14-bit offset. */
static inline bool sk_is_pointer(uint8_t b) { return (b & 0xc0) == 0xc0; }
static inline uint16_t sk_pointer_offset(const uint8_t *p) { return sk_get16(p) & 0x3fff; }

/* Step *pos over the name at msg[*pos], which may end in a compression pointer (not followed).
 * False, *pos untouched, when it runs past `len`, has a bad label type or too many labels. */
static inline bool sk_wire_skip_name(const uint8_t *msg, size_t len, size_t *pos)
{
	size_t p = *pos;
	for (unsigned labels = 0; labels < SK_LABELS_MAX; labels++) {
		if (p >= len)
			return false;
		uint8_t l = msg[p];
		if (l == 0) {
			*pos = p + 1;
			return true;
		}
		if (sk_is_pointer(l)) {
			if (p + 2 > len)
				return false;
			*pos = p + 2;
			return true;
		}
		if (l > SK_LABEL_MAX)
			return false;
		p += l + 1u;
	}
	return false;
}

_Static_assert(SK_HDR_LEN == 12, "DNS header is 12 bytes");

#endif
