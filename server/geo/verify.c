/* verify.c -- open-time checks of a MaxMind DB: type, metadata, every search tree node, every data item */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "geo/geo_internal.h"
#include "geo/geo_mmdb.h"
#include "util/err.h"
#include "util/log.h"

/*
 * Why check the whole file at open. libmaxminddb checks bounds as it reads, so most corruption
 * turns into lookup errors rather than crashes -- but by then the good database it replaced is
 * gone and every affected record loses its geolocation. Worse, libmaxminddb 1.7 skips the values
 * a path does not need by an unbounded recursion over their nesting, so a deeply nested value
 * could exhaust the stack of the telemetry thread. So the loader reads everything once here and
 * refuses the file while the old one still serves.
 *
 * Everything stays linear in the file size, even for a hostile file: each node is read once;
 * each data item is scanned once from each place it starts, without following pointers (their
 * targets are queued and scanned once too, so a pointer "bomb" -- a structure that doubles at each
 * level through pointers -- costs no more than its bytes); and a step budget bounds the rest.
 * MMDB_get_entry_data_list() is not used for this reason: it follows every pointer every time.
 */

/* GeoIP2 records nest four levels deep; libmaxminddb's own limit for full decoding is 512. */
#define MAX_NESTING 64

/* libmaxminddb's data types (MMDB_DATA_TYPE_*); 12 and 13 exist only inside the format's tooling. */
enum { T_EXTENDED = 0, T_POINTER = 1, T_UTF8 = 2, T_DOUBLE = 3, T_BYTES = 4, T_UINT16 = 5, T_UINT32 = 6,
	T_MAP = 7, T_INT32 = 8, T_UINT64 = 9, T_UINT128 = 10, T_ARRAY = 11, T_BOOLEAN = 14, T_FLOAT = 15 };

struct verify {
	const MMDB_s *mm;
	const char *path;
	enum sk_geo_role role;
	enum sk_geo_layout layout; /* how lookups will read the records; UNKNOWN until one shows it */
	const uint8_t *data;      /* the data section, `size` bytes */
	uint32_t size;
	uint8_t *scanned;         /* one bit per data offset: an item was scanned from there */
	uint8_t *read;            /* one bit per data offset: a record was read there as lookups read it */
	uint32_t *queue;          /* pointer targets still to scan */
	size_t qlen, qcap;
	uint64_t steps, budget;   /* items scanned so far, and the most allowed */
	unsigned long records;    /* distinct records the tree points to */
	unsigned long useful;     /* of those, records giving a country (City role) or an ASN */
};

static bool test_and_set(uint8_t *bits, uint32_t i)
{
	bool was = bits[i / 8] & (1u << (i % 8));
	bits[i / 8] |= (uint8_t)(1u << (i % 8));
	return was;
}

static int corrupt(const struct verify *v, const char *what, uint32_t off, const char *why)
{
	sk_diag(0, v->path, 0, "corrupt GeoIP database: %s at data offset %u: %s", what, off, why);
	return SK_EPARSE;
}

/* ---- metadata and type ---------------------------------------------------------------------- */

/* Only what lookups rely on; MMDB_open() has already decoded the metadata itself. */
static int verify_metadata(const MMDB_s *mm, const char *path)
{
	const MMDB_metadata_s *md = &mm->metadata;
	const char *why = NULL;
	uint64_t tree = (uint64_t)md->node_count * md->record_size / 4;
	if (md->binary_format_major_version != 2)
		why = "binary format major version is not 2";
	else if (md->record_size != 24 && md->record_size != 28 && md->record_size != 32)
		why = "record size is not 24, 28 or 32";
	else if (md->ip_version != 4 && md->ip_version != 6)
		why = "ip_version is not 4 or 6";
	else if (md->node_count == 0 || mm->file_size < 0 || tree + 16 > (uint64_t)mm->file_size)
		why = "the search tree does not fit in the file";
	else if (!md->database_type || !md->database_type[0])
		why = "no database_type";
	else if (mm->data_section_size == 0)
		why = "no data section";
	if (!why)
		return 0;
	sk_diag(0, path, 0, "corrupt GeoIP database: metadata: %s (version %u.%u, record size %u, "
		"ip_version %u, %u nodes, %lld bytes)", why, md->binary_format_major_version,
		md->binary_format_minor_version, md->record_size, md->ip_version, md->node_count,
		(long long)mm->file_size);
	return SK_EPARSE;
}

