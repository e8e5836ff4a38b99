/* fuzz_zone.c -- libFuzzer target: zone file text through the db loader (ldns parse, zone rules,
 * compile), then every compiled name asked for and answered.
 *
 * Input: the first line is the config's `name:` for the zone (empty: none, the origin comes from
 * $ORIGIN or the SOA; "-template": the text is a seized list's template, answered for the
 * domains of fuzz.list). The rest is the zone file; a line "%%" starts the next file, written as
 * inc1, inc2, ... beside it for $INCLUDE. Input naming a path with '/' in a $INCLUDE is skipped,
 * so the loader only ever reads the files written here.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_internal.h"
#include "db/db_internal.h"
#include "fuzz_common.h"

#define FILES_MAX 4          /* the zone file and three includes */
#define NODES_MAX 64         /* names asked for per input: bounds the time per input */
#define NAME_LINE_MAX 300

static const char *const files[] = { "zone", "inc1", "inc2", "inc3", NULL };
static uint8_t out[65535];

/* Case-insensitive search for `needle` in data[0..size). */
static bool contains_nocase(const uint8_t *data, size_t size, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= size; i++)
		if (!strncasecmp((const char *)data + i, needle, n))
			return true;
	return false;
}

/* Write the files of the input; returns how many. */
static unsigned write_files(const uint8_t *p, size_t size)
{
	char path[512];
	unsigned n = 0;
	while (n < FILES_MAX) {
		const uint8_t *sep = NULL;
		for (size_t i = 0; i + 4 <= size; i++)
			if (!memcmp(p + i, "\n%%\n", 4)) {
				sep = p + i;
				break;
			}
		size_t len = sep && n + 1 < FILES_MAX ? (size_t)(sep - p) + 1 : size;
		fuzz_write(fuzz_path(path, sizeof path, files[n++]), p, len);
		if (len == size)
			break;
		p += len + 3;
		size -= len + 3;
	}
	for (unsigned k = n; k < FILES_MAX; k++)
		unlink(fuzz_path(path, sizeof path, files[k]));
	return n;
}

/* A query for `name` (wire, `len` bytes) and `type`: its first letter in upper case, so that
 * the answer keeps the client's case; EDNS with DO on request. Returns its length. */
static size_t make_query(uint8_t *q, const uint8_t *name, size_t len, uint16_t type, bool edns)
{
	static uint16_t id;
	sk_put16(q, ++id);
	sk_put16(q + 2, SK_FLAG_RD);
	sk_hdr_set_counts(q, 1, 0, 0, edns ? 1 : 0);
	memcpy(q + SK_HDR_LEN, name, len);
	if (len > 1)
		q[SK_HDR_LEN + 1] = (uint8_t)toupper(q[SK_HDR_LEN + 1]);
	size_t n = SK_HDR_LEN + len;
	sk_put16(q + n, type);
	sk_put16(q + n + 2, SK_CLASS_IN);
	n += 4;
	if (edns) {
		static const uint8_t opt[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0 };
		memcpy(q + n, opt, sizeof opt);
		n += sizeof opt;
	}
	return n;
}

/* Ask for `name` with `type` over UDP without EDNS (512 bytes: truncation) and over TCP. */
static void ask(const sk_snapshot_t *snap, const uint8_t *name, size_t len, uint16_t type)
{
	uint8_t q[SK_HDR_LEN + SK_NAME_MAX + 4 + 11];
	size_t n = make_query(q, name, len, type, false);
	size_t r = fuzz_answer(snap, q, n, SK_TRANSPORT_UDP, out, sizeof out, NULL);
	FUZZ_CHECK(r > 0 && r <= SK_UDP_MIN);
	n = make_query(q, name, len, type, true);
	FUZZ_CHECK(fuzz_answer(snap, q, n, SK_TRANSPORT_TCP, out, sizeof out, NULL) > 0);
}

/* `prefix` (wire labels of `plen` bytes, no root) before `suffix` (a wire name): false when
 * the result would pass 255 bytes. */
static bool join(uint8_t *dst, size_t *len, const uint8_t *prefix, size_t plen,
	const uint8_t *suffix, size_t slen)
{
	if (plen + slen > SK_NAME_MAX)
		return false;
	memcpy(dst, prefix, plen);
	memcpy(dst + plen, suffix, slen);
	*len = plen + slen;
	return true;
}

