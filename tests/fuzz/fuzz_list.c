/* fuzz_list.c -- libFuzzer target: seized-list text through the list loader, beside a zone file
 * and with a fixed template, then the listed domains looked up and answered.
 *
 * Input: the first list; a line "#--list2" (a comment to the loader) starts a second list, so
 * duplicates across lists are reached. Both use fuzz.template; the db also holds fuzz.zone
 * (apex fuzz.example.), which a listed domain may equal (shadowed) or lie inside.
 */
#include <stdbool.h>
#include <string.h>

#include "db/db_internal.h"
#include "fuzz_common.h"

#define DOMAINS_MAX 32       /* domains asked for per input: bounds the time per input */

static const char *const files[] = { "list1", "list2", NULL };
static uint8_t out[65535];

/* Split the input at "\n#--list2\n"; the second list is empty when there is no marker. */
static void write_lists(const uint8_t *data, size_t size)
{
	static const char mark[] = "\n#--list2\n";
	char path[512];
	size_t m = sizeof mark - 1, cut = size;
	for (size_t i = 0; i + m <= size; i++)
		if (!memcmp(data + i, mark, m)) {
			cut = i + 1;
			break;
		}
	fuzz_write(fuzz_path(path, sizeof path, files[0]), data, cut);
	fuzz_write(fuzz_path(path, sizeof path, files[1]), data + cut, size - cut);
}

static size_t make_query(uint8_t *q, const uint8_t *name, size_t len, uint16_t type)
{
	sk_put16(q, 0x5eed);
	sk_put16(q + 2, 0);
	sk_hdr_set_counts(q, 1, 0, 0, 0);
	memcpy(q + SK_HDR_LEN, name, len);
	sk_put16(q + SK_HDR_LEN + len, type);
	sk_put16(q + SK_HDR_LEN + len + 2, SK_CLASS_IN);
	return SK_HDR_LEN + len + 4;
}

/* The template a lookup landed in belongs to a list, and the name from apex_off on is one of
 * that list's domains. (No zone file can win: the only one's apex, fuzz.example., is neither
 * a listed domain, which would have been shadowed, nor "www." and a domain.) */
static void check_plan(const sk_db_t *db, const uint8_t *name, size_t len, const sk_plan_t *p)
{
	FUZZ_CHECK(p->zone && p->rcode != SK_RCODE_REFUSED);
	FUZZ_CHECK(p->apex_off < len);
	const uint8_t *d = name + p->apex_off;
	size_t dlen = len - p->apex_off;
	const sk_nameent_t *e = sk_nametab_find(&db->seized, d, dlen, sk_db_name_hash(d, dlen));
	FUZZ_CHECK(e && e->aux < db->nlists && p->zone == &db->lists[e->aux].tmpl);
}

/* Each listed domain (the first DOMAINS_MAX): itself and a name below it, looked up and
 * answered over UDP and TCP. */
static void ask_all(const sk_snapshot_t *snap)
{
	const sk_db_t *db = snap->db;
	const sk_nametab_t *t = &db->seized;
	unsigned asked = 0;
	uint8_t q[SK_HDR_LEN + SK_NAME_MAX + 4], name[SK_NAME_MAX];
	for (size_t off = 0; off < t->ents_len && asked < DOMAINS_MAX; off = sk_nametab_next(t, off), asked++) {
		const sk_nameent_t *e = (const sk_nameent_t *)(const void *)(t->ents + off);
		static const uint16_t types[] = { SK_TYPE_A, SK_TYPE_MX, SK_TYPE_SOA };
		sk_plan_t plan;
		size_t len = e->len;
		memcpy(name, e->name, len);
		for (int below = 0; below < 2; below++) {
			if (below) {
				if (len + 4 > SK_NAME_MAX)
					break;
				memmove(name + 4, name, len);
				memcpy(name, "\3www", 4);
				len += 4;
			}
			for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
				sk_db_lookup(db, name, len, types[k], &plan);
				check_plan(db, name, len, &plan);
				size_t n = make_query(q, name, len, types[k]);
				FUZZ_CHECK(fuzz_answer(snap, q, n, SK_TRANSPORT_UDP, out, sizeof out, NULL) > 0);
				FUZZ_CHECK(fuzz_answer(snap, q, n, SK_TRANSPORT_TCP, out, sizeof out, NULL) > 0);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char zpath[512], tpath[512], l1[512], l2[512];
	static sk_zone_conf_t zc;
	static sk_seized_conf_t sc[2];
	static sk_tag_t tags[2] = { { "case", "fuzz-1" }, { "family", "list" } };

	if (!zpath[0]) {
		snprintf(zpath, sizeof zpath, "%s/fuzz.zone", SK_FUZZ_DIR);
		snprintf(tpath, sizeof tpath, "%s/fuzz.template", SK_FUZZ_DIR);
		fuzz_path(l1, sizeof l1, files[0]);
		fuzz_path(l2, sizeof l2, files[1]);
		zc = (sk_zone_conf_t){ .file = zpath, .line = 3 };
		sc[0] = (sk_seized_conf_t){ .list = l1, .template = tpath, .tags = tags, .ntags = 2, .line = 6 };
		sc[1] = (sk_seized_conf_t){ .list = l2, .template = tpath, .tags = tags, .ntags = 1, .line = 9 };
	}
	write_lists(data, size);
	sk_conf_t conf = { .path = "fuzz.yml", .identity = "ns9.fuzz.example", .version = "fuzz",
		.edns_size = 1232, .zones = &zc, .nzones = 1, .seized = sc, .nseized = 2 };

	sk_db_t *db = NULL;
	if (sk_db_build(&conf, &db) != 0) {
		FUZZ_CHECK(db == NULL);
		return 0;
	}
	size_t domains = 0;
	for (size_t i = 0; i < sk_db_list_count(db); i++)
		domains += sk_db_list_stats(db, i)->domains;
	FUZZ_CHECK(domains == sk_db_seized_count(db));
	sk_snapshot_t snap = { .conf = &conf, .db = db, .generation = 1 };
	ask_all(&snap);
	sk_db_free(db);
	return 0;
}

static void cleanup(void) __attribute__((destructor));
static void cleanup(void)
{
	fuzz_cleanup(files);
}
