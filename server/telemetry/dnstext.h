/* dnstext.h -- DNS numbers as their mnemonics (A, IN, NXDOMAIN, QUERY), for records */
#ifndef SK_DNSTEXT_H
#define SK_DNSTEXT_H

#include <stdint.h>

/* Each returns the mnemonic (a constant string), or writes the RFC 3597 style fallback
 * ("TYPE65534", "CLASS7", "RCODE23", "OPCODE3") for numbers without one into buf (at least
 * SK_DNSTEXT_MAX bytes) and returns buf. */
#define SK_DNSTEXT_MAX 16

const char *sk_dnstext_type(uint16_t type, char *buf);
const char *sk_dnstext_class(uint16_t qclass, char *buf);
const char *sk_dnstext_rcode(uint16_t rcode, char *buf);
const char *sk_dnstext_opcode(uint8_t opcode, char *buf);

#endif