/* The database_type names its product ("GeoLite2-City", "DBIP-ASN-Lite", ip-location-db's "country
 * ipvAll"); refuse one that cannot play the role, such as an ASN database given as the City database. */
static int check_type(const MMDB_s *mm, const char *path, enum sk_geo_role role)
{
	const char *t = mm->metadata.database_type ? mm->metadata.database_type : "";
	bool fits = role == SK_GEO_CITY
		? strcasestr(t, "City") || strcasestr(t, "Country") || strcasestr(t, "Enterprise")
		: strcasestr(t, "ASN") || strcasestr(t, "ISP");
	if (fits)
		return 0;
	sk_diag(0, path, 0, "database type \"%s\" is not %s database", t, sk_geo_role_name[role]);
	return -EINVAL;
}

/* ---- data items ----------------------------------------------------------------------------- */

/* One decoded item header. For a pointer, `size` is the target; for a map, its number of pairs. */
struct item {
	unsigned type;
	uint32_t size;
	uint32_t next;   /* where the next item starts: after the payload, or at a container's first child */
};

static uint32_t be(const uint8_t *p, unsigned n)
{
	uint32_t x = 0;
	while (n--)
		x = x << 8 | *p++;
	return x;
}

/*
 * Decode the header of the item at `off` following the MaxMind DB spec, with the checks
 * libmaxminddb makes when it reads one (and a few stricter ones). NULL or why it is invalid.
 */
static const char *read_item(const struct verify *v, uint32_t off, struct item *it)
{
	const uint8_t *d = v->data;
	uint32_t len = v->size;
	if (off >= len)
		return "item starts past the end of the data section";
	uint8_t ctrl = d[off++];
	it->type = ctrl >> 5;
	if (it->type == T_POINTER) {
		unsigned ss = ctrl >> 3 & 3, n = ss + 1;
		static const uint32_t bias[4] = { 0, 2048, 526336, 0 };
		if (n > len - off)
			return "pointer runs past the end of the data section";
		uint32_t high = ss == 3 ? 0 : (uint32_t)(ctrl & 7) << (8 * n);
		it->size = (high | be(d + off, n)) + bias[ss];
		it->next = off + n;
		return it->size < len ? NULL : "pointer past the end of the data section";
	}
	if (it->type == T_EXTENDED) {
		if (off >= len)
			return "extended type runs past the end of the data section";
		it->type = 7u + d[off++];
		if (it->type < 8 || it->type > 15 || it->type == 12 || it->type == 13)
			return "unknown data type";
	}
	uint32_t size = ctrl & 31;
	if (size >= 29) {
		unsigned n = size - 28;
		static const uint32_t base[4] = { 0, 29, 285, 65821 };
		if (n > len - off)
			return "size runs past the end of the data section";
		size = base[n] + be(d + off, n);
		off += n;
	}
	it->size = size;
	it->next = off;
	switch (it->type) {
	case T_MAP:
	case T_ARRAY:
		/* Every child takes at least a byte: say so now, not after parsing what follows as data. */
		if ((uint64_t)size * (it->type == T_MAP ? 2 : 1) > len - off)
			return "container has more entries than the data section has bytes left";
		return NULL;
	case T_BOOLEAN:
		return size <= 1 ? NULL : "boolean is not 0 or 1";
	case T_DOUBLE:
		if (size != 8)
			return "double is not 8 bytes";
		break;
	case T_FLOAT:
		if (size != 4)
			return "float is not 4 bytes";
		break;
	case T_UINT16:
	case T_UINT32:
	case T_INT32:
	case T_UINT64:
	case T_UINT128: {
		unsigned max = it->type == T_UINT16 ? 2 : it->type == T_UINT64 ? 8 : it->type == T_UINT128 ? 16 : 4;
		if (size > max)
			return "integer is wider than its type";
		break;
	}
	}
	if (size > len - off)
		return "value runs past the end of the data section";
	it->next = off + size;
	return NULL;
}

