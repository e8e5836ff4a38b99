/* test_name.c -- names (text, labels, case, subdomains) and name compression in the writer */
#include "dns/name.h"
#include "dns/writer.h"
#include "tap.h"
#include "util/err.h"

static int from_text(const char *t, uint8_t *out)
{
	return sk_name_from_text(t, out, SK_NAME_MAX, true);
}

static void test_text(void)
{
	uint8_t n[SK_NAME_MAX];
	char t[1024];

	is_int(from_text("www.Example.ORG", n), 17, "www.example.org is 17 wire bytes");
	ok(memcmp(n, "\3www\7example\3org", 17) == 0, "wire form lowercased");
	is_int(sk_name_from_text("WWW.x.", n, sizeof n, false), 7, "trailing dot accepted");
	ok(memcmp(n, "\3WWW\1x", 7) == 0, "case kept when not lowering");
	is_int(from_text(".", n), 1, "root is one byte");
	is_int(n[0], 0, "root is the zero byte");
	is_int(from_text("a..b", n), -EINVAL, "empty label refused");
	is_int(from_text(".a", n), -EINVAL, "leading dot refused");
	is_int(from_text("a\\.b.c", n), 7, "escaped dot stays inside a label");
	ok(n[0] == 3 && n[2] == '.', "\\. is a literal dot");
	is_int(from_text("\\065\\000x", n), 5, "decimal escapes");
	ok(n[1] == 'a' && n[2] == 0 && n[3] == 'x', "\\065 is A (lowered), \\000 a zero byte");
	is_int(from_text("\\25", n), -EINVAL, "short decimal escape refused");
	is_int(from_text("\\256", n), -EINVAL, "escape above 255 refused");

	char label[70];
	memset(label, 'a', 63);
	label[63] = '\0';
	is_int(from_text(label, n), 65, "63-byte label accepted");
	memset(label, 'a', 64);
	label[64] = '\0';
	is_int(from_text(label, n), -EINVAL, "64-byte label refused");

	/* 127 labels of one byte: 254 bytes + root = 255, the maximum */
	char big[600] = "";
	for (int i = 0; i < 127; i++)
		strcat(big, "a.");
	is_int(from_text(big, n), 255, "255-byte name accepted");
	strcat(big, "a");
	ok(from_text(big, n) == SK_ETOOBIG, "256-byte name refused");
	ok(sk_name_from_text("www.example.org", n, 5, true) == SK_ETOOBIG, "small buffer refused");

	from_text("www.example.org", n);
	is_int(sk_name_len(n), 17, "name_len");
	is_int(sk_name_labels(n), 3, "three labels");
	uint8_t off[SK_LABELS_MAX + 1];
	is_int(sk_name_label_offsets(n, off), 3, "label offsets count");
	ok(off[0] == 0 && off[1] == 4 && off[2] == 12 && off[3] == 16, "label offsets");

	n[0] = 3;
	uint8_t odd[] = "\3a.b\4q\"(\001\0";
	is_int(sk_name_to_text(odd, t, sizeof t), 15, "escaped text length");
	ok(strcmp(t, "a\\.b.q\\\"\\(\\001.") == 0, "escapes on output: %s", t);
	from_text("www.example.org", n);
	sk_name_to_text(n, t, sizeof t);
	ok(strcmp(t, "www.example.org.") == 0, "round trip to text");
	uint8_t root = 0;
	sk_name_to_text(&root, t, sizeof t);
	ok(strcmp(t, ".") == 0, "root to text");
	ok(sk_name_to_text(n, t, 5) == SK_ETOOBIG, "to_text refuses a small buffer");

	/* Every byte value in a label, against the rule written out here: letters, digits and the
	 * other printable bytes as they are, the eight specials after a backslash, the rest \DDD. */
	bool all = true;
	for (unsigned c = 0; c < 256; c++) {
		uint8_t one[] = { 1, (uint8_t)c, 0 };
		char want[8];
		if (c <= 0x20 || c >= 0x7f)
			snprintf(want, sizeof want, "\\%03u.", c);
		else if (strchr(".\\\";()@$", (int)c))
			snprintf(want, sizeof want, "\\%c.", (char)c);
		else
			snprintf(want, sizeof want, "%c.", (char)c);
		if (sk_name_to_text(one, t, sizeof t) != (int)strlen(want) || strcmp(t, want)) {
			printf("# byte %u: got \"%s\", want \"%s\"\n", c, t, want);
			all = false;
		}
	}
	ok(all, "to_text: each of the 256 byte values written as presentation form wants");

	/* The exact room: "www.example.org." is 16 bytes and a NUL; \001 needs 4. */
	from_text("www.example.org", n);
	is_int(sk_name_to_text(n, t, 17), 16, "to_text fits in exactly text + NUL");
	ok(sk_name_to_text(n, t, 16) == SK_ETOOBIG, "and refuses one byte less");
	uint8_t ctl[] = "\3a\001b\0";
	is_int(sk_name_to_text(ctl, t, 8), 7, "an escaped byte fits in exactly its room (a\\001b. + NUL)");
	ok(sk_name_to_text(ctl, t, 7) == SK_ETOOBIG, "and not in one byte less");

	/* The longest name (255 bytes: labels of 63, 63, 63 and 61) with every byte escaped. */
	uint8_t lng[SK_NAME_MAX];
	size_t o = 0;
	for (int l = 0; l < 4; l++) {
		unsigned len = l < 3 ? 63 : 61;
		lng[o++] = (uint8_t)len;
		memset(lng + o, 0xff, len);
		o += len;
	}
	lng[o++] = 0;
	char huge[1100];
	int hn = sk_name_to_text(lng, huge, sizeof huge);
	is_int(hn, 4 * 250 + 4, "the longest name of escaped bytes: 1004 characters");
	ok(hn > 0 && sk_name_to_text(lng, huge, (size_t)hn) == SK_ETOOBIG &&
		sk_name_to_text(lng, huge, (size_t)hn + 1) == hn, "and needs exactly that plus the NUL");
}