/* Every name of a compiled zone (`under`: the name it is answered as, after the node's own
 * labels: the zone's apex suffix is kept, a template's root is replaced by a seized domain):
 * each of its types, A, ANY, and a name below it. */
static void ask_zone(const sk_snapshot_t *snap, const sk_zone_t *z, const uint8_t *under, size_t ulen)
{
	const sk_nametab_t *t = &z->nodes;
	unsigned asked = 0;
	for (size_t off = 0; off < t->ents_len && asked < NODES_MAX; off = sk_nametab_next(t, off), asked++) {
		const sk_nameent_t *e = (const sk_nameent_t *)(const void *)(t->ents + off);
		uint8_t name[SK_NAME_MAX], below[SK_NAME_MAX];
		size_t len = e->len, blen;
		FUZZ_CHECK(sk_nametab_find(t, e->name, e->len, sk_db_name_hash(e->name, e->len)) == e);
		if (under && !join(name, &len, e->name, e->len - 1, under, ulen))
			continue;
		if (!under)
			memcpy(name, e->name, len);
		const sk_rrset_t *rs = sk_node_rrsets(z, e);
		for (unsigned i = 0; i < e->aux && i < 8; i++)
			ask(snap, name, len, rs[i].type);
		ask(snap, name, len, SK_TYPE_A);
		ask(snap, name, len, SK_TYPE_ANY);
		if (join(below, &blen, (const uint8_t *)"\2zz", 3, name, len))
			ask(snap, below, blen, SK_TYPE_MX);
	}
}

static void ask_all(const sk_snapshot_t *snap)
{
	const sk_db_t *db = snap->db;
	for (size_t i = 0; i < db->nzones; i++)
		ask_zone(snap, &db->zones[i], NULL, 0);
	/* A template is answered for each seized domain: the first few of the table will do. */
	const sk_nametab_t *t = &db->seized;
	unsigned asked = 0;
	for (size_t off = 0; off < t->ents_len && asked < 3; off = sk_nametab_next(t, off), asked++) {
		const sk_nameent_t *e = (const sk_nameent_t *)(const void *)(t->ents + off);
		ask_zone(snap, &db->lists[e->aux].tmpl, e->name, e->len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static sk_zone_conf_t zc;
	static sk_seized_conf_t sc;
	static sk_tag_t tag = { "case", "fuzz-1" };
	static char zpath[512], lpath[512];
	char name[NAME_LINE_MAX + 1];

	const uint8_t *nl = memchr(data, '\n', size);
	size_t nlen = nl ? (size_t)(nl - data) : size;
	if (!nl || nlen > NAME_LINE_MAX || memchr(data, 0, nlen))
		return 0;
	if (contains_nocase(data, size, "include") && memchr(data, '/', size))
		return 0;
	memcpy(name, data, nlen);
	name[nlen] = '\0';
	bool tmpl = !strcmp(name, "-template");
	if (!tmpl && nlen && !sk_conf_valid_domain(name))
		return 0;     /* the config refuses such a name before any zone is read */
	write_files(nl + 1, size - nlen - 1);

	fuzz_path(zpath, sizeof zpath, files[0]);
	snprintf(lpath, sizeof lpath, "%s/fuzz.list", SK_FUZZ_DIR);
	zc = (sk_zone_conf_t){ .file = zpath, .name = nlen && !tmpl ? name : NULL, .tags = &tag,
		.ntags = 1, .line = 3 };
	sc = (sk_seized_conf_t){ .list = lpath, .template = zpath, .tags = &tag, .ntags = 1, .line = 7 };
	sk_conf_t conf = { .path = "fuzz.yml", .identity = "ns9.fuzz.example", .version = "fuzz",
		.edns_size = 1232, .zones = tmpl ? NULL : &zc, .nzones = tmpl ? 0 : 1,
		.seized = tmpl ? &sc : NULL, .nseized = tmpl ? 1 : 0 };

	sk_db_t *db = NULL;
	if (sk_db_build(&conf, &db) == 0) {
		sk_snapshot_t snap = { .conf = &conf, .db = db, .generation = 1 };
		FUZZ_CHECK(sk_db_zone_count(db) == conf.nzones && sk_db_list_count(db) == conf.nseized);
		ask_all(&snap);
		sk_db_free(db);
	} else {
		FUZZ_CHECK(db == NULL);
	}
	return 0;
}

static void cleanup(void) __attribute__((destructor));
static void cleanup(void)
{
	fuzz_cleanup(files);
}
