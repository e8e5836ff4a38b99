/* scan.h -- the fields of one telemetry JSON line that reports use, found without building a tree */
#ifndef RP_SCAN_H
#define RP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes inside the line: a string's contents as written (escapes not undone), or an object's whole
 * text with its braces. p NULL: the field was absent or null. */
typedef struct rp_slice {
	const char *p;
	uint32_t n;
} rp_slice_t;

typedef struct rp_rec {
	rp_slice_t time;      /* "2026-11-21T21:41:15.123456Z" */
	rp_slice_t src;       /* the resolver's address */
	rp_slice_t ecs;       /* edns.ecs: "a.b.c.d/len" */
	rp_slice_t zone;      /* the seized domain */
	rp_slice_t tags;      /* {...} */
	rp_slice_t geo;       /* {...} of src */
	rp_slice_t ecs_geo;   /* {...} of the ECS subnet */
	uint32_t sport;
} rp_rec_t;

/*
 * Read one line (without its newline) as a JSON object and fill `out` with the fields above,
 * wherever they are in the object and whatever other members it has (fields may be added to the
 * format: README, Telemetry). Values of members not named here are skipped with string escapes
 * and nesting respected. Returns 0, or -1 when the line is not a well-formed object at the levels
 * it reads (every byte of a string is not validated: a report counts, it does not lint).
 */
int rp_scan(const char *line, size_t len, rp_rec_t *out);

/*
 * Members of a flat object text (a geo or tags object): calls fn(key, value, arg) for each member
 * whose value is a string or a number (a string's contents as written, escapes not undone).
 * Returns 0 or -1 when it is not an object.
 */
typedef void rp_member_fn(rp_slice_t key, rp_slice_t val, bool is_string, void *arg);
int rp_members(rp_slice_t obj, rp_member_fn *fn, void *arg);

/* Undo JSON string escapes of `s` into out (at most cap-1 bytes, NUL-terminated); \uXXXX becomes
 * UTF-8 (surrogate pairs joined, a lone one U+FFFD). Returns the length. */
size_t rp_unescape(rp_slice_t s, char *out, size_t cap);

/* "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" -> microseconds since the epoch; -1 when it is not that. */
int64_t rp_parse_time(rp_slice_t t);

/* Microseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.ffffffZ" (28 bytes with the NUL). */
void rp_format_time(int64_t us, char out[32]);

#endif
