/* conf_internal.h -- value checks shared by conf.c and conf_value.c; not part of the API */
#ifndef SK_CONF_INTERNAL_H
#define SK_CONF_INTERNAL_H

#include <stdbool.h>

#include "conf/conf.h"

/*
 * Parse `s` as a decimal whole number from min to max into *out. Digits only: no sign, blanks,
 * trailing junk or leading zero. Returns false (and leaves *out alone) otherwise.
 */
bool sk_conf_parse_number(const char *s, unsigned min, unsigned max, unsigned *out);

/*
 * Parse "address@port", "address", "[v6]@port" or "[v6]" into l->addr and l->addrlen; the port
 * defaults to 53. l->text is not touched. On failure returns false and sets *bad_port when the
 * port, rather than the address, is what is wrong.
 */
bool sk_conf_parse_listen(const char *text, sk_listen_t *l, bool *bad_port);

/*
 * Parse "address/length" or a bare address (a host: /32 or /128) into *p. On failure returns
 * false; *host_bits is set when the text is a valid prefix except that bits past the length are
 * not zero ("192.0.2.1/24"), a likely typo the caller names.
 */
bool sk_conf_parse_prefix(const char *text, sk_prefix_t *p, bool *host_bits);

/* True when two parsed listen entries have the same family, address and port. */
bool sk_conf_same_listen(const sk_listen_t *a, const sk_listen_t *b);

/*
 * True when `s` is a domain name in presentation format: labels of 1..63 bytes separated by dots,
 * a final dot optional, "\X" and "\DDD" escapes counted as one byte, 255 bytes at most in wire
 * form; "." is the root. The conf module cannot link the dns module (it is built first), hence
 * a check of its own.
 */
bool sk_conf_valid_domain(const char *s);

/*
 * A host name as text ("xfr-key", "Key.Example." final dot optional) into lowercased wire form:
 * labels of letters, digits, '-' and '_' only (no escapes). Returns the wire length, or 0 when
 * the text is not such a name. TSIG key names and the catalog's name are read with it.
 */
size_t sk_conf_host_wire(const char *s, uint8_t out[255]);

/* Decode base64 (RFC 4648, padding required, no blanks) into at most `cap` bytes; returns the
 * length, or -1 when the text is not base64 or decodes to more than `cap`. */
long sk_conf_base64(const char *s, uint8_t *out, size_t cap);

#endif