/* Queue a pointer target for scanning, once. */
static int enqueue(struct verify *v, uint32_t target)
{
	if (test_and_set(v->scanned, target))
		return 0;
	if (v->qlen == v->qcap) {
		size_t cap = v->qcap ? v->qcap * 2 : 1024;
		uint32_t *q = realloc(v->queue, cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		v->queue = q;
		v->qcap = cap;
	}
	v->queue[v->qlen++] = target;
	return 0;
}

/*
 * Scan the item at `off` and everything nested in it, iteratively: every header valid, every
 * payload inside the data section, map keys strings, no pointer to a pointer, nesting at most
 * MAX_NESTING. Pointers are not followed: their targets are queued.
 */
static int scan_item(struct verify *v, uint32_t off)
{
	struct { uint32_t left; bool map; } level[MAX_NESTING + 1];
	int depth = 0;
	level[0].left = 1;
	level[0].map = false;
	while (depth >= 0) {
		if (level[depth].left == 0) {
			depth--;
			continue;
		}
		/* In a map the children alternate key, value: a key when an even number is left. */
		bool key = level[depth].map && level[depth].left % 2 == 0;
		level[depth].left--;
		if (++v->steps > v->budget)
			return corrupt(v, "data", off, "too many items for its size (overlapping or looping data)");
		struct item it, target;
		const char *why = read_item(v, off, &it);
		if (!why && it.type == T_POINTER) {
			why = read_item(v, it.size, &target);
			if (!why && target.type == T_POINTER)
				why = "pointer to a pointer";
			else if (!why && key && target.type != T_UTF8)
				why = "map key is not a string";
		} else if (!why && key && it.type != T_UTF8) {
			why = "map key is not a string";
		} else if (!why && (it.type == T_MAP || it.type == T_ARRAY) && depth == MAX_NESTING) {
			why = "data nested more than 64 levels deep";
		}
		if (why)
			return corrupt(v, "data item", off, why);
		if (it.type == T_POINTER) {
			if (enqueue(v, it.size))
				return -ENOMEM;
		} else if (it.type == T_MAP || it.type == T_ARRAY) {
			depth++;
			level[depth].left = it.type == T_MAP ? 2 * it.size : it.size;
			level[depth].map = it.type == T_MAP;
		}
		off = it.next;
	}
	return 0;
}

/*
 * Read a scanned record the way lookups will. While the layout is still unknown (a City database
 * whose type names neither family), the record may show it; until one does, each record is read
 * both ways, so that whichever layout wins, every record has been read as lookups read it. Such
 * records hold neither country_code nor a country map, so neither way finds a country in them.
 */
static int read_record(struct verify *v, MMDB_entry_s *e, sk_geo_info_t *info)
{
	int st;
	if (v->role == SK_GEO_CITY && v->layout == SK_GEO_LAYOUT_UNKNOWN &&
	    (st = sk_geo_layout_of_record(e, &v->layout)))
		return st;
	if (v->role == SK_GEO_ASN || v->layout != SK_GEO_LAYOUT_UNKNOWN)
		return sk_geo_read_record(v->role, v->layout, e, info);
	if ((st = sk_geo_read_record(v->role, SK_GEO_LAYOUT_FLAT, e, info)))
		return st;
	memset(info, 0, sizeof *info);
	return sk_geo_read_record(v->role, SK_GEO_LAYOUT_GEOIP2, e, info);
}

/*
 * A record the tree points to: scan it and whatever it points to, then read it the way lookups
 * do. After every record has passed, no lookup in this database can meet an error.
 */
static int verify_record(struct verify *v, uint32_t node, uint32_t off)
{
	int rc;
	if (!test_and_set(v->scanned, off) && (rc = scan_item(v, off)))
		return rc;
	while (v->qlen > 0)
		if ((rc = scan_item(v, v->queue[--v->qlen])))
			return rc;
	if (test_and_set(v->read, off))
		return 0;
	MMDB_entry_s e = { .mmdb = v->mm, .offset = off };
	sk_geo_info_t info;
	memset(&info, 0, sizeof info);
	int st = read_record(v, &e, &info);
	if (st != MMDB_SUCCESS) {
		sk_diag(0, v->path, 0, "corrupt GeoIP database: record at data offset %u (search tree node %u): %s",
			off, node, MMDB_strerror(st));
		return st == MMDB_OUT_OF_MEMORY_ERROR ? -ENOMEM : SK_EPARSE;
	}
	v->records++;
	if (v->role == SK_GEO_CITY ? info.country[0] != '\0' : info.asn != 0)
		v->useful++;
	return 0;
}

/* ---- search tree ------------------------------------------------------------------------------ */

/*
 * Walk the search tree from the root, depth first, visiting each node once. A record is a node
 * number, the empty marker (node_count), or data at (record - node_count - 16); refused are a
 * record naming the root (a cycle), one inside the 16-byte separator or past the data section, a
 * node below the last address bit, and nodes that no path reaches (node_count then lies, as in
 * bad/libmaxminddb-corrupt-search-tree.mmdb). Other cycles need no check: a lookup takes at most
 * 32 or 128 steps whatever the tree holds.
 */
static int verify_tree(struct verify *v)
{
	const MMDB_s *mm = v->mm;
	uint32_t n = mm->metadata.node_count, reached = 1;
	unsigned bits = mm->metadata.ip_version == 4 ? 32 : 128;
	/* Each level leaves at most one sibling waiting, plus the two children just pushed. */
	struct { uint32_t node; uint8_t depth; } stack[2 * 129 + 2];
	size_t top = 0;
	int rc = 0;
	uint8_t *visited = calloc((size_t)n / 8 + 1, 1);
	if (!visited)
		return -ENOMEM;
	test_and_set(visited, 0);
	stack[top].node = 0;
	stack[top++].depth = 0;
	while (top > 0) {
		uint32_t i = stack[--top].node;
		unsigned depth = stack[top].depth;
		MMDB_search_node_s node;
		int st = MMDB_read_node(mm, i, &node);
		if (st != MMDB_SUCCESS) {
			sk_diag(0, v->path, 0, "corrupt GeoIP database: search tree node %u: %s", i, MMDB_strerror(st));
			rc = SK_EPARSE;
			goto out;
		}
		/* Right first, so the left child is visited first, as a lookup of 0 bits would go. */
		uint64_t rec[2] = { node.right_record, node.left_record };
		for (int side = 0; side < 2; side++) {
			uint64_t r = rec[side];
			const char *bad = NULL;
			if (r == 0)
				bad = "back to the root";
			else if (r < n && depth + 1 >= bits)
				bad = "to a node below the last address bit";
			else if (r > n && r < (uint64_t)n + 16)
				bad = "into the data section separator";
			else if (r > n && r - n - 16 >= mm->data_section_size)
				bad = "past the end of the data section";
			else if (r < n && top + 2 > sizeof stack / sizeof stack[0])
				bad = "deeper than the walk can follow";   /* cannot happen; see above */
			if (bad) {
				sk_diag(0, v->path, 0, "corrupt GeoIP database: search tree node %u points %s (record %llu)",
					i, bad, (unsigned long long)r);
				rc = SK_EPARSE;
				goto out;
			}
			if (r < n && !test_and_set(visited, (uint32_t)r)) {
				reached++;
				stack[top].node = (uint32_t)r;
				stack[top++].depth = (uint8_t)(depth + 1);
			} else if (r > n && (rc = verify_record(v, i, (uint32_t)(r - n - 16)))) {
				goto out;
			}
		}
	}
	if (reached != n) {
		sk_diag(0, v->path, 0, "corrupt GeoIP database: %u of its %u search tree nodes are unreachable",
			n - reached, n);
		rc = SK_EPARSE;
	}
out:
	free(visited);
	return rc;
}

/* A few lookups through the same call the query path makes, as a last check of the whole path. */
static int verify_probes(const MMDB_s *mm, const char *path)
{
	static const char *const probes[] = { "0.0.0.0", "1.1.1.1", "89.160.20.112", "255.255.255.255",
		"::", "2001:db8::1", "2a02:cf40::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" };
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		uint8_t a[16];
		struct sockaddr_storage ss;
		int family = strchr(probes[i], ':') ? AF_INET6 : AF_INET, st = 0;
		if ((family == AF_INET6 && mm->metadata.ip_version == 4) || inet_pton(family, probes[i], a) != 1)
			continue;
		MMDB_lookup_sockaddr(mm, sk_geo_sockaddr(family, a, &ss), &st);
		if (st != MMDB_SUCCESS) {
			sk_diag(0, path, 0, "corrupt GeoIP database: lookup of %s: %s", probes[i], MMDB_strerror(st));
			return SK_EPARSE;
		}
	}
	return 0;
}

