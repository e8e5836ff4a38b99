/* dnstext.c -- DNS numbers as their mnemonics, from the IANA registries */
#include <stdio.h>
#include <string.h>

#include "telemetry/dnstext.h"

/* IANA "Resource Record (RR) TYPEs", 1..261; gaps are unassigned. */
static const char *const types[] = {
	[1] = "A", [2] = "NS", [3] = "MD", [4] = "MF", [5] = "CNAME", [6] = "SOA", [7] = "MB",
	[8] = "MG", [9] = "MR", [10] = "NULL", [11] = "WKS", [12] = "PTR", [13] = "HINFO",
	[14] = "MINFO", [15] = "MX", [16] = "TXT", [17] = "RP", [18] = "AFSDB", [19] = "X25",
	[20] = "ISDN", [21] = "RT", [22] = "NSAP", [23] = "NSAP-PTR", [24] = "SIG", [25] = "KEY",
	[26] = "PX", [27] = "GPOS", [28] = "AAAA", [29] = "LOC", [30] = "NXT", [31] = "EID",
	[32] = "NIMLOC", [33] = "SRV", [34] = "ATMA", [35] = "NAPTR", [36] = "KX", [37] = "CERT",
	[38] = "A6", [39] = "DNAME", [40] = "SINK", [41] = "OPT", [42] = "APL", [43] = "DS",
	[44] = "SSHFP", [45] = "IPSECKEY", [46] = "RRSIG", [47] = "NSEC", [48] = "DNSKEY",
	[49] = "DHCID", [50] = "NSEC3", [51] = "NSEC3PARAM", [52] = "TLSA", [53] = "SMIMEA",
	[55] = "HIP", [56] = "NINFO", [57] = "RKEY", [58] = "TALINK", [59] = "CDS",
	[60] = "CDNSKEY", [61] = "OPENPGPKEY", [62] = "CSYNC", [63] = "ZONEMD", [64] = "SVCB",
	[65] = "HTTPS", [66] = "DSYNC", [99] = "SPF", [100] = "UINFO", [101] = "UID", [102] = "GID",
	[103] = "UNSPEC", [104] = "NID", [105] = "L32", [106] = "L64", [107] = "LP",
	[108] = "EUI48", [109] = "EUI64", [249] = "TKEY", [250] = "TSIG", [251] = "IXFR",
	[252] = "AXFR", [253] = "MAILB", [254] = "MAILA", [255] = "ANY", [256] = "URI",
	[257] = "CAA", [258] = "AVC", [259] = "DOA", [260] = "AMTRELAY", [261] = "RESINFO",
};

/* IANA "DNS RCODEs" (16 is BADVERS in an OPT record, which is where a 12-bit rcode lives). */
static const char *const rcodes[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", NULL, NULL, NULL, NULL, "BADVERS", "BADKEY",
	"BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
};

static const char *const opcodes[] = {
	"QUERY", "IQUERY", "STATUS", NULL, "NOTIFY", "UPDATE", "DSO",
};

const char *sk_dnstext_type(uint16_t type, char *buf)
{
	if (type < sizeof types / sizeof *types && types[type])
		return types[type];
	if (type == 32768)
		return "TA";
	if (type == 32769)
		return "DLV";
	snprintf(buf, SK_DNSTEXT_MAX, "TYPE%u", type);
	return buf;
}

const char *sk_dnstext_class(uint16_t qclass, char *buf)
{
	switch (qclass) {
	case 1: return "IN";
	case 3: return "CH";
	case 4: return "HS";
	case 254: return "NONE";
	case 255: return "ANY";
	}
	snprintf(buf, SK_DNSTEXT_MAX, "CLASS%u", qclass);
	return buf;
}

const char *sk_dnstext_rcode(uint16_t rcode, char *buf)
{
	if (rcode < sizeof rcodes / sizeof *rcodes && rcodes[rcode])
		return rcodes[rcode];
	snprintf(buf, SK_DNSTEXT_MAX, "RCODE%u", rcode);
	return buf;
}

const char *sk_dnstext_opcode(uint8_t opcode, char *buf)
{
	if (opcode < sizeof opcodes / sizeof *opcodes && opcodes[opcode])
		return opcodes[opcode];
	snprintf(buf, SK_DNSTEXT_MAX, "OPCODE%u", opcode);
	return buf;
}