static void test_compare(void)
{
	uint8_t a[SK_NAME_MAX], b[SK_NAME_MAX], c[SK_NAME_MAX];
	sk_name_from_text("WwW.ExAmple.org", a, sizeof a, false);
	sk_name_from_text("www.example.ORG", b, sizeof b, false);
	sk_name_from_text("www.example.net", c, sizeof c, false);
	ok(sk_name_equal_nocase(a, b), "equal ignoring case");
	ok(!sk_name_equal_nocase(a, c), "different names differ");

	uint8_t low[SK_NAME_MAX];
	sk_name_lower(low, a, sk_name_len(a));
	ok(memcmp(low, "\3www\7example\3org", 17) == 0, "lower maps letters, keeps lengths");
	/* Eight bytes at a time and the tail byte by byte: every byte value at every position. */
	unsigned bad = 0;
	for (unsigned v = 0; v < 256; v++) {
		uint8_t src[19], dst[19];
		for (size_t len = 0; len <= sizeof src; len++) {
			memset(src, (int)v, sizeof src);
			memset(dst, 0xee, sizeof dst);
			sk_name_lower(dst, src, len);
			uint8_t want = v >= 'A' && v <= 'Z' ? (uint8_t)(v + 32) : (uint8_t)v;
			for (size_t i = 0; i < sizeof dst; i++)
				if (dst[i] != (i < len ? want : 0xee))
					bad++;
		}
	}
	is_int(bad, 0, "lower: only A-Z change, each byte value, lengths 0-19, nothing past len");

	uint8_t p[SK_NAME_MAX], q[SK_NAME_MAX], r[SK_NAME_MAX];
	from_text("example.org", p);
	from_text("a.www.example.org", q);
	from_text("xample.org", r);
	ok(sk_name_is_below(q, p), "a.www.example.org is below example.org");
	ok(sk_name_is_below(p, p), "a name is at or below itself");
	ok(!sk_name_is_below(p, q), "parent is not below child");
	ok(!sk_name_is_below(p, r), "example.org is not below xample.org (label boundary)");
	uint8_t root = 0;
	ok(sk_name_is_below(p, &root), "everything is below the root");
}

/* Read a possibly compressed name at `off` of message `m`, following pointers, into text. */
/* Write the name `text` with w; *at gets where it starts. Returns the bytes it took. */
static size_t write_text(sk_writer_t *w, const char *text, size_t *at)
{
	uint8_t n[SK_NAME_MAX];
	from_text(text, n);
	*at = w->pos;
	sk_wr_name(w, n);
	return w->pos - *at;
}

static void read_name(const uint8_t *m, size_t off, char *out)
{
	out[0] = '\0';
	for (int hops = 0; hops < 64; hops++) {
		if (sk_is_pointer(m[off])) {
			off = sk_pointer_offset(m + off);
			continue;
		}
		if (!m[off])
			return;
		strncat(out, (const char *)m + off + 1, m[off]);
		strcat(out, ".");
		off += m[off] + 1u;
	}
}