/* What a City or ASN record must hold to be of use, in the layout it was read in: for messages. */
static const char *useful_field(enum sk_geo_role role, enum sk_geo_layout layout)
{
	if (role == SK_GEO_ASN)
		return "autonomous_system_number";
	return layout == SK_GEO_LAYOUT_FLAT ? "country_code (ip-location-db layout)" :
		layout == SK_GEO_LAYOUT_GEOIP2 ? "country/iso_code (GeoIP2 layout)" : "country/iso_code or country_code";
}

static int verify_structure(const MMDB_s *mm, const char *path, enum sk_geo_role role, unsigned flags,
	enum sk_geo_layout *layout)
{
	struct verify v = { .mm = mm, .path = path, .role = role, .layout = *layout,
		.data = mm->data_section, .size = mm->data_section_size };
	int rc = verify_metadata(mm, path);
	if (rc)
		return rc;
	/* A well-formed file scans each byte of its data about once; the slack covers records that
	 * a writer reuses by pointing into the middle of an earlier one. */
	v.budget = 16 * (uint64_t)v.size + 4096;
	v.scanned = calloc((size_t)v.size / 8 + 1, 1);
	v.read = calloc((size_t)v.size / 8 + 1, 1);
	if (!v.scanned || !v.read) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = verify_tree(&v)) || (rc = verify_probes(mm, path)))
		goto out;
	sk_debug("geo: %s: %lu records, %llu data items scanned for %u bytes", path, v.records,
		(unsigned long long)v.steps, v.size);
	/* The name said City or ASN; the data must agree, or every lookup would come back empty. */
	if (!(flags & SK_GEO_SKIP_TYPE) && v.useful == 0) {
		sk_diag(0, path, 0, "not %s database: none of its %lu records has %s", sk_geo_role_name[role],
			v.records, useful_field(role, v.layout));
		rc = -EINVAL;
	}
	*layout = v.layout;
out:
	if (rc == -ENOMEM)
		sk_diag(0, path, 0, "cannot check GeoIP database: out of memory");
	free(v.queue);
	free(v.read);
	free(v.scanned);
	return rc;
}

int sk_geo_verify(const MMDB_s *mm, const char *path, enum sk_geo_role role, unsigned flags,
	enum sk_geo_layout *layout)
{
	int rc;
	if (!(flags & SK_GEO_SKIP_TYPE) && (rc = check_type(mm, path, role)))
		return rc;
	if (!(flags & SK_GEO_SKIP_VERIFY) && (rc = verify_structure(mm, path, role, flags, layout)))
		return rc;
	/* Nothing showed a layout (or nothing was read): MaxMind's, as before there were two. */
	if (*layout == SK_GEO_LAYOUT_UNKNOWN)
		*layout = SK_GEO_LAYOUT_GEOIP2;
	return 0;
}
