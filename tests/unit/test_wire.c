/* test_wire.c -- wire accessors and header fields */
#include "dns/wire.h"
#include "tap.h"

int main(void)
{
	uint8_t b[16] = { 0 };

	sk_put16(b, 0xbeef);
	ok(b[0] == 0xbe && b[1] == 0xef, "put16 writes network byte order");
	is_int(sk_get16(b), 0xbeef, "get16 reads it back");
	sk_put32(b, 0x01020304u);
	ok(b[0] == 1 && b[1] == 2 && b[2] == 3 && b[3] == 4, "put32 writes network byte order");
	is_int(sk_get32(b), 0x01020304u, "get32 reads it back");
	sk_put32(b, 0xfffffffeu);
	is_int(sk_get32(b), 0xfffffffeu, "get32 keeps the top bit");

	/* A query header: id 0x1234, opcode NOTIFY, RD, QD=1, AR=1 */
	uint8_t h[SK_HDR_LEN] = { 0x12, 0x34, (4 << 3) | 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1 };
	is_int(sk_hdr_id(h), 0x1234, "header id");
	is_int(sk_hdr_opcode(h), SK_OPCODE_NOTIFY, "header opcode");
	ok(sk_hdr_flags(h) & SK_FLAG_RD, "RD bit read from the flags word");
	ok(!(sk_hdr_flags(h) & SK_FLAG_QR), "QR clear");
	is_int(sk_hdr_qdcount(h), 1, "qdcount");
	is_int(sk_hdr_ancount(h), 0, "ancount");
	is_int(sk_hdr_arcount(h), 1, "arcount");

	sk_hdr_set_rcode(h, SK_RCODE_REFUSED);
	is_int(sk_hdr_rcode(h), SK_RCODE_REFUSED, "set_rcode sets the low 4 bits");
	is_int(sk_hdr_opcode(h), SK_OPCODE_NOTIFY, "set_rcode leaves the opcode alone");
	sk_hdr_set_rcode(h, SK_RCODE_BADVERS);
	is_int(sk_hdr_rcode(h), 0, "an extended rcode keeps only its low bits in the header");

	sk_hdr_set_counts(h, 1, 2, 3, 4);
	ok(sk_hdr_qdcount(h) == 1 && sk_hdr_ancount(h) == 2 && sk_hdr_nscount(h) == 3 && sk_hdr_arcount(h) == 4,
		"set_counts writes all four counts");

	uint8_t ptr[2] = { 0xc0, 0x0c };
	ok(sk_is_pointer(ptr[0]), "0xc0 starts a pointer");
	ok(!sk_is_pointer(0x3f) && !sk_is_pointer(0x40) && !sk_is_pointer(0x80), "labels and extended types are not pointers");
	is_int(sk_pointer_offset(ptr), 12, "pointer offset is the low 14 bits");
	uint8_t far[2] = { 0xff, 0xff };
	is_int(sk_pointer_offset(far), 0x3fff, "largest pointer offset");
	return tap_done();
}