static void test_compression(void)
{
	uint8_t msg[512];
	char t[300];
	sk_writer_t w;

	/* A header and question for WWW.Example.ORG A IN, as a client sent it. */
	memset(msg, 0, sizeof msg);
	memcpy(msg + 12, "\3WWW\7Example\3ORG\0\0\1\0\1", 21);
	sk_wr_init(&w, msg, sizeof msg, 33, 12, NULL);
	is_int(w.ntargets, 3, "question labels become targets");

	uint8_t n[SK_NAME_MAX];
	from_text("example.org", n);
	size_t at = w.pos;
	is_int(sk_wr_name(&w, n), 0, "write example.org");
	is_int(w.pos - at, 2, "a suffix of the question is a 2-byte pointer (case ignored)");
	is_int(sk_get16(msg + at), 0xc000 | 16, "pointer to 'Example' in the question");

	is_int(write_text(&w, "mail.example.org", &at), 7, "new label plus pointer");
	read_name(msg, at, t);
	ok(strcmp(t, "mail.Example.ORG.") == 0, "reads back through the pointer: %s", t);

	is_int(write_text(&w, "x.mail.example.org", &at), 4, "pointer to a name written by the writer itself");

	is_int(write_text(&w, "ns9.sinkhole.example", &at), 22, "an unrelated name is written in full");
	is_int(write_text(&w, "ns10.sinkhole.example", &at), 7, "its sibling shares sinkhole.example");
	read_name(msg, at, t);
	ok(strcmp(t, "ns10.sinkhole.example.") == 0, "sibling reads back: %s", t);

	uint8_t root = 0;
	at = w.pos;
	sk_wr_name(&w, &root);
	is_int(w.pos - at, 1, "the root is one zero byte, never a pointer");

	/* With the lowercased question to compare with: the same pointers, whatever the case of
	 * either side, and suffixes the writer wrote itself still found letter case aside. */
	uint8_t lq[SK_NAME_MAX];
	from_text("www.example.org", lq);
	sk_wr_init(&w, msg, sizeof msg, 33, 12, lq);
	from_text("EXAMPLE.org", n);
	at = w.pos;
	is_int(sk_wr_name(&w, n), 0, "write EXAMPLE.org");
	is_int(sk_get16(msg + at), 0xc000 | 16, "pointer to 'Example' through the lowercased copy");
	is_int(write_text(&w, "Mail.Example.Org", &at), 7, "Mail: new label plus pointer");
	size_t mail = at;
	is_int(write_text(&w, "mail.example.org", &at), 2, "mail.example.org: a pointer to Mail.Example.Org");
	is_int(sk_get16(msg + at), 0xc000 | (int)mail, "which the writer wrote");
	is_int(write_text(&w, "www.example.org.example.org", &at), 18, "a name that repeats the question: only its last example.org is shared");
	read_name(msg, at, t);
	ok(strcmp(t, "www.example.org.Example.ORG.") == 0, "reads back: %s", t);

	/* Limits: nothing is written past the limit. */
	sk_writer_t small;
	uint8_t buf[40];
	memcpy(buf, msg, 33);
	sk_wr_init(&small, buf, 35, 33, 12, NULL);
	from_text("ns9.sinkhole.example", n);
	is_int(sk_wr_name(&small, n), SK_ETOOBIG, "a name past the limit is refused");
	is_int(small.pos, 33, "and nothing was written");

	/* RRsets: an NS set whose targets are compressed in RDATA, and rollback on overflow. */
	static const uint8_t ns_data[] = {
		0, 2, 0, 1, 0, 0, 0x0e, 0x10, 0, 22, 3, 'n', 's', '9', 8, 's', 'i', 'n', 'k', 'h', 'o', 'l', 'e',
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
		0, 2, 0, 1, 0, 0, 0x0e, 0x10, 0, 23, 4, 'n', 's', '1', '0', 8, 's', 'i', 'n', 'k', 'h', 'o', 'l', 'e',
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
	};
	sk_rrset_t ns = { .type = SK_TYPE_NS, .count = 2, .ttl = 3600, .len = sizeof ns_data, .data = ns_data };
	sk_rr_ref_t ref = { .rrset = &ns, .owner = NULL, .qoff = 4, .section = SK_SECTION_AUTHORITY };
	sk_wr_init(&w, msg, sizeof msg, 33, 12, NULL);
	at = w.pos;
	is_int(sk_wr_rrset(&w, &ref), 2, "two NS records written");
	is_int(sk_get16(msg + at), 0xc000 | 16, "owner is a pointer to the zone in the question");
	is_int(sk_get16(msg + at + 10), 22, "first RDATA uncompressed (nothing to share yet)");
	size_t second = at + 12 + 22;
	is_int(sk_get16(msg + second + 10), 7, "second RDATA shares sinkhole.example: RDLENGTH fixed");
	read_name(msg, second + 12, t);
	ok(strcmp(t, "ns10.sinkhole.example.") == 0, "second target reads back: %s", t);

	sk_wr_init(&w, msg, 33 + 40, 33, 12, NULL);
	is_int(sk_wr_rrset(&w, &ref), SK_ETOOBIG, "a set that does not fit is refused");
	is_int(w.pos, 33, "and rolled back whole");
	is_int(w.ntargets, 3, "with the targets it added forgotten");

	/* A type outside RFC 1035 (SRV) keeps its RDATA names uncompressed (RFC 3597 s4). */
	static const uint8_t srv_data[] = {
		0, 33, 0, 1, 0, 0, 0, 60, 0, 19, 0, 1, 0, 2, 0, 80, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0,
	};
	sk_rrset_t srv = { .type = SK_TYPE_SRV, .count = 1, .ttl = 60, .len = sizeof srv_data, .data = srv_data };
	sk_rr_ref_t sref = { .rrset = &srv, .owner = NULL, .qoff = 0, .section = SK_SECTION_ANSWER };
	sk_wr_init(&w, msg, sizeof msg, 33, 12, NULL);
	at = w.pos;
	sk_wr_rrset(&w, &sref);
	is_int(sk_get16(msg + at + 10), 19, "SRV target not compressed");
	ok(memcmp(msg + at + 12 + 6, "\7example\3org", 13) == 0, "SRV target written in full");
}

int main(void)
{
	test_text();
	test_compare();
	test_compression();
	return tap_done();
}
